"""helpers.checks, and the errors every public function gives for bad input (issue 9)."""

import math

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers import attacks, checks, data, defenses, evaluation, get_profile, sanity

L = tf.keras.layers
N, CLASSES = 4, 10


@pytest.fixture(scope="module")
def model():
    """A 4x4x1 -> 10-class softmax model whose input is named like the series' models (for NSL)."""
    tf.keras.utils.set_random_seed(0)
    inputs = L.Input((4, 4, 1), name="image")
    return tf.keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(L.Flatten()(inputs)))


IMAGES = np.random.default_rng(0).uniform(size=(N, 4, 4, 1)).astype(np.float32)


# ----------------------------------------------------------------------------
# Property: every public function taking labels refuses invalid labels with a ValueError naming them.
# ----------------------------------------------------------------------------


def _not_one_hot(array):
    return not all(set(np.unique(row)) <= {0.0, 1.0} and row.sum() == 1 for row in array)


def _invalid_float(value):
    return not (math.isfinite(value) and value.is_integer() and 0 <= value < CLASSES)


_INDEX = st.integers(0, CLASSES - 1)
INVALID_LABELS = st.one_of(
    st.lists(_INDEX, max_size=9).filter(lambda values: len(values) != N).map(np.array),  # wrong length
    st.lists(st.integers(-(2**40), 2**40), min_size=N, max_size=N)
    .filter(lambda values: any(not 0 <= v < CLASSES for v in values)).map(np.array),  # out of range
    st.lists(st.floats(), min_size=N, max_size=N).filter(lambda values: any(map(_invalid_float, values))).map(np.array),
    st.lists(_INDEX, min_size=N, max_size=N).map(lambda values: np.array(values).reshape(N, 1)),  # a column
    st.integers(2, 20).filter(lambda width: width != CLASSES).flatmap(  # one-hot rows of another width
        lambda width: st.lists(st.integers(0, width - 1), min_size=N, max_size=N).map(lambda v: np.eye(width)[v])
    ),
    arrays(np.float64, (N, CLASSES), elements=st.sampled_from([0.0, 1.0, 0.5, 2.0, -1.0])).filter(_not_one_hot),
    st.lists(_INDEX, min_size=N, max_size=N).map(lambda values: np.array([str(v) for v in values])),  # strings
    st.lists(st.booleans(), min_size=N, max_size=N).map(np.array),
    _INDEX.map(np.array),  # a single value
    st.lists(_INDEX, min_size=N, max_size=N).map(lambda values: np.array(values).reshape(N, 1, 1)),
    st.just([[1, 2], [3]] * 2),  # ragged
)


def _public_functions_taking_labels(model):
    config = defenses.adv_reg_config(0.2, 0.05)
    return {
        "attacks.fgsm": lambda labels: attacks.fgsm(model, IMAGES, labels, 0.1),
        "attacks.bim": lambda labels: attacks.bim(model, IMAGES, labels, 0.1, steps=1),
        "attacks.pgd": lambda labels: attacks.pgd(model, IMAGES, labels, 0.1, steps=1, seed=0),
        "attacks.attack_dataset": lambda labels: attacks.attack_dataset("fgsm", model, IMAGES, labels, 0.1, progress=False),
        "attacks.attack_batches": lambda labels: attacks.attack_batches("pgd", model, IMAGES, labels, 0.1, progress=False),
        "attacks.input_gradient": lambda labels: attacks.input_gradient(model, IMAGES, labels),
        "evaluation.accuracy": lambda labels: evaluation.accuracy(model, IMAGES, labels),
        "evaluation.evaluate_attack":
            lambda labels: evaluation.evaluate_attack(model, IMAGES, labels, "fgsm", 0.1, progress=False),
        "evaluation.robustness_curve": lambda labels: evaluation.robustness_curve(
            {"m": model}, IMAGES, labels, [0.0, 0.1], progress=False),
        "defenses.nsl_inputs": lambda labels: defenses.nsl_inputs(model, IMAGES, labels),
        "defenses.train_adv_regularized": lambda labels: defenses.train_adv_regularized(
            lambda: model, config, IMAGES, labels, epochs=1, verbose=0),
        "data.subset": lambda labels: data.subset(IMAGES, labels, 2),
    }


