"""Batched adversarial attacks: FGSM, BIM and PGD under the L-inf and L2 norms.

Every attack takes a whole batch of images in [0, 1] (any shape, any number of
channels) and returns adversarial images as a float32 NumPy array that stays in
[0, 1] and within ``epsilon`` of the input in the attack's norm (up to float32
rounding, about 1e-7 relative). The work runs in
one compiled ``tf.function`` per model (and norm and image shape), built on first
use and reused afterwards: numbers such as ``epsilon`` go in as tensors, so
sweeping epsilon never retraces.

* :func:`fgsm` - the Fast Gradient Sign Method (Goodfellow et al., 2015): one step
  of size ``epsilon``; under L2, ``epsilon * grad / ||grad||_2`` per image.
* :func:`bim` - the Basic Iterative Method (Kurakin et al., 2017): ``steps`` small
  FGSM steps, each followed by a projection back into the epsilon-ball.
* :func:`pgd` - Projected Gradient Descent (Madry et al., 2018): BIM from a random
  start inside the epsilon-ball.
* :func:`attack_dataset` - any of them over a whole dataset in batches, with a
  progress bar.

**Probabilities or logits.** The loss an attack climbs is the cross-entropy of
the model's output, so it must know what the output is (:func:`output_kind`):

1. ``from_logits=True`` or ``False``, when given, decides.
2. Otherwise the model's output layer decides: a softmax activation (``Dense(...,
   activation="softmax")``, ``Activation("softmax")``, ``Softmax()``, also inside
   a nested model) means probabilities; a linear one means logits.
3. Otherwise (any other last layer, or a subclassed model) the outputs on the
   images decide: rows that are non-negative and sum to 1 are probabilities.

The answer is worked out on a model's first attack and cached with its compiled
functions.

For a model that outputs probabilities, the compiled function follows the graph
back from the output to the softmax (through pass-through ops such as an
inactive Dropout after it) and takes the cross-entropy of its input
logits. That is exact and does not saturate: with a confident model, a softmax
output rounds to exactly 1.0 in float32 and the usual clipped ``-log(p)`` has a
zero gradient there, which would leave FGSM with nothing to follow. Only when no
softmax can be found (a probability model built some other way) does the loss
fall back to ``-log(max(p, 1e-30))``.

Iterative attacks default to ``step_size = 2.5 * epsilon / steps`` (Madry et al.).
To attack an NSL ``AdversarialRegularization`` model, attack its ``base_model``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import weakref
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

__all__ = [
    "NORMS",
    "ATTACKS",
    "fgsm",
    "bim",
    "pgd",
    "attack_dataset",
    "attack_batches",
    "get_attack",
    "input_gradient",
    "output_kind",
    "default_step_size",
]

NORMS = ("linf", "l2")
_NORM_ALIASES = {"linf": "linf", "l-inf": "linf", "inf": "linf", "l_inf": "linf", "l2": "l2", "l-2": "l2"}
_SMALLEST_PROBABILITY = 1e-30
# How far from 1 a row of probabilities may sum (float32 rounding over many classes).
_SUM_TOLERANCE = 1e-3

# model -> {key: compiled function or cached fact}. Weak keys: a model that is
# deleted takes its compiled functions with it.
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------
# Argument checks: each raises an error that names the argument and the fix.
# ----------------------------------------------------------------------------


def _check_model(model) -> None:
    """Attacks need a tf.keras model (a Keras 3 model cannot be differentiated here)."""
    if not isinstance(model, tf.keras.Model):
        raise TypeError(
            f"model must be a tf.keras model (Keras 2, `import helpers` first), got {type(model).__name__}."
        )


def _check_number(value, name: str, *, allow_none: bool = False) -> float | None:
    """A finite, non-negative Python float from ``value`` (epsilon, step_size)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, tf.Tensor)):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a single number, got {value!r}.") from error
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}.")
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {number}: it is the size of a perturbation, not a direction.")
    return number


