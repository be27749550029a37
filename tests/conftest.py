"""Shared test set-up: helpers is imported first so tf.keras is Keras 2 everywhere.

The fixtures below are built once per test session and shared by every test module that asks for them: no test
trains what another already trained, and VGG-19 is built once (issue 18). Under `make test`'s two pytest-xdist
workers, a session is one worker's: each builds what its own tests ask for, at most once. A test that changes a shared model
restores it before it returns (try/finally), so the order the tests run in does not matter.
"""

import helpers  # noqa: F401  (must precede any TensorFlow import)

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import io  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import artifacts, data, models  # noqa: E402
from helpers.profiles import get_profile  # noqa: E402

L = tf.keras.layers


@pytest.fixture(scope="session")
def sample():
    """The bundled Fashion-MNIST sample: 2,000 training and 1,000 test images (read-only: do not change its arrays)."""
    dataset = data.load_sample()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        array.flags.writeable = False  # a test that writes into the shared sample fails instead of changing others
    return dataset


@pytest.fixture(scope="session")
def vgg19():
    """The series' VGG-19 classifier at 32x32 with random weights (no download), and its PretrainedStatus.

    Built once per session. Tests that change its trainable flags or weights restore them.
    """
    tf.keras.utils.set_random_seed(0)
    return models.build_vgg19(32, weights=None)


def _train_linear(sample, seed):
    """A softmax regression on the sample (~75% accurate, undefended), input named like the series' models."""
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([L.Input((28, 28, 1), name=models.INPUT_NAME), L.Flatten(),
                                 L.Dense(10, activation="softmax")], name=f"linear{seed}")
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(data.to_model_input(sample.x_train), sample.y_train, epochs=2, batch_size=100, verbose=0)
    return model


@pytest.fixture(scope="session")
def trained_linear(sample):
    """``trained_linear(seed)``: the softmax regression trained with that seed, trained once per seed per session."""
    trained = {}

    def get(seed: int = 0):
        if seed not in trained:
            trained[seed] = _train_linear(sample, seed)
        return trained[seed]

    return get


@pytest.fixture(scope="session")
def trained_cnn(sample):
    """The series' CNN after 2 epochs on the sample (seed 0): weak but far from random. Do not train it further."""
    tf.keras.utils.set_random_seed(0)
    cnn = models.build_cnn()
    cnn.fit(data.to_model_input(sample.x_train), sample.y_train, epochs=2, batch_size=64, verbose=0)
    return cnn


@pytest.fixture(scope="session")
def quick_profile():
    """The smoke profile on fewer images: get_trained_cnn trains in a few seconds."""
    return dataclasses.replace(get_profile("smoke"), train_size=300, test_size=200)


@pytest.fixture(scope="session")
def saved_cnn(tmp_path_factory, quick_profile, sample):
    """get_trained_cnn run once with nothing saved: ``(root, model, printed)``; it trained and saved under ``root``.

    Tests that need a saved CNN copy ``root`` (shutil.copytree) instead of training another.
    """
    root = tmp_path_factory.mktemp("saved_cnn")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model = artifacts.get_trained_cnn(quick_profile, sample, root=root, verbose=0)
    return root, model, printed.getvalue()
