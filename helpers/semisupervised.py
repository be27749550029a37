"""Few labels, many unlabelled images: the split, and training with and without a graph (notebook 05).

* :func:`labelled_split` - which training images keep their label (a
  class-balanced budget), which of those form the validation split, and which
  are unlabelled.
* :func:`graph_reg_config` - NSL's graph-regularization config.
* :func:`unlabelled_centres` - the unlabelled images that can be training
  centres: those with at least one neighbour in the graph.
* :func:`train_base` / :func:`train_graph_regularized` - the series' small CNN
  trained for the same number of updates on batches of labelled images; the
  graph-regularized one also sees each image's packed neighbours
  (``nsl.keras.GraphRegularization``) and, optionally, unlabelled centres with
  theirs: half of every batch, with no supervised loss, in the batches of
  :func:`helpers.lessons.mixed_batches` (written in notebook 05). Both return
  ``(model, history, seconds)``.
* :func:`train_arms` - one label draw and seed, every arm of notebook 05's
  comparison: the base CNN, labelled centres only, unlabelled centres too, and
  two controls with the same batches (multiplier 0; a degree-preserving
  shuffle of the graph's edges).
* :func:`budget_experiment` - both models at several label budgets and seeds,
  as tidy rows for :func:`helpers.transfer.summarize` and
  :func:`helpers.plots.plot_label_budget`.

The training loss of the graph-regularized model is
``supervised_loss + multiplier * neighbour_loss``, the slides' ``total_loss``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import checks
from helpers import data as _data
from helpers import evaluation as _evaluation
from helpers import graphs as _graphs
from helpers import lessons as _lessons
from helpers import models as _models
from helpers.data import CLASS_NAMES

__all__ = [
    "LabelledSplit",
    "labelled_split",
    "graph_reg_config",
    "unlabelled_centres",
    "train_base",
    "train_graph_regularized",
    "ARMS",
    "train_arms",
    "budget_experiment",
]

ARMS = ("base", "graph, labelled centres", "graph-regularized", "multiplier 0, same batches", "shuffled graph")


@dataclass(frozen=True)
class LabelledSplit:
    """Positions in the training set: ``train`` and ``validation`` keep their labels, ``unlabelled`` do not."""

    per_class: int
    train: np.ndarray
    validation: np.ndarray
    unlabelled: np.ndarray

    @property
    def labelled(self) -> int:
        """The label budget: labelled images, validation included."""
        return len(self.train) + len(self.validation)

    def describe(self, total: int) -> str:
        return (
            f"{self.per_class} labelled images per class = {self.labelled:,} labels ({self.labelled / total:.2%} of "
            f"{total:,} training images): {len(self.train):,} to train, {len(self.validation):,} to validate; "
            f"{len(self.unlabelled):,} unlabelled"
        )


def labelled_split(labels, per_class: int, validation_fraction: float = 0.2, seed: int = 0,
                   classes: int = len(CLASS_NAMES)) -> LabelledSplit:
    """Choose ``per_class`` labelled images of every class, ``validation_fraction`` of them for validation.

    Every class keeps at least one labelled training image and, when
    ``validation_fraction > 0``, at least one validation image. Everything else
    is unlabelled (its label is never to be used). Raises when a class has too
    few images for the budget.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be a 1-D array of class numbers, got {labels.dtype} of shape {labels.shape}.")
    per_class = checks.check_whole_number(per_class, "per_class", minimum=1)
    validation_fraction = checks.check_number(validation_fraction, "validation_fraction", minimum=0.0, maximum=0.9)
    seed = checks.check_seed(seed, allow_none=False)
    validation_per_class = int(round(per_class * validation_fraction))
    if validation_fraction > 0:
        validation_per_class = max(1, validation_per_class)
    if per_class - validation_per_class < 1:
        raise ValueError(
            f"per_class={per_class} with validation_fraction={validation_fraction:g} leaves no labelled training image "
            "per class: raise per_class to at least 2 or lower validation_fraction."
        )
    rng = np.random.default_rng(seed)
    names = [CLASS_NAMES[label] if label < len(CLASS_NAMES) else str(label) for label in range(classes)]
    drawn = _data.draw_per_class(labels, per_class, rng, names)
    validation = [chosen[:validation_per_class] for chosen in drawn]
    train = [chosen[validation_per_class:] for chosen in drawn]
    train, validation = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(validation))
    unlabelled = np.setdiff1d(np.arange(len(labels)), np.concatenate([train, validation]))
    return LabelledSplit(per_class, train, validation, unlabelled)