def _check_steps(steps) -> int:
    """A whole number of steps, at least 1."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps must be a whole number >= 1, got {steps!r}.")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    return int(steps)


def _check_norm(norm) -> str:
    """'linf' or 'l2' (also accepts np.inf, 2, 'inf', 'L2', 'L-inf')."""
    if norm is np.inf or norm == float("inf"):
        return "linf"
    if norm == 2 and not isinstance(norm, bool):
        return "l2"
    key = str(norm).strip().lower() if isinstance(norm, str) else None
    if key not in _NORM_ALIASES:
        raise ValueError(f"Unknown norm {norm!r}: norm must be one of {', '.join(map(repr, NORMS))}.")
    return _NORM_ALIASES[key]


def _check_flag(value, name: str, *, allow_none: bool = False):
    """A bool (or None where allowed): catches e.g. targeted='yes' or from_logits=1."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name} must be {allowed}, got {value!r}.")
    return bool(value)


def _check_seed(seed) -> int | None:
    """None (draw one from NumPy's global generator) or a non-negative integer."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}.")
    return int(seed)


def _check_images(images) -> np.ndarray:
    """float32 images of shape (N, ...) with every value in [0, 1]."""
    array = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
    if array.dtype == np.uint8:
        raise ValueError(
            "images are uint8 pixels (0-255); models and attacks here take floats in [0, 1]. Divide by 255 "
            "(helpers.data.to_model_input does it)."
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"images must be a numeric array, got dtype {array.dtype}.")
    if array.ndim < 2:
        raise ValueError(f"images must be a batch of shape (N, height, width[, channels]), got shape {array.shape}.")
    if array.shape[0] == 0:
        raise ValueError("images is empty: there is nothing to attack.")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError("images contain NaN or infinite values.")
    _check_pixel_range(float(array.min()), float(array.max()))
    return array


def _check_pixel_range(lowest: float, highest: float) -> None:
    """Explain the likely cause when pixels are outside [0, 1]."""
    if lowest >= 0.0 and highest <= 1.0:
        return
    if lowest >= 0.0 and highest <= 255.0:
        hint = "They look like 0-255 pixels: divide by 255."
    else:
        hint = (
            "They look preprocessed (e.g. centred or scaled to [-1, 1]): attack pixels in [0, 1] "
            "and put the preprocessing inside the model."
        )
    raise ValueError(f"images must be in [0, 1], found values from {lowest:g} to {highest:g}. {hint}")


def _check_labels(labels, batch_size: int, num_classes: int, name: str = "labels") -> np.ndarray:
    """int32 class indices of shape (N,), from indices or one-hot rows."""
    array = labels.numpy() if isinstance(labels, tf.Tensor) else np.asarray(labels)
    if array.ndim == 2:
        if array.shape[1] != num_classes:
            raise ValueError(
                f"{name} are one-hot rows of width {array.shape[1]}, but the model has {num_classes} classes."
            )
        array = array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be class indices of shape (N,) or one-hot (N, classes), got shape {array.shape}.")
    if len(array) != batch_size:
        raise ValueError(f"{name} has {len(array)} entries but images has {batch_size}: they must match one to one.")
    if not np.issubdtype(array.dtype, np.integer):
        if not (np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0)):
            raise TypeError(f"{name} must be whole class indices, got dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= num_classes:
        raise ValueError(
            f"{name} must be class indices in 0..{num_classes - 1} (the model has {num_classes} classes), "
            f"found values from {array.min():g} to {array.max():g}."
        )
    return array.astype(np.int32)


# ----------------------------------------------------------------------------
# What the model outputs.
# ----------------------------------------------------------------------------


def _output_layer(model):
    """The layer whose output is the model's output (recursing into nested models)."""
    layer = None
    outputs = getattr(model, "outputs", None) if getattr(model, "_is_graph_network", False) else None
    if outputs and len(outputs) == 1 and hasattr(outputs[0], "_keras_history"):
        layer = outputs[0]._keras_history.layer
    elif getattr(model, "layers", None):
        layer = model.layers[-1]
    if isinstance(layer, tf.keras.Model):
        return _output_layer(layer)
    return layer