@settings(max_examples=60, deadline=None, derandomize=True)  # the same examples on every run
@given(labels=INVALID_LABELS)
def test_every_function_taking_labels_refuses_invalid_ones_by_name(model, labels):
    for name, function in _public_functions_taking_labels(model).items():
        try:
            function(labels)
        except ValueError as error:
            assert "labels" in str(error), f"{name}: {error}"
        else:
            pytest.fail(f"{name} accepted the invalid labels {labels!r}")


def test_the_same_functions_accept_valid_labels(model):
    """The property above is not vacuous: indices and one-hot rows go through every one of them."""
    indices = np.array([0, 3, 9, 3])
    functions = _public_functions_taking_labels(model)
    for name, function in functions.items():
        function(np.eye(CLASSES)[indices] if name.startswith("attacks") else indices)
    for labels in (np.eye(CLASSES)[indices], indices.astype(np.float32), tf.constant(indices), list(indices)):
        assert evaluation.accuracy(model, IMAGES, labels) == evaluation.accuracy(model, IMAGES, indices)


# ----------------------------------------------------------------------------
# The unclear errors of issue 9, now clear.
# ----------------------------------------------------------------------------


def test_one_image_without_a_batch_axis_is_named_as_such(model):
    with pytest.raises(ValueError, match=r"looks like a single image: add a batch axis, images\[np.newaxis\]"):
        attacks.fgsm(model, IMAGES[0], [3], 0.1)
    with pytest.raises(ValueError, match=r"Add the channel axis with images\[..., np.newaxis\]"):
        evaluation.predict_classes(model, IMAGES[..., 0])


def test_a_new_image_shape_on_an_attacked_model_is_a_clear_error(model):
    attacks.pgd(model, IMAGES, [0, 1, 2, 3], 0.1, steps=2, seed=0)  # compiled for 4x4x1
    with pytest.raises(ValueError, match=r"images have shape \(4, 5, 5, 1\), but model takes images of shape \(N, 4, 4, 1\)"):
        attacks.pgd(model, np.zeros((4, 5, 5, 1), np.float32), [0, 1, 2, 3], 0.1, steps=2, seed=0)


def test_a_subclassed_model_that_cannot_take_the_images_is_a_clear_error():
    class Dense16(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3)

        def call(self, images):
            return self.dense(tf.reshape(images, (-1, 16)))

    subclassed = Dense16()
    attacks.fgsm(subclassed, IMAGES, [0, 1, 2, 0], 0.1)
    with pytest.raises(ValueError, match=r"model cannot take images of shape \(4, 5, 5, 1\)"):
        attacks.fgsm(subclassed, np.zeros((4, 5, 5, 1), np.float32), [0, 1, 2, 0], 0.1)


def test_an_nsl_wrapper_is_refused_with_its_base_model_named(model):
    wrapper = defenses.wrap(model, defenses.adv_reg_config(0.2, 0.05))
    with pytest.raises(TypeError, match=r"NSL AdversarialRegularization wrapper.*pass model.base_model"):
        attacks.fgsm(wrapper, IMAGES, [0, 1, 2, 3], 0.1)
    with pytest.raises(TypeError, match=r"pass models\['adv'\].base_model"):
        evaluation.robustness_curve({"adv": wrapper}, IMAGES, [0, 1, 2, 3], [0.0, 0.3], progress=False)


