"""Similarity graphs for graph regularization with Neural Structured Learning (notebook 05).

NSL's own graph tools build the graph and pack the training examples; this
module feeds them, reads back what they write, and measures it.

* :func:`node_ids` - ids for the graph's nodes (zero-padded, so text order is number order).
* :func:`write_embeddings` - ``tf.train.Example`` records holding an ``id``
  (bytes) and an ``embedding`` (floats): what ``nsl.tools.build_graph_from_config`` reads.
* :func:`build_graph` - runs NSL's graph builder in a temporary folder (deleted
  afterwards) and returns a :class:`SimilarityGraph`: an edge joins two images
  whose embeddings have a cosine similarity of at least ``threshold``.
* :class:`SimilarityGraph` - nodes, edges, and each node's neighbours in the
  order NSL's ``pack_nbrs`` takes them (heaviest edge first); ``keep_heaviest``
  turns a threshold graph into a nearest-neighbour graph; ``rewired`` shuffles
  its edges at equal degrees (a control that keeps the shape, not the content).
* :func:`graph_statistics` - edges per node, isolated nodes, homophily (the
  share of edges joining two images of the same class).
* :func:`pack_neighbors` - training examples in NSL's layout: ``image``,
  ``NL_nbr_<i>_image`` and ``NL_nbr_<i>_weight`` for the ``i``-th neighbour.
* :func:`pack_with_nsl` - the same through NSL's own ``nsl.tools.pack_nbrs``
  (TFRecords in a temporary folder), to check :func:`pack_neighbors` against.
* :func:`neighbour_vote`, :func:`label_propagation` - the graph's own
  predictions from a few labelled nodes, to compare with a model's.
* :func:`edge_information` - whether the neighbours the graph gives a model
  tell it anything it does not already predict.

Two facts about NSL 1.4 on current Python/NumPy that shape the code:
``nsl.tools.read_tsv_graph`` (which ``pack_nbrs`` calls) opens files in mode
``"rU"``, which Python 3.11 removed (``ValueError: invalid mode: 'rU'``), so it
is called through :func:`_nsl_tsv_reader`; and the graph builder reseeds
NumPy's global random generator (``np.random.seed``), so :func:`build_graph`
restores it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.data import CLASS_NAMES
from helpers.models import INPUT_NAME

__all__ = [
    "ID_FEATURE",
    "EMBEDDING_FEATURE",
    "GraphError",
    "SimilarityGraph",
    "node_ids",
    "write_embeddings",
    "UNLABELLED",
    "read_graph",
    "graph_builder_config",
    "build_graph",
    "graph_statistics",
    "neighbor_feature_names",
    "pack_neighbors",
    "pack_with_nsl",
    "neighbour_vote",
    "label_propagation",
    "edge_information",
]

ID_FEATURE = "id"
EMBEDDING_FEATURE = "embedding"
UNLABELLED = -1  # the label of a node whose class the method may not use


class GraphError(ValueError):
    """A graph that cannot be used: no edges, or ids that do not match the nodes."""


def _nsl():
    """Import NSL lazily (``import helpers`` has made it importable)."""
    import neural_structured_learning as nsl

    return nsl


@contextlib.contextmanager
def _nsl_tsv_reader():
    """Let ``nsl.tools.read_tsv_graph`` (and ``pack_nbrs``) open files on Python 3.11+.

    NSL 1.4 opens the graph file with ``open(filename, 'rU')``; the ``U`` mode
    was removed in Python 3.11. For the duration of the block the module's
    ``open`` drops the ``U`` (text mode already reads every newline style).
    """
    from neural_structured_learning.tools import graph_utils

    missing = object()
    previous = graph_utils.__dict__.get("open", missing)

    def open_without_u(file, mode="r", *args, **kwargs):
        return open(file, mode.replace("U", ""), *args, **kwargs)

    graph_utils.open = open_without_u
    try:
        yield
    finally:
        if previous is missing:
            del graph_utils.open
        else:
            graph_utils.open = previous


@contextlib.contextmanager
def _numpy_global_seed_kept():
    """NSL's graph builder calls ``np.random.seed``: put the caller's random state back afterwards."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


# ----------------------------------------------------------------------------
# Ids and embeddings.
# ----------------------------------------------------------------------------