def graph_reg_config(max_neighbors: int, multiplier: float, distance_type: str = "l2", sum_over_classes: bool = False):
    """``nsl.configs.make_graph_reg_config``: how many neighbours, how much their loss counts, and how it is measured.

    The neighbour loss compares the model's class probabilities ``p`` for a
    centre ``i`` and for each packed neighbour ``j``, weighted by the edge weight
    ``w_ij``, and is reduced over the whole batch the way NSL reduces it by
    default (``SUM_BY_NONZERO_WEIGHTS``):

    * ``"l2"`` (``sum_over_axis=None``, NSL's default): ``mean_squared_error``
      averages over the C classes as well, so the loss is
      ``sum_ij w_ij * (1/C) * sum_c (p_ic - p_jc)**2 / #{(i, j): w_ij > 0}``,
      the weighted *mean* squared difference per class (C = 10 here: a tenth of
      the summed squared distance). ``"l1"`` and ``"cosine"`` are reduced alike.
    * ``"kl_divergence"``, ``"jensen_shannon_divergence"`` (``sum_over_axis=-1``):
      the divergence is *summed* over the classes, then averaged over the
      nonzero-weight pairs. At the same multiplier it therefore weighs about C
      times as much as ``"l2"`` would summed the same way; compare the two at
      equal footing (``"l2"`` with ``sum_over_axis=-1``, see ``sum_over_classes``).

    ``tests/test_semisupervised.py`` checks this formula against NSL's own
    ``PairwiseDistance`` layer. ``sum_over_classes=True`` makes ``"l2"`` sum
    over the classes too (NSL's ``sum_over_axis=-1``).
    """
    max_neighbors = checks.check_whole_number(max_neighbors, "max_neighbors", minimum=1)
    multiplier = checks.check_number(multiplier, "multiplier", minimum=0.0)
    kinds = ("l2", "l1", "cosine", "kl_divergence", "jensen_shannon_divergence")
    if distance_type not in kinds:
        raise ValueError(f"distance_type must be one of {', '.join(map(repr, kinds))}, got {distance_type!r}.")
    import neural_structured_learning as nsl

    return nsl.configs.make_graph_reg_config(
        max_neighbors=max_neighbors, multiplier=multiplier, distance_type=distance_type,
        sum_over_axis=None if distance_type in ("l2", "l1", "cosine") and not sum_over_classes else -1,
    )


def unlabelled_centres(graph: "_graphs.SimilarityGraph", split: LabelledSplit) -> np.ndarray:
    """Node positions of the unlabelled images that have a neighbour in ``graph``: the centres worth packing.

    Validation images are never centres; nor is an image without neighbours,
    whose neighbour loss would be zero. ``split`` gives positions of
    ``graph``'s nodes (the split of the graph's node labels).
    """
    if not isinstance(split, LabelledSplit):
        raise TypeError("split must be a LabelledSplit (from labelled_split on the graph's node labels).")
    if len(split.train) + len(split.validation) + len(split.unlabelled) != graph.num_nodes:
        raise _graphs.GraphError(
            f"split covers {len(split.train) + len(split.validation) + len(split.unlabelled):,} images but the graph "
            f"has {graph.num_nodes:,} nodes: split the labels of the graph's own nodes."
        )
    candidates = np.setdiff1d(split.unlabelled, split.validation)
    return candidates[graph.degrees()[candidates] > 0]


def _batches(features, labels, batch_size: int, seed: int, weights=None) -> tf.data.Dataset:
    """Shuffled, endlessly repeated batches (the same order for the same seed and size)."""
    parts = (features, labels) if weights is None else (features, labels, weights)
    return (
        tf.data.Dataset.from_tensor_slices(parts)
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(min(batch_size, len(labels)))
    )


