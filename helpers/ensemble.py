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
* :func:`square` - the Square attack (Andriushchenko et al. 2020), a
  gradient-free attack that only queries predictions: the check that a gradient
  problem is not hiding a weakness. The series' own compiled version (ART's
  ``SquareAttack`` takes minutes where this takes seconds), checked against
  ART's in the tests.
* :func:`wilson_interval`, :func:`paired_difference` (from :mod:`helpers.stats`) - 95% intervals for an
  accuracy and for the difference of two accuracies on the same images.

Every attack returns adversarial images in [0, 1] within ``epsilon`` (L-inf) of
the clean ones; every public function checks its arguments once, on entry.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.profiles import check_profile
from helpers.stats import paired_difference, wilson_interval  # noqa: F401 (re-exported)

__all__ = ["logits_twin", "apgd", "apgd_checkpoints", "pgd_restarts", "square", "art_classifier", "attacks_for",
           "still_correct", "worst_case", "summary", "masking_checks", "wilson_interval", "paired_difference"]

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
# The gradient-free attack, and ART: the independent implementation the tests compare with.
# ----------------------------------------------------------------------------


def art_classifier(model, classes: int = 10):
    """ART's ``TensorFlowV2Classifier`` around the model's :func:`logits_twin` (pixels in [0, 1])."""
    from art.estimators.classification import TensorFlowV2Classifier

    twin = logits_twin(model)
    return TensorFlowV2Classifier(
        twin, nb_classes=classes, input_shape=tuple(twin.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=(0.0, 1.0),
    )


def _square_fraction(iteration, queries, p_init):
    """The share of pixels a Square window covers at ``iteration``: ``p_init``, halved as the run goes on.

    The schedule of Andriushchenko et al. (2020), on a 10,000-query scale: halved
    after 10, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 queries.
    """
    scaled = tf.cast(iteration, tf.float32) / tf.cast(queries, tf.float32) * 10_000.0
    bounds = tf.constant([10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000], tf.float32)
    halvings = tf.reduce_sum(tf.cast(scaled > bounds, tf.float32))
    return p_init / tf.pow(2.0, halvings)


def _build_square(twin, image_shape: tuple):
    """Compile the L-inf Square attack for one logits model and image shape."""
    twin_ref = weakref.ref(twin)
    height, width, channels = image_shape

    def margin(images, labels):  # below 0: the model is fooled
        logits = twin_ref()(images, training=False)
        true_logit = tf.gather(logits, labels, axis=1, batch_dims=1)
        return true_logit - tf.reduce_max(logits - 1e9 * tf.one_hot(labels, tf.shape(logits)[1]), axis=1)

    @tf.function(input_signature=[
        tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64)])
    def attack(images, labels, epsilon, queries, seed):
        count = tf.shape(images)[0]

        def signs(shape, offset):
            draw = tf.random.stateless_uniform(shape, seed + tf.cast(offset, tf.int64) * [0, 1])
            return tf.where(draw < 0.5, -1.0, 1.0)

        # Start: vertical stripes of +-epsilon, one sign per column and channel.
        current = tf.clip_by_value(images + epsilon * signs([count, 1, width, channels], 0), 0.0, 1.0)
        loss = margin(current, labels)
        rows = tf.reshape(tf.range(height), [1, height, 1, 1])
        columns = tf.reshape(tf.range(width), [1, 1, width, 1])
        for iteration in tf.range(queries):
            if tf.reduce_all(loss <= 0.0):  # every image fooled: nothing left to search
                break
            share = _square_fraction(iteration, queries, 0.8)
            side = tf.cast(tf.round(tf.sqrt(share * height * width)), tf.int32)
            side = tf.clip_by_value(side, 1, min(height, width) - 1)
            corner_seed = seed + tf.cast(iteration + 1, tf.int64) * [0, 1] + [1, 0]
            top = tf.random.stateless_uniform([count, 1, 1, 1], corner_seed, 0, height - side + 1, tf.int32)
            left = tf.random.stateless_uniform([count, 1, 1, 1], corner_seed + [1, 0], 0, width - side + 1,
                                               tf.int32)
            window = (rows >= top) & (rows < top + side) & (columns >= left) & (columns < left + side)
            painted = tf.clip_by_value(images + epsilon * signs([count, 1, 1, channels], iteration + 1), 0.0, 1.0)
            candidate = tf.where(window, painted, current)
            new_loss = margin(candidate, labels)
            better = (new_loss < loss) & (loss > 0.0)  # an image already fooled stays as it is
            current = tf.where(tf.reshape(better, [-1, 1, 1, 1]), candidate, current)
            loss = tf.where(better, new_loss, loss)
        return current

    return attack


