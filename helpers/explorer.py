"""The attack explorer: pick an image, an attack and a norm, move epsilon, and watch the prediction flip.

Plumbing for notebooks 03 and 04. The attacks are :mod:`helpers.attacks`' FGSM and PGD, the code notebook 03
teaches, compiled once per model and norm (epsilon reaches the compiled function as a tensor, so moving the slider
does not recompile). With a kernel, :func:`attack_explorer` returns the live widget (ipywidgets 7, as on Colab, and
8); where no kernel runs (GitHub, the static slides) :func:`explorer_figure` draws the same panels at a few
epsilons, and that figure stands in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers import attacks, checks
from helpers.data import CLASS_NAMES

__all__ = ["explorer_figure", "attack_explorer"]

_ATTACK_CHOICES = ("FGSM", "PGD-10")  # PGD: 10 steps of 2.5 * eps / 10 from a random start (seed 0)
_NORM_CHOICES = {"L-inf": ("linf", 0.3), "L2": ("l2", 3.0)}  # label: (norm, the slider's largest epsilon)


def _models(models) -> dict:
    """``{name: model}`` from one model or a mapping of them."""
    if isinstance(models, Mapping):
        if not models:
            raise ValueError("models is empty: pass one model, or a dict such as {'base': cnn, 'defended': nsl_cnn}.")
        for name, model in models.items():
            checks.check_model(model, f"models[{name!r}]")
        return dict(models)
    checks.check_model(models, "models")
    return {getattr(models, "name", "model"): models}


def _adversarial_example(model, image, label: int, attack: str, norm: str, epsilon: float) -> np.ndarray:
    """One image attacked with ``attack`` (one of :data:`_ATTACK_CHOICES`) under ``norm`` ('linf' or 'l2')."""
    if attack not in _ATTACK_CHOICES:
        raise ValueError(f"attack must be one of {_ATTACK_CHOICES}, not {attack!r}.")
    images, labels = np.asarray(image, np.float32)[None], np.asarray([label])
    if epsilon == 0:
        return images[0]
    if attack == "FGSM":
        return attacks.fgsm(model, images, labels, epsilon, norm=norm)[0]
    return attacks.pgd(model, images, labels, epsilon, steps=10, norm=norm, seed=0)[0]


def _top_classes(model, image, count: int = 3) -> list[tuple[int, float]]:
    """The model's ``count`` most probable classes for one image, as (class, probability), most probable first."""
    images = np.asarray(image, np.float32)[None]
    outputs = np.asarray(model(images, training=False))[0]
    if attacks.output_kind(model, images)[0] == "logits":
        outputs = np.exp(outputs - outputs.max())
        outputs = outputs / outputs.sum()
    order = np.argsort(outputs)[::-1][:count]
    return [(int(k), float(outputs[k])) for k in order]


def _draw_row(axes, model, image, label, attack, norm, epsilon, class_names, title):
    """Clean image, perturbation, adversarial image and the top-3 bars, on four axes."""
    adversarial = _adversarial_example(model, image, label, attack, norm, epsilon)
    delta = adversarial - np.asarray(image, np.float32)
    size = float(np.abs(delta).max() if norm == "linf" else np.sqrt((delta**2).sum()))
    top = _top_classes(model, adversarial)
    if _top_classes(model, image, 1)[0][0] != label:
        verdict = "wrong even when clean"
    else:
        verdict = "still right" if top[0][0] == label else "fooled"
    panels = [(image, f"{title}clean: {class_names[label]}"),
              (delta, f"perturbation ({'L-inf' if norm == 'linf' else 'L2'} size {size:.2f})"),
              (adversarial, f"{attack}, eps {epsilon:.2f}: {verdict}")]
    for ax, (picture, caption) in zip(axes[:3], panels):
        if picture is delta:
            bound = max(float(np.abs(delta).max()), 1e-6)
            ax.imshow(picture.squeeze(), cmap="RdBu", vmin=-bound, vmax=bound)
        else:
            ax.imshow(np.asarray(picture).squeeze(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    names = [class_names[k] for k, _ in top][::-1]
    colours = ["tab:green" if k == label else "tab:red" for k, _ in top][::-1]
    axes[3].barh(names, [p for _, p in top][::-1], color=colours)
    axes[3].set_xlim(0, 1)
    axes[3].set_title("top-3 probabilities", fontsize=9)


def explorer_figure(models, images, labels, index: int = 0, epsilons: Sequence[float] = (0.0, 0.05, 0.15), *,
                    attack: str = "FGSM", norm: str = "linf", class_names: Sequence[str] = CLASS_NAMES):
    """The explorer's panels for one image at a few epsilons: one row per (model, epsilon). Returns the figure."""
    models = _models(models)
    images = checks.check_images(images, "images")
    index = checks.check_whole_number(index, "index", minimum=0, maximum=len(images) - 1)
    labels = np.asarray(labels)
    rows = [(name, model, eps) for name, model in models.items() for eps in epsilons]
    figure, axes = plt.subplots(len(rows), 4, figsize=(11, 2.4 * len(rows)), squeeze=False)
    for row, (name, model, eps) in zip(axes, rows):
        title = f"{name}, " if len(models) > 1 else ""
        _draw_row(row, model, images[index], int(labels[index]), attack, norm, eps, class_names, title)
    figure.tight_layout()
    return figure


def attack_explorer(models, images, labels, *, class_names: Sequence[str] = CLASS_NAMES):
    """The live explorer: sliders for the image and epsilon, menus for the attack and the norm.

    ``models`` is one model or a dict of them (notebook 04 shows the base and the defended CNN side by side).
    Each model's attacks are compiled here, before the widget shows, so that moving a slider only runs them.
    """
    import ipywidgets as widgets
    from IPython.display import display

    models = _models(models)
    images = checks.check_images(images, "images")
    labels = checks.check_labels(labels, len(images), len(class_names))
    for model in models.values():  # compile every attack and norm once, now
        for attack in _ATTACK_CHOICES:
            for norm, _ in _NORM_CHOICES.values():
                _adversarial_example(model, images[0], int(labels[0]), attack, norm, 0.01)
    index = widgets.IntSlider(0, 0, len(images) - 1, description="image")
    attack = widgets.Dropdown(options=list(_ATTACK_CHOICES), value="FGSM", description="attack")
    norm = widgets.ToggleButtons(options=list(_NORM_CHOICES), value="L-inf", description="norm")
    epsilon = widgets.FloatSlider(0.05, min=0.0, max=0.3, step=0.01, description="epsilon", readout_format=".2f")

    def rescale(change):  # an L2 epsilon is about sqrt(784) times an L-inf one of the same pixel size
        largest = _NORM_CHOICES[change["new"]][1]
        epsilon.max, epsilon.step = largest, largest / 30
        epsilon.value = min(epsilon.value * (10 if largest > 1 else 0.1), largest)

    norm.observe(rescale, names="value")

    def show(index, attack, norm, epsilon):
        rows = len(models)
        figure, axes = plt.subplots(rows, 4, figsize=(11, 2.4 * rows), squeeze=False)
        for row, (name, model) in zip(axes, models.items()):
            title = f"{name}, " if rows > 1 else ""
            _draw_row(row, model, images[index], int(labels[index]), attack, _NORM_CHOICES[norm][0], epsilon,
                      class_names, title)
        figure.tight_layout()
        display(figure)
        plt.close(figure)

    output = widgets.interactive_output(show, {"index": index, "attack": attack, "norm": norm, "epsilon": epsilon})
    controls = widgets.HBox([widgets.VBox([index, epsilon]), widgets.VBox([attack, norm])])
    return widgets.VBox([controls, output])