def _check_packed(packed, name: str) -> dict:
    """The packed features the model takes (``NL_num_nbrs`` dropped), checked to have one row per centre."""
    if not isinstance(packed, dict) or _models.INPUT_NAME not in packed:
        raise TypeError(f"{name} must be the dict of helpers.graphs.pack_neighbors (with an {_models.INPUT_NAME!r} key).")
    # NL_num_nbrs (from NSL's pack_nbrs) only counts the neighbours; the model does not take it.
    features = {key: value for key, value in packed.items() if key != "NL_num_nbrs"}
    count = len(features[_models.INPUT_NAME])
    wrong = {key: len(value) for key, value in features.items() if len(value) != count}
    if wrong:
        raise ValueError(f"every feature of {name} must have one row per centre ({count}); these differ: {wrong}.")
    for key, value in features.items():
        if not key.endswith("_weight"):
            checks.check_images(value, f"{name}[{key!r}]")
    return features


def _check_training(steps, rounds, batch_size, seed):
    steps = checks.check_whole_number(steps, "steps", minimum=1)
    rounds = checks.check_whole_number(rounds, "rounds", minimum=1, maximum=steps)
    if steps % rounds:
        raise ValueError(f"steps ({steps}) must be a multiple of rounds ({rounds}): each round is steps / rounds updates.")
    return steps, rounds, checks.check_batch_size(batch_size), checks.check_seed(seed, allow_none=False)


def _fit(trainer, batches, steps, rounds, validation, verbose):
    started = time.perf_counter()
    history = trainer.fit(
        batches, steps_per_epoch=steps // rounds, epochs=rounds, validation_data=validation, verbose=verbose,
    )
    return history.history, time.perf_counter() - started


def train_base(images, labels, steps: int, *, rounds: int = 1, batch_size: int = 32, seed: int = 0,
               validation=None, build: Callable[[], tf.keras.Model] | None = None, verbose: int = 0):
    """The series' CNN trained on labelled images only, for ``steps`` updates; returns ``(model, history, seconds)``.

    ``rounds`` splits the updates into that many Keras "epochs" of
    ``steps / rounds`` updates, so ``history`` (Keras's ``History.history``) has
    one point per round: training loss and accuracy and, with ``validation=(x,
    y)``, validation loss and accuracy. ``build`` makes the model (default
    :func:`helpers.models.build_cnn`); the seed fixes its weights and the batches.
    """
    steps, rounds, batch_size, seed = _check_training(steps, rounds, batch_size, seed)
    images = checks.check_images(images)
    labels = checks.check_labels(labels, len(images), len(CLASS_NAMES))
    tf.keras.utils.set_random_seed(seed)
    model = _models.compile_classifier((build or (lambda: _models.build_cnn(name="base")))())
    history, seconds = _fit(model, _batches(images, labels, batch_size, seed), steps, rounds, validation, verbose)
    return model, history, seconds


