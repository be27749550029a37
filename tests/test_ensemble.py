"""Tests of helpers.ensemble and helpers.strong_attacks: the series' attacks against ART's on the same model and images."""

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

import numpy as np
import pytest
import tensorflow as tf

from helpers import attacks, ensemble, strong_attacks
from helpers.data import to_model_input

EPSILON = 0.1


@pytest.fixture(scope="module")
def data(sample):
    return to_model_input(sample.x_test[:300]), sample.y_test[:300].astype(np.int64), sample


@pytest.fixture(scope="module")
def model(trained_cnn):
    """The series' CNN after two short epochs on the bundled sample (tests/conftest.py): weak but far from random."""
    return trained_cnn


def _accuracy(model, images, labels):
    return float(np.mean(np.argmax(model.predict(images, verbose=0), axis=1) == labels))


def _art_classifier(model, classes: int = 10):
    """ART's ``TensorFlowV2Classifier`` around the model's logits (pixels in [0, 1])."""
    from art.estimators.classification import TensorFlowV2Classifier

    twin = strong_attacks._logits_twin(model)
    return TensorFlowV2Classifier(
        twin, nb_classes=classes, input_shape=tuple(twin.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=(0.0, 1.0),
    )


def _art_labels(labels):
    return np.eye(10, dtype=np.float32)[labels]


def test_logits_twin_predicts_the_same_classes_and_keeps_the_weights(model, data):
    images = data[0]
    twin = strong_attacks._logits_twin(model)
    logits = twin.predict(images, verbose=0)
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(model.predict(images, verbose=0), axis=1))
    assert np.allclose(tf.nn.softmax(logits).numpy(), model.predict(images, verbose=0), atol=1e-5)
    assert strong_attacks._logits_twin(model) is twin  # built once per model


def test_logits_twin_refuses_a_model_without_a_softmax_dense_output():
    inputs = tf.keras.Input((4,))
    odd = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="relu")(inputs))
    with pytest.raises(ValueError, match="softmax"):
        strong_attacks._logits_twin(odd)


def test_fgsm_matches_art_pixel_for_pixel(model, data):
    from art.attacks.evasion import FastGradientMethod

    images, labels, _ = data
    ours = attacks.fgsm(model, images, labels, EPSILON)
    art = FastGradientMethod(_art_classifier(model), norm=np.inf, eps=EPSILON, batch_size=300)
    theirs = art.generate(images, y=_art_labels(labels))
    assert np.abs(ours - theirs).max() < 1e-6


def test_pgd_is_at_least_as_strong_as_arts_with_the_same_budget(model, data):
    from art.attacks.evasion import ProjectedGradientDescent

    images, labels, _ = data
    steps = 20
    step = attacks.default_step_size(EPSILON, steps)
    ours = _accuracy(model, attacks.pgd(model, images, labels, EPSILON, step, steps, seed=0), labels)
    art = ProjectedGradientDescent(_art_classifier(model), norm=np.inf, eps=EPSILON, eps_step=step,
                                   max_iter=steps, num_random_init=1, batch_size=300, verbose=False)
    np.random.seed(0)
    theirs = _accuracy(model, art.generate(images, y=_art_labels(labels)), labels)
    assert _accuracy(model, images, labels) - theirs > 0.2  # the attack has work to do
    assert ours <= theirs + 0.02  # 300 images: 6 images of noise between random starts


@pytest.mark.parametrize("loss, art_loss", [("ce", "cross_entropy"), ("dlr", "difference_logits_ratio")])
def test_apgd_is_at_least_as_strong_as_arts_with_the_same_budget(model, data, loss, art_loss):
    from art.attacks.evasion import AutoProjectedGradientDescent

    images, labels, _ = data
    images, labels = images[:150], labels[:150]  # ART's DLR loss loops over the images in Python
    steps = 20
    adversarial = strong_attacks.apgd(model, images, labels, EPSILON, steps, loss=loss, seed=0)
    assert np.abs(adversarial - images).max() <= EPSILON + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    art = AutoProjectedGradientDescent(_art_classifier(model), norm=np.inf, eps=EPSILON,
                                       eps_step=2 * EPSILON, max_iter=steps, nb_random_init=1, batch_size=150,
                                       loss_type=art_loss, verbose=False)
    np.random.seed(0)
    theirs = _accuracy(model, art.generate(images, y=_art_labels(labels)), labels)
    ours = _accuracy(model, adversarial, labels)
    assert _accuracy(model, images, labels) - theirs > 0.2
    assert ours <= theirs + 0.02