def _activation_name(layer) -> str | None:
    """'softmax', 'linear', another activation's name, or None when the layer has none."""
    if layer is None:
        return None
    if isinstance(layer, tf.keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", type(activation).__name__)
    return "softmax" if name in ("softmax", "softmax_v2") else name


def _looks_like_probabilities(outputs: np.ndarray) -> bool:
    """Rows non-negative and summing to 1."""
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=_SUM_TOLERANCE))


def _forward(model, images: np.ndarray) -> np.ndarray:
    """The model's outputs on a few images, checked to be one row of scores per image."""
    outputs = model(images, training=False)
    if isinstance(outputs, (list, tuple, dict)):
        raise ValueError("model must have a single output (one score per class); it returns several.")
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ValueError(
            f"model must output one score per class, shape (N, classes) with classes >= 2; got shape {outputs.shape}."
        )
    return outputs


def output_kind(model, images=None, *, from_logits: bool | None = None) -> tuple[str, str]:
    """Whether ``model`` outputs ``"probabilities"`` or ``"logits"``, and how that is known.

    Returns ``(kind, reason)``. ``from_logits`` overrides; otherwise the output
    layer's activation decides (softmax: probabilities, linear: logits); otherwise
    the outputs on ``images`` (needed then) decide: rows that are non-negative
    and sum to 1 are probabilities. See the module docstring.
    """
    _check_model(model)
    from_logits = _check_flag(from_logits, "from_logits", allow_none=True)
    if from_logits is not None:
        return ("logits" if from_logits else "probabilities"), "from_logits argument"
    layer = _output_layer(model)
    activation = _activation_name(layer)
    if activation == "softmax":
        return "probabilities", f"output layer {layer.name!r} applies a softmax"
    if activation == "linear":
        return "logits", f"output layer {layer.name!r} has a linear activation"
    if images is None:
        raise ValueError(
            "The model's output layer does not say whether it gives probabilities or logits; pass images "
            "to check its outputs, or say it with from_logits=True/False."
        )
    outputs = _forward(model, _check_images(images)[:64])
    if _looks_like_probabilities(outputs):
        return "probabilities", "outputs are non-negative and each row sums to 1"
    return "logits", "outputs are not rows of probabilities (negative or not summing to 1)"


def _model_facts(model, images: np.ndarray, from_logits: bool | None) -> tuple[int, bool]:
    """(number of classes, outputs are probabilities), cached per model."""
    facts = _CACHE.setdefault(model, {})
    if "classes" not in facts:
        facts["classes"] = _forward(model, images[:1]).shape[1]
    if from_logits is not None:
        return facts["classes"], not from_logits
    if "probabilities" not in facts:
        facts["probabilities"] = output_kind(model, images)[0] == "probabilities"
    return facts["classes"], facts["probabilities"]


# ----------------------------------------------------------------------------
# The compiled attack.
# ----------------------------------------------------------------------------


def _softmax_input(tensor: tf.Tensor) -> tf.Tensor | None:
    """The logits a graph tensor was computed from by a softmax, through Identity ops."""
    while tensor.op.type == "Identity" and len(tensor.op.inputs) == 1:
        tensor = tensor.op.inputs[0]
    if tensor.op.type == "Softmax":
        return tensor.op.inputs[0]
    return None


def _loss(model, images, labels, probabilities: bool) -> tf.Tensor:
    """Summed cross-entropy of the model's outputs against ``labels`` (inside a tf.function)."""
    outputs = model(images, training=False)
    logits = _softmax_input(outputs) if probabilities else outputs
    if logits is not None:
        logits = tf.cast(logits, tf.float32)
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    chosen = tf.gather(tf.cast(outputs, tf.float32), labels, axis=1, batch_dims=1)
    return -tf.reduce_sum(tf.math.log(tf.maximum(chosen, _SMALLEST_PROBABILITY)))