def train_graph_regularized(packed: dict, labels, config, steps: int, *, unlabelled: dict | None = None,
                            rounds: int = 1, batch_size: int = 32, seed: int = 0, sample_weight=None,
                            validation=None, build: Callable[[], tf.keras.Model] | None = None, verbose: int = 0):
    """The same CNN wrapped in ``nsl.keras.GraphRegularization``; returns ``(base model, history, seconds)``.

    ``packed`` is :func:`helpers.graphs.pack_neighbors`'s dict for the labelled
    centres, ``labels`` their classes. ``unlabelled``, the same kind of dict for
    unlabelled centres (:func:`unlabelled_centres`), makes every batch half
    labelled, half unlabelled centres: an unlabelled centre has no supervised
    loss (weight 0), only the neighbour loss, which asks the model to agree with
    itself along the graph's edges; so labels spread through the graph, not only
    to the labelled images' direct neighbours. ``sample_weight`` (one per
    labelled centre, without ``unlabelled``) weighs each centre's supervised
    loss. Same seed and batch size as :func:`train_base` give the same initial
    weights (and, without ``unlabelled``, the same order of centres).
    ``history`` also has ``scaled_graph_loss`` (multiplier times the neighbour
    loss; ``loss`` is the total) and ``accuracy``, over the labelled centres only
    (a weighted metric: unlabelled centres weigh 0). Keras averages the
    supervised loss over the whole batch, so with ``unlabelled`` each update's
    supervised loss comes from 16 labelled images of 32 (a control with
    multiplier 0 and the same batches isolates that change). With multiplier 0
    NSL skips the neighbours altogether. The returned model is the plain CNN inside the wrapper.
    """
    import neural_structured_learning as nsl

    steps, rounds, batch_size, seed = _check_training(steps, rounds, batch_size, seed)
    features = _check_packed(packed, "packed")
    count = len(features[_models.INPUT_NAME])
    labels = checks.check_labels(labels, count, len(CLASS_NAMES))
    neighbours = config.neighbor_config.max_neighbors
    missing = [pair for pair in _graphs.neighbor_feature_names(neighbours) for name in pair if name not in packed]
    if missing:
        raise ValueError(
            f"the config asks for {neighbours} neighbours but packed lacks {missing[:2]}: pack with "
            f"max_neighbors >= {neighbours}."
        )
    if unlabelled is not None:
        if sample_weight is not None:
            raise ValueError("give sample_weight or unlabelled, not both: with unlabelled centres every labelled one weighs 1.")
        others = _check_packed(unlabelled, "unlabelled")
        if set(others) != set(features):
            raise ValueError(f"unlabelled must have the same features as packed: {sorted(set(others) ^ set(features))} differ.")
        if batch_size < 2:
            raise ValueError("batch_size must be at least 2 with unlabelled centres: half of every batch is unlabelled.")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, np.float32)
        if sample_weight.shape != (count,) or not np.isfinite(sample_weight).all() or sample_weight.min() < 0:
            raise ValueError(f"sample_weight must hold one finite weight >= 0 per centre ({count}).")
    tf.keras.utils.set_random_seed(seed)
    model = (build or (lambda: _models.build_cnn(name="graph_regularized")))()
    wrapper = nsl.keras.GraphRegularization(model, config)
    # The same optimizer and loss as the base model. Accuracy is a weighted metric: an unlabelled centre
    # (weight 0, dummy label 0) counts in neither the supervised loss nor the training accuracy.
    wrapper.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                    weighted_metrics=["accuracy"])
    if unlabelled is None:
        batches = _batches(features, labels, batch_size, seed, sample_weight)
    else:
        batches = _lessons.mixed_batches(features, labels, others, batch_size, seed)  # notebook 05's lesson
    history, seconds = _fit(wrapper, batches, steps, rounds, validation, verbose)
    return wrapper.base_model, history, seconds


def train_arms(node_images, node_labels, graph: "_graphs.SimilarityGraph", per_class: int, seed: int, config,
               steps: int, *, arms: Sequence[str] = ARMS, validation_fraction: float = 0.2, rounds: int = 1,
               batch_size: int = 32, build: Callable[[], tf.keras.Model] | None = None) -> tuple[LabelledSplit, dict]:
    """One draw of the labels (``seed``) and every arm of the comparison, all from the same initial weights.

    ``node_images`` and ``node_labels`` are ``graph``'s nodes in node order; only
    the drawn labelled training images have their label used. The validation
    images are cut out of the graph. The arms (:data:`ARMS`):

    * ``"base"``: the CNN on the labelled images only (:func:`train_base`);
    * ``"graph, labelled centres"``: packed labelled images only (NSL's tutorials);
    * ``"graph-regularized"``: half of every batch unlabelled centres (:func:`unlabelled_centres`);
    * ``"multiplier 0, same batches"``: the same batches as ``"graph-regularized"``
      with the neighbour loss off: what the change of batches alone does;
    * ``"shuffled graph"``: the same, over ``graph.rewired(seed)``: every node keeps
      its number of edges (so the same centres, packed with as many neighbours,
      in the same batches), but the neighbours are random images.

    Every arm trains ``steps`` updates of ``batch_size`` from the seed's initial
    weights (``build`` makes the model, default the series' CNN). Returns
    ``(split, {arm: (model, history, seconds)})``.
    """
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not arms:
        raise ValueError(f"arms must name some of {ARMS}, got {list(arms)}.")
    node_images = checks.check_images(node_images, "node_images")
    node_labels = checks.check_labels(node_labels, len(node_images), len(CLASS_NAMES), "node_labels")
    if len(node_images) != graph.num_nodes:
        raise _graphs.GraphError(f"node_images has {len(node_images):,} images but the graph has {graph.num_nodes:,} nodes.")
    split = labelled_split(node_labels, per_class, validation_fraction, seed)
    train_graph = graph.without_nodes(split.validation) if len(split.validation) else graph
    x_train, y_train = node_images[split.train], node_labels[split.train]
    validation = (node_images[split.validation], node_labels[split.validation]) if len(split.validation) else None
    common = dict(rounds=rounds, batch_size=batch_size, seed=seed, validation=validation, build=build)
    neighbours = config.neighbor_config.max_neighbors
    switched_off = copy.deepcopy(config)
    switched_off.multiplier = 0.0

    def packed(run_graph, centres):
        return _graphs.pack_neighbors(run_graph, centres, node_images, neighbours)

    runs = {}
    for arm in arms:
        if arm == "base":
            runs[arm] = train_base(x_train, y_train, steps, **common)
        elif arm == "graph, labelled centres":
            runs[arm] = train_graph_regularized(packed(train_graph, split.train), y_train, config, steps, **common)
        else:
            run_graph = train_graph.rewired(seed) if arm == "shuffled graph" else train_graph
            others = packed(run_graph, unlabelled_centres(run_graph, split))
            runs[arm] = train_graph_regularized(
                packed(run_graph, split.train), y_train, switched_off if arm.startswith("multiplier 0") else config,
                steps, unlabelled=others, **common,
            )
    return split, runs


