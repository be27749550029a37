"""Transfer learning you can measure without any download: Fashion-MNIST against itself.

Notebook 02's ImageNet experiment needs VGG-19's weights, which an offline
machine cannot get. This module builds a transfer experiment from Fashion-MNIST
alone: a **source task** (some of the classes, all their training images)
pretrains the series' small CNN, and a **target task** (the other classes, with
only a few labelled images each) reuses its convolutional base. Three ways to
train on the target are compared on the same target test images:

* ``"from scratch"`` - the same CNN from random weights, on the labelled images only;
* ``"frozen base"`` - the pretrained convolutions frozen, a new dense head trained;
* ``"fine-tuned"`` - then everything unfrozen and trained further at a low learning rate.

* :func:`class_task` - the images of some classes, relabelled 0..k-1.
* :func:`labelled_sample` - a class-balanced sample of ``per_class`` images per class.
* :func:`pretrain_source` - the series' CNN trained on the source task.
* :func:`train_target` - train a model for a fixed number of steps (the same for every budget).
* :func:`label_budget_experiment` - every approach at every label budget and seed, as tidy rows.
* :func:`summarize` - mean and spread over seeds, and the error reduction of each approach.

Freezing the copied base and unfreezing it are notebook 02's lesson (:func:`helpers.lessons.copy_and_freeze`,
:func:`helpers.lessons.unfreeze`); this module runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import checks as _checks
from helpers import data as _data
from helpers import evaluation as _evaluation
from helpers import lessons as _lessons
from helpers import models as _models

__all__ = [
    "BASE_LAYERS",
    "Task",
    "class_task",
    "labelled_sample",
    "pretrain_source",
    "train_target",
    "label_budget_experiment",
    "summarize",
]

_APPROACHES = ("from scratch", "frozen base", "fine-tuned")
# Fixed settings of the series (notebook 02, section 3), not tuned on the test images: Adam's learning rate for
# the new head (and for from scratch), the lower one for fine-tuning, and the batch size of the target's updates.
_HEAD_LEARNING_RATE, _FINETUNE_LEARNING_RATE, _BATCH_SIZE = 1e-3, 3e-4, 32
# What is transferred by default: build_cnn's convolutional base. Its dense layers, which combine the
# convolutional features into the source's classes, are the head: always new. (Transferring the
# 128-unit dense layer too did worse on validation images: it is specific to the source classes.)
BASE_LAYERS = ("conv1", "conv2")


@dataclass(frozen=True)
class Task:
    """Images of some Fashion-MNIST classes as model inputs, with labels renumbered 0..k-1.

    ``classes[i]`` is the original Fashion-MNIST class of label ``i``.
    """

    name: str
    classes: tuple[int, ...]
    x: np.ndarray
    y: np.ndarray

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(_data.CLASS_NAMES[c] for c in self.classes)

    def describe(self) -> str:
        return f"{self.name}: {len(self.x):,} images of {', '.join(self.class_names)}"


def class_task(images: np.ndarray, labels: np.ndarray, classes: Sequence[int], name: str) -> Task:
    """The images of ``classes`` (uint8 pixels as loaded, or model inputs), relabelled by position in ``classes``."""
    classes = tuple(int(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be at least two different class numbers, got {classes}.")
    if not all(0 <= c < len(_data.CLASS_NAMES) for c in classes):
        raise ValueError(f"classes must be Fashion-MNIST class numbers 0-{len(_data.CLASS_NAMES) - 1}, got {classes}.")
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length.")
    chosen = np.isin(labels, classes)
    x = np.asarray(images)[chosen]
    x = _data.to_model_input(x) if x.dtype == np.uint8 else x
    relabel = np.full(len(_data.CLASS_NAMES), -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return Task(name, classes, x, relabel[labels[chosen]])


def labelled_sample(task: Task, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` randomly chosen images of every class of ``task`` (the labelled budget), shuffled."""
    per_class = _checks.check_whole_number(per_class, "per_class", hint="It is the number of labelled images per class.")
    seed = _checks.check_seed(seed, allow_none=False)
    rng = np.random.default_rng(seed)
    chosen = _data.draw_per_class(task.y, per_class, rng, task.class_names, where=f"{task.name}: ")
    order = rng.permutation(np.concatenate(chosen))
    return task.x[order], task.y[order]


def pretrain_source(source: Task, epochs: int, batch_size: int = 128, verbose: int = 1) -> tf.keras.Model:
    """The series' CNN trained on every image of the source task (its own k-class head)."""
    model = _models.build_cnn(classes=len(source.classes), name="source_cnn")
    model.fit(source.x, source.y, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model


def _target_model(approach: str, classes: int, pretrained: tf.keras.Model | None = None,
                  base_layers: Sequence[str] = BASE_LAYERS) -> tf.keras.Model:
    """A compiled CNN for a ``classes``-class target task: ``"from scratch"`` or ``"frozen base"``.

    ``"from scratch"`` ignores ``pretrained``; ``"frozen base"`` copies its
    ``base_layers`` (default :data:`BASE_LAYERS`, the convolutions) and freezes
    them (notebook 02's ``copy_and_freeze``), so only the new head (the dense layers) trains.
    ``"fine-tuned"`` is not built here: it continues from a trained frozen-base model.
    """
    if approach not in _APPROACHES[:2]:
        hint = (" Fine-tuning starts from a trained frozen-base model, unfrozen."
                if approach == "fine-tuned" else "")
        raise ValueError(f"approach must be 'from scratch' or 'frozen base', got {approach!r}.{hint}")
    model = _models.build_cnn(classes=classes, name=approach.replace(" ", "_"))
    if approach == "frozen base":
        if pretrained is None:
            raise ValueError("approach 'frozen base' needs the pretrained source model: pass pretrained=.")
        _lessons.copy_and_freeze(model, pretrained, base_layers)  # notebook 02's lesson
    return _models.compile_classifier(model, _HEAD_LEARNING_RATE)


def train_target(model: tf.keras.Model, images: np.ndarray, labels: np.ndarray, steps: int,
                 seed: int = 0) -> tf.keras.Model:
    """Train for ``steps`` updates on batches of 32 drawn (shuffled, repeated) from the labelled images.

    A fixed number of updates, not of epochs, gives every label budget the same
    amount of training: 50 images get as many steps as 1,500.
    """
    steps = _checks.check_whole_number(steps, "steps", hint="It is the number of training updates.")
    batches = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(min(_BATCH_SIZE, len(images)))
    )
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return model