def square(model, images, labels, epsilon, queries: int = 1000, *, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """The Square attack under L-inf (Andriushchenko et al., ECCV 2020): gradient-free, it only queries predictions.

    Each of ``queries`` iterations paints one random square of each image with
    ``+-epsilon`` (one sign per channel) and keeps it when the margin between the
    true class and the best other class shrinks; the squares start large (80% of
    the pixels) and shrink on the paper's schedule. It never looks at a gradient,
    so a model that hides its gradients (gradient masking) does not fool it. The
    series' own compiled version for 28x28 images (``H x W x C``); it is checked
    against ART's ``SquareAttack`` in the tests.
    """
    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    queries = checks.check_whole_number(queries, "queries", hint="It is the number of Square iterations.")
    seed = checks.check_seed(seed, allow_none=False)
    batch_size = checks.check_batch_size(batch_size)
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    if images.ndim != 4 or min(images.shape[1:3]) < 2:
        raise ValueError(f"square needs images shaped (N, height, width, channels) of at least 2x2, got {images.shape}.")
    twin = logits_twin(model)
    functions = _COMPILED.setdefault(twin, {})
    key = ("square", images.shape[1:])
    if key not in functions:
        functions[key] = _build_square(twin, images.shape[1:])
    output = np.empty_like(images)
    for start in range(0, len(images), batch_size):
        output[start: start + batch_size] = functions[key](
            tf.constant(images[start: start + batch_size]), tf.constant(labels[start: start + batch_size]),
            tf.constant(epsilon, tf.float32), tf.constant(queries, tf.int32),
            tf.constant([seed, start], tf.int64)).numpy()
    return output


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
    DLR loss (untargeted: a reduced, AutoAttack-style ensemble, without AutoAttack's
    targeted APGD and FAB), and the gradient-free Square attack, meant to run on
    the images the others left (``still_correct(..., survivors_only=[its name])``).
    Their sizes come from the profile's ``ensemble_*`` fields; each attack draws its
    random starts from its own seeds (``seed + 100``, ``+ 200``, ...).
    """
    profile = check_profile(profile)
    p = profile
    return {
        f"PGD-{p.ensemble_pgd_steps}, {p.ensemble_pgd_restarts} starts": lambda m, x, y, e: pgd_restarts(
            m, x, y, e, p.ensemble_pgd_steps, p.ensemble_pgd_restarts, seed=seed + 100),
        f"APGD-CE-{p.ensemble_apgd_steps}": lambda m, x, y, e: apgd(
            m, x, y, e, p.ensemble_apgd_steps, loss="ce", restarts=p.ensemble_apgd_restarts, seed=seed + 200),
        f"APGD-DLR-{p.ensemble_apgd_steps}": lambda m, x, y, e: apgd(
            m, x, y, e, p.ensemble_apgd_steps, loss="dlr", restarts=p.ensemble_apgd_restarts, seed=seed + 300),
        f"Square-{p.ensemble_square_queries} (gradient-free)": lambda m, x, y, e: square(
            m, x, y, e, p.ensemble_square_queries, seed=seed + 400),
    }


def still_correct(model, images, labels, epsilon, attacks: dict, *, survivors_only=(), only_correct: bool = True):
    """One column per attack: is each image still classified right after that attack?

    Returns ``(table, seconds)``: a pandas DataFrame of booleans (one row per
    image, one column ``"clean"`` and one per attack, in order) and the seconds
    each attack took. With ``only_correct`` the attacks run only on the images
    the model gets right when clean (an image it already gets wrong needs no
    attack). An attack named in ``survivors_only`` runs, as AutoAttack runs every
    attack, only on the images that every earlier column left standing: its
    column then says whether the image survived it *and* everything before it.
    Checks that every attack returns valid images within ``epsilon`` (L-inf).
    """
    import time

    import pandas as pd

    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    if not isinstance(attacks, dict) or not attacks:
        raise TypeError("attacks must be a non-empty dict {name: attack(model, images, labels, epsilon)}, "
                        "for example ensemble.attacks_for(profile).")
    unknown = [name for name in survivors_only if name not in attacks]
    if isinstance(survivors_only, str) or unknown:
        raise ValueError(f"survivors_only must be a list of names in attacks ({', '.join(attacks)}); "
                         f"got {survivors_only!r}.")
    table = pd.DataFrame({"clean": _predicted(model, images) == labels})
    seconds = {}
    for name, attack in attacks.items():
        standing = table.all(axis=1) if name in survivors_only else table["clean"]
        chosen = np.flatnonzero(standing) if (only_correct or name in survivors_only) else np.arange(len(images))
        started = time.perf_counter()
        if len(chosen):
            adversarial = np.asarray(attack(model, images[chosen], labels[chosen], epsilon), dtype=np.float32)
        else:  # nothing left standing: nothing to attack
            adversarial = images[chosen]
        seconds[name] = time.perf_counter() - started
        if adversarial.shape != images[chosen].shape:
            raise ValueError(f"attack {name!r} returned shape {adversarial.shape}, expected {images[chosen].shape}.")
        if len(chosen) and (adversarial.min() < 0 or adversarial.max() > 1
                            or np.abs(adversarial - images[chosen]).max() > epsilon + 1e-5):
            raise ValueError(f"attack {name!r} left [0, 1] or the L-inf ball of radius {epsilon:g}: fix the attack.")
        column = np.zeros(len(images), dtype=bool)
        if len(chosen):
            column[chosen] = _predicted(model, adversarial) == labels[chosen]
        table[name] = column & standing.to_numpy()
    table.attrs["survivors_only"] = [name for name in attacks if name in survivors_only]
    return table, seconds


def worst_case(table):
    """Per image: right when clean and under every attack (a column-wise AND of :func:`still_correct`'s table)."""
    return table.all(axis=1)


def summary(tables: dict):
    """One row per model and attack: accuracy with its 95% Wilson interval, and the worst case over all attacks.

    ``tables`` maps model names to :func:`still_correct` tables. ``fooled only by
    this`` counts the images that attack alone fools (every other attack fails on
    them): what the ensemble would miss without it. An attack that ran only on
    the survivors of the others has no accuracy of its own (``None``); its count
    is the images it broke that every other attack had left.
    """
    import pandas as pd

    rows = []
    for model, table in tables.items():
        attacks = list(table.columns[1:])
        on_survivors = set(table.attrs.get("survivors_only", ()))
        columns = {**{name: table[name] for name in table.columns}, "worst case": worst_case(table)}
        for name, column in columns.items():
            low, high = wilson_interval(column)
            others = [other for other in attacks if other != name and other not in on_survivors]
            if name in on_survivors:
                alone = int((table[others].all(axis=1) & ~column).sum())
            else:
                alone = int((table["clean"] & ~column & table[others].all(axis=1)).sum()) if name in attacks else None
            own = name not in on_survivors
            rows.append({"model": model, "attack": name + (" (on survivors)" if not own else ""),
                         "accuracy": float(column.mean()) if own else None, "95% low": low if own else None,
                         "95% high": high if own else None, "fooled only by this": alone, "n": len(column)})
    frame = pd.DataFrame(rows)
    frame["fooled only by this"] = pd.Series([row["fooled only by this"] for row in rows], dtype=object)
    return frame


def masking_checks(table, *, large_epsilon_accuracy: float, accuracy_by_steps: dict, accuracy_by_starts,
                   white_box_accuracy: float, transfer_accuracy: float, gradient_free: str, tolerance: float = 0.02):
    """Gradient-masking diagnostics of one model (after Carlini et al. 2019, section 5), as checks that can fail.

    * a large epsilon takes the model near 0 (``large_epsilon_accuracy`` <= 0.1);
    * more steps never help the model: ``accuracy_by_steps`` ({steps: accuracy}
      of one attack, one start each) does not rise by more than ``tolerance`` as
      steps grow, and the last change of the step count moves it by at most
      ``tolerance``; ``accuracy_by_starts`` (the per-image worst case after 1, 2,
      ... random starts) changes by at most ``tolerance`` at its last start: both
      have converged;
    * white-box beats transfer: ``white_box_accuracy`` is at most
      ``transfer_accuracy`` (the same attack crafted on another model) plus ``tolerance``;
    * the gradient-free attack (column ``gradient_free`` of ``table``, run on the
      images the gradient attacks left, see :func:`still_correct`) breaks at most
      ``tolerance`` of those images: the gradients found what there was to find.

    Returns a list of :class:`helpers.sanity.CheckResult`.
    """
    from helpers.sanity import NEAR_ZERO, CheckResult

    if gradient_free not in table.columns[1:]:
        raise ValueError(f"gradient_free must name an attack column of table ({', '.join(table.columns[1:])}), "
                         f"got {gradient_free!r}.")
    if len(accuracy_by_steps) < 2 or len(accuracy_by_starts) < 2:
        raise ValueError("accuracy_by_steps and accuracy_by_starts need at least two points each, e.g. "
                         "{10: 0.61, 50: 0.58} and [0.60, 0.59].")
    steps = sorted(accuracy_by_steps)
    values = [accuracy_by_steps[count] for count in steps]
    rises = max(later - earlier for earlier, later in zip(values, values[1:]))
    last_start = accuracy_by_starts[-2] - accuracy_by_starts[-1]
    gradient = table.drop(columns=[gradient_free]).all(axis=1)
    broken = int((gradient & ~table[gradient_free]).sum())
    share = broken / max(int(gradient.sum()), 1)
    subject = "white-box, L-inf"
    return [
        CheckResult("a large epsilon breaks the model", subject, large_epsilon_accuracy <= NEAR_ZERO,
                    f"accuracy {large_epsilon_accuracy:.3f} (should be <= {NEAR_ZERO})"),
        CheckResult("more steps never raise accuracy", subject, rises <= tolerance,
                    f"largest rise {rises:+.3f} over steps {steps} (tolerance {tolerance})"),
        CheckResult("more steps have converged", subject, abs(values[-1] - values[-2]) <= tolerance,
                    f"{steps[-2]} -> {steps[-1]} steps: {values[-2]:.3f} -> {values[-1]:.3f} "
                    f"(tolerance {tolerance})"),
        CheckResult("more starts have converged", subject, last_start <= tolerance,
                    f"start {len(accuracy_by_starts)} lowered the worst case by {last_start:.3f} "
                    f"(tolerance {tolerance})"),
        CheckResult("white-box beats transfer", subject, white_box_accuracy <= transfer_accuracy + tolerance,
                    f"white-box {white_box_accuracy:.3f}, the same attack transferred {transfer_accuracy:.3f}"),
        CheckResult("a gradient-free attack finds little more", subject, share <= tolerance,
                    f"{gradient_free} broke {broken} of the {int(gradient.sum())} images the gradient attacks "
                    f"left ({share:.3f}, tolerance {tolerance})"),
    ]
