"""helpers.plots: one colour per model, and figures that show what they say."""

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_each_model_keeps_its_colour():
    assert plots.color_for("cnn") == plots._MODEL_COLORS["cnn"]
    assert plots.color_for("VGG19") == plots._MODEL_COLORS["vgg19"]
    assert plots.color_for("adv-regularized") != plots.color_for("base")
    # Another model whose name starts like a known one is another model, with its own colour.
    assert plots.color_for("cnn (dropout)") != plots.color_for("cnn")
    new_names = ["graph-regularized", "label propagation", "cnn (dropout)", "multiplier 0"]
    colours = [plots.color_for(name) for name in new_names]
    assert len(set(colours)) == len(new_names), "two new models share a colour"
    assert not set(colours) & set(plots._MODEL_COLORS.values()), "a new model took a known model's colour"
    assert [plots.color_for(name) for name in new_names] == colours, "a model changed colour between figures"


def _visible_axes(fig):
    return [axis for axis in fig.axes if axis.images]


def test_show_images_draws_one_panel_per_image_with_its_title():
    images = np.random.default_rng(0).random((5, 28, 28, 1)).astype(np.float32)
    fig = plots.show_images(images, [f"image {i}" for i in range(5)], columns=3, title="five")
    panels = _visible_axes(fig)
    assert len(panels) == 5 and len(fig.axes) == 6  # two rows of three, one left empty
    assert [axis.get_title() for axis in panels] == [f"image {i}" for i in range(5)]
    assert panels[0].images[0].get_array().shape == (28, 28)  # the channel axis is dropped for grey images


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = plots.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    fig = plots.plot_confusion_matrix(np.array([0, 1, 2]), np.array([0, 1, 1]))
    axis = fig.axes[0]
    assert axis.get_xlabel() == "predicted class" and axis.get_ylabel() == "true class"
    assert [label.get_text() for label in axis.get_yticklabels()][:3] == ["T-shirt/top", "Trouser", "Pullover"]


def test_robustness_curve_one_line_per_model_and_attack_in_the_model_colour():
    rows = [
        {"model": model, "attack": attack, "setting": "white-box", "norm": "linf", "epsilon": eps, "accuracy": acc}
        for model in ("cnn", "vgg19")
        for attack in ("fgsm", "pgd")
        for eps, acc in ((0.0, 0.9), (0.1, 0.3))
    ]
    fig = plots.plot_robustness_curve(rows)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    assert {line.get_color() for line in lines} == {plots._MODEL_COLORS["cnn"], plots._MODEL_COLORS["vgg19"]}
    assert "L-inf" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="at least one row"):
        plots.plot_robustness_curve([])


def test_history_plots_train_and_validation():
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.6, 0.8], "val_accuracy": [0.5, 0.7]}
    fig = plots.plot_history({"cnn": history})
    assert [len(axis.get_lines()) for axis in fig.axes] == [2, 2]


def test_filters_and_feature_maps_one_panel_each():
    kernels = np.random.default_rng(1).normal(size=(3, 3, 1, 10))
    assert len(_visible_axes(plots.show_filters(kernels, columns=4))) == 10
    maps = np.random.default_rng(2).random((5, 5, 6))
    assert len(_visible_axes(plots.show_feature_maps(maps, columns=4))) == 6


def test_label_budget_plot_draws_one_line_per_approach_with_error_bars():
    summary = [
        {"approach": approach, "per_class": budget, "mean": 0.5 + 0.1 * i + budget / 1000,
         "low": 0.48 + 0.1 * i + budget / 1000, "high": 0.53 + 0.1 * i + budget / 1000}
        for i, approach in enumerate(("from scratch", "frozen base", "fine-tuned")) for budget in (10, 30, 100)
    ]
    fig = plots.plot_label_budget(pd.DataFrame(summary))  # as transfer.summarize returns it
    axis = fig.axes[0]
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == ["from scratch", "frozen base", "fine-tuned"]
    assert axis.get_xscale() == "log" and [t.get_text() for t in axis.get_xticklabels()] == ["10", "30", "100"]
    assert len(axis.containers) == 3  # one errorbar container per approach
    bars = axis.containers[0].lines[2][0].get_segments()  # from scratch, budget 10: the interval, not the std
    assert bars[0][:, 1] == pytest.approx([0.49, 0.54])
    with pytest.raises(ValueError, match="lack"):
        plots.plot_label_budget([{"approach": "a", "per_class": 1, "mean": 0.5, "std": 0.1}])
    with pytest.raises(ValueError, match="empty"):
        plots.plot_label_budget([])


def test_label_budget_plot_labels_only_the_budgets():
    summary = [{"approach": "base", "per_class": budget, "mean": 0.7, "low": float("nan"), "high": float("nan")}
               for budget in (5, 10, 60)]
    axis = plots.plot_label_budget(summary).axes[0]
    axis.figure.canvas.draw()
    shown = [t.get_text() for t in axis.get_xticklabels() + axis.get_xticklabels(minor=True) if t.get_text()]
    assert shown == ["5", "10", "60"]  # no "6x10^0", "2x10^1" minor labels between them


def test_show_panels_centres_diverging_maps_on_zero():
    values = np.arange(-3.0, 6.0).reshape(3, 3)
    fig = plots.show_panels([(values[None, :, :, None], "signed", "RdBu_r"), (np.abs(values), "abs", "viridis")],
                            title="two maps")
    signed, absolute = _visible_axes(fig)
    assert signed.images[0].get_clim() == (-5.0, 5.0)
    assert absolute.images[0].get_clim() == (0.0, 5.0)
    with pytest.raises(ValueError, match="single-channel"):
        plots.show_panels([(np.zeros((2, 3, 3)), "three channels", "gray")])