def node_ids(count: int) -> list[str]:
    """``count`` node ids ``"000000"``, ``"000001"``, ...: zero-padded, so sorting them as text sorts them as numbers.

    NSL breaks ties between equally similar neighbours by the larger id *as
    text*; with these ids that is the larger node number.
    """
    count = checks.check_whole_number(count, "count", minimum=1)
    width = max(6, len(str(count - 1)))
    return [f"{index:0{width}d}" for index in range(count)]


def _check_ids(ids, count: int | None = None, name: str = "ids") -> tuple[str, ...]:
    """Unique, non-empty text ids without tabs or line breaks (the graph is a TSV file)."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{name} must be a list of ids (strings), got a single {type(ids).__name__}.")
    ids = tuple(ids)
    for item in ids:
        if not isinstance(item, str) or not item:
            raise TypeError(f"{name} must hold non-empty strings (one id per node), found {item!r}.")
        if any(character in item for character in "\t\r\n"):
            raise ValueError(f"{name} holds {item!r}: ids go into a tab-separated file and cannot contain tabs or line breaks.")
    if len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for item in ids:
            if item in seen:
                repeated.append(item)
            seen.add(item)
        raise ValueError(f"{name} must be unique; repeated: {', '.join(map(repr, repeated[:5]))}. Use node_ids(count).")
    if count is not None and len(ids) != count:
        raise ValueError(
            f"{name} has {len(ids):,} ids but there are {count:,} embeddings: give exactly one id per embedding row, "
            "in the same order."
        )
    return ids


def _check_embeddings(embeddings) -> np.ndarray:
    """A finite float array ``(N, dims)`` with N >= 2 and no all-zero row (its direction, hence similarity, is undefined)."""
    array = np.asarray(embeddings)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"embeddings must be numbers, got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(f"embeddings must have shape (nodes, dims), one row per image; got shape {array.shape}.")
    if len(array) < 2:
        raise ValueError(f"a graph needs at least 2 nodes; embeddings has {len(array)} row(s).")
    if not np.isfinite(array).all():
        raise ValueError("embeddings contain NaN or infinite values.")
    zero = np.flatnonzero(~array.any(axis=1))
    if len(zero):
        raise ValueError(
            f"embedding row(s) {', '.join(map(str, zero[:5]))} are all zeros: a cosine similarity needs a direction. "
            "Drop those images or use another embedding."
        )
    return array.astype(np.float32, copy=False)


def _check_threshold(threshold, name: str = "threshold") -> float:
    return checks.check_number(
        threshold, name, minimum=0.0, maximum=1.0,
        hint="It is a cosine similarity between embeddings: 1 joins only identical directions, 0 any two that are "
        "not opposed. Values such as 0.8-0.95 give sparse graphs.",
    )


def _temporary_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.partial")


def write_embeddings(path, ids: Sequence[str], embeddings) -> Path:
    """Write one ``tf.train.Example`` per node: ``id`` (bytes) and ``embedding`` (floats), as NSL's builder reads them.

    Written to a temporary file beside ``path`` and renamed into place, so an
    interrupted write leaves no half-written file. Returns ``path``.
    """
    embeddings = _check_embeddings(embeddings)
    ids = _check_ids(ids, len(embeddings))
    path = Path(path)
    partial = _temporary_file(path)
    try:
        with tf.io.TFRecordWriter(str(partial)) as writer:
            for node_id, vector in zip(ids, embeddings):
                example = tf.train.Example()
                example.features.feature[ID_FEATURE].bytes_list.value.append(node_id.encode("utf-8"))
                example.features.feature[EMBEDDING_FEATURE].float_list.value.extend(vector.tolist())
                writer.write(example.SerializeToString())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------
# The graph.
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SimilarityGraph:
    """An undirected weighted graph over ``ids``, stored as directed edges both ways.

    Edges are sorted by source node, then as NSL's ``pack_nbrs`` ranks a node's
    neighbours: heaviest edge first, ties broken by the larger id (as text).
    ``offsets[i]:offsets[i + 1]`` are node ``i``'s edges. Weights are the cosine
    similarities NSL wrote (6 decimals). ``threshold`` is the one it was built with.
    """

    ids: tuple[str, ...]
    sources: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    threshold: float
    offsets: np.ndarray = field(repr=False)

    @classmethod
    def from_edges(cls, ids, sources, targets, weights, threshold: float) -> "SimilarityGraph":
        """A graph from directed edges given as node positions (each undirected edge both ways)."""
        ids = tuple(ids)
        sources, targets = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
        weights = np.asarray(weights, np.float64)
        text_rank = np.empty(len(ids), np.int64)
        text_rank[np.argsort(np.array(ids, dtype=str), kind="stable")] = np.arange(len(ids))
        order = np.lexsort((-text_rank[targets], -weights, sources)) if len(sources) else np.zeros(0, np.int64)
        sources, targets, weights = sources[order], targets[order], weights[order]
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.add.at(offsets, sources + 1, 1)
        return cls(ids, sources, targets, weights, float(threshold), np.cumsum(offsets))

    @property
    def num_nodes(self) -> int:
        return len(self.ids)

    @property
    def num_edges(self) -> int:
        """Undirected edges."""
        return len(self.sources) // 2

    def degrees(self) -> np.ndarray:
        """Edges per node."""
        return np.diff(self.offsets)

    def index_of(self, ids: Sequence[str]) -> np.ndarray:
        """Node positions of ``ids``; an unknown id raises :class:`GraphError`."""
        lookup = {node_id: position for position, node_id in enumerate(self.ids)}
        unknown = [node_id for node_id in ids if node_id not in lookup]
        if unknown:
            raise GraphError(f"{len(unknown)} id(s) are not nodes of this graph, e.g. {unknown[:3]}.")
        return np.array([lookup[node_id] for node_id in ids], dtype=np.int64)

    def neighbors(self, node: int, max_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, weights)`` of ``node``'s neighbours, heaviest first."""
        node = checks.check_whole_number(node, "node", minimum=0, maximum=self.num_nodes - 1)
        start, stop = self.offsets[node], self.offsets[node + 1]
        if max_neighbors is not None:
            stop = min(stop, start + checks.check_whole_number(max_neighbors, "max_neighbors", minimum=0))
        return self.targets[start:stop], self.weights[start:stop]

    def top_neighbors(self, nodes, max_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, weights)`` of shape ``(len(nodes), max_neighbors)``; missing neighbours are -1 with weight 0."""
        nodes = _check_nodes(nodes, self.num_nodes)
        max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
        starts = self.offsets[nodes][:, None] + np.arange(max_neighbors)[None, :]
        present = starts < self.offsets[nodes + 1][:, None]
        safe = np.where(present, starts, 0)
        if len(self.targets) == 0:
            return np.full(starts.shape, -1, np.int64), np.zeros(starts.shape, np.float32)
        positions = np.where(present, self.targets[safe], -1)
        weights = np.where(present, self.weights[safe], 0.0).astype(np.float32)
        return positions, weights

    def at_threshold(self, threshold: float) -> "SimilarityGraph":
        """The same graph keeping only edges of weight >= ``threshold`` (which must be >= the build threshold)."""
        threshold = _check_threshold(threshold)
        if threshold < self.threshold:
            raise ValueError(
                f"threshold {threshold:g} is below the {self.threshold:g} this graph was built with: weaker edges were "
                "never computed. Build the graph at the lowest threshold you need, then call at_threshold for higher ones."
            )
        keep = self.weights >= threshold
        return SimilarityGraph.from_edges(self.ids, self.sources[keep], self.targets[keep], self.weights[keep], threshold)

    def keep_heaviest(self, max_neighbors: int) -> "SimilarityGraph":
        """The same graph keeping each node's ``max_neighbors`` heaviest edges (a nearest-neighbour graph).

        An edge stays when either of its ends keeps it, so the graph stays
        undirected; every node that had an edge keeps at least one. A threshold
        alone gives dense regions hundreds of edges per node and sparse regions
        none; this evens them out. Each node's ``max_neighbors`` heaviest
        neighbours, the ones packing takes, are unchanged.
        """
        max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
        ranks = np.arange(len(self.sources)) - self.offsets[self.sources]  # 0 for a node's heaviest edge
        chosen = ranks < max_neighbors
        pair = self.sources * self.num_nodes + self.targets
        chosen_pairs = np.concatenate([pair[chosen], (self.targets * self.num_nodes + self.sources)[chosen]])
        keep = np.isin(pair, chosen_pairs)
        return SimilarityGraph.from_edges(self.ids, self.sources[keep], self.targets[keep], self.weights[keep], self.threshold)

    def without_nodes(self, nodes) -> "SimilarityGraph":
        """The same graph with every edge touching ``nodes`` removed (the nodes stay, isolated).

        Keeps held-out images, such as a validation split, from being anyone's neighbour.
        """
        nodes = _check_nodes(nodes, self.num_nodes, "nodes")
        dropped = np.zeros(self.num_nodes, bool)
        dropped[nodes] = True
        keep = ~(dropped[self.sources] | dropped[self.targets])
        return SimilarityGraph.from_edges(self.ids, self.sources[keep], self.targets[keep], self.weights[keep], self.threshold)

    def rewired(self, seed: int = 0, swaps_per_edge: int = 10) -> "SimilarityGraph":
        """A control graph: the same nodes and degrees, the edges shuffled by degree-preserving double-edge swaps.

        Each swap picks two edges ``a-b`` and ``c-d`` at random and makes them
        ``a-d`` and ``c-b`` (or ``a-c`` and ``b-d``, by a coin flip); a swap that
        would join a node to itself or repeat an edge is skipped. Every edge
        keeps its weight. After ``swaps_per_edge`` swaps per edge, every node
        has exactly as many edges as before (isolated nodes stay isolated, each
        centre packs as many neighbours), but who its neighbours are is random:
        whatever the graph knew about which images are alike is gone.
        """
        seed = checks.check_seed(seed, allow_none=False)
        swaps_per_edge = checks.check_whole_number(swaps_per_edge, "swaps_per_edge", minimum=1)
        one_way = self.sources < self.targets
        first, second = self.sources[one_way].tolist(), self.targets[one_way].tolist()
        weights, count, nodes = self.weights[one_way], len(first), self.num_nodes
        present = {min(a, b) * nodes + max(a, b) for a, b in zip(first, second)}
        rng = np.random.default_rng(seed)
        picks = rng.integers(count, size=(swaps_per_edge * count, 2)).tolist() if count > 1 else []
        flips = rng.random(len(picks)) < 0.5
        for (i, j), flip in zip(picks, flips.tolist()):
            a, b, c, d = first[i], second[i], first[j], second[j]
            if flip:
                c, d = d, c
            new_one, new_two = min(a, d) * nodes + max(a, d), min(c, b) * nodes + max(c, b)
            if i == j or a == d or c == b or new_one in present or new_two in present:
                continue
            present -= {min(a, b) * nodes + max(a, b), min(c, d) * nodes + max(c, d)}
            present |= {new_one, new_two}
            first[i], second[i], first[j], second[j] = a, d, c, b
        first, second = np.array(first, np.int64), np.array(second, np.int64)
        return SimilarityGraph.from_edges(self.ids, np.concatenate([first, second]), np.concatenate([second, first]),
                                          np.concatenate([weights, weights]), self.threshold)


def _check_nodes(nodes, count: int, name: str = "centres") -> np.ndarray:
    """Node positions as int64, each in 0..count-1, at least one."""
    array = np.asarray(nodes)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D array of node positions (integers), got {array.dtype} of shape {array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty: give at least one node.")
    if array.min() < 0 or array.max() >= count:
        raise GraphError(
            f"{name} holds node position(s) outside 0..{count - 1}: {array[(array < 0) | (array >= count)][:5].tolist()}. "
            "Positions index graph.ids (graph.index_of(ids) converts ids)."
        )
    return array.astype(np.int64)


def read_graph(path, ids: Sequence[str], threshold: float) -> SimilarityGraph:
    """Read a graph TSV (``source<TAB>target<TAB>weight``) with ``nsl.tools.read_tsv_graph``.

    ``ids`` are all the nodes, isolated ones included (the file names only nodes
    with edges). A node in the file that is not in ``ids`` raises :class:`GraphError`.
    """
    ids = _check_ids(ids)
    threshold = _check_threshold(threshold)
    with _nsl_tsv_reader():
        nested = _nsl().tools.read_tsv_graph(str(path))
    lookup = {node_id: position for position, node_id in enumerate(ids)}
    sources, targets, weights, unknown = [], [], [], set()
    for source, neighbours in nested.items():
        for target, weight in neighbours.items():
            if source not in lookup or target not in lookup:
                unknown.update(node for node in (source, target) if node not in lookup)
                continue
            sources.append(lookup[source])
            targets.append(lookup[target])
            weights.append(weight)
    if unknown:
        raise GraphError(
            f"the graph file names {len(unknown)} node(s) that are not among ids, e.g. {sorted(unknown)[:3]}: "
            "pass the ids that were written with the embeddings, in full."
        )
    return SimilarityGraph.from_edges(ids, sources, targets, weights, threshold)


def _most_similar_pair(embeddings: np.ndarray, limit: int = 4000) -> float:
    """The highest cosine similarity between two different rows (of the first ``limit``), for an error message."""
    sample = embeddings[:limit].astype(np.float64)
    sample = sample / np.linalg.norm(sample, axis=1, keepdims=True)
    similarity = sample @ sample.T
    np.fill_diagonal(similarity, -np.inf)
    return float(similarity.max())


def graph_builder_config(threshold: float, lsh_splits: int = 0, lsh_rounds: int = 1, seed: int = 0):
    """The ``nsl.configs.GraphBuilderConfig`` that :func:`build_graph` passes to ``nsl.tools.build_graph_from_config``."""
    threshold = _check_threshold(threshold)
    lsh_splits = checks.check_whole_number(lsh_splits, "lsh_splits", minimum=0, maximum=30)
    lsh_rounds = checks.check_whole_number(lsh_rounds, "lsh_rounds", minimum=1)
    seed = checks.check_seed(seed, allow_none=False)
    return _nsl().configs.GraphBuilderConfig(
        id_feature_name=ID_FEATURE, embedding_feature_name=EMBEDDING_FEATURE, similarity_threshold=threshold,
        lsh_splits=lsh_splits, lsh_rounds=lsh_rounds, random_seed=seed,
    )


def build_graph(ids: Sequence[str], embeddings, threshold: float, *, lsh_splits: int = 0, lsh_rounds: int = 1,
                seed: int = 0, allow_empty: bool = False) -> SimilarityGraph:
    """Build the similarity graph of ``embeddings`` with ``nsl.tools.build_graph_from_config``.

    Two nodes are joined when the cosine similarity of their embeddings is at
    least ``threshold`` (in [0, 1]). ``lsh_splits > 0`` makes NSL compare only
    nodes that fall in the same of ``2**lsh_splits`` random buckets, repeated for
    ``lsh_rounds`` independent bucketings: much faster on many nodes, at the
    price of missing some edges (NSL's rule of thumb: ``lsh_splits >=
    log2(nodes / 1000)``). ``seed`` fixes the buckets.

    The embeddings are written as ``tf.train.Example`` records and the graph as
    a TSV file in a temporary folder, deleted afterwards whatever happens. A
    graph without a single edge raises :class:`GraphError` (unless
    ``allow_empty``): no threshold would give it any use.
    """
    embeddings = _check_embeddings(embeddings)
    ids = _check_ids(ids, len(embeddings))
    config = graph_builder_config(threshold, lsh_splits, lsh_rounds, seed)
    threshold = config.similarity_threshold
    nsl = _nsl()
    with tempfile.TemporaryDirectory(prefix="advlearn_graph_") as folder:
        records = write_embeddings(Path(folder) / "embeddings.tfr", ids, embeddings)
        tsv = Path(folder) / "graph.tsv"
        with _numpy_global_seed_kept():
            nsl.tools.build_graph_from_config([str(records)], str(tsv), config)
        graph = read_graph(tsv, ids, threshold)
    if graph.num_edges == 0 and not allow_empty:
        raise GraphError(
            f"No two of the {len(ids):,} embeddings have a cosine similarity >= {threshold:g} "
            f"(the most similar pair has {_most_similar_pair(embeddings):.3f}"
            f"{' among the first 4,000' if len(ids) > 4000 else ''}): the graph has no edge. Lower the threshold"
            + (", or use fewer LSH splits (each bucket then holds more nodes)" if lsh_splits else "")
            + "."
        )
    return graph


# ----------------------------------------------------------------------------
# Measuring a graph.
# ----------------------------------------------------------------------------


def _check_node_labels(labels, count: int, classes: int, name: str = "labels", allow_unlabelled: bool = True) -> np.ndarray:
    """Class numbers per node, ``-1`` for a node whose class is not to be used."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D array of class numbers (integers), got {array.dtype} of shape {array.shape}.")
    if len(array) != count:
        raise GraphError(
            f"{name} has {len(array):,} entries but the graph has {count:,} nodes: give one label per node, in the "
            f"order of graph.ids{' (-1 for an unlabelled node)' if allow_unlabelled else ''}."
        )
    lowest = UNLABELLED if allow_unlabelled else 0
    if len(array) and (array.min() < lowest or array.max() >= classes):
        raise ValueError(
            f"{name} must hold class numbers 0..{classes - 1}{' or -1 (unlabelled)' if allow_unlabelled else ''}, "
            f"found values from {array.min()} to {array.max()}."
        )
    return array.astype(np.int64)


