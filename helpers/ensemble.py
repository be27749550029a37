"""Robust accuracy as the field measures it: the per-image worst case over an ensemble of attacks.

One attack gives an upper bound on robust accuracy, and a loose one when the
attack is weak, unlucky in its start or short of steps. AutoAttack (Croce & Hein,
"Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020) therefore runs several diverse attacks and
counts an image as robust only if *every* attack fails on it. This module holds
the plumbing of that evaluation for notebook 04 (the worst case itself is written
out in the notebook):

* :func:`logits_twin` - the same network without its final softmax (same
  weights), for losses that need logits (DLR) and for ART.
* :func:`apgd` - the series' own Auto-PGD (APGD, Croce & Hein 2020): PGD with
  momentum and a step size that halves at checkpoints when progress stalls,
  under the cross-entropy or the DLR loss, compiled with ``tf.function``. It is
  checked against ART's ``AutoProjectedGradientDescent`` in the tests.
* :func:`square` - ART's ``SquareAttack`` (Andriushchenko et al. 2020), a
  gradient-free attack that only queries predictions: the check that a gradient
  problem is not hiding a weakness.
* :func:`wilson_interval`, :func:`paired_difference` - 95% intervals for an
  accuracy and for the difference of two accuracies on the same images.

Every attack returns adversarial images in [0, 1] within ``epsilon`` (L-inf) of
the clean ones; every public function checks its arguments once, on entry.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from helpers import checks

__all__ = ["logits_twin", "apgd", "apgd_checkpoints", "pgd_restarts", "square", "art_classifier", "attacks_for",
           "still_correct", "wilson_interval", "paired_difference"]

_TWINS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
LOSSES = ("ce", "dlr")


# ----------------------------------------------------------------------------
# Logits.
# ----------------------------------------------------------------------------


def logits_twin(model: tf.keras.Model) -> tf.keras.Model:
    """The model with its final softmax removed: the same layers and weights, logits out.

    ``model`` is a functional Keras model whose output layer is a ``Dense`` with
    a softmax (every classifier of this series), or a model that already outputs
    logits (returned as it is). The twin shares every layer but the last, whose
    weights are copied into a linear ``Dense``: build it after training. Its
    predicted classes equal the model's (checked on first use by :func:`apgd`).
    """
    checks.check_model(model)
    if model in _TWINS:
        return _TWINS[model]
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if activation == "linear":
        return model
    if not isinstance(last, tf.keras.layers.Dense) or activation not in ("softmax", "softmax_v2"):
        raise ValueError(
            f"logits_twin needs a model whose last layer is Dense(..., activation='softmax'); {model.name!r} ends "
            f"with {type(last).__name__} (activation {activation!r}). Build the model with a softmax Dense output, "
            "or pass a model that outputs logits."
        )
    config = {**last.get_config(), "activation": "linear", "name": f"{last.name}_logits"}
    dense = tf.keras.layers.Dense.from_config(config)
    twin = tf.keras.Model(model.inputs, dense(last.input), name=f"{model.name}_logits")
    dense.set_weights(last.get_weights())
    _TWINS[model] = twin
    return twin


# ----------------------------------------------------------------------------
# Auto-PGD.
# ----------------------------------------------------------------------------


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations at which APGD may halve its step: ``ceil(p_j * steps)`` (Croce & Hein 2020, section 3.2).

    ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``.
    """
    steps = checks.check_steps(steps)
    fractions = [0.0, 0.22]
    while fractions[-1] < 1.0:
        fractions.append(fractions[-1] + max(fractions[-1] - fractions[-2] - 0.03, 0.06))
    # Rounded first: 0.57 * 100 is 57.000000000000007 in floating point, and its ceiling would be 58.
    points = sorted({int(np.ceil(round(p * steps, 6))) for p in fractions[1:] if np.ceil(round(p * steps, 6)) < steps})
    return [point for point in points if point > 0]


def _per_image_loss(logits, labels, loss: str):
    if loss == "ce":
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    # DLR: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), invariant to shifting and scaling the logits.
    ordered = tf.sort(logits, axis=1, direction="DESCENDING")
    true_logit = tf.gather(logits, labels, axis=1, batch_dims=1)
    others = tf.reduce_max(logits - 1e9 * tf.one_hot(labels, tf.shape(logits)[1]), axis=1)
    return -(true_logit - others) / (ordered[:, 0] - ordered[:, 2] + 1e-12)