def test_apgd_beats_a_single_fgsm_step_and_restarts_only_help(model, data):
    images, labels, _ = data
    fgsm = _accuracy(model, attacks.fgsm(model, images, labels, EPSILON), labels)
    one = _accuracy(model, strong_attacks.apgd(model, images, labels, EPSILON, 10, seed=0), labels)
    two = _accuracy(model, strong_attacks.apgd(model, images, labels, EPSILON, 10, restarts=2, seed=0), labels)
    assert one < fgsm
    assert two <= one  # the second start runs only on the images the first left alone


def test_apgd_checkpoints_follow_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, section 3.2)
    assert strong_attacks._apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert strong_attacks._apgd_checkpoints(1) == []


def test_apgd_refuses_bad_arguments(model, data):
    images, labels, _ = data
    with pytest.raises(ValueError, match="loss"):
        strong_attacks.apgd(model, images[:4], labels[:4], EPSILON, 5, loss="hinge")
    with pytest.raises(ValueError, match="epsilon"):
        strong_attacks.apgd(model, images[:4], labels[:4], 2.0, 5)


def test_square_is_at_least_as_strong_as_arts_with_the_same_queries(model, data):
    from art.attacks.evasion import SquareAttack

    images, labels, _ = data
    images, labels = images[:150], labels[:150]
    queries = 100
    ours = strong_attacks.square(model, images, labels, EPSILON, queries=queries, seed=0)
    assert np.abs(ours - images).max() <= EPSILON + 1e-6
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    np.random.seed(0)
    art = SquareAttack(_art_classifier(model), norm=np.inf, eps=EPSILON, max_iter=queries, nb_restarts=1,
                       batch_size=150, verbose=False)
    theirs = _accuracy(model, art.generate(images, y=_art_labels(labels)), labels)
    assert _accuracy(model, images, labels) - theirs > 0.1
    assert _accuracy(model, ours, labels) <= theirs + 0.02


def test_square_window_shrinks_on_the_papers_schedule():
    fractions = [float(strong_attacks._square_fraction(i, 10_000, 0.8)) for i in (0, 10, 11, 51, 201, 9000)]
    assert fractions == pytest.approx([0.8, 0.8, 0.4, 0.2, 0.1, 0.8 / 512])


def _masked(model):
    """The model behind a layer whose gradient is zero: gradient attacks see nothing, predictions are unchanged."""
    inputs = tf.keras.Input((28, 28, 1))
    hidden = tf.keras.layers.Lambda(lambda x: tf.stop_gradient(x) + 0.0 * x)(inputs)  # a zero gradient
    return tf.keras.Model(inputs, model(hidden))


def test_square_finds_what_gradient_masking_hides_from_pgd(model, data):
    images, labels, _ = data
    images, labels = images[:100], labels[:100]
    masked = _masked(model)
    clean = _accuracy(masked, images, labels)
    pgd = _accuracy(masked, attacks.pgd(masked, images, labels, EPSILON, steps=10, seed=0), labels)
    square = strong_attacks.square(model, images, labels, EPSILON, queries=200, seed=0)
    assert np.abs(square - images).max() <= EPSILON + 1e-6
    assert pgd > clean - 0.15  # a zero gradient leaves PGD with its random start only
    assert _accuracy(masked, square, labels) < pgd - 0.2  # the gradient-free attack is not fooled by it


def test_still_correct_gives_one_column_per_attack_and_never_credits_a_wrong_clean_image(model, data):
    images, labels, _ = data
    table, seconds = ensemble.still_correct(
        model, images, labels, EPSILON,
        {"fgsm": lambda m, x, y, e: attacks.fgsm(m, x, y, e), "none": lambda m, x, y, e: x})
    assert list(table.columns) == ["clean", "fgsm", "none"]
    assert set(seconds) == {"fgsm", "none"}
    assert table["none"].equals(table["clean"])
    assert not (table["fgsm"] & ~table["clean"]).any()
    assert table["fgsm"].mean() < table["clean"].mean()


def test_still_correct_refuses_an_attack_that_leaves_the_ball(model, data):
    images, labels, _ = data
    with pytest.raises(ValueError, match="ball"):
        ensemble.still_correct(model, images[:8], labels[:8], EPSILON,
                               {"too far": lambda m, x, y, e: np.clip(x + 2 * e, 0, 1)})
    with pytest.raises(TypeError, match="attacks"):
        ensemble.still_correct(model, images[:8], labels[:8], EPSILON, {})


def test_wilson_interval_matches_known_values():
    low, high = ensemble.wilson_interval([True] * 60 + [False] * 40)
    assert low == pytest.approx(0.5020, abs=1e-3) and high == pytest.approx(0.6906, abs=1e-3)
    with pytest.raises(ValueError, match="empty"):
        ensemble.wilson_interval([])


