"""Notebook 05's graph: embeddings; built and packed by NSL (nsl_tools); held and measured (graphs); its predictions."""

import math
import tempfile

import numpy as np
import pytest

from helpers import embeddings, graph_predictions, graphs, nsl_tools


def _unit(degrees):
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


# Five 2-D embeddings at known angles: cosine similarity = cos(angle between them).
ANGLES = {"a": 0, "b": 10, "c": 30, "d": 90, "e": 180}
IDS = list(ANGLES)
VECTORS = np.array([_unit(angle) for angle in ANGLES.values()], np.float32)


def _edges(graph):
    """{(source id, target id): weight} of a SimilarityGraph."""
    return {
        (graph.ids[s], graph.ids[t]): w for s, t, w in zip(graph.sources, graph.targets, graph.weights)
    }


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    """Every temporary file of a test goes under its own folder, so a test can see what is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ----------------------------------------------------------------------------
# Building the graph with NSL.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "threshold, expected",
    [
        (0.9, {("a", "b"), ("b", "c")}),  # cos 10 deg = 0.985, cos 20 deg = 0.940
        (0.85, {("a", "b"), ("b", "c"), ("a", "c")}),  # + cos 30 deg = 0.866
        (0.5, {("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")}),  # + cos 60 deg = 0.5 exactly
    ],
)
def test_graph_of_a_tiny_embedding_set_has_the_expected_edges(threshold, expected):
    graph = nsl_tools.build_graph(IDS, VECTORS, threshold)
    both_ways = expected | {(t, s) for s, t in expected}
    edges = _edges(graph)
    assert set(edges) == both_ways
    for (source, target), weight in edges.items():
        cosine = math.cos(math.radians(ANGLES[target] - ANGLES[source]))
        assert weight == pytest.approx(cosine, abs=1e-5)
    assert graph.num_edges == len(expected) and graph.num_nodes == 5
    assert graph.degrees().tolist() == [sum(node in edge for edge in expected) for node in IDS]


def test_neighbours_come_heaviest_first():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)
    positions, weights = graph.neighbors(IDS.index("c"))
    assert [graph.ids[p] for p in positions] == ["b", "a", "d"]
    assert list(weights) == sorted(weights, reverse=True)


def test_higher_thresholds_can_be_cut_from_one_build():
    embedded = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    ids = graphs.node_ids(60)
    low = nsl_tools.build_graph(ids, embedded, 0.6)
    direct = nsl_tools.build_graph(ids, embedded, 0.8)
    cut = low.at_threshold(0.8)
    assert _edges(cut) == _edges(direct)
    with pytest.raises(ValueError, match="below the 0.6 this graph was built with"):
        low.at_threshold(0.5)


def test_lsh_finds_a_subset_of_the_exact_edges_and_keeps_numpy_random_state():
    embedded = np.random.default_rng(1).normal(size=(80, 4)).astype(np.float32)
    ids = graphs.node_ids(80)
    exact = set(_edges(nsl_tools.build_graph(ids, embedded, 0.7)))
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    approximate = set(_edges(nsl_tools.build_graph(ids, embedded, 0.7, lsh_splits=2, lsh_rounds=3, seed=5)))
    assert np.random.rand() == expected_next, "build_graph changed NumPy's global random state"
    assert approximate and approximate <= exact


def test_temporary_files_are_removed(_private_tempdir, tmp_path):
    nsl_tools.build_graph(IDS, VECTORS, 0.9)
    images = np.random.default_rng(0).random((5, 4, 4, 1), dtype=np.float32)
    nsl_tools.pack_with_nsl(nsl_tools.build_graph(IDS, VECTORS, 0.5), np.array([0, 2]), images, 2)
    assert list(_private_tempdir.iterdir()) == []
    target = tmp_path / "embeddings.tfr"
    nsl_tools.write_embeddings(target, IDS, VECTORS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings.tfr", "tmp"]  # no partial file beside it


def test_node_ids_sort_as_numbers():
    ids = graphs.node_ids(1_234_567)
    assert ids[:2] == ["0000000", "0000001"] and sorted(ids[-20:]) == ids[-20:]
    assert graphs.node_ids(3) == ["000000", "000001", "000002"]


# ----------------------------------------------------------------------------
# Bad input.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_0_1_is_refused(threshold):
    with pytest.raises(ValueError, match=r"threshold must be (>= 0|<= 1).*cosine similarity"):
        nsl_tools.build_graph(IDS, VECTORS, threshold)


def test_ids_must_match_the_embeddings():
    with pytest.raises(ValueError, match="4 ids but there are 5 embeddings"):
        nsl_tools.build_graph(IDS[:4], VECTORS, 0.9)
    with pytest.raises(ValueError, match="must be unique; repeated: 'a'"):
        nsl_tools.build_graph(["a", "a", "c", "d", "e"], VECTORS, 0.9)
    with pytest.raises(ValueError, match="cannot contain tabs"):
        nsl_tools.build_graph(["a\tx", "b", "c", "d", "e"], VECTORS, 0.9)


def test_a_graph_file_naming_unknown_nodes_is_refused(tmp_path):
    tsv = tmp_path / "graph.tsv"
    tsv.write_text("a\tb\t0.9\nb\ta\t0.9\nb\tz\t0.95\nz\tb\t0.95\n")
    with pytest.raises(graphs.GraphError, match="not among ids, e.g. \\['z'\\]"):
        nsl_tools._read_graph(tsv, ["a", "b", "c"], 0.9)


def test_an_empty_graph_is_refused_with_the_best_similarity():
    with pytest.raises(graphs.GraphError, match=r"most similar pair has 0\.985.*Lower the threshold"):
        nsl_tools.build_graph(IDS, VECTORS, 0.99)
    empty = nsl_tools.build_graph(IDS, VECTORS, 0.99, allow_empty=True)
    with pytest.raises(graphs.GraphError, match="has no edge"):
        graphs.graph_statistics(empty)
    assert graphs.graph_statistics(empty, allow_empty=True) == {"threshold": 0.99, "nodes": 5, "edges": 0}
    with pytest.raises(graphs.GraphError, match="has no edge"):
        graphs.pack_neighbors(empty, np.array([0]), np.zeros((5, 2, 2, 1), np.float32), 1)


def test_bad_embeddings_are_refused():
    with pytest.raises(ValueError, match="all zeros"):
        nsl_tools.build_graph(IDS, np.vstack([VECTORS[:4], [[0.0, 0.0]]]), 0.9)
    with pytest.raises(ValueError, match="shape \\(nodes, dims\\)"):
        nsl_tools.build_graph(IDS, VECTORS.ravel(), 0.9)
    with pytest.raises(ValueError, match="NaN"):
        nsl_tools.build_graph(IDS, np.vstack([VECTORS[:4], [[np.nan, 1.0]]]), 0.9)


def test_no_labelled_image_of_a_class_is_refused():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)
    labels = np.array([0, -1, 1, -1, -1])
    with pytest.raises(ValueError, match=r"no labelled node of class 2 \(Pullover\).*at least one labelled"):
        graph_predictions.label_propagation(graph, labels, classes=3)
    with pytest.raises(ValueError, match="no labelled node of class 2"):
        graph_predictions.neighbour_vote(graph, labels, classes=3)


def test_labels_and_images_must_match_the_nodes():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)
    with pytest.raises(graphs.GraphError, match="4 entries but the graph has 5 nodes"):
        graphs.graph_statistics(graph, np.array([0, 0, 1, 1]))
    with pytest.raises(graphs.GraphError, match="3 images but the graph has 5 nodes"):
        graphs.pack_neighbors(graph, np.array([0]), np.zeros((3, 2, 2, 1), np.float32), 2)
    with pytest.raises(graphs.GraphError, match="outside 0..4"):
        graphs.pack_neighbors(graph, np.array([0, 7]), np.zeros((5, 2, 2, 1), np.float32), 2)
    with pytest.raises(graphs.GraphError, match="not nodes of this graph"):
        graph.index_of(["a", "q"])


# ----------------------------------------------------------------------------
# Packing: NSL's names, weights and order.
# ----------------------------------------------------------------------------


def test_packing_gives_nsl_feature_names_and_weights():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)
    images = np.random.default_rng(0).random((5, 3, 3, 1), dtype=np.float32)
    packed = graphs.pack_neighbors(graph, np.array([IDS.index("c"), IDS.index("e")]), images, 2)
    assert sorted(packed) == ["NL_nbr_0_image", "NL_nbr_0_weight", "NL_nbr_1_image", "NL_nbr_1_weight", "image"]
    # c's heaviest neighbours: b (cos 20 deg), then a (cos 30 deg); e has none: blank images of weight 0.
    np.testing.assert_array_equal(packed["image"], images[[2, 4]])
    np.testing.assert_array_equal(packed["NL_nbr_0_image"][0], images[IDS.index("b")])
    np.testing.assert_array_equal(packed["NL_nbr_1_image"][0], images[IDS.index("a")])
    assert packed["NL_nbr_0_weight"].shape == (2, 1)
    assert packed["NL_nbr_0_weight"][0, 0] == pytest.approx(math.cos(math.radians(20)), abs=1e-5)
    assert packed["NL_nbr_1_weight"][0, 0] == pytest.approx(math.cos(math.radians(30)), abs=1e-5)
    assert packed["NL_nbr_0_weight"][1, 0] == 0 and not packed["NL_nbr_0_image"][1].any()


def test_packing_matches_nsl_pack_nbrs_exactly():
    rng = np.random.default_rng(3)
    embedded = rng.normal(size=(40, 3)).astype(np.float32)
    embedded[5] = embedded[9] = embedded[4]  # equal weights: NSL breaks the tie by the larger id
    graph = nsl_tools.build_graph(graphs.node_ids(40), embedded, 0.7)
    images = rng.random((40, 4, 4, 1), dtype=np.float32)
    centres = np.array([4, 0, 17, 33, 5])
    ours = graphs.pack_neighbors(graph, centres, images, 3)
    theirs = nsl_tools.pack_with_nsl(graph, centres, images, 3)
    assert set(theirs) == set(ours) | {"NL_num_nbrs"}
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    np.testing.assert_array_equal(ours["NL_nbr_0_image"][0], images[9])  # the tie went to id 000009 over 000005
    counts = sum((ours[f"NL_nbr_{i}_weight"] > 0).ravel().astype(int) for i in range(3))
    np.testing.assert_array_equal(theirs["NL_num_nbrs"].ravel(), counts)


def test_neighbour_names_follow_nsl_config():
    import neural_structured_learning as nsl

    config = nsl.configs.make_graph_reg_config(max_neighbors=2)
    assert graphs.neighbor_feature_names(2) == [("NL_nbr_0_image", "NL_nbr_0_weight"), ("NL_nbr_1_image", "NL_nbr_1_weight")]
    assert config.neighbor_config.prefix == "NL_nbr_" and config.neighbor_config.weight_suffix == "_weight"


# ----------------------------------------------------------------------------
# Measuring the graph.
# ----------------------------------------------------------------------------


def test_statistics_and_homophily():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)  # edges a-b, b-c, a-c, c-d
    stats = graphs.graph_statistics(graph, np.array([0, 0, 1, 1, -1]))
    assert stats["edges"] == 4 and stats["nodes"] == 5
    assert stats["edges per node"] == pytest.approx(8 / 5) and stats["isolated nodes"] == pytest.approx(1 / 5)
    assert stats["homophily"] == pytest.approx(2 / 4)  # a-b and c-d join same classes; b-c and a-c do not
    assert stats["homophily_edges"] == 4


def test_label_propagation_follows_paths_and_vote_needs_a_labelled_neighbour():
    # Two chains of ten nodes, far apart: 0..9 around 0 degrees, 10..19 around 90 degrees.
    angles = np.concatenate([np.arange(10) * 2.0, 90 + np.arange(10) * 2.0])
    embedded = np.array([_unit(a) for a in angles], np.float32)
    graph = nsl_tools.build_graph(graphs.node_ids(20), embedded, math.cos(math.radians(2.5)))
    labels = np.full(20, -1)
    labels[0], labels[10] = 0, 1  # one labelled node at the end of each chain
    np.testing.assert_array_equal(graph_predictions.label_propagation(graph, labels, classes=2), [0] * 10 + [1] * 10)
    vote = graph_predictions.neighbour_vote(graph, labels, classes=2)
    assert vote[1] == 0 and vote[11] == 1 and vote[5] == -1  # node 5 has no labelled neighbour


def test_edge_information_counts_useful_and_harmful_edges():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)  # c's neighbours: b, a, d
    truth = np.array([1, 0, 0, 2, 0])  # a is class 1, b and c class 0, d class 2
    predicted = np.array([1, 2, 0, 0, 0])  # the model is right on a, wrong on b, calls d class 0
    info = graph_predictions.edge_information(graph, np.array([2]), np.array([0]), truth, predicted, 3)
    # c->b: graph right, model wrong: useful. c->a: graph wrong, model right: harmful. c->d: graph wrong, model agrees.
    assert info["edges"] == 3
    assert info["homophily"] == pytest.approx(1 / 3) and info["model agrees"] == pytest.approx(1 / 3)
    assert info["useful"] == pytest.approx(1 / 3) and info["harmful"] == pytest.approx(1 / 3)


def test_without_nodes_isolates_them():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5).without_nodes(np.array([1]))
    assert set(_edges(graph)) == {("a", "c"), ("c", "a"), ("c", "d"), ("d", "c")}
    assert graph.degrees()[1] == 0


def test_keep_heaviest_makes_a_nearest_neighbour_graph():
    graph = nsl_tools.build_graph(IDS, VECTORS, 0.5)  # a-b 0.985, b-c 0.940, a-c 0.866, c-d 0.5
    one = graph.keep_heaviest(1)
    # a keeps b, b keeps a, c keeps b, d keeps c (its only edge); a-c is nobody's heaviest.
    assert set(_edges(one)) == {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b"), ("c", "d"), ("d", "c")}
    assert _edges(graph.keep_heaviest(3)) == _edges(graph)
    embedded = np.random.default_rng(3).normal(size=(50, 4)).astype(np.float32)
    dense = nsl_tools.build_graph(graphs.node_ids(50), embedded, 0.0)
    sparse = dense.keep_heaviest(3)
    assert sparse.degrees().min() >= 3 and sparse.num_edges < dense.num_edges
    nodes = np.arange(50)
    for a, b in zip(dense.top_neighbors(nodes, 3), sparse.top_neighbors(nodes, 3)):
        np.testing.assert_array_equal(a, b)  # what packing takes is unchanged
    with pytest.raises(ValueError, match="max_neighbors"):
        graph.keep_heaviest(0)


# ----------------------------------------------------------------------------
# Embeddings without labels.
# ----------------------------------------------------------------------------


def test_pca_embedding_keeps_the_largest_variance_first():
    rng = np.random.default_rng(0)
    images = np.clip(0.5 + rng.normal(size=(200, 4, 4, 1)) * np.linspace(0.01, 0.2, 16).reshape(1, 4, 4, 1), 0, 1)
    pca = embeddings.fit_pca(images.astype(np.float32), 3)
    np.testing.assert_allclose(pca.components.T @ pca.components, np.eye(3), atol=1e-5)
    assert list(pca.explained_variance_ratio) == sorted(pca.explained_variance_ratio, reverse=True)
    assert embeddings.embed(pca, images.astype(np.float32)).shape == (200, 3)
    with pytest.raises(ValueError, match="uint8 pixels"):
        embeddings.fit_pca((images * 255).astype(np.uint8), 3)
    with pytest.raises(ValueError, match="dims must be <= 16"):
        embeddings.fit_pca(images.astype(np.float32), 17)


def test_autoencoder_learns_without_labels():
    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28, 1), dtype=np.float32)
    encoder, history, _ = embeddings.train_autoencoder(images, code_size=4, epochs=2, batch_size=32)
    assert history["loss"][1] < history["loss"][0]
    assert embeddings.embed(encoder, images).shape == (64, 4)


# ----------------------------------------------------------------------------
# Semi-supervised training.
# ----------------------------------------------------------------------------


def test_centre_removes_the_common_direction():
    codes = np.array([[10.0, 1.0], [10.0, -1.0], [10.0, 0.5]])
    centred = embeddings.centre(codes)
    np.testing.assert_allclose(centred.mean(axis=0), 0, atol=1e-6)
    cosine = centred[0] @ centred[1] / np.linalg.norm(centred[0]) / np.linalg.norm(centred[1])
    assert cosine < 0  # before centring these two codes had a cosine similarity of 0.98
    with pytest.raises(ValueError, match="shape \\(N >= 2, dims\\)"):
        embeddings.centre(codes[:1])


def test_every_profile_has_usable_graph_settings():
    from helpers.profiles import PROFILES

    for profile in PROFILES.values():
        assert profile.graph_embedding in ("pca", "autoencoder")
        for thresholds in (profile.graph_pca_thresholds, profile.graph_autoencoder_thresholds):
            assert len(thresholds) % 2 == 1 and list(thresholds) == sorted(thresholds)  # a middle one, the one used
            assert all(0 <= threshold <= 1 for threshold in thresholds)
        validation = round(profile.graph_labels_per_class * profile.graph_validation_fraction)
        assert profile.graph_labels_per_class - max(1, validation) >= 1
        assert profile.graph_steps % profile.graph_rounds == 0
        assert profile.graph_keep >= profile.graph_neighbors  # keep_heaviest must leave what packing takes
        assert profile.graph_epsilons[0] == 0.0 and max(profile.graph_epsilons) >= 0.3  # sanity checks need both
        assert all(budget >= 2 for budget in profile.graph_budgets)
    smoke = PROFILES["smoke"]
    assert smoke.graph_steps <= 50 and smoke.graph_lsh_splits == 0 and len(smoke.graph_seeds) <= 2
    for name in ("workshop", "full"):  # every claim of notebook 05 rests on 3+ draws of the labels, seed 0 first
        assert len(PROFILES[name].graph_seeds) >= 3 and PROFILES[name].graph_seeds[0] == 0


# ----------------------------------------------------------------------------
# The controls of notebook 05 and NSL's neighbour loss.
# ----------------------------------------------------------------------------


def _random_graph(nodes=60, seed=5):
    embedded = np.random.default_rng(seed).normal(size=(nodes, 6)).astype(np.float32)
    return nsl_tools.build_graph(graphs.node_ids(nodes), embedded, 0.0).keep_heaviest(3)


def test_rewired_graph_keeps_every_degree_and_weight_but_not_the_edges():
    graph = _random_graph()
    shuffled = graph.rewired(seed=1)
    np.testing.assert_array_equal(shuffled.degrees(), graph.degrees())
    np.testing.assert_allclose(np.sort(shuffled.weights), np.sort(graph.weights))
    pairs = set(zip(shuffled.sources.tolist(), shuffled.targets.tolist()))
    assert len(pairs) == len(shuffled.sources)  # no repeated edge
    assert all((t, s) in pairs for s, t in pairs) and not (shuffled.sources == shuffled.targets).any()
    kept = pairs & set(zip(graph.sources.tolist(), graph.targets.tolist()))
    assert len(kept) < 0.3 * len(pairs)  # most edges moved
    assert set(_edges(graph.rewired(seed=1))) == set(_edges(shuffled))  # the seed fixes it
    cut = graph.without_nodes(np.array([0, 1]))
    assert (cut.rewired(seed=2).degrees()[[0, 1]] == 0).all()  # isolated nodes stay isolated