def _require_edges(graph: SimilarityGraph) -> None:
    if not isinstance(graph, SimilarityGraph):
        raise TypeError(f"graph must be a SimilarityGraph (from build_graph), got {type(graph).__name__}.")
    if graph.num_edges == 0:
        raise GraphError(
            f"the graph has no edge (threshold {graph.threshold:g}, {graph.num_nodes:,} nodes): there is nothing to "
            "measure or propagate. Rebuild it with a lower threshold."
        )


def graph_statistics(graph: SimilarityGraph, labels=None, classes: int = len(CLASS_NAMES),
                     allow_empty: bool = False) -> dict:
    """Size, edges per node, isolated nodes and, when ``labels`` are given, homophily.

    ``labels`` holds one class per node, ``-1`` where unknown; homophily is the
    share of edges with both ends labelled that join two images of the same
    class (``homophily_edges`` says how many edges that was). A graph without
    edges raises :class:`GraphError`, unless ``allow_empty``: then only its
    threshold, nodes and ``edges`` (0) are given.
    """
    if allow_empty and isinstance(graph, SimilarityGraph) and graph.num_edges == 0:
        return {"threshold": graph.threshold, "nodes": graph.num_nodes, "edges": 0}
    _require_edges(graph)
    degrees = graph.degrees()
    stats = {
        "threshold": graph.threshold,
        "nodes": graph.num_nodes,
        "edges": graph.num_edges,
        "edges per node": float(degrees.mean()),
        "median edges per node": float(np.median(degrees)),
        "isolated nodes": float(np.mean(degrees == 0)),
    }
    if labels is not None:
        labels = _check_node_labels(labels, graph.num_nodes, classes)
        one_way = graph.sources < graph.targets
        source_labels, target_labels = labels[graph.sources[one_way]], labels[graph.targets[one_way]]
        known = (source_labels >= 0) & (target_labels >= 0)
        stats["homophily"] = float(np.mean(source_labels[known] == target_labels[known])) if known.any() else float("nan")
        stats["homophily_edges"] = int(known.sum())
    return stats