def budget_experiment(node_images, node_labels, graph: "_graphs.SimilarityGraph", budgets: Sequence[int],
                      seeds: Sequence[int], config, steps: int, test_images, test_labels, *,
                      validation_fraction: float = 0.2, batch_size: int = 32, with_unlabelled: bool = False,
                      progress: bool = True) -> pd.DataFrame:
    """Base and graph-regularized CNNs at every label budget and seed, scored on the test images.

    ``node_images`` ([0, 1] floats) and ``node_labels`` are the images and
    classes of ``graph``'s nodes, in node order; only each run's labelled
    training images have their label used. At each budget (images per class)
    and seed, :func:`labelled_split` picks the labels among the nodes, the
    validation images are cut out of the graph (no one's neighbour), and both
    models train ``steps`` updates on the labelled training images, the
    graph-regularized one with each image's packed neighbours (and, with
    ``with_unlabelled``, the unlabelled centres of :func:`unlabelled_centres` as
    half of every batch). Returns a DataFrame, a row per run:
    ``approach, per_class, labelled, seed, accuracy, n, seconds``.
    """
    node_images = checks.check_images(node_images, "node_images")
    node_labels = checks.check_labels(node_labels, len(node_images), len(CLASS_NAMES), "node_labels")
    if len(node_images) != graph.num_nodes:
        raise _graphs.GraphError(
            f"node_images has {len(node_images):,} images but the graph has {graph.num_nodes:,} nodes: give every "
            "node's image, in node order."
        )
    test_images = checks.check_images(test_images, "test_images")
    test_labels = checks.check_labels(test_labels, len(test_images), len(CLASS_NAMES), "test_labels")
    neighbours = config.neighbor_config.max_neighbors

    def one_run(budget, seed):
        split = labelled_split(node_labels, budget, validation_fraction, seed)
        run_graph = graph.without_nodes(split.validation) if len(split.validation) else graph
        x_train, y_train = node_images[split.train], node_labels[split.train]
        base, _, base_seconds = train_base(x_train, y_train, steps, batch_size=batch_size, seed=seed)
        packed = _graphs.pack_neighbors(run_graph, split.train, node_images, neighbours)
        others = None
        if with_unlabelled:
            others = _graphs.pack_neighbors(run_graph, unlabelled_centres(run_graph, split), node_images, neighbours)
        regularized, _, graph_seconds = train_graph_regularized(
            packed, y_train, config, steps, unlabelled=others, batch_size=batch_size, seed=seed
        )
        return [{
            "approach": approach, "per_class": budget, "labelled": split.labelled, "seed": seed,
            "accuracy": _evaluation.accuracy(model, test_images, test_labels), "n": len(test_labels),
            "seconds": seconds,
        } for approach, model, seconds in (("base", base, base_seconds),
                                           ("graph-regularized", regularized, graph_seconds))]

    return _evaluation.label_budget_runs(budgets, seeds, one_run, progress=progress)