def _build_apgd(twin, loss: str, image_shape: tuple):
    """Compile APGD (L-inf) for one logits model, loss and image shape."""
    twin_ref = weakref.ref(twin)

    def evaluate(images, labels):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            logits = twin_ref()(images, training=False)
            values = _per_image_loss(logits, labels, loss)
            total = tf.reduce_sum(values)  # inside the tape, or the gradient is None
        gradient = tape.gradient(total, images)
        wrong = tf.argmax(logits, axis=1, output_type=tf.int32) != labels
        return values, gradient, wrong

    @tf.function(input_signature=[
        tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.float32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([2], tf.int64)])
    def attack(images, labels, epsilon, windows, seed):
        # windows[k] > 0: iteration k is a checkpoint, windows[k] iterations after the previous one.
        def project(x):
            return tf.clip_by_value(tf.clip_by_value(x, images - epsilon, images + epsilon), 0.0, 1.0)

        def broadcast(flags):
            return tf.reshape(flags, [-1] + [1] * len(image_shape))

        start = project(images + epsilon * tf.random.stateless_uniform(tf.shape(images), seed, -1.0, 1.0))
        count = tf.shape(images)[0]
        step = tf.fill([count], 2.0 * epsilon)
        value, gradient, wrong = evaluate(start, labels)
        adversarial = tf.where(broadcast(wrong), start, images)  # first image found that fools the model
        fooled = wrong
        best, best_value, best_gradient = start, value, gradient
        previous, current = start, start
        increases = tf.zeros([count], tf.float32)
        best_at_checkpoint = best_value
        halved_at_checkpoint = tf.zeros([count], tf.bool)
        for k in tf.range(tf.shape(windows)[0]):
            momentum = tf.where(k == 0, 1.0, 0.75)
            moved = project(current + broadcast(step) * tf.sign(gradient))
            following = project(current + momentum * (moved - current) + (1.0 - momentum) * (current - previous))
            new_value, new_gradient, wrong = evaluate(following, labels)
            adversarial = tf.where(broadcast(wrong & ~fooled), following, adversarial)
            fooled = fooled | wrong
            increases += tf.cast(new_value > value, tf.float32)
            improved = new_value > best_value
            best = tf.where(broadcast(improved), following, best)
            best_gradient = tf.where(broadcast(improved), new_gradient, best_gradient)
            best_value = tf.where(improved, new_value, best_value)
            previous, current, value, gradient = current, following, new_value, new_gradient
            window = windows[k]
            if window > 0:
                stalled = increases < 0.75 * tf.cast(window, tf.float32)
                stuck = ~halved_at_checkpoint & (best_value <= best_at_checkpoint)
                halve = stalled | stuck
                step = tf.where(halve, step / 2.0, step)
                current = tf.where(broadcast(halve), best, current)
                previous = tf.where(broadcast(halve), best, previous)
                gradient = tf.where(broadcast(halve), best_gradient, gradient)
                increases = tf.zeros([count], tf.float32)
                best_at_checkpoint = best_value
                halved_at_checkpoint = halve
        return tf.where(broadcast(fooled), adversarial, best)

    return attack


def _compiled_apgd(twin, loss: str, image_shape: tuple):
    functions = _COMPILED.setdefault(twin, {})
    key = (loss, image_shape)
    if key not in functions:
        functions[key] = _build_apgd(twin, loss, image_shape)
    return functions[key]


