"""Tests of helpers.attacks: properties on small random models, a closed-form check, bad input."""

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import attacks, checks, lessons

L = tf.keras.layers
FEW = settings(max_examples=15, deadline=None, derandomize=True)  # the same examples on every run
ATTACK_NAMES = ("fgsm", "bim", "pgd")


def _linear_model(shape=(4, 4, 1), classes=3, activation="softmax", scale=1.0, seed=0):
    """logits = W x + b on the flattened image, with known random weights."""
    model = tf.keras.Sequential([L.Input(shape), L.Flatten(), L.Dense(classes, activation=activation)])
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(int(np.prod(shape)), classes)).astype(np.float32) * scale
    bias = rng.normal(size=classes).astype(np.float32)
    model.layers[-1].set_weights([kernel, bias])
    return model


def _small_cnn(shape=(6, 6, 3), classes=5, seed=1):
    """A conv + dense classifier with random weights, outputs probabilities."""
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential(
        [L.Input(shape), L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(classes, activation="softmax")]
    )


@pytest.fixture(scope="module")
def linear():
    return _linear_model()


@pytest.fixture(scope="module")
def cnn():
    return _small_cnn()


def _batch(seed, shape, count, classes):
    """Random images in [0, 1] with some pixels exactly 0 or 1, and random labels."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(count, *shape)).astype(np.float32)
    images[rng.uniform(size=images.shape) < 0.2] = 0.0
    images[rng.uniform(size=images.shape) < 0.2] = 1.0
    return images, rng.integers(0, classes, size=count)


def _run(name, model, images, labels, epsilon, norm, **options):
    """Call an attack by name with the options it takes."""
    if name == "pgd":
        options.setdefault("seed", 0)
    if name != "fgsm":
        options.setdefault("steps", 3)
    return attacks.ATTACKS[name](model, images, labels, epsilon, norm=norm, **options)


def _perturbation_norm(adversarial, images, norm):
    delta = (adversarial.astype(np.float64) - images).reshape(len(images), -1)
    return np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta**2).sum(axis=1))


def _closed_form_gradient(model, images, labels):
    """W^T (softmax(Wx + b) - onehot(y)) for the linear model, in float64."""
    kernel, bias = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    flat = images.reshape(len(images), -1).astype(np.float64)
    logits = flat @ kernel + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    probabilities[np.arange(len(labels)), labels] -= 1.0
    return (probabilities @ kernel.T).reshape(images.shape)


def _mean_loss(model, images, labels):
    probabilities = np.asarray(model(images, training=False), dtype=np.float64)
    return float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-30))))


# ----------------------------------------------------------------------------
# Properties on random models and inputs.
# ----------------------------------------------------------------------------


@FEW
@given(
    seed=st.integers(0, 2**31 - 1),
    epsilon=st.floats(0.0, 2.0),
    name=st.sampled_from(ATTACK_NAMES),
    norm=st.sampled_from(checks._NORMS),
    count=st.integers(1, 6),
)
def test_result_stays_in_the_ball_and_in_range(cnn, seed, epsilon, name, norm, count):
    images, labels = _batch(seed, (6, 6, 3), count, 5)
    adversarial = _run(name, cnn, images, labels, epsilon, norm)
    assert adversarial.shape == images.shape and adversarial.dtype == np.float32
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(_perturbation_norm(adversarial, images, norm) <= epsilon * (1 + 1e-5) + 1e-6)


@FEW
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(ATTACK_NAMES), norm=st.sampled_from(checks._NORMS))
def test_epsilon_zero_changes_nothing(cnn, seed, name, norm):
    images, labels = _batch(seed, (6, 6, 3), 4, 5)
    np.testing.assert_array_equal(_run(name, cnn, images, labels, 0.0, norm), images)


@FEW
@given(seed=st.integers(0, 2**31 - 1), norm=st.sampled_from(checks._NORMS))
def test_pgd_same_seed_same_result(cnn, seed, norm):
    images, labels = _batch(seed % 1000, (6, 6, 3), 4, 5)
    first = attacks.pgd(cnn, images, labels, 0.3, steps=2, norm=norm, seed=seed)
    again = attacks.pgd(cnn, images, labels, 0.3, steps=2, norm=norm, seed=seed)
    other = attacks.pgd(cnn, images, labels, 0.3, steps=2, norm=norm, seed=seed + 1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# ----------------------------------------------------------------------------
# Exact values on a model whose gradient is known in closed form.
# ----------------------------------------------------------------------------


@FEW
@given(seed=st.integers(0, 2**31 - 1), epsilon=st.floats(0.01, 0.5), targeted=st.booleans())
def test_fgsm_linf_equals_closed_form(linear, seed, epsilon, targeted):
    images, labels = _batch(seed, (4, 4, 1), 8, 3)
    gradient = _closed_form_gradient(linear, images, labels)
    direction = -1.0 if targeted else 1.0
    expected = np.clip(images + np.float32(epsilon) * np.sign(gradient).astype(np.float32) * direction, 0, 1)
    found = attacks.fgsm(linear, images, labels, epsilon, targeted=targeted)
    decided = np.abs(gradient) > 1e-6  # where float32 and float64 agree on the sign
    np.testing.assert_array_equal(found[decided], expected[decided])


@FEW
@given(seed=st.integers(0, 2**31 - 1), epsilon=st.floats(0.01, 2.0))
def test_fgsm_l2_equals_closed_form(linear, seed, epsilon):
    images, labels = _batch(seed, (4, 4, 1), 8, 3)
    gradient = _closed_form_gradient(linear, images, labels)
    unit = gradient / np.sqrt((gradient**2).sum(axis=(1, 2, 3), keepdims=True))
    expected = np.clip(images + epsilon * unit, 0, 1)
    found = attacks.fgsm(linear, images, labels, epsilon, norm="l2")
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_input_gradient_equals_closed_form(linear):
    images, labels = _batch(3, (4, 4, 1), 16, 3)
    np.testing.assert_allclose(
        attacks.input_gradient(linear, images, labels), _closed_form_gradient(linear, images, labels), rtol=1e-4, atol=1e-6
    )


def test_probabilities_and_logits_models_give_the_same_attack():
    logits_model = _linear_model(activation="linear", seed=5)
    softmax_model = _linear_model(activation="softmax", seed=5)
    images, labels = _batch(5, (4, 4, 1), 16, 3)
    for name in ATTACK_NAMES:
        np.testing.assert_allclose(
            _run(name, logits_model, images, labels, 0.1, "linf"), _run(name, softmax_model, images, labels, 0.1, "linf"),
            atol=1e-6
        )


def test_saturated_softmax_still_has_a_gradient():
    # A logit margin of ~40: the softmax of the predicted class rounds to 1 in float32, where
    # the usual clipped -log(p) has a zero gradient. The attack works from the logits.
    model = _linear_model(scale=0.1, seed=7)
    kernel, _ = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel, np.array([0.0, 40.0, 0.0], np.float32)])  # others ~1e-18
    images, _ = _batch(7, (4, 4, 1), 8, 3)
    predicted = np.asarray(model(images)).argmax(axis=1)
    tensor = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        chosen = tf.gather(model(tensor), predicted, axis=1, batch_dims=1)
        clipped_loss = -tf.reduce_sum(tf.math.log(tf.clip_by_value(chosen, 1e-7, 1 - 1e-7)))
    assert not np.any(tape.gradient(clipped_loss, tensor).numpy())
    assert np.all(np.any(attacks.input_gradient(model, images, predicted) != 0, axis=(1, 2, 3)))
    adversarial = attacks.fgsm(model, images, predicted, 0.1)
    assert np.all(np.abs(adversarial - images).reshape(8, -1).max(axis=1) > 0)


def test_probabilities_without_a_softmax_op_fall_back_to_log_probabilities():
    # A softmax written by hand: no Softmax op to find, so -log(p) is used.
    hand_softmax = L.Lambda(lambda z: tf.exp(z) / tf.reduce_sum(tf.exp(z), axis=-1, keepdims=True))
    model = tf.keras.Sequential([L.Input((4, 4, 1)), L.Flatten(), L.Dense(3), hand_softmax])
    model.layers[1].set_weights(_linear_model(seed=9).layers[-1].get_weights())
    images, labels = _batch(9, (4, 4, 1), 8, 3)
    assert attacks.output_kind(model, images) == ("probabilities", "outputs are non-negative and each row sums to 1")
    np.testing.assert_allclose(
        attacks.input_gradient(model, images, labels), _closed_form_gradient(_linear_model(seed=9), images, labels),
        rtol=1e-3, atol=1e-5
    )


# ----------------------------------------------------------------------------
# How the output kind is known.
# ----------------------------------------------------------------------------


def _functional(activation_layer):
    inputs = L.Input((4,))
    return tf.keras.Model(inputs, activation_layer(L.Dense(3)(inputs)))


@pytest.mark.parametrize(
    "model, kind",
    [
        (_functional(L.Activation("softmax")), "probabilities"),
        (_functional(L.Softmax()), "probabilities"),
        (tf.keras.Sequential([L.Input((4,)), L.Dense(3, activation=tf.nn.softmax)]), "probabilities"),
        (tf.keras.Sequential([L.Input((4,)), tf.keras.Sequential([L.Dense(3, activation="softmax")])]), "probabilities"),
        (tf.keras.Sequential([L.Input((4,)), L.Dense(3)]), "logits"),
    ],
)
def test_output_kind_from_the_output_layer(model, kind):
    assert attacks.output_kind(model)[0] == kind


def test_output_kind_from_the_outputs_and_the_override():
    after_dropout = tf.keras.Sequential([L.Input((4,)), L.Dense(3, activation="softmax"), L.Dropout(0.5)])
    images = np.random.default_rng(0).uniform(size=(8, 4)).astype(np.float32)
    assert attacks.output_kind(after_dropout, images)[0] == "probabilities"
    assert attacks.output_kind(after_dropout, from_logits=True) == ("logits", "from_logits argument")
    with pytest.raises(ValueError, match="from_logits"):
        attacks.output_kind(after_dropout)


def test_logits_behind_dropout_are_still_found():
    logits_model = _linear_model(activation="linear", seed=11)
    wrapped = tf.keras.Sequential([logits_model, L.Softmax(), L.Dropout(0.5)])
    images, labels = _batch(11, (4, 4, 1), 8, 3)
    np.testing.assert_allclose(
        attacks.input_gradient(wrapped, images, labels), attacks.input_gradient(logits_model, images, labels),
        rtol=1e-5, atol=1e-7
    )


# ----------------------------------------------------------------------------
# Attacks do their job.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ATTACK_NAMES)
@pytest.mark.parametrize("norm, epsilon", [("linf", 0.05), ("l2", 0.5)])
def test_attack_raises_the_loss_on_average(cnn, name, norm, epsilon):
    images, labels = _batch(21, (6, 6, 3), 64, 5)
    adversarial = _run(name, cnn, images, labels, epsilon, norm)
    assert _mean_loss(cnn, adversarial, labels) > _mean_loss(cnn, images, labels)


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_targeted_attack_lowers_the_target_loss(cnn, name):
    images, _ = _batch(22, (6, 6, 3), 64, 5)
    targets = np.full(64, 2)
    adversarial = _run(name, cnn, images, targets, 0.05, "linf", targeted=True)
    assert _mean_loss(cnn, adversarial, targets) < _mean_loss(cnn, images, targets)


def test_iterative_attacks_beat_fgsm_on_a_trained_linear_model(linear):
    images, labels = _batch(23, (4, 4, 1), 200, 3)
    fgsm_loss = _mean_loss(linear, attacks.fgsm(linear, images, labels, 0.05), labels)
    assert _mean_loss(linear, attacks.pgd(linear, images, labels, 0.05, steps=10, seed=0), labels) >= fgsm_loss - 1e-6


def test_labels_may_be_one_hot(cnn):
    images, labels = _batch(24, (6, 6, 3), 8, 5)
    np.testing.assert_array_equal(attacks.fgsm(cnn, images, np.eye(5)[labels], 0.1), attacks.fgsm(cnn, images, labels, 0.1))


def test_vgg_sized_rgb_images():
    model = _small_cnn(shape=(32, 32, 3), classes=10)
    images, labels = _batch(25, (32, 32, 3), 4, 10)
    adversarial = attacks.pgd(model, images, labels, 0.03, steps=2, seed=0)
    assert adversarial.shape == (4, 32, 32, 3) and np.abs(adversarial - images).max() <= 0.03 + 1e-6


# ----------------------------------------------------------------------------
# Batching and compilation.
# ----------------------------------------------------------------------------


def test_attack_dataset_matches_single_batches(cnn):
    images, labels = _batch(31, (6, 6, 3), 23, 5)
    whole = attacks.fgsm(cnn, images, labels, 0.1)
    batched = attacks.attack_dataset("fgsm", cnn, images, labels, 0.1, batch_size=5, progress=False)
    np.testing.assert_allclose(batched, whole, atol=1e-6)


def test_attack_dataset_gives_each_batch_its_own_seed(cnn):
    images, labels = _batch(32, (6, 6, 3), 1, 5)
    repeated, labels = np.repeat(images, 4, axis=0), np.repeat(labels, 4)
    adversarial = attacks.attack_dataset("pgd", cnn, repeated, labels, 0.2, batch_size=1, progress=False, steps=1, seed=3)
    assert len({a.tobytes() for a in adversarial}) == 4
    again = attacks.attack_dataset("pgd", cnn, repeated, labels, 0.2, batch_size=1, progress=False, steps=1, seed=3)
    np.testing.assert_array_equal(adversarial, again)


def test_new_epsilons_steps_and_batch_sizes_do_not_retrace():
    model = _small_cnn(seed=33)
    for count, epsilon, steps in [(3, 0.1, 2), (7, 0.2, 3), (2, 0.05, 1), (5, 0.3, 4)]:
        images, labels = _batch(count, (6, 6, 3), count, 5)
        attacks.pgd(model, images, labels, epsilon, steps=steps, seed=count)
        attacks.fgsm(model, images, labels, epsilon)
    compiled = [f for key, f in attacks._CACHE[model].items() if key[0] == "attack"]
    assert [f.experimental_get_tracing_count() for f in compiled] == [1, 1]  # PGD loop, FGSM step


# ----------------------------------------------------------------------------
# The compiled attacks run notebook 03's lesson (helpers.lessons).
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("targeted", [False, True])
def test_compiled_attacks_equal_the_lesson_given_the_same_gradient(cnn, targeted):
    images, labels = _batch(51, (6, 6, 3), 8, 5)
    direction = -1.0 if targeted else 1.0  # a targeted attack descends the loss

    def gradient(model, adversarial, labels):
        return direction * attacks.input_gradient(model, adversarial, labels)

    step_size = attacks.default_step_size(0.1, 3)
    by_lesson = {
        "fgsm": lessons.fgsm(cnn, images, labels, 0.1, gradient),
        "bim": lessons.pgd(cnn, images, labels, 0.1, step_size, 3, random_start=False, gradient=gradient),
        "pgd": lessons.pgd(cnn, images, labels, 0.1, step_size, 3, seed=(4, 0), gradient=gradient),
    }
    compiled = {
        "fgsm": attacks.fgsm(cnn, images, labels, 0.1, targeted=targeted),
        "bim": attacks.bim(cnn, images, labels, 0.1, steps=3, targeted=targeted),
        "pgd": attacks.pgd(cnn, images, labels, 0.1, steps=3, seed=4, targeted=targeted),
    }
    for name, expected in by_lesson.items():
        np.testing.assert_array_equal(compiled[name], expected.numpy(), err_msg=name)
    assert not np.array_equal(compiled["pgd"], compiled["bim"]), "the random start changes the result"


def test_compiled_attacks_call_the_lesson(monkeypatch):
    calls = []

    def spy(name):
        original = getattr(lessons, name)

        def recorded(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(lessons, name, recorded)

    for name in ("pgd", "fgsm", "project", "random_point_in_ball"):
        spy(name)
    model = _small_cnn(seed=52)  # a new model: its attacks are compiled (traced) now, through the spies
    images, labels = _batch(52, (6, 6, 3), 4, 5)
    attacks.fgsm(model, images, labels, 0.1)
    assert calls == ["pgd", "fgsm", "project"]
    calls.clear()
    attacks.pgd(model, images, labels, 0.1, steps=2, seed=0)
    assert calls[:2] == ["pgd", "random_point_in_ball"] and {"fgsm", "project"} <= set(calls)


# ----------------------------------------------------------------------------
# Bad input gets an error that names the argument.
# ----------------------------------------------------------------------------


GOOD = _batch(41, (6, 6, 3), 4, 5)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"epsilon": -0.1}, ValueError, "epsilon must be >= 0"),
        ({"epsilon": float("nan")}, ValueError, "epsilon must be finite"),
        ({"epsilon": float("inf")}, ValueError, "epsilon must be finite"),
        ({"epsilon": "0.1"}, TypeError, "epsilon must be a number"),
        ({"images": GOOD[0] * 255}, ValueError, "divide by 255"),
        ({"images": (GOOD[0] * 255).astype(np.uint8)}, ValueError, "Divide by 255"),
        ({"images": GOOD[0] * 2 - 1}, ValueError, "images must be in \\[0, 1\\].*preprocessed"),
        ({"images": np.full_like(GOOD[0], np.nan)}, ValueError, "images contain NaN"),
        ({"images": GOOD[0][0, 0, 0]}, ValueError, "images must be a batch"),
        ({"labels": GOOD[1][:3]}, ValueError, "labels has 3 entries but images has 4"),
        ({"labels": GOOD[1] + 5}, ValueError, "labels must be class indices in 0..4"),
        ({"labels": np.eye(3)[[0, 1, 2, 0]]}, ValueError, "one-hot rows of width 3, but the model has 5 classes"),
        ({"labels": GOOD[1] + 0.5}, ValueError, "labels must be whole class indices"),
        ({"norm": "l1"}, ValueError, "Unknown norm 'l1'"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"steps": 2.5}, TypeError, "steps must be a whole number"),
        ({"step_size": -1.0}, ValueError, "step_size must be >= 0"),
        ({"seed": -3}, ValueError, "seed must be None or an integer"),
        ({"targeted": "yes"}, TypeError, "targeted must be True or False"),
        ({"from_logits": "maybe"}, TypeError, "from_logits must be True, False or None"),
        ({"random_start": None}, TypeError, "random_start must be True or False"),
    ],
)
def test_bad_input_is_named(cnn, change, error, match):
    arguments = {"images": GOOD[0], "labels": GOOD[1], "epsilon": 0.1, "norm": "linf", "steps": 2, "step_size": None,
                 "seed": 0, "targeted": False, "from_logits": None, "random_start": True}
    arguments.update(change)
    with pytest.raises(error, match=match):
        attacks.pgd(cnn, **arguments)


def test_fgsm_and_bim_check_their_arguments_too(cnn):
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        attacks.fgsm(cnn, *GOOD, -1)
    with pytest.raises(ValueError, match="Unknown norm"):
        attacks.bim(cnn, *GOOD, 0.1, norm="max")


def test_bad_model_attack_and_batch_size(cnn):
    with pytest.raises(TypeError, match="model must be a tf.keras model"):
        attacks.fgsm(lambda x: x, *GOOD, 0.1)
    with pytest.raises(ValueError, match="Unknown attack 'cw'"):
        attacks.attack_dataset("cw", cnn, *GOOD, 0.1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        attacks.attack_dataset("fgsm", cnn, *GOOD, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="labels has 2 entries"):
        attacks.attack_dataset("fgsm", cnn, GOOD[0], GOOD[1][:2], 0.1)


def test_model_must_output_class_scores():
    scalar_output = tf.keras.Sequential([L.Input((6, 6, 3)), L.Flatten(), L.Dense(1)])
    with pytest.raises(ValueError, match="model must output one score per class"):
        attacks.fgsm(scalar_output, *GOOD, 0.1)