def _per_image_l2(tensor: tf.Tensor) -> tf.Tensor:
    """The L2 norm of each image, shaped to broadcast against the batch."""
    axes = list(range(1, tensor.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(tensor), axis=axes, keepdims=True))


def _unit_step(gradient: tf.Tensor, norm: str) -> tf.Tensor:
    """The steepest-ascent direction of unit size in ``norm`` (zero where the gradient is zero)."""
    if norm == "linf":
        return tf.sign(gradient)
    return gradient / tf.maximum(_per_image_l2(gradient), 1e-12)


def _project(adversarial, images, epsilon, norm: str) -> tf.Tensor:
    """Back into the epsilon-ball around ``images``, then into [0, 1].

    Clipping to [0, 1] after the projection keeps the result in the ball: both
    the original and the clipped pixel lie in [0, 1], so clipping moves each
    pixel towards the original and can only shrink the perturbation.
    """
    if norm == "linf":
        adversarial = tf.clip_by_value(adversarial, images - epsilon, images + epsilon)
    else:
        delta = adversarial - images
        scale = tf.minimum(1.0, epsilon / tf.maximum(_per_image_l2(delta), 1e-12))
        adversarial = images + delta * scale
    return tf.clip_by_value(adversarial, 0.0, 1.0)


def _random_start(images, epsilon, norm: str, seed) -> tf.Tensor:
    """A uniformly random point of the epsilon-ball around each image, clipped to [0, 1]."""
    shape = tf.shape(images)
    if norm == "linf":
        noise = tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0) * epsilon
    else:
        # Uniform in the L2 ball: a uniform direction times a radius eps * u^(1/d).
        direction = tf.random.stateless_normal(shape, seed)
        direction = direction / tf.maximum(_per_image_l2(direction), 1e-12)
        dims = tf.cast(tf.reduce_prod(shape[1:]), tf.float32)
        radius_shape = tf.concat([shape[:1], tf.ones_like(shape[1:])], axis=0)
        uniform = tf.random.stateless_uniform(radius_shape, seed + tf.constant([0, 1], tf.int64))
        noise = direction * epsilon * tf.pow(uniform, 1.0 / dims)
    return tf.clip_by_value(images + noise, 0.0, 1.0)