# ----------------------------------------------------------------------------
# Packing neighbours into training examples.
# ----------------------------------------------------------------------------


def neighbor_feature_names(max_neighbors: int, feature: str = INPUT_NAME) -> list[tuple[str, str]]:
    """``[(image feature, weight feature), ...]`` of each neighbour, named by NSL's defaults.

    ``nsl.configs.GraphNeighborConfig``'s prefix ``NL_nbr_`` and suffix
    ``_weight`` give ``("NL_nbr_0_image", "NL_nbr_0_weight")`` for the first.
    """
    max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
    config = _nsl().configs.GraphNeighborConfig()
    return [
        (f"{config.prefix}{index}_{feature}", f"{config.prefix}{index}{config.weight_suffix}")
        for index in range(max_neighbors)
    ]


def _check_node_images(images, graph: SimilarityGraph) -> np.ndarray:
    images = checks.check_images(images)
    if len(images) != graph.num_nodes:
        raise GraphError(
            f"images has {len(images):,} images but the graph has {graph.num_nodes:,} nodes: give every node's image, "
            "in the order of graph.ids."
        )
    return images


def pack_neighbors(graph: SimilarityGraph, centres, images, max_neighbors: int, feature: str = INPUT_NAME) -> dict:
    """Each centre node with its ``max_neighbors`` heaviest neighbours, in NSL's training layout.

    Returns NumPy arrays keyed like NSL's ``pack_nbrs`` output as the NSL
    tutorials parse it: ``feature`` (the centres' images), ``NL_nbr_<i>_<feature>``
    (the ``i``-th neighbour's image) and ``NL_nbr_<i>_weight`` (its edge weight,
    shape ``(N, 1)``). A centre with fewer neighbours gets blank images of
    weight 0 in the missing places, which NSL's loss then ignores.
    ``images[j]`` is the image of node ``j``.
    """
    _require_edges(graph)
    images = _check_node_images(images, graph)
    centres = _check_nodes(centres, graph.num_nodes)
    positions, weights = graph.top_neighbors(centres, max_neighbors)
    packed = {feature: images[centres]}
    for index, (image_name, weight_name) in enumerate(neighbor_feature_names(max_neighbors, feature)):
        present = positions[:, index] >= 0
        neighbour_images = np.zeros((len(centres), *images.shape[1:]), np.float32)
        neighbour_images[present] = images[positions[present, index]]
        packed[image_name] = neighbour_images
        packed[weight_name] = weights[:, index : index + 1].astype(np.float32)
    return packed


