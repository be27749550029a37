"""Neural Structured Learning's graph tools (``nsl.tools``), run on files in a temporary folder (notebook 05).

NSL builds a graph and packs training examples from ``tf.train.Example``
records and TSV files. This module writes those files, runs NSL's tools on them
and reads back what they write, into a :class:`helpers.graphs.SimilarityGraph`
or NumPy arrays; the folder is deleted afterwards whatever happens.

* :func:`write_embeddings` - ``tf.train.Example`` records holding an ``id``
  (bytes) and an ``embedding`` (floats): what ``nsl.tools.build_graph_from_config`` reads.
* :func:`graph_builder_config`, :func:`build_graph` - NSL's graph builder: an
  edge joins two images whose embeddings have a cosine similarity of at least
  ``threshold``.
* :func:`pack_with_nsl` - centres packed with their neighbours by
  ``nsl.tools.pack_nbrs``. The training packs with
  :func:`helpers.graphs.pack_neighbors` (NumPy, no files); this runs NSL's own
  tool only to check that one against it (notebook 05, section 5, and
  ``tests/test_graphs.py``).

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
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.graphs import (GraphError, SimilarityGraph, check_node_images, check_nodes, check_threshold,
                            neighbor_feature_names, require_edges)
from helpers.models import INPUT_NAME

__all__ = ["write_embeddings", "graph_builder_config", "build_graph", "pack_with_nsl"]

ID_FEATURE = "id"
EMBEDDING_FEATURE = "embedding"


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
    repeated = [item for item, times in Counter(ids).items() if times > 1]
    if repeated:
        raise ValueError(
            f"{name} must be unique; repeated: {', '.join(map(repr, repeated[:5]))}. Use helpers.graphs.node_ids(count).")
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


def _temporary_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.partial")


def _write_records(path: Path, ids: Sequence[str], rows: np.ndarray, feature: str) -> None:
    """One ``tf.train.Example`` per row: its ``id`` (bytes) and ``feature`` (the row's values, as floats)."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for node_id, row in zip(ids, rows):
            example = tf.train.Example()
            example.features.feature[ID_FEATURE].bytes_list.value.append(node_id.encode("utf-8"))
            example.features.feature[feature].float_list.value.extend(row.ravel().tolist())
            writer.write(example.SerializeToString())


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
        _write_records(partial, ids, embeddings, EMBEDDING_FEATURE)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _most_similar_pair(embeddings: np.ndarray, limit: int = 4000) -> float:
    """The highest cosine similarity between two different rows (of the first ``limit``), for an error message."""
    sample = embeddings[:limit].astype(np.float64)
    sample = sample / np.linalg.norm(sample, axis=1, keepdims=True)
    similarity = sample @ sample.T
    np.fill_diagonal(similarity, -np.inf)
    return float(similarity.max())


def graph_builder_config(threshold: float, lsh_splits: int = 0, lsh_rounds: int = 1, seed: int = 0):
    """The ``nsl.configs.GraphBuilderConfig`` that :func:`build_graph` passes to ``nsl.tools.build_graph_from_config``."""
    threshold = check_threshold(threshold)
    lsh_splits = checks.check_whole_number(lsh_splits, "lsh_splits", minimum=0, maximum=30)
    lsh_rounds = checks.check_whole_number(lsh_rounds, "lsh_rounds", minimum=1)
    seed = checks.check_seed(seed, allow_none=False)
    import neural_structured_learning as nsl

    return nsl.configs.GraphBuilderConfig(
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
    import neural_structured_learning as nsl

    with tempfile.TemporaryDirectory(prefix="advlearn_graph_") as folder:
        records = write_embeddings(Path(folder) / "embeddings.tfr", ids, embeddings)
        tsv = Path(folder) / "graph.tsv"
        with _numpy_global_seed_kept():
            nsl.tools.build_graph_from_config([str(records)], str(tsv), config)
        graph = _read_graph(tsv, ids, threshold)
    if graph.num_edges == 0 and not allow_empty:
        raise GraphError(
            f"No two of the {len(ids):,} embeddings have a cosine similarity >= {threshold:g} "
            f"(the most similar pair has {_most_similar_pair(embeddings):.3f}"
            f"{' among the first 4,000' if len(ids) > 4000 else ''}): the graph has no edge. Lower the threshold"
            + (", or use fewer LSH splits (each bucket then holds more nodes)" if lsh_splits else "")
            + "."
        )
    return graph


def _read_graph(path, ids: Sequence[str], threshold: float) -> SimilarityGraph:
    """Read a graph TSV (``source<TAB>target<TAB>weight``) with ``nsl.tools.read_tsv_graph``.

    ``ids`` are all the nodes, isolated ones included (the file names only nodes
    with edges). A node in the file that is not in ``ids`` raises :class:`GraphError`.
    """
    ids = _check_ids(ids)
    threshold = check_threshold(threshold)
    import neural_structured_learning as nsl

    with _nsl_tsv_reader():
        nested = nsl.tools.read_tsv_graph(str(path))
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


def pack_with_nsl(graph: SimilarityGraph, centres, images, max_neighbors: int, feature: str = INPUT_NAME) -> dict:
    """Centres packed with their neighbours by NSL itself: ``nsl.tools.pack_nbrs`` on TFRecords in a temporary folder.

    Only a check: the training packs with :func:`helpers.graphs.pack_neighbors`,
    and notebook 05 (section 5) and ``tests/test_graphs.py`` check that it gives
    exactly these arrays. The centres are written as the "labelled" examples,
    their neighbours as the "unlabelled" ones, the graph as NSL's TSV; NSL's
    packed output is parsed back (missing neighbours as blank images of weight
    0, as NSL's tutorials parse them) into the same dict as ``pack_neighbors``,
    plus ``NL_num_nbrs``. Slower (every image goes through a protocol buffer).
    """
    require_edges(graph)
    images = check_node_images(images, graph)
    centres = check_nodes(centres, graph.num_nodes)
    max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
    import neural_structured_learning as nsl

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
        _write_records(folder / "centres.tfr", [graph.ids[i] for i in centres], images[centres], feature)
        _write_records(folder / "neighbours.tfr", [graph.ids[i] for i in others], images[others], feature)
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
