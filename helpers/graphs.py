"""The similarity graph of notebook 05 in memory: its nodes and edges, what it measures, its packed centres.

NSL's own tools build the graph from label-free embeddings
(:mod:`helpers.nsl_tools`); this module holds the graph they return, measures
it, and packs its nodes into the examples graph regularization trains on.

* :func:`node_ids` - ids for the graph's nodes (zero-padded, so text order is number order).
* :class:`SimilarityGraph` - nodes, edges, and each node's neighbours in the
  order NSL's ``pack_nbrs`` takes them (heaviest edge first); ``keep_heaviest``
  turns a threshold graph into a nearest-neighbour graph; ``rewired`` shuffles
  its edges at equal degrees (a control that keeps the shape, not the content).
* :func:`graph_statistics` - edges per node, isolated nodes, homophily (the
  share of edges joining two images of the same class).
* :func:`pack_neighbors` - training examples in NSL's layout: ``image``,
  ``NL_nbr_<i>_image`` and ``NL_nbr_<i>_weight`` for the ``i``-th neighbour.
  It is the one packing the training uses; :func:`helpers.nsl_tools.pack_with_nsl`
  only runs NSL's own ``pack_nbrs`` to check it against.
* :func:`check_nodes`, :func:`check_node_labels`, :func:`check_node_images`,
  :func:`require_edges`, :func:`check_threshold` - what is given per node,
  checked against a graph; shared with :mod:`helpers.nsl_tools` and
  :mod:`helpers.graph_predictions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from helpers import checks
from helpers.data import CLASS_NAMES
from helpers.models import INPUT_NAME

__all__ = [
    "GraphError",
    "UNLABELLED",
    "SimilarityGraph",
    "node_ids",
    "graph_statistics",
    "neighbor_feature_names",
    "pack_neighbors",
    "check_nodes",
    "check_node_labels",
    "check_node_images",
    "check_threshold",
    "require_edges",
]

UNLABELLED = -1  # the label of a node whose class the method may not use


class GraphError(ValueError):
    """A graph that cannot be used: no edges, or ids that do not match the nodes."""


def node_ids(count: int) -> list[str]:
    """``count`` node ids ``"000000"``, ``"000001"``, ...: zero-padded, so sorting them as text sorts them as numbers.

    NSL breaks ties between equally similar neighbours by the larger id *as
    text*; with these ids that is the larger node number.
    """
    count = checks.check_whole_number(count, "count", minimum=1)
    width = max(6, len(str(count - 1)))
    return [f"{index:0{width}d}" for index in range(count)]


def check_threshold(threshold, name: str = "threshold") -> float:
    """A cosine-similarity threshold in [0, 1], as a float."""
    return checks.check_number(
        threshold, name, minimum=0.0, maximum=1.0,
        hint="It is a cosine similarity between embeddings: 1 joins only identical directions, 0 any two that are "
        "not opposed. Values such as 0.8-0.95 give sparse graphs.",
    )


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
        nodes = check_nodes(nodes, self.num_nodes)
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
        threshold = check_threshold(threshold)
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
        nodes = check_nodes(nodes, self.num_nodes, "nodes")
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


def check_nodes(nodes, count: int, name: str = "centres") -> np.ndarray:
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


# ----------------------------------------------------------------------------
# Measuring a graph.
# ----------------------------------------------------------------------------


def check_node_labels(labels, count: int, classes: int, name: str = "labels", allow_unlabelled: bool = True) -> np.ndarray:
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


def require_edges(graph: SimilarityGraph) -> None:
    """Raise unless ``graph`` is a :class:`SimilarityGraph` with at least one edge."""
    if not isinstance(graph, SimilarityGraph):
        raise TypeError(
            f"graph must be a SimilarityGraph (from helpers.nsl_tools.build_graph), got {type(graph).__name__}.")
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
    require_edges(graph)
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
        labels = check_node_labels(labels, graph.num_nodes, classes)
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
    import neural_structured_learning as nsl

    config = nsl.configs.GraphNeighborConfig()
    return [
        (f"{config.prefix}{index}_{feature}", f"{config.prefix}{index}{config.weight_suffix}")
        for index in range(max_neighbors)
    ]


def check_node_images(images, graph: SimilarityGraph) -> np.ndarray:
    """One image per node of ``graph``, in node order, checked by :func:`helpers.checks.check_images`."""
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

    This is the packing the training uses (:mod:`helpers.semisupervised`): NumPy
    on the graph in memory, no files. :func:`helpers.nsl_tools.pack_with_nsl`
    runs NSL's own ``pack_nbrs`` instead; notebook 05 and ``tests/test_graphs.py``
    check that the two give the same arrays.
    """
    require_edges(graph)
    images = check_node_images(images, graph)
    centres = check_nodes(centres, graph.num_nodes)
    positions, weights = graph.top_neighbors(centres, max_neighbors)
    packed = {feature: images[centres]}
    for index, (image_name, weight_name) in enumerate(neighbor_feature_names(max_neighbors, feature)):
        present = positions[:, index] >= 0
        neighbour_images = np.zeros((len(centres), *images.shape[1:]), np.float32)
        neighbour_images[present] = images[positions[present, index]]
        packed[image_name] = neighbour_images
        packed[weight_name] = weights[:, index : index + 1].astype(np.float32)
    return packed
