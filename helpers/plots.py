"""Figures for the series, with one colour per model kept across every notebook.

Each function draws one kind of figure and returns the matplotlib ``Figure`` so a
notebook can tweak or save it. Change :data:`_MODEL_COLORS` here to recolour a
model everywhere.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from helpers.data import CLASS_NAMES

__all__ = [
    "color_for",
    "show_images",
    "show_filters",
    "show_feature_maps",
    "show_panels",
    "plot_history",
    "plot_confusion_matrix",
    "plot_robustness_curve",
    "plot_label_budget",
]

# The models of the series, in the order they appear. Names not listed here get a
# stable colour from the fallback cycle.
_MODEL_COLORS: dict[str, str] = {
    "cnn": "#1f77b4",  # blue: notebook 01's small CNN
    "vgg19": "#9467bd",  # purple: notebook 02's VGG-19
    "base": "#d62728",  # red: notebook 04's undefended model
    "adv-regularized": "#2ca02c",  # green: notebook 04's NSL model
    "from scratch": "#7f7f7f",  # grey: notebook 02's transfer baseline
    "frozen base": "#17becf",  # cyan: notebook 02's pretrained, frozen base
    "fine-tuned": "#ff7f0e",  # orange: notebook 02's fine-tuned base
}
# Names not listed get the next unused colour of this palette, in the order they are first drawn, and keep
# it for the rest of the session: two different models never share a colour (up to 12 new names).
_FALLBACK = ["#8c564b", "#e377c2", "#bcbd22", "#393b79", "#e7ba52", "#843c39", "#637939", "#7b4173",
             "#3182bd", "#e6550d", "#31a354", "#756bb1"]
_ASSIGNED: dict[str, str] = {}


def color_for(model_name: str) -> str:
    """The colour of ``model_name`` in every figure of the series.

    Only an exact name (case aside) gets a colour of :data:`_MODEL_COLORS`: "cnn (dropout)" is another
    model than "cnn" and gets its own colour.
    """
    key = str(model_name).strip().lower()
    if key in _MODEL_COLORS:
        return _MODEL_COLORS[key]
    if key not in _ASSIGNED:
        used = set(_ASSIGNED.values())
        free = [colour for colour in _FALLBACK if colour not in used]
        _ASSIGNED[key] = free[0] if free else _FALLBACK[len(_ASSIGNED) % len(_FALLBACK)]
    return _ASSIGNED[key]


def _panel_grid(count: int, columns: int, size: float, extra_height: float):
    """A figure with ``count`` panels in rows of at most ``columns``, every axis turned off."""
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + extra_height), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    return fig, axes


def _as_2d(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int = 8,
    title: str | None = None,
    size: float = 1.6,
    title_colors: Sequence[str] | None = None,
):
    """A grid of images (grey or RGB, uint8 or [0, 1] floats) with optional per-image titles."""
    count = len(images)
    fig, axes = _panel_grid(count, columns, size, 0.4)
    for index, axis in enumerate(axes.flat):
        if index >= count:
            continue
        image = _as_2d(images[index])
        is_float = np.issubdtype(image.dtype, np.floating)
        axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1.0 if is_float else 255)
        if titles is not None:
            colour = title_colors[index] if title_colors is not None else "black"
            axis.set_title(titles[index], fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "accuracy"):
    """Learning curves (loss and ``metric``, train and validation) of one or more models.

    ``histories`` maps a model name to a Keras ``History.history`` dict.
    """
    fig, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, history in histories.items():
        colour = color_for(name)
        for axis, key in ((loss_axis, "loss"), (metric_axis, metric)):
            if key in history:
                epochs = np.arange(1, len(history[key]) + 1)
                axis.plot(epochs, history[key], "-o", color=colour, label=f"{name} train")
            if f"val_{key}" in history:
                epochs = np.arange(1, len(history[f"val_{key}"]) + 1)
                axis.plot(epochs, history[f"val_{key}"], "--s", color=colour, alpha=0.7, label=f"{name} validation")
    for axis, key in ((loss_axis, "loss"), (metric_axis, metric)):
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.set_title(f"{key} per epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels).astype(int), np.asarray(predictions).astype(int)), 1)
    return matrix


def plot_confusion_matrix(
    labels: np.ndarray,
    predictions: np.ndarray,
    title: str = "Confusion matrix",
    class_names: Sequence[str] = CLASS_NAMES,
):
    """A confusion matrix with class names, normalised per true class (rows sum to 1)."""
    counts = confusion_matrix(labels, predictions, len(class_names))
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axis = plt.subplots(figsize=(7.5, 6.5))
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    for row in range(len(class_names)):
        for column in range(len(class_names)):
            if counts[row, column]:
                axis.text(
                    column, row, f"{rates[row, column]:.2f}".lstrip("0") if rates[row, column] < 1 else "1",
                    ha="center", va="center", fontsize=7,
                    color="white" if rates[row, column] > 0.5 else "black",
                )
    fig.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return fig


_ATTACK_STYLES = ["-o", "--s", ":^", "-.d", "-v"]


def plot_robustness_curve(rows: Iterable[Mapping], title: str = "Robustness curve"):
    """Accuracy against epsilon, one colour per model and one line style per attack.

    ``rows`` is the tidy table from :func:`helpers.evaluation.robustness_curve`:
    mappings with ``model``, ``attack``, ``setting`` (white-box or transfer),
    ``norm``, ``epsilon`` and ``accuracy``.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("plot_robustness_curve needs at least one row.")
    attacks = list(dict.fromkeys(row["attack"] for row in rows))
    series: dict[tuple, list] = {}
    for row in rows:
        key = (row["model"], row["attack"], row.get("setting", "white-box"), row.get("norm", "linf"))
        series.setdefault(key, []).append((row["epsilon"], row["accuracy"]))
    fig, axis = plt.subplots(figsize=(7.5, 4.5))
    for (model, attack, setting, _norm), points in series.items():
        points.sort()
        eps, acc = zip(*points)
        style = _ATTACK_STYLES[attacks.index(attack) % len(_ATTACK_STYLES)]
        axis.plot(eps, acc, style, color=color_for(model), label=f"{model}: {attack} ({setting})")
    norms = sorted({row.get("norm", "linf") for row in rows})
    axis.set_xlabel("epsilon (" + ", ".join("L-inf" if n == "linf" else "L2" for n in norms) + " norm, pixels in [0, 1])")
    axis.set_ylabel("accuracy")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


