"""helpers.semisupervised: few-label training with and without the graph (notebook 05)."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import graphs, lessons, nsl_tools
from helpers import semisupervised as semi

# Five 2-D embeddings at 0, 10, 30, 90 and 180 degrees: at threshold 0.5 the graph joins 0-1, 1-2, 0-2 and 2-3.
FIVE = np.array([[np.cos(np.radians(angle)), np.sin(np.radians(angle))] for angle in (0, 10, 30, 90, 180)], np.float32)


def test_labelled_split_is_balanced_and_disjoint():
    labels = np.repeat(np.arange(10), 30)
    split = semi.labelled_split(labels, 10, 0.2, seed=1)
    assert np.bincount(labels[split.train], minlength=10).tolist() == [8] * 10
    assert np.bincount(labels[split.validation], minlength=10).tolist() == [2] * 10
    everything = np.concatenate([split.train, split.validation, split.unlabelled])
    assert sorted(everything.tolist()) == list(range(300)) and split.labelled == 100
    with pytest.raises(ValueError, match="leaves no labelled training image"):
        semi.labelled_split(labels, 1, 0.2)
    with pytest.raises(ValueError, match=r"class 3 \(Dress\) has 1 image"):
        semi.labelled_split(np.array([0, 0, 1, 1, 2, 2, 3]), 2, 0.0, classes=4)


def test_graph_reg_config_checks_its_arguments():
    config = semi.graph_reg_config(3, 0.5, "kl_divergence")
    assert config.neighbor_config.max_neighbors == 3 and config.multiplier == 0.5
    assert config.distance_config.sum_over_axis == -1
    with pytest.raises(ValueError, match="distance_type must be one of"):
        semi.graph_reg_config(3, 1.0, "euclid")
    with pytest.raises(ValueError, match="multiplier must be >= 0"):
        semi.graph_reg_config(3, -1.0)


def _tiny_model():
    inputs = tf.keras.Input(shape=(3, 3, 1), name="image")
    outputs = tf.keras.layers.Dense(10, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    return tf.keras.Model(inputs, outputs, name="tiny")


def test_graph_regularized_training_uses_the_neighbour_loss():
    graph = nsl_tools.build_graph(graphs.node_ids(5), FIVE, 0.5)
    images = np.random.default_rng(0).random((5, 3, 3, 1), dtype=np.float32)
    packed = graphs.pack_neighbors(graph, np.array([0, 1, 2, 3]), images, 2)
    labels = np.array([0, 0, 1, 1])
    config = semi.graph_reg_config(2, 1.0)
    model, history, _ = semi.train_graph_regularized(
        packed, labels, config, 4, rounds=2, batch_size=2, build=_tiny_model, validation=(images[:2], labels[:2])
    )
    assert model.name == "tiny" and set(history) >= {"loss", "scaled_graph_loss", "val_accuracy"}
    assert len(history["loss"]) == 2 and max(history["scaled_graph_loss"]) > 0
    with pytest.raises(ValueError, match="packed lacks"):
        semi.train_graph_regularized(packed, labels, semi.graph_reg_config(3, 1.0), 2, build=_tiny_model)
    with pytest.raises(ValueError, match="one row per centre"):
        semi.train_graph_regularized({**packed, "NL_nbr_0_weight": packed["NL_nbr_0_weight"][:3]}, labels, config, 2,
                                     build=_tiny_model)
    with pytest.raises(ValueError, match="multiple of rounds"):
        semi.train_graph_regularized(packed, labels, config, 5, rounds=2, build=_tiny_model)


def test_unlabelled_centres_have_neighbours_and_no_label():
    labels = np.repeat(np.arange(10), 6)
    split = semi.labelled_split(labels, 3, 0.34, seed=0)
    embedded = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
    graph = nsl_tools.build_graph(graphs.node_ids(60), embedded, 0.6).without_nodes(split.validation)
    centres = semi.unlabelled_centres(graph, split)
    assert len(centres) and not np.isin(centres, np.concatenate([split.train, split.validation])).any()
    assert (graph.degrees()[centres] > 0).all()
    lonely = np.setdiff1d(split.unlabelled, centres)
    assert (graph.degrees()[lonely] == 0).all()
    with pytest.raises(graphs.GraphError, match="split the labels of the graph's own nodes"):
        semi.unlabelled_centres(nsl_tools.build_graph(graphs.node_ids(5), embedded[:5], 0.0), split)


def test_graph_regularized_training_with_unlabelled_centres():
    embedded = np.random.default_rng(2).normal(size=(12, 4)).astype(np.float32)
    graph = nsl_tools.build_graph(graphs.node_ids(12), embedded, 0.0)
    images = np.random.default_rng(0).random((12, 3, 3, 1), dtype=np.float32)
    packed = graphs.pack_neighbors(graph, np.arange(4), images, 2)
    others = graphs.pack_neighbors(graph, np.arange(4, 12), images, 2)
    labels = np.array([0, 1, 0, 1])
    config = semi.graph_reg_config(2, 1.0)
    _, history, _ = semi.train_graph_regularized(packed, labels, config, 4, unlabelled=others, batch_size=4,
                                                 build=_tiny_model)
    assert max(history["scaled_graph_loss"]) > 0
    with pytest.raises(ValueError, match="sample_weight or unlabelled"):
        semi.train_graph_regularized(packed, labels, config, 2, unlabelled=others, sample_weight=np.ones(4),
                                     build=_tiny_model)
    with pytest.raises(ValueError, match="same features"):
        semi.train_graph_regularized(packed, labels, config, 2, build=_tiny_model,
                                     unlabelled=graphs.pack_neighbors(graph, np.arange(4, 12), images, 1))
    with pytest.raises(ValueError, match="at least 2"):
        semi.train_graph_regularized(packed, labels, config, 2, unlabelled=others, batch_size=1, build=_tiny_model)


def test_base_and_graph_models_start_from_the_same_weights():
    images = np.random.default_rng(0).random((8, 3, 3, 1), dtype=np.float32)
    labels = np.arange(8) % 2
    base, _, _ = semi.train_base(images, labels, 1, build=_tiny_model, seed=4)
    graph = nsl_tools.build_graph(graphs.node_ids(8), images.reshape(8, -1) + 0.01, 0.0)
    # multiplier 0: the neighbour loss is off, so the two trainings must be the same computation.
    packed = graphs.pack_neighbors(graph, np.arange(8), images, 1)
    regularized, _, _ = semi.train_graph_regularized(packed, labels, semi.graph_reg_config(1, 0.0), 1,
                                                     build=_tiny_model, seed=4)
    for a, b in zip(base.get_weights(), regularized.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_l2_neighbour_loss_is_the_mean_over_classes_as_nsl_computes_it():
    import neural_structured_learning as nsl

    rng = np.random.default_rng(0)
    centres, neighbours, classes = 4, 3, 10
    p = rng.dirichlet(np.ones(classes), centres).astype(np.float32)  # centre probabilities
    q = rng.dirichlet(np.ones(classes), (centres, neighbours)).astype(np.float32)  # neighbours'
    w = rng.random((centres, neighbours)).astype(np.float32)
    w[0, 2] = w[3, 1] = 0.0  # blank neighbours (weight 0) do not count
    layer = nsl.keras.layers.PairwiseDistance(semi.graph_reg_config(neighbours, 1.0).distance_config)
    nsl_loss = float(layer(p, tf.constant(q.reshape(-1, classes)), tf.constant(w.reshape(-1, 1))))
    squared = ((p[:, None, :] - q) ** 2).sum(axis=-1)  # summed over classes
    mean_over_classes = (w * squared).sum() / classes / (w > 0).sum()
    np.testing.assert_allclose(nsl_loss, mean_over_classes, rtol=1e-5)
    summed = semi.graph_reg_config(neighbours, 1.0, sum_over_classes=True).distance_config
    summed_loss = float(nsl.keras.layers.PairwiseDistance(summed)(
        p, tf.constant(q.reshape(-1, classes)), tf.constant(w.reshape(-1, 1))))
    np.testing.assert_allclose(summed_loss, classes * mean_over_classes, rtol=1e-5)
    kl = semi.graph_reg_config(neighbours, 1.0, "kl_divergence").distance_config
    kl_loss = float(nsl.keras.layers.PairwiseDistance(kl)(
        p, tf.constant(q.reshape(-1, classes)), tf.constant(w.reshape(-1, 1))))
    divergence = (p[:, None, :] * np.log(p[:, None, :] / q)).sum(axis=-1)  # KL(centre || neighbour), summed
    np.testing.assert_allclose(kl_loss, (w * divergence).sum() / (w > 0).sum(), rtol=1e-4)


def test_training_accuracy_counts_only_labelled_centres():
    images = np.random.default_rng(0).random((12, 3, 3, 1), dtype=np.float32)
    graph = nsl_tools.build_graph(graphs.node_ids(12), images.reshape(12, -1) - 0.5, 0.0)
    packed = graphs.pack_neighbors(graph, np.arange(4), images, 1)
    others = graphs.pack_neighbors(graph, np.arange(4, 12), images, 1)
    labels = np.array([3, 3, 3, 3])  # a dummy label 0 on the unlabelled centres would cap accuracy at 0.5
    _, history, _ = semi.train_graph_regularized(packed, labels, semi.graph_reg_config(1, 1.0), 300, rounds=3,
                                                 unlabelled=others, batch_size=8, build=_tiny_model)
    assert history["accuracy"][-1] == 1.0


def test_train_arms_trains_every_arm_from_one_label_draw():
    labels = np.repeat(np.arange(10), 6)
    images = np.random.default_rng(0).random((60, 3, 3, 1), dtype=np.float32)
    graph = nsl_tools.build_graph(graphs.node_ids(60), images.reshape(60, -1) - 0.5, 0.0).keep_heaviest(3)
    config = semi.graph_reg_config(2, 1.0)
    split, runs = semi.train_arms(images, labels, graph, 3, 0, config, 2, validation_fraction=0.34,
                                  batch_size=4, build=_tiny_model)
    assert set(runs) == set(semi.ARMS) and config.multiplier == 1.0
    assert max(runs["multiplier 0, same batches"][1]["scaled_graph_loss"]) == 0
    assert max(runs["shuffled graph"][1]["scaled_graph_loss"]) > 0
    assert np.array_equal(split.train, semi.labelled_split(labels, 3, 0.34, 0).train)
    with pytest.raises(ValueError, match="arms must name"):
        semi.train_arms(images, labels, graph, 3, 0, config, 2, arms=["nope"])



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
    graph = nsl_tools.build_graph(graphs.node_ids(12), images.reshape(12, -1) - 0.5, 0.0)
    packed = graphs.pack_neighbors(graph, np.arange(4), images, 1)
    others = graphs.pack_neighbors(graph, np.arange(4, 12), images, 1)
    semi.train_graph_regularized(packed, np.array([0, 1, 0, 1]), semi.graph_reg_config(1, 1.0), 1,
                                 unlabelled=others, batch_size=4, seed=3, build=_tiny_model)
    assert len(calls) == 1
    features, labels, unlabelled, batch_size, seed = calls[0]
    assert set(features) == set(unlabelled) == set(packed) and (batch_size, seed) == (4, 3)
    np.testing.assert_array_equal(labels, [0, 1, 0, 1])