def test_a_single_name_or_epsilon_is_taken_as_one(model):
    rows = [{"model": "cnn", "attack": "fgsm", "epsilon": eps, "accuracy": acc, "n": 100}
            for eps, acc in ((0.0, 0.9), (0.3, 0.05))]
    assert [check.passed for check in sanity.sanity_checks(rows, {"cnn": 0.9}, undefended="cnn")] == [True, True, True]
    with pytest.warns(sanity.SanityCheckWarning, match="no sanity check ran"):  # one epsilon, not 0: nothing to check
        curve = evaluation.robustness_curve({"m": model}, IMAGES, [0, 1, 2, 3], np.float32(0.1), attacks="fgsm", progress=False)
    assert [row["epsilon"] for row in curve] == [pytest.approx(0.1)]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m: attacks.pgd(m, IMAGES, [0, 1, 2, 3], 0.1, seed=2**70), ValueError, "seed must be None or an integer from 0"),
        (lambda m: helpers.setup(seed=2**70), ValueError, "seed must be an integer from 0 to 4,294,967,295"),
        (lambda m: get_profile(123), TypeError, "name \\(a run profile: 'smoke', 'workshop', 'full'\\) must be a string"),
        (lambda m: defenses.adv_reg_config("1", 0.1), TypeError, "multiplier must be a number, got the string '1'"),
        (lambda m: data.subset(IMAGES, [0, 1, 2, 3], size=100.0), TypeError, "size must be a whole number .*write 100"),
        (lambda m: sanity.sanity_checks([{"model": "m", "epsilon": 0.0}], {}), ValueError,
         "rows\\[0\\] lacks the key\\(s\\) 'attack', 'accuracy', 'n'"),
        (lambda m: sanity.sanity_checks([], {}), ValueError, "rows is empty"),
        (lambda m: attacks.attack_dataset("pgd", m, IMAGES, [0, 1, 2, 3], 0.1, stpes=3), TypeError,
         "pgd does not take these options"),
        (lambda m: evaluation.robustness_curve({"m": m}, IMAGES, [0, 1, 2, 3], [0.0, 0.1], undefended=["m"]), ValueError,
         "needs an epsilon >= 0.3 .*the largest in epsilons is 0.1"),
    ],
)
def test_errors_name_the_argument_and_the_fix(model, call, error, match):
    with pytest.raises(error, match=match):
        call(model)


def test_nothing_checked_is_reported_loudly(capsys):
    with pytest.warns(sanity.SanityCheckWarning, match="no sanity check ran"):
        assert sanity.report_checks([]) is False
    assert "NO SANITY CHECK RAN" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# The checks themselves.
# ----------------------------------------------------------------------------


def test_norm_aliases():
    assert [checks.check_norm(n) for n in ("linf", "L-inf", np.inf, "l2", "L2", 2)] == ["linf"] * 3 + ["l2"] * 3
    for bad in (True, 1, "l1", None):
        with pytest.raises(ValueError, match="norm must be one of 'linf', 'l2'"):
            checks.check_norm(bad)


def test_check_number():
    assert checks.check_number(np.float32(0.5), "x") == 0.5 and checks.check_number(np.array(2), "x") == 2.0
    assert checks.check_number(tf.constant(0.25), "x") == 0.25 and checks.check_number(None, "x", allow_none=True) is None
    for bad, error, match in [
        (True, TypeError, "x must be a number"), ("1", TypeError, "without quotes"),
        (np.array([1.0, 2.0]), TypeError, "single number"),
        (float("nan"), ValueError, "finite"), (3.5e38, ValueError, "beyond float32"), (-1, ValueError, "x must be >= 0"),
    ]:
        with pytest.raises(error, match=match):
            checks.check_number(bad, "x")
    with pytest.raises(ValueError, match="x must be <= 1"):
        checks.check_number(1.5, "x", maximum=1.0)


def test_check_whole_numbers_steps_and_seeds():
    assert checks.check_steps(np.int64(7)) == 7 and checks.check_seed(checks._MAX_SEED) == checks._MAX_SEED
    with pytest.raises(ValueError, match="steps must be <= 100,000"):
        checks.check_steps(checks._MAX_STEPS + 1)
    with pytest.raises(TypeError, match="batch_size must be a whole number"):
        checks.check_batch_size(32.0)
    with pytest.raises(ValueError, match="seed must be None or an integer from 0 to 4,294,967,295"):
        checks.check_seed(checks._MAX_SEED + 1)


def test_check_labels_forms():
    np.testing.assert_array_equal(checks.check_labels([2.0, 0.0], 2, 3), [2, 0])
    np.testing.assert_array_equal(checks.check_labels(np.eye(3)[[1, 2]], 2, 3), [1, 2])
    with pytest.raises(ValueError, match=r"labels row 1 is not one-hot.*labels.argmax\(axis=1\)"):
        checks.check_labels(np.array([[0, 1, 0], [0.2, 0.7, 0.1]]), 2, 3)
    with pytest.raises(ValueError, match="Map class names to indices"):
        checks.check_labels(["Coat", "Bag"], 2, 10)


def test_check_names_and_file_names():
    assert checks.check_names("cnn", "undefended", known=["cnn"]) == ("cnn",)
    with pytest.raises(TypeError, match="undefended must hold names"):
        checks.check_names([1], "undefended")
    for bad in ("", "a/b", ".hidden", "../x"):
        with pytest.raises(ValueError):
            checks.check_file_name(bad)