def _write_image_records(path: Path, ids: Sequence[str], images: np.ndarray, feature: str) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for node_id, image in zip(ids, images):
            example = tf.train.Example()
            example.features.feature[ID_FEATURE].bytes_list.value.append(node_id.encode("utf-8"))
            example.features.feature[feature].float_list.value.extend(image.ravel().tolist())
            writer.write(example.SerializeToString())


def pack_with_nsl(graph: SimilarityGraph, centres, images, max_neighbors: int, feature: str = INPUT_NAME) -> dict:
    """:func:`pack_neighbors` done by NSL itself: ``nsl.tools.pack_nbrs`` on TFRecords in a temporary folder.

    The centres are written as the "labelled" examples, their neighbours as the
    "unlabelled" ones, the graph as NSL's TSV; NSL's packed output is parsed back
    (missing neighbours as blank images of weight 0, as NSL's tutorials parse
    them) into the same dict as :func:`pack_neighbors`, plus ``NL_num_nbrs``.
    Slower (every image goes through a protocol buffer), but NSL's own code.
    """
    _require_edges(graph)
    images = _check_node_images(images, graph)
    centres = _check_nodes(centres, graph.num_nodes)
    max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
    nsl = _nsl()
    positions, _ = graph.top_neighbors(centres, max_neighbors)
    others = np.setdiff1d(positions[positions >= 0], centres)
    shape = images.shape[1:]
    names = neighbor_feature_names(max_neighbors, feature)
    spec = {feature: tf.io.FixedLenFeature(shape, tf.float32), ID_FEATURE: tf.io.FixedLenFeature([], tf.string),
            "NL_num_nbrs": tf.io.FixedLenFeature([1], tf.int64)}
    for image_name, weight_name in names:
        spec[image_name] = tf.io.FixedLenFeature(shape, tf.float32, default_value=tf.zeros(shape, tf.float32))
        spec[weight_name] = tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])
    with tempfile.TemporaryDirectory(prefix="advlearn_pack_") as folder:
        folder = Path(folder)
        _write_image_records(folder / "centres.tfr", [graph.ids[i] for i in centres], images[centres], feature)
        _write_image_records(folder / "neighbours.tfr", [graph.ids[i] for i in others], images[others], feature)
        with open(folder / "graph.tsv", "w") as handle:  # NSL's write_tsv_graph format: "%s\t%s\t%f"
            for source, target, weight in zip(graph.sources, graph.targets, graph.weights):
                handle.write(f"{graph.ids[source]}\t{graph.ids[target]}\t{weight:f}\n")
        with _nsl_tsv_reader():
            nsl.tools.pack_nbrs(
                str(folder / "centres.tfr"), str(folder / "neighbours.tfr") if len(others) else "",
                str(folder / "graph.tsv"), str(folder / "packed.tfr"), max_nbrs=max_neighbors,
                id_feature_name=ID_FEATURE,
            )
        # Parsed eagerly in one batch: no traced function (TensorFlow would write its code to the temp folder).
        serialized = tf.stack(list(tf.data.TFRecordDataset(str(folder / "packed.tfr"))))
        parsed = {name: value.numpy() for name, value in tf.io.parse_example(serialized, spec).items()}
    row_of = {node_id.decode("utf-8"): row for row, node_id in enumerate(parsed.pop(ID_FEATURE))}
    order = np.array([row_of[graph.ids[i]] for i in centres])
    return {name: value[order] for name, value in parsed.items()}