def test_paired_difference_is_paired():
    rng = np.random.default_rng(0)
    first = rng.uniform(size=1000) < 0.6
    second = first.copy()
    second[np.flatnonzero(first)[:30]] = False  # second loses 30 of first's images, nothing else differs
    difference, low, high = ensemble.paired_difference(first, second)
    assert difference == pytest.approx(0.03)
    assert 0 < low < difference < high < 0.05  # unpaired errors would give an interval about 0.09 wide
    with pytest.raises(ValueError, match="same images"):
        ensemble.paired_difference(first, second[:10])


def _table(columns):
    import pandas as pd

    return pd.DataFrame({name: np.array(values, dtype=bool) for name, values in columns.items()})


def test_worst_case_and_summary_count_what_each_attack_alone_fools():
    table = _table({"clean": [1, 1, 1, 1, 0], "a": [1, 0, 1, 0, 0], "b": [1, 1, 0, 0, 0]})
    assert ensemble.worst_case(table).tolist() == [True, False, False, False, False]
    rows = ensemble.summary({"m": table}).set_index("attack")
    assert rows.loc["worst case", "accuracy"] == pytest.approx(0.2)
    assert rows.loc["a", "fooled only by this"] == 1 and rows.loc["b", "fooled only by this"] == 1
    assert rows.loc["a", "95% low"] < 0.4 < rows.loc["a", "95% high"]


def test_masking_checks_pass_on_a_sound_evaluation_and_fail_on_each_symptom():
    sound = _table({"clean": [1] * 10, "pgd": [1] * 6 + [0] * 4, "square": [1] * 6 + [0] * 4})
    arguments = {"large_epsilon_accuracy": 0.0, "accuracy_by_steps": {10: 0.62, 20: 0.60, 50: 0.60},
                 "accuracy_by_starts": [0.61, 0.60, 0.60], "white_box_accuracy": 0.6, "transfer_accuracy": 0.7}
    checks = ensemble.masking_checks(sound, **arguments, gradient_free="square")
    assert len(checks) == 6 and all(check.passed for check in checks), [str(check) for check in checks]
    masked = _table({"clean": [1] * 10, "pgd": [1] * 9 + [0], "square": [1] * 5 + [0] * 5})
    failed = ensemble.masking_checks(
        masked, large_epsilon_accuracy=0.4, accuracy_by_steps={10: 0.5, 20: 0.7}, accuracy_by_starts=[0.7, 0.6],
        white_box_accuracy=0.8, transfer_accuracy=0.5, gradient_free="square")
    assert not any(check.passed for check in failed), [str(check) for check in failed]
    with pytest.raises(ValueError, match="gradient_free"):
        ensemble.masking_checks(sound, **arguments, gradient_free="fab")


def test_summary_gives_an_attack_on_survivors_no_accuracy_of_its_own_and_counts_what_it_broke():
    import pandas as pd

    table = _table({"clean": [1, 1, 1, 1, 0], "a": [1, 0, 1, 1, 0], "sq": [1, 0, 0, 1, 0]})
    table.attrs["survivors_only"] = ["sq"]
    rows = ensemble.summary({"m": table}).set_index("attack")
    assert rows.loc["a", "fooled only by this"] == 1  # the survivors-only column does not hide it
    assert rows.loc["sq (on survivors)", "fooled only by this"] == 1
    assert pd.isna(rows.loc["sq (on survivors)", "accuracy"])
    assert rows.loc["worst case", "accuracy"] == pytest.approx(0.4)


def test_an_attack_on_survivors_runs_only_on_the_images_every_earlier_attack_left(model, data):
    images, labels, _ = data
    seen = []

    def record(m, x, y, e):
        seen.append(len(x))
        return x

    table, _ = ensemble.still_correct(model, images, labels, EPSILON,
                                      {"fgsm": lambda m, x, y, e: attacks.fgsm(m, x, y, e), "last": record},
                                      survivors_only=["last"])
    assert seen == [int(table["fgsm"].sum())]
    assert table["last"].equals(table["fgsm"])  # attacking with the clean image changes nothing
    assert table.attrs["survivors_only"] == ["last"]
    seen.clear()
    wrong = (np.argmax(model.predict(images[:20], verbose=0), axis=1) + 1) % 10  # every clean image wrong
    table, _ = ensemble.still_correct(model, images[:20], wrong, EPSILON, {"last": record}, survivors_only=["last"])
    assert seen == [] and not table["last"].any()  # no survivors: the attack is not called on nothing
    with pytest.raises(ValueError, match="survivors_only"):
        ensemble.still_correct(model, images[:8], labels[:8], EPSILON, {"a": record}, survivors_only=["b"])