def apgd(model, images, labels, epsilon, steps: int = 100, *, loss: str = "ce", restarts: int = 1, seed: int = 0,
         batch_size: int = 500) -> np.ndarray:
    """Auto-PGD under L-inf (Croce & Hein 2020), the series' own compiled version.

    Each run starts at a uniformly random point of the epsilon-ball, takes
    ``steps`` gradient steps with momentum 0.75 from a step of ``2 * epsilon``,
    and halves a step at the checkpoints of :func:`apgd_checkpoints` when fewer
    than 75% of the steps since the last one raised the loss, or when the best
    loss did not move and the step was not halved last time (then it restarts
    from the best point). ``loss`` is ``"ce"`` (cross-entropy) or ``"dlr"`` (the
    Difference of Logits Ratio, which needs logits: the model's
    :func:`logits_twin` is used). ``restarts`` runs start from new random points
    (seed ``seed + r``) and only on the images no earlier run fooled. Returns,
    for each image, the first adversarial image found, else the one of highest loss.
    """
    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    steps = checks.check_steps(steps)
    restarts = checks.check_whole_number(restarts, "restarts", hint="Each restart is one more random start.")
    seed = checks.check_seed(seed, allow_none=False)
    batch_size = checks.check_batch_size(batch_size)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))} (cross-entropy or DLR), got {loss!r}.")
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    twin = logits_twin(model)
    attack = _compiled_apgd(twin, loss, images.shape[1:])
    windows = np.zeros(steps, np.int32)  # one entry per step; a checkpoint's entry is its window
    last = 0
    for point in apgd_checkpoints(steps):
        windows[point - 1] = point - last
        last = point
    output = images.copy()
    remaining = np.arange(len(images))
    for restart in range(restarts):
        for start in range(0, len(remaining), batch_size):
            chosen = remaining[start: start + batch_size]
            output[chosen] = attack(tf.constant(images[chosen]), tf.constant(labels[chosen]),
                                    tf.constant(epsilon, tf.float32), tf.constant(windows),
                                    tf.constant([seed + restart, start], tf.int64)).numpy()
        predicted = np.argmax(twin.predict(output[remaining], batch_size=batch_size, verbose=0), axis=1)
        remaining = remaining[predicted == labels[remaining]]
        if not len(remaining):
            break
    return output


# ----------------------------------------------------------------------------
# ART: the independent implementation and the gradient-free attack.
# ----------------------------------------------------------------------------