# ----------------------------------------------------------------------------
# The graph's own predictions.
# ----------------------------------------------------------------------------


def _check_all_classes_labelled(labels: np.ndarray, classes: int, class_names=CLASS_NAMES) -> None:
    present = np.unique(labels[labels >= 0])
    missing = [c for c in range(classes) if c not in present]
    if missing:
        named = ", ".join(f"{c} ({class_names[c]})" if c < len(class_names) else str(c) for c in missing)
        raise ValueError(
            f"no labelled node of class {named}: the graph could never predict it. Give at least one labelled "
            "image of every class (a class-balanced label budget does)."
        )


def neighbour_vote(graph: SimilarityGraph, labels, classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Each node's class by a vote of its labelled neighbours, weighted by edge weight; -1 where it has none.

    ``labels`` holds one class per node, -1 for the unlabelled ones.
    """
    _require_edges(graph)
    labels = _check_node_labels(labels, graph.num_nodes, classes)
    _check_all_classes_labelled(labels, classes)
    votes = np.zeros((graph.num_nodes, classes))
    labelled = labels[graph.targets] >= 0
    np.add.at(votes, (graph.sources[labelled], labels[graph.targets[labelled]]), graph.weights[labelled])
    return np.where(votes.any(axis=1), votes.argmax(axis=1), UNLABELLED)


def label_propagation(graph: SimilarityGraph, labels, classes: int = len(CLASS_NAMES), alpha: float = 0.99,
                      iterations: int = 50) -> np.ndarray:
    """Each node's class by label propagation (Zhou et al., "Learning with local and global consistency", 2004).

    Every labelled node starts with its class; at each iteration every node takes
    ``alpha`` times the (symmetrically normalised) weighted average of its
    neighbours' scores plus ``1 - alpha`` times its own starting label, so labels
    flow along paths of several edges. Returns the class with the highest score,
    -1 for nodes no labelled node reaches. ``labels``: one class per node, -1 for unlabelled.
    """
    _require_edges(graph)
    labels = _check_node_labels(labels, graph.num_nodes, classes)
    _check_all_classes_labelled(labels, classes)
    alpha = checks.check_number(alpha, "alpha", minimum=0.0, maximum=1.0)
    iterations = checks.check_whole_number(iterations, "iterations", minimum=1)
    degree = np.bincount(graph.sources, weights=graph.weights, minlength=graph.num_nodes)
    safe = np.where(degree > 0, degree, 1.0)
    normalised = graph.weights / np.sqrt(safe[graph.sources] * safe[graph.targets])
    start = np.zeros((graph.num_nodes, classes))
    start[labels >= 0, labels[labels >= 0]] = 1.0
    scores = start.copy()
    for _ in range(iterations):
        spread = np.zeros_like(scores)
        for c in range(classes):  # one bincount per class: a sparse matrix product without SciPy
            spread[:, c] = np.bincount(graph.sources, weights=normalised * scores[graph.targets, c], minlength=graph.num_nodes)
        scores = alpha * spread + (1.0 - alpha) * start
    return np.where(scores.max(axis=1) > 0, scores.argmax(axis=1), UNLABELLED)


def edge_information(graph: SimilarityGraph, centres, centre_labels, neighbour_classes, model_predictions,
                     max_neighbors: int, classes: int = len(CLASS_NAMES)) -> dict:
    """What the packed edges tell a model, next to what it already predicts.

    For every edge from a labelled centre to one of its ``max_neighbors``
    heaviest neighbours, graph regularization asks the model to give the
    neighbour the centre's class. Compared with the neighbour's true class
    (``neighbour_classes``: one per node, a diagnostic the training never sees)
    and the model's own prediction of it (``model_predictions``: one per node):

    * ``homophily``: the graph is right (the neighbour is of the centre's class);
    * ``model agrees``: the model already predicts the centre's class for it;
    * ``useful``: graph right, model wrong: the edge can teach the model;
    * ``harmful``: graph wrong, model right: the edge pulls the model to a wrong class.

    Returns the shares of all such edges and their count.
    """
    _require_edges(graph)
    centres = _check_nodes(centres, graph.num_nodes)
    centre_labels = np.asarray(centre_labels)
    if centre_labels.shape != centres.shape:
        raise GraphError(f"centre_labels has shape {centre_labels.shape}; give one class per centre ({len(centres)}).")
    truth = _check_node_labels(neighbour_classes, graph.num_nodes, classes, "neighbour_classes", allow_unlabelled=False)
    predicted = _check_node_labels(model_predictions, graph.num_nodes, classes, "model_predictions", allow_unlabelled=False)
    positions, _ = graph.top_neighbors(centres, max_neighbors)
    present = positions >= 0
    wanted = np.broadcast_to(centre_labels[:, None], positions.shape)[present]
    neighbours = positions[present]
    graph_right = truth[neighbours] == wanted
    model_right_for_graph = predicted[neighbours] == wanted
    model_right = predicted[neighbours] == truth[neighbours]
    return {
        "edges": int(present.sum()),
        "homophily": float(graph_right.mean()) if present.any() else float("nan"),
        "model agrees": float(model_right_for_graph.mean()) if present.any() else float("nan"),
        "useful": float(np.mean(graph_right & ~model_right_for_graph)) if present.any() else float("nan"),
        "harmful": float(np.mean(~graph_right & model_right)) if present.any() else float("nan"),
    }