# Added for notebook 01: looking inside a CNN.


def show_filters(kernels: np.ndarray, title: str = "Filters", columns: int = 8, size: float = 1.0):
    """Convolution kernels ``(height, width, in_channels, filters)``, input channel 0, one per panel.

    A diverging colour map centred on 0 for all panels: red weights add the pixel
    under them, blue ones subtract it.
    """
    kernels = np.asarray(kernels)[:, :, 0, :]
    count = kernels.shape[-1]
    limit = float(np.abs(kernels).max()) or 1.0
    fig, axes = _panel_grid(count, columns, size, 0.6)
    for index, axis in enumerate(axes.flat):
        if index < count:
            image = axis.imshow(kernels[..., index], cmap="RdBu_r", vmin=-limit, vmax=limit)
            axis.set_title(f"#{index}", fontsize=7)
    fig.suptitle(title)
    fig.colorbar(image, ax=axes, fraction=0.02, label="weight")
    return fig


def show_panels(panels: Sequence[tuple], title: str = "", size: float = 3.5):
    """One row of single-channel maps with their colour bars: ``panels`` holds ``(values, title, cmap)``.

    ``values`` is a map of shape (H, W), (H, W, 1) or a batch of one (1, H, W, 1). A diverging
    colour map ("RdBu_r") is centred on 0, so red is positive and blue negative.
    """
    if not panels:
        raise ValueError("panels is empty: pass (values, title, cmap) tuples, one per map.")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), squeeze=False)
    for axis, (values, panel_title, cmap) in zip(axes[0], panels):
        values = np.squeeze(np.asarray(values))
        if values.ndim != 2:
            raise ValueError(f"panel {panel_title!r} has shape {np.shape(values)}: one single-channel map expected.")
        limit = float(np.abs(values).max()) or 1.0 if cmap == "RdBu_r" else None
        shown = axis.imshow(values, cmap=cmap, vmin=-limit if limit else None, vmax=limit)
        axis.set_title(panel_title)
        axis.set_xlabel("column (pixels)")
        axis.set_ylabel("row (pixels)")
        fig.colorbar(shown, ax=axis, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(maps: np.ndarray, title: str = "Feature maps", columns: int = 8, size: float = 1.3):
    """The channels of one feature map ``(height, width, channels)``, each scaled to its own range.

    Bright means a strong response of that channel's filter at that place.
    """
    maps = np.asarray(maps)
    count = maps.shape[-1]
    fig, axes = _panel_grid(count, columns, size, 0.5)
    for index, axis in enumerate(axes.flat):
        if index < count:
            axis.imshow(maps[..., index], cmap="viridis")
            axis.set_title(f"channel {index}", fontsize=7)
    fig.suptitle(f"{title} ({maps.shape[0]}x{maps.shape[1]}, {count} channels shown)")
    fig.tight_layout()
    return fig



def plot_label_budget(summary, title: str = "Target accuracy against the label budget"):
    """Mean accuracy over seeds, with its 95% interval as error bars, against labelled images per class.

    ``summary`` has the columns ``approach, per_class, mean, low, high``, as
    :func:`helpers.transfer.summarize` returns them (a DataFrame, or rows of dicts); one line per approach, a
    log-scaled x axis. With one seed there is no interval, and no bar is drawn.
    """
    summary = summary.to_dict("records") if isinstance(summary, pd.DataFrame) else list(summary)
    if not summary:
        raise ValueError("summary is empty: nothing to plot.")
    missing = {"approach", "per_class", "mean", "low", "high"} - set(summary[0])
    if missing:
        raise ValueError(f"summary rows lack {sorted(missing)}: pass what helpers.transfer.summarize returns.")
    fig, axis = plt.subplots(figsize=(7, 4.5))
    for approach in dict.fromkeys(row["approach"] for row in summary):
        rows = sorted((row for row in summary if row["approach"] == approach), key=lambda row: row["per_class"])
        means = np.array([row["mean"] for row in rows])
        bars = np.array([[row["mean"] - row["low"] for row in rows], [row["high"] - row["mean"] for row in rows]])
        axis.errorbar(
            [row["per_class"] for row in rows], means, yerr=np.nan_to_num(bars, nan=0.0),
            marker="o", capsize=4, color=color_for(approach), label=approach,
        )
    budgets = sorted({row["per_class"] for row in summary})
    axis.set_xscale("log")
    axis.set_xticks(budgets)
    axis.set_xticklabels([str(b) for b in budgets])
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # only the budgets: no 6x10^0 minor labels
    axis.set_xlabel("labelled target images per class (log scale)")
    axis.set_ylabel("target test accuracy\n(mean over seeds, bars: its 95% interval)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    return fig