def art_classifier(model, classes: int = 10):
    """ART's ``TensorFlowV2Classifier`` around the model's :func:`logits_twin` (pixels in [0, 1])."""
    from art.estimators.classification import TensorFlowV2Classifier

    twin = logits_twin(model)
    return TensorFlowV2Classifier(
        twin, nb_classes=classes, input_shape=tuple(twin.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=(0.0, 1.0),
    )


def square(model, images, labels, epsilon, queries: int = 1000, *, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """ART's ``SquareAttack`` under L-inf with ``queries`` iterations: gradient-free, it only queries predictions.

    Square attacks change random square patches of the image to ``+-epsilon``
    and keep a change when the margin loss falls; it never looks at a gradient,
    so a model that hides its gradients (gradient masking) does not fool it.
    ``seed`` seeds NumPy's global generator, which ART draws from.
    """
    from art.attacks.evasion import SquareAttack

    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    queries = checks.check_whole_number(queries, "queries", hint="It is the number of Square iterations.")
    seed = checks.check_seed(seed, allow_none=False)
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    np.random.seed(seed)
    attack = SquareAttack(art_classifier(model, classes), norm=np.inf, eps=float(epsilon), max_iter=queries,
                          nb_restarts=1, batch_size=checks.check_batch_size(batch_size), verbose=False)
    adversarial = attack.generate(images, y=np.eye(classes, dtype=np.float32)[labels])
    return np.clip(np.clip(adversarial, images - epsilon, images + epsilon), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------
# The ensemble.
# ----------------------------------------------------------------------------


def _predicted(model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    from helpers.evaluation import predict_classes

    return predict_classes(model, images, batch_size)


def pgd_restarts(model, images, labels, epsilon, steps: int, restarts: int, *, seed: int = 0) -> np.ndarray:
    """The series' PGD (:func:`helpers.attacks.pgd`) from ``restarts`` random starts (seeds ``seed``, ``seed + 1``, ...).

    Each start runs only on the images no earlier start fooled; each image keeps
    the first adversarial image that fools the model (else the last start's).
    """
    from helpers import attacks

    restarts = checks.check_whole_number(restarts, "restarts", hint="Each restart is one more random start.")
    seed = checks.check_seed(seed, allow_none=False)
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    output = images.copy()
    remaining = np.arange(len(images))
    for restart in range(restarts):
        output[remaining] = attacks.attack_dataset("pgd", model, images[remaining], labels[remaining], epsilon,
                                                   steps=steps, seed=seed + 1000 * restart, progress=False)
        remaining = remaining[_predicted(model, output[remaining]) == labels[remaining]]
        if not len(remaining):
            break
    return output


def attacks_for(profile, seed: int = 0) -> dict:
    """The ensemble a run profile asks for: ``{name: attack(model, images, labels, epsilon)}``, strongest last.

    The series' PGD with restarts, Auto-PGD with the cross-entropy and with the
    DLR loss (the gradient attacks of AutoAttack), and ART's gradient-free Square
    attack; their sizes come from the profile's ``ensemble_*`` fields.
    """
    profile = checks.check_profile(profile)
    p = profile
    return {
        f"PGD-{p.ensemble_pgd_steps}, {p.ensemble_pgd_restarts} starts": lambda m, x, y, e: pgd_restarts(
            m, x, y, e, p.ensemble_pgd_steps, p.ensemble_pgd_restarts, seed=seed),
        f"APGD-CE-{p.ensemble_apgd_steps}": lambda m, x, y, e: apgd(
            m, x, y, e, p.ensemble_apgd_steps, loss="ce", restarts=p.ensemble_apgd_restarts, seed=seed),
        f"APGD-DLR-{p.ensemble_apgd_steps}": lambda m, x, y, e: apgd(
            m, x, y, e, p.ensemble_apgd_steps, loss="dlr", restarts=p.ensemble_apgd_restarts, seed=seed),
        f"Square-{p.ensemble_square_queries} (gradient-free)": lambda m, x, y, e: square(
            m, x, y, e, p.ensemble_square_queries, seed=seed),
    }


def still_correct(model, images, labels, epsilon, attacks: dict, *, only_correct: bool = True):
    """One column per attack: is each image still classified right after that attack?

    Returns ``(table, seconds)``: a pandas DataFrame of booleans (one row per
    image, one column ``"clean"`` and one per attack) and the seconds each attack
    took. With ``only_correct`` the attacks run only on the images the model gets
    right when clean (an image it already gets wrong needs no attack). Checks
    that every attack returns valid images within ``epsilon`` (L-inf).
    """
    import time

    import pandas as pd

    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    if not isinstance(attacks, dict) or not attacks:
        raise TypeError("attacks must be a non-empty dict {name: attack(model, images, labels, epsilon)}, "
                        "for example ensemble.attacks_for(profile).")
    table = pd.DataFrame({"clean": _predicted(model, images) == labels})
    chosen = np.flatnonzero(table["clean"]) if only_correct else np.arange(len(images))
    seconds = {}
    for name, attack in attacks.items():
        started = time.perf_counter()
        adversarial = np.asarray(attack(model, images[chosen], labels[chosen], epsilon), dtype=np.float32)
        seconds[name] = time.perf_counter() - started
        if adversarial.shape != images[chosen].shape:
            raise ValueError(f"attack {name!r} returned shape {adversarial.shape}, expected {images[chosen].shape}.")
        if adversarial.min() < 0 or adversarial.max() > 1 or np.abs(adversarial - images[chosen]).max() > epsilon + 1e-5:
            raise ValueError(f"attack {name!r} left [0, 1] or the L-inf ball of radius {epsilon:g}: fix the attack.")
        column = np.zeros(len(images), dtype=bool)
        column[chosen] = _predicted(model, adversarial) == labels[chosen]
        table[name] = column & table["clean"].to_numpy()
    return table, seconds


# ----------------------------------------------------------------------------
# Intervals.
# ----------------------------------------------------------------------------


def wilson_interval(correct) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy, from one True/False per image (scipy's ``binomtest``)."""
    from scipy.stats import binomtest

    correct = np.asarray(correct, dtype=bool).ravel()
    if correct.size == 0:
        raise ValueError("correct must hold one True/False per image; it is empty.")
    interval = binomtest(int(correct.sum()), correct.size).proportion_ci(0.95, method="wilson")
    return float(interval.low), float(interval.high)


def paired_difference(first, second, *, seed: int = 0, resamples: int = 2000) -> tuple[float, float, float]:
    """Accuracy of ``first`` minus ``second`` on the same images, with its 95% paired bootstrap interval.

    ``first`` and ``second`` hold one True/False per image, the same images in
    the same order. Returns ``(difference, low, high)`` from scipy's
    ``bootstrap(paired=True)`` (BCa): images are resampled together, so what
    both get right or wrong cancels out.
    """
    from scipy.stats import bootstrap

    first = np.asarray(first, dtype=bool).ravel()
    second = np.asarray(second, dtype=bool).ravel()
    if first.shape != second.shape or first.size < 2:
        raise ValueError(f"first and second must be the same images (one True/False each, at least 2), got "
                         f"{first.size} and {second.size}.")
    difference = float(first.mean() - second.mean())
    if np.array_equal(first, second):
        return difference, difference, difference
    result = bootstrap((first.astype(float), second.astype(float)), lambda a, b: np.mean(a) - np.mean(b),
                       paired=True, n_resamples=resamples, random_state=seed, method="percentile")
    return difference, float(result.confidence_interval.low), float(result.confidence_interval.high)