def _step(model, adversarial, images, labels, epsilon, step_size, direction, norm: str, probabilities: bool):
    """One signed (L-inf) or normalised (L2) gradient step, projected back into the ball and [0, 1]."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(adversarial)
        loss = _loss(model, adversarial, labels, probabilities)
    gradient = tape.gradient(loss, adversarial)
    adversarial = adversarial + direction * step_size * _unit_step(gradient, norm)
    return _project(adversarial, images, epsilon, norm)


def _build_attack(model, norm: str, probabilities: bool, image_shape: tuple, iterative: bool) -> Callable:
    """Compile the attack for one model, norm and image shape.

    ``iterative=False`` builds a single step from the images themselves (FGSM):
    a straight-line graph, a little faster on CPU than a loop run once.
    """
    model_ref = weakref.ref(model)  # the cache must not keep the model alive
    scalar = tf.TensorSpec([], tf.float32)
    signature = [
        tf.TensorSpec([None, *image_shape], tf.float32),  # images
        tf.TensorSpec([None], tf.int32),  # labels
        scalar,  # epsilon
        scalar,  # step_size
        tf.TensorSpec([], tf.int32),  # steps
        scalar,  # direction: +1 climbs the loss (untargeted), -1 descends it (targeted)
        tf.TensorSpec([], tf.bool),  # random_start
        tf.TensorSpec([2], tf.int64),  # seed
    ]

    @tf.function(input_signature=signature)
    def attack(images, labels, epsilon, step_size, steps, direction, random_start, seed):
        model = model_ref()
        if not iterative:
            return _step(model, images, images, labels, epsilon, step_size, direction, norm, probabilities)
        adversarial = tf.cond(
            random_start, lambda: _random_start(images, epsilon, norm, seed), lambda: tf.identity(images)
        )
        for _ in tf.range(steps):
            adversarial = _step(model, adversarial, images, labels, epsilon, step_size, direction, norm, probabilities)
        return adversarial

    return attack


def _compiled_attack(model, norm: str, probabilities: bool, image_shape: tuple, iterative: bool) -> Callable:
    """The compiled attack from the per-model cache, built on first use."""
    functions = _CACHE.setdefault(model, {})
    key = ("attack", norm, probabilities, image_shape, iterative)
    if key not in functions:
        functions[key] = _build_attack(model, norm, probabilities, image_shape, iterative)
    return functions[key]


def _run(model, images, labels, epsilon, step_size, steps, *, norm, targeted, from_logits, random_start, seed):
    """Check every argument, then run the compiled attack on one batch."""
    _check_model(model)
    epsilon = _check_number(epsilon, "epsilon")
    step_size = _check_number(step_size, "step_size")
    steps = _check_steps(steps)
    norm = _check_norm(norm)
    targeted = _check_flag(targeted, "targeted")
    from_logits = _check_flag(from_logits, "from_logits", allow_none=True)
    images = _check_images(images)
    classes, probabilities = _model_facts(model, images, from_logits)
    labels = _check_labels(labels, len(images), classes)
    iterative = steps > 1 or random_start
    attack = _compiled_attack(model, norm, probabilities, images.shape[1:], iterative)
    adversarial = attack(
        tf.constant(images),
        tf.constant(labels),
        tf.constant(epsilon, tf.float32),
        tf.constant(step_size, tf.float32),
        tf.constant(steps, tf.int32),
        tf.constant(-1.0 if targeted else 1.0, tf.float32),
        tf.constant(random_start),
        tf.constant([seed, 0], tf.int64),
    )
    return adversarial.numpy()


# ----------------------------------------------------------------------------
# The attacks.
# ----------------------------------------------------------------------------


def default_step_size(epsilon: float, steps: int) -> float:
    """``2.5 * epsilon / steps`` (Madry et al.): enough to cross the ball and still move within it."""
    return 2.5 * _check_number(epsilon, "epsilon") / _check_steps(steps)


def fgsm(model, images, labels, epsilon, *, targeted=False, norm="linf", from_logits=None) -> np.ndarray:
    """Fast Gradient Sign Method: one step of size ``epsilon`` along the loss gradient.

    Untargeted (``labels`` are the true classes) it climbs the loss; targeted
    (``labels`` are the classes to reach) it descends the loss of the target.
    Under ``norm="l2"`` the step is ``epsilon * grad / ||grad||_2`` per image.
    Returns float32 images in [0, 1], within ``epsilon`` of ``images``.
    """
    return _run(
        model, images, labels, epsilon, epsilon, 1,
        norm=norm, targeted=targeted, from_logits=from_logits, random_start=False, seed=0,
    )


def bim(model, images, labels, epsilon, step_size=None, steps=10, *, targeted=False, norm="linf", from_logits=None) -> np.ndarray:
    """Basic Iterative Method: ``steps`` FGSM steps of ``step_size``, each projected into the epsilon-ball.

    ``step_size`` defaults to :func:`default_step_size` (``2.5 * epsilon / steps``).
    """
    if step_size is None:
        step_size = default_step_size(epsilon, steps)
    return _run(
        model, images, labels, epsilon, step_size, steps,
        norm=norm, targeted=targeted, from_logits=from_logits, random_start=False, seed=0,
    )


def pgd(
    model, images, labels, epsilon, step_size=None, steps=10, *,
    norm="linf", random_start=True, seed=None, targeted=False, from_logits=None,
) -> np.ndarray:
    """Projected Gradient Descent: BIM from a uniformly random point of the epsilon-ball.

    The same ``seed`` gives the same result; ``seed=None`` draws one from NumPy's
    global generator (which :func:`helpers.setup` seeds). ``step_size`` defaults
    to :func:`default_step_size`.
    """
    if step_size is None:
        step_size = default_step_size(epsilon, steps)
    random_start = _check_flag(random_start, "random_start")
    seed = _check_seed(seed)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    return _run(
        model, images, labels, epsilon, step_size, steps,
        norm=norm, targeted=targeted, from_logits=from_logits, random_start=random_start, seed=seed,
    )


ATTACKS: dict[str, Callable] = {"fgsm": fgsm, "bim": bim, "pgd": pgd}


def get_attack(attack) -> Callable:
    """The attack function for a name in :data:`ATTACKS`, or ``attack`` itself when callable."""
    if callable(attack):
        return attack
    if isinstance(attack, str) and attack.strip().lower() in ATTACKS:
        return ATTACKS[attack.strip().lower()]
    raise ValueError(f"Unknown attack {attack!r}: attack must be one of {', '.join(map(repr, ATTACKS))} or a function.")


def _accepts(function: Callable, name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _check_batch_size(batch_size) -> int:
    """A whole number of images per batch, at least 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
    return int(batch_size)


