"""The environment fix: Keras 2 as tf.keras and a working NSL on current TensorFlow."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import helpers
from helpers.environment import versions


def test_tf_keras_is_keras_2():
    assert tf.keras.__name__.startswith("tf_keras")
    from importlib.metadata import version

    assert version("tf-keras").startswith("2."), "tf.keras must be Keras 2 (the tf-keras package)"
    assert type(tf.keras.layers.Dense(1)).__module__.startswith("tf_keras"), "a layer came from Keras 3"
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"


def test_versions_lists_the_stack():
    found = versions()
    assert found["tensorflow"] == tf.__version__
    assert found["neural-structured-learning"].startswith("1.4")


def test_removed_estimator_says_why():
    with pytest.raises(AttributeError, match="removed tf.estimator"):
        sys.modules["tensorflow.estimator"].Estimator  # noqa: B018


def test_configure_is_idempotent():
    helpers.environment.configure()
    assert tf.keras.__name__.startswith("tf_keras")


def test_tensorflow_imported_first_gives_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = "import tensorflow\nimport helpers\n"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr
    assert "Restart the kernel" in result.stderr and "import helpers" in result.stderr


def _tiny_model():
    inputs = tf.keras.Input(shape=(4, 4, 1), name="image")
    flat = tf.keras.layers.Flatten()(inputs)
    outputs = tf.keras.layers.Dense(3, activation="softmax")(flat)
    return tf.keras.Model(inputs, outputs)


@pytest.mark.parametrize("norm", ["infinity", "l2"])
def test_nsl_trains_and_perturbs_within_step_size(norm):
    import neural_structured_learning as nsl

    tf.keras.utils.set_random_seed(0)
    step_size = 0.05
    config = nsl.configs.make_adv_reg_config(multiplier=0.2, adv_step_size=step_size, adv_grad_norm=norm)
    adv_model = nsl.keras.AdversarialRegularization(_tiny_model(), label_keys=["label"], adv_config=config)
    adv_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((16, 4, 4, 1), dtype=np.float32), "label": rng.integers(0, 3, 16)}
    before = [w.copy() for w in adv_model.base_model.get_weights()]
    history = adv_model.fit(batch, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = adv_model.base_model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after)), "a training step changed no weight"

    perturbed = adv_model.perturb_on_batch(batch)
    delta = (perturbed["image"] - batch["image"]).reshape(16, -1)
    assert np.abs(delta).max() > 0, "perturb_on_batch returned the input unchanged"
    if norm == "infinity":
        assert np.abs(delta).max() <= step_size + 1e-6
    else:
        assert np.linalg.norm(delta, axis=1).max() <= step_size + 1e-5
