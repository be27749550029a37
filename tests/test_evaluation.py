"""Tests of helpers.evaluation: naming of results, robustness curves and their checks, transfer matrices."""

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import attacks, evaluation, tables  # noqa: E402
from helpers.data import load_sample, to_model_input  # noqa: E402

L = tf.keras.layers
ROW_KEYS = {"model", "attack", "setting", "norm", "epsilon", "accuracy", "n"}


def _trained_linear_model(seed: int, data):
    """A softmax regression on the bundled sample: undefended, ~75% accurate, trained in a second."""
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([L.Input((28, 28, 1)), L.Flatten(), L.Dense(10, activation="softmax")], name=f"linear{seed}")
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(to_model_input(data.x_train), data.y_train, epochs=2, batch_size=100, verbose=0)
    return model


@pytest.fixture(scope="module")
def data():
    sample = load_sample()
    return to_model_input(sample.x_test[:300]), sample.y_test[:300].astype(np.int64), sample


@pytest.fixture(scope="module")
def base(data):
    return _trained_linear_model(0, data[2])


@pytest.fixture(scope="module")
def other(data):
    return _trained_linear_model(1, data[2])


# ----------------------------------------------------------------------------
# One accuracy under attack.
# ----------------------------------------------------------------------------


def test_white_box_result_is_named_as_such(base, data):
    images, labels, _ = data
    result = evaluation.evaluate_attack(base, images, labels, "fgsm", 0.05, model_name="base", progress=False)
    assert (result.model, result.attack, result.norm, result.epsilon, result.setting, result.n) == (
        "base", "fgsm", "linf", 0.05, "white-box", 300,
    )
    assert 0 <= result.accuracy < evaluation.accuracy(base, images, labels) and result.seconds > 0
    assert "white-box" in str(result) and "eps=0.05" in str(result) and "L-inf" in str(result)


def test_transfer_result_names_its_source(base, other, data):
    images, labels, _ = data
    result = evaluation.evaluate_attack(
        other, images, labels, "pgd", 0.1, source_model=base, source_name="base", model_name="other", progress=False,
        steps=3, seed=0
    )
    assert result.setting == "transfer from base" and result.model == "other"
    crafted = attacks.attack_dataset("pgd", base, images, labels, 0.1, progress=False, steps=3, seed=0)
    assert result.accuracy == evaluation.accuracy(other, crafted, labels)
    unnamed = evaluation.evaluate_attack(other, images, labels, "fgsm", 0.1, source_model=base, progress=False)
    assert unnamed.setting == f"transfer from {base.name}" and unnamed.model == other.name


@pytest.mark.parametrize("attack, norm", [("fgsm", "linf"), ("pgd", "linf"), ("bim", "l2"), ("pgd", "l2")])
def test_epsilon_zero_equals_clean_accuracy(base, data, attack, norm):
    images, labels, _ = data
    result = evaluation.evaluate_attack(base, images, labels, attack, 0.0, norm=norm, batch_size=128, progress=False,
                                        steps=2, seed=1)
    assert result.accuracy == evaluation.accuracy(base, images, labels, batch_size=128)


def test_options_an_attack_does_not_take_are_left_out(base, data):
    images, labels, _ = data
    result = evaluation.evaluate_attack(base, images, labels, "fgsm", 0.05, progress=False, steps=7, seed=3)
    assert result.attack == "fgsm"


# ----------------------------------------------------------------------------
# Robustness curves.
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def curve(base, other, data):
    images, labels, _ = data
    return evaluation.robustness_curve(
        {"base": base, "other": other}, images, labels, [0.3, 0.0, 0.05, 0.1], steps=3, undefended=["base"], progress=False
    )


def test_curve_rows_are_tidy_and_plottable(curve):
    from helpers.plots import plot_robustness_curve

    assert len(curve) == 2 * 2 * 4 and all(ROW_KEYS <= set(row) for row in curve)
    assert [row["epsilon"] for row in curve[:4]] == [0.0, 0.05, 0.1, 0.3]
    assert {row["setting"] for row in curve} == {"white-box"}
    figure = plot_robustness_curve(curve)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2 * 2, "one line per model and attack"
    first = [row["accuracy"] for row in curve[:4]]
    assert list(lines[0].get_ydata()) == first, "the first line draws the first series' accuracies"


def test_curve_on_undefended_models_passes_its_sanity_checks(curve):
    assert curve.passed and all(check.passed for check in curve.checks)
    names = {check.name for check in curve.checks}
    assert {"eps 0 equals clean accuracy", "accuracy does not rise with epsilon", "pgd at least as strong as FGSM",
            "large epsilon breaks an undefended model"} <= names
    for row in curve:
        if row["epsilon"] == 0:
            assert row["accuracy"] == curve.clean_accuracy[row["model"]]


def test_curve_tables(curve):
    wide = curve.table()
    assert wide.splitlines()[0].split() == ["model", "attack", "setting", "norm", "eps=0", "eps=0.05", "eps=0.1", "eps=0.3"]
    assert len(wide.splitlines()) == 1 + 4
    assert list(curve.frame().columns) == wide.splitlines()[0].split()
    assert "eps=0.05" in curve.styled().to_html()
    tidy = curve.table(wide=False)
    assert tidy.splitlines()[0].split() == ["model", "attack", "setting", "norm", "epsilon", "accuracy", "n", "seconds"]


def test_transfer_curve(base, other, data):
    images, labels, _ = data
    rows = evaluation.robustness_curve(
        {"other": other}, images, labels, [0.0, 0.1], attacks="fgsm", source_model=base, source_name="base", progress=False
    )
    assert {row["setting"] for row in rows} == {"transfer from base"} and rows.passed


