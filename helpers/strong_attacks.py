"""The strongest attacks of notebook 04's ensemble: Auto-PGD and the gradient-free Square attack.

* :func:`apgd` - the series' own Auto-PGD (APGD, Croce & Hein 2020): PGD with
  momentum and a step size that halves at checkpoints when progress stalls,
  under the cross-entropy or the DLR loss, compiled with ``tf.function``. It is
  checked against ART's ``AutoProjectedGradientDescent`` in the tests.
* :func:`square` - the Square attack (Andriushchenko et al. 2020), a
  gradient-free attack that only queries predictions: the check that a gradient
  problem is not hiding a weakness. The series' own compiled version (ART's
  ``SquareAttack`` takes minutes where this takes seconds), checked against
  ART's in the tests.

Both run on the model's logits: the same network without its final softmax
(same weights), built once per model. Both return adversarial images in [0, 1] within ``epsilon`` (L-inf) of the
clean ones and check their arguments once, on entry. :mod:`helpers.ensemble`
runs them with the series' PGD and takes the worst case.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from helpers import checks

__all__ = ["apgd", "square"]

_TWINS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOSSES = ("ce", "dlr")


# ----------------------------------------------------------------------------
# Logits.
# ----------------------------------------------------------------------------


def _logits_twin(model: tf.keras.Model) -> tf.keras.Model:
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
            f"apgd and square need a model whose last layer is Dense(..., activation='softmax'); {model.name!r} ends "
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


def _apgd_checkpoints(steps: int) -> list[int]:
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
    and halves a step at the checkpoints of :func:`_apgd_checkpoints` when fewer
    than 75% of the steps since the last one raised the loss, or when the best
    loss did not move and the step was not halved last time (then it restarts
    from the best point). ``loss`` is ``"ce"`` (cross-entropy) or ``"dlr"`` (the
    Difference of Logits Ratio, which needs logits: the model's
    :func:`_logits_twin` is used). ``restarts`` runs start from new random points
    (seed ``seed + r``) and only on the images no earlier run fooled. Returns,
    for each image, the first adversarial image found, else the one of highest loss.
    """
    epsilon = checks.check_number(epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1].")
    steps = checks.check_steps(steps)
    restarts = checks.check_whole_number(restarts, "restarts", hint="Each restart is one more random start.")
    seed = checks.check_seed(seed, allow_none=False)
    batch_size = checks.check_batch_size(batch_size)
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, _LOSSES))} (cross-entropy or DLR), got {loss!r}.")
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    twin = _logits_twin(model)
    attack = _compiled_apgd(twin, loss, images.shape[1:])
    windows = np.zeros(steps, np.int32)  # one entry per step; a checkpoint's entry is its window
    last = 0
    for point in _apgd_checkpoints(steps):
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
# The gradient-free attack.
# ----------------------------------------------------------------------------


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
    twin = _logits_twin(model)
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
