"""helpers.semisupervised: few-label training with and without the graph (notebook 05)."""

import numpy as np
import tensorflow as tf

from helpers import graphs, lessons
from helpers import semisupervised as semi


def _tiny_model():
    inputs = tf.keras.Input(shape=(3, 3, 1), name="image")
    outputs = tf.keras.layers.Dense(10, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    return tf.keras.Model(inputs, outputs, name="tiny")


def test_mixed_batches_alternate_labelled_and_unlabelled_centres():
    labelled = {"image": np.ones((4, 3, 3, 1), np.float32)}
    unlabelled = {"image": np.zeros((6, 3, 3, 1), np.float32)}
    batches = lessons.mixed_batches(labelled, np.array([1, 2, 3, 4]), unlabelled, 8, seed=0)
    features, labels, weights = next(iter(batches))
    first_pixel = features["image"].numpy()[:, 0, 0, 0]
    np.testing.assert_array_equal(weights.numpy(), [1, 0] * 4)  # half of every batch, weight 0: no supervised loss
    np.testing.assert_array_equal(first_pixel, [1, 0] * 4)
    assert set(labels.numpy()[::2]) <= {1, 2, 3, 4} and set(labels.numpy()[1::2]) == {0}


def test_training_with_unlabelled_centres_runs_notebook_05s_mixed_batches(monkeypatch):
    """The batches come from the function notebook 05 teaches (helpers.lessons), not from a copy in helpers."""
    assert not hasattr(semi, "_mixed_batches"), "semisupervised keeps a private copy of the lesson"
    calls = []

    def spy(*arguments):
        calls.append(arguments)
        return lesson(*arguments)

    lesson = lessons.mixed_batches
    monkeypatch.setattr(lessons, "mixed_batches", spy)
    images = np.random.default_rng(0).random((12, 3, 3, 1), dtype=np.float32)
    graph = graphs.build_graph(graphs.node_ids(12), images.reshape(12, -1) - 0.5, 0.0)
    packed = graphs.pack_neighbors(graph, np.arange(4), images, 1)
    others = graphs.pack_neighbors(graph, np.arange(4, 12), images, 1)
    semi.train_graph_regularized(packed, np.array([0, 1, 0, 1]), semi.graph_reg_config(1, 1.0), 1,
                                 unlabelled=others, batch_size=4, seed=3, build=_tiny_model)
    assert len(calls) == 1
    features, labels, unlabelled, batch_size, seed = calls[0]
    assert set(features) == set(unlabelled) == set(packed) and (batch_size, seed) == (4, 3)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1])