# ----------------------------------------------------------------------------
# Bad input.
# ----------------------------------------------------------------------------


def test_robustness_curve_bad_input(base, data):
    images, labels, _ = data
    with pytest.raises(TypeError, match="models must be a non-empty dict"):
        evaluation.robustness_curve(base, images, labels, [0.1])
    with pytest.raises(ValueError, match="undefended names 'vgg19', not among 'base'"):
        evaluation.robustness_curve({"base": base}, images, labels, [0.1], undefended=["vgg19"])
    with pytest.raises(ValueError, match="epsilons must be >= 0"):
        evaluation.robustness_curve({"base": base}, images, labels, [0.1, -0.1])
    with pytest.raises(ValueError, match="Unknown attack 'deepfool'"):
        evaluation.robustness_curve({"base": base}, images, labels, [0.1], attacks=("fgsm", "deepfool"))
    with pytest.raises(ValueError, match="labels has 3 entries"):
        evaluation.accuracy(base, images, labels[:3])


def test_a_misspelt_attack_option_is_an_error_not_ignored(base, data):
    images, labels, _ = data
    with pytest.raises(TypeError, match=r"does not take the option\(s\) 'step'"):
        evaluation.evaluate_attack(base, images, labels, "pgd", 0.1, step=20, progress=False)


# ----------------------------------------------------------------------------
# Keeping the examples, and transfer between several models.
# ----------------------------------------------------------------------------


def test_evaluate_attack_can_return_the_adversarial_images(base, data):
    images, labels, _ = data
    result, adversarial = evaluation.evaluate_attack(
        base, images, labels, "pgd", 0.1, steps=3, seed=0, progress=False, return_adversarial=True, batch_size=128
    )
    assert adversarial.shape == images.shape and np.abs(adversarial - images).max() <= 0.1 + 1e-6
    # The returned images are the ones the accuracy was measured on.
    assert result.accuracy == pytest.approx(evaluation.accuracy(base, adversarial, labels))
    plain = evaluation.evaluate_attack(base, images, labels, "pgd", 0.1, steps=3, seed=0, progress=False, batch_size=128)
    assert plain.accuracy == result.accuracy


def test_transfer_matrix_crafts_once_per_source_and_scores_every_model(base, other, data):
    images, labels, _ = data
    table = evaluation.transfer_matrix({"base": base, "other": other}, images, labels, "fgsm", 0.1, progress=False)
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 4 and set(zip(table["model"], table["source"])) == {
        ("base", "base"), ("base", "other"), ("other", "base"), ("other", "other")}
    by_pair = table.set_index(["model", "source"]).sort_index().loc
    # The diagonal is white-box and equals evaluate_attack's number; off the diagonal it is transfer.
    assert by_pair[("base", "base"), "setting"] == "white-box"
    assert by_pair[("other", "base"), "setting"] == "transfer from base"
    white_box = evaluation.evaluate_attack(base, images, labels, "fgsm", 0.1, progress=False)
    assert by_pair[("base", "base"), "accuracy"] == pytest.approx(white_box.accuracy)
    transfer = evaluation.evaluate_attack(other, images, labels, "fgsm", 0.1, source_model=base, progress=False)
    assert by_pair[("other", "base"), "accuracy"] == pytest.approx(transfer.accuracy)
    # Every example that fooled its source fools the source: its own transfer rate is 1; others' lie in [0, 1].
    assert by_pair[("base", "base"), "transfer_rate"] == 1.0
    assert 0.0 <= by_pair[("other", "base"), "transfer_rate"] <= 1.0


def test_transfer_matrix_rate_counts_only_images_that_fooled_the_source(base, other, data):
    images, labels, _ = data
    table = evaluation.transfer_matrix({"base": base, "other": other}, images, labels, "fgsm", 0.1, progress=False)
    adversarial = attacks.attack_dataset("fgsm", base, images, labels, 0.1, progress=False)
    base_clean = evaluation.predict_classes(base, images) == labels
    other_clean = evaluation.predict_classes(other, images) == labels
    base_after = evaluation.predict_classes(base, adversarial) == labels
    other_after = evaluation.predict_classes(other, adversarial) == labels
    eligible = base_clean & ~base_after & other_clean
    expected = np.mean(~other_after[eligible])
    row = table.query("model == 'other' and source == 'base'").iloc[0]
    assert row["transfer_rate"] == pytest.approx(expected)


def test_transfer_matrix_needs_two_models(base, data):
    images, labels, _ = data
    with pytest.raises(TypeError, match="at least two"):
        evaluation.transfer_matrix({"base": base}, images, labels, "fgsm", 0.1, progress=False)


def test_transfer_matrix_keeps_per_image_correctness_on_request(base, other, data):
    images, labels, _ = data
    table = evaluation.transfer_matrix({"base": base, "other": other}, images, labels, "fgsm", 0.1,
                                       progress=False, keep_correct=True)
    for row in table.to_dict("records"):
        assert row["correct"].dtype == bool and row["correct"].shape == labels.shape
        assert row["correct"].mean() == pytest.approx(row["accuracy"])
    plain = evaluation.transfer_matrix({"base": base, "other": other}, images, labels, "fgsm", 0.1, progress=False)
    assert "correct" not in plain.columns and list(plain.columns) == [c for c in table.columns if c != "correct"]


def test_styled_table_is_importable_from_evaluation():
    # The notebooks call evaluation.styled_table.
    assert evaluation.styled_table is tables.styled_table