def label_budget_experiment(
    pretrained: tf.keras.Model, target_train: Task, target_test: Task, budgets: Sequence[int],
    seeds: Sequence[int], steps: int, finetune_steps: int,
    base_layers: Sequence[str] = BASE_LAYERS, progress: bool = True,
) -> pd.DataFrame:
    """Every approach at every label budget (images per class) and seed, scored on ``target_test``.

    Every approach gets the same ``steps`` updates on the same labelled images, in the same
    batches of 32: "from scratch" trains all of them at Adam's 1e-3; "frozen base" trains its new
    head for all of them at 1e-3; "fine-tuned" is the frozen-base model as it was
    ``finetune_steps`` updates before the end, then trained for those last ``finetune_steps``
    with everything unfrozen (notebook 02's ``unfreeze``) at 3e-4. Both models that use the base start
    from the same head weights (the seed's), so their comparison is paired too. Returns a DataFrame, a row
    per run: ``approach, per_class, labelled, seed, accuracy, n, updates, seconds``.
    """
    steps = _checks.check_whole_number(steps, "steps")
    finetune_steps = _checks.check_whole_number(finetune_steps, "finetune_steps")
    if finetune_steps >= steps:
        raise ValueError(f"finetune_steps ({finetune_steps}) must be fewer than steps ({steps}): they are the last "
                         "of the steps updates, after the head has trained on the frozen base.")
    classes = len(target_train.classes)
    head_steps = steps - finetune_steps

    def one_run(budget, seed):
        rows = []

        def score(approach, model, labels, seconds):
            rows.append({
                "approach": approach, "per_class": budget, "labelled": len(labels), "seed": seed,
                "accuracy": _evaluation.accuracy(model, target_test.x, target_test.y), "n": len(target_test.y),
                "updates": steps, "seconds": seconds,
            })

        images, labels = labelled_sample(target_train, budget, seed)
        for approach in _APPROACHES[:2]:
            tf.keras.utils.set_random_seed(seed)  # the same head initialisation and batches for both
            started = time.perf_counter()
            model = _target_model(approach, classes, pretrained, base_layers)
            train_target(model, images, labels, head_steps, seed)
            if approach == "frozen base":
                branch = model.get_weights()  # where fine-tuning branches off
                head_seconds = time.perf_counter() - started
            train_target(model, images, labels, finetune_steps, seed + 1)
            score(approach, model, labels, time.perf_counter() - started)
        started = time.perf_counter()
        model.set_weights(branch)
        _models.compile_classifier(_lessons.unfreeze(model), _FINETUNE_LEARNING_RATE)  # notebook 02's lesson
        train_target(model, images, labels, finetune_steps, seed + 1)
        score("fine-tuned", model, labels, head_seconds + time.perf_counter() - started)
        return rows

    return _evaluation.label_budget_runs(budgets, seeds, one_run, progress=progress)


def summarize(rows, baseline: str = "from scratch") -> pd.DataFrame:
    """Per approach and budget: mean over seeds with its 95% interval, and the paired gain over ``baseline``.

    ``rows``: the runs (a DataFrame or dicts) with ``approach``, ``per_class``, ``seed`` and ``accuracy``, as
    :func:`label_budget_experiment` returns them. One row per budget and approach comes back, as a DataFrame:
    select with pandas, e.g. ``summary.set_index(["per_class", "approach"]).loc[10, "fine-tuned"]``.

    ``gain`` is the approach's accuracy minus the baseline's, seed by seed (the same labelled images and
    initial weights), averaged, with its 95% t interval (``gain low``, ``gain high``; NaN with one seed:
    one run has no spread to measure). ``errors cut`` is ``1 - mean error / baseline's mean error``.
    """
    from helpers import stats as _stats

    rows = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    table = []
    budgets = sorted({row["per_class"] for row in rows})
    for budget in budgets:
        runs = {}
        for approach in dict.fromkeys(row["approach"] for row in rows):
            chosen = {r.get("seed", 0): r["accuracy"] for r in rows if r["approach"] == approach and r["per_class"] == budget}
            if chosen:
                runs[approach] = chosen
        if baseline not in runs:
            raise ValueError(f"no {baseline!r} rows at {budget} images per class: nothing to compare with.")
        base = runs[baseline]
        base_error = 1.0 - np.mean(list(base.values()))
        for approach, by_seed in runs.items():
            values = np.array(list(by_seed.values()))
            mean, low, high = _stats.seed_interval(values)
            shared = [seed for seed in by_seed if seed in base]
            gain = _stats.paired_seed_difference([by_seed[s] for s in shared], [base[s] for s in shared])
            table.append({
                "per_class": budget, "approach": approach, "mean": mean, "low": low, "high": high,
                "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"), "seeds": len(values),
                "gain": gain[0], "gain low": gain[1], "gain high": gain[2],
                "errors cut": float(1.0 - (1.0 - mean) / base_error) if base_error > 0 else 0.0,
            })
    return pd.DataFrame(table)