def attack_batches(
    attack, model, images, labels, epsilon, *, batch_size=500, progress=True, description=None, **kwargs
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Attack ``images`` batch by batch, yielding ``(start, stop, adversarial_batch)``.

    ``attack`` is a name in :data:`ATTACKS` or a function ``attack(model, images,
    labels, epsilon, **kwargs)``. A ``seed`` in ``kwargs`` becomes ``seed + batch
    index``, so every batch gets its own random start and a rerun the same ones.
    """
    function = get_attack(attack)
    batch_size = _check_batch_size(batch_size)
    images = _check_images(images)
    labels = labels.numpy() if isinstance(labels, tf.Tensor) else np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"labels has {len(labels)} entries but images has {len(images)}: they must match one to one.")
    seed = kwargs.pop("seed", None) if _accepts(function, "seed") else None
    name = description or getattr(function, "__name__", "attack")
    with tqdm(total=len(images), unit="img", desc=name, disable=not progress, leave=False) as bar:
        for index, start in enumerate(range(0, len(images), batch_size)):
            stop = min(start + batch_size, len(images))
            extra = {"seed": seed + index} if seed is not None else {}
            adversarial = function(model, images[start:stop], labels[start:stop], epsilon, **kwargs, **extra)
            bar.update(stop - start)
            yield start, stop, np.asarray(adversarial, dtype=np.float32)


def attack_dataset(attack, model, images, labels, epsilon, *, batch_size=500, progress=True, **kwargs) -> np.ndarray:
    """Adversarial versions of all ``images`` (float32 NumPy), crafted in batches with a progress bar.

    Example: ``attack_dataset("pgd", model, x_test, y_test, 0.1, steps=20, seed=0)``.
    """
    output = None
    for start, stop, adversarial in attack_batches(
        attack, model, images, labels, epsilon, batch_size=batch_size, progress=progress, **kwargs
    ):
        if output is None:
            output = np.empty((len(images), *adversarial.shape[1:]), dtype=np.float32)
        output[start:stop] = adversarial
    return output


def input_gradient(model, images, labels, *, from_logits=None) -> np.ndarray:
    """Gradient of the summed cross-entropy with respect to the images (what FGSM follows)."""
    _check_model(model)
    from_logits = _check_flag(from_logits, "from_logits", allow_none=True)
    images = _check_images(images)
    classes, probabilities = _model_facts(model, images, from_logits)
    labels = _check_labels(labels, len(images), classes)
    functions = _CACHE.setdefault(model, {})
    key = ("gradient", probabilities, images.shape[1:])
    if key not in functions:
        functions[key] = _build_gradient(model, probabilities, images.shape[1:])
    return functions[key](tf.constant(images), tf.constant(labels)).numpy()


def _build_gradient(model, probabilities: bool, image_shape: tuple) -> Callable:
    """Compile the input gradient of the loss for one model and image shape."""
    model_ref = weakref.ref(model)

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None], tf.int32)])
    def gradient(images, labels):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            loss = _loss(model_ref(), images, labels, probabilities)
        return tape.gradient(loss, images)

    return gradient
