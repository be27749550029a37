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

**The lesson's code.** Notebook 03 writes FGSM and PGD by hand in cells tagged
``export``; :mod:`helpers.lessons` is generated from them. Under L-inf the compiled
function runs that code itself: :func:`helpers.lessons.pgd` (a random start, FGSM
steps of :func:`helpers.lessons.fgsm`, each projected back by
:func:`helpers.lessons.project`), without the random start for BIM and as one step
from the images for FGSM. This module gives it the gradient to follow (below),
turned around for a targeted attack. Under L2 the same loop runs with three pieces
of its own: a step along the gradient divided by its L2 length, a projection that
rescales, and a random start uniform in the L2 ball.

**Probabilities or logits.** The loss an attack climbs is the cross-entropy of
the model's output, so it must know what the output is, and for a model that
outputs probabilities it takes the cross-entropy of the logits behind the
softmax: :mod:`helpers.model_outputs` works both out.

Iterative attacks default to ``step_size = 2.5 * epsilon / steps`` (Madry et al.).
To attack an NSL ``AdversarialRegularization`` model, attack its ``base_model``.

Every public function checks its arguments once, on entry, with
:mod:`helpers.checks`; the functions below them take checked values.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers import checks
from helpers import lessons as _lessons
from helpers.model_outputs import gives_probabilities, output_kind, softmax_input

__all__ = [
    "ATTACKS",
    "fgsm",
    "bim",
    "pgd",
    "attack_dataset",
    "attack_batches",
    "input_gradient",
    "output_kind",
    "default_step_size",
    "attack_name",
    "check_data",
]

_SMALLEST_PROBABILITY = 1e-30

# model -> {key: compiled function}. Weak keys: a model that is deleted takes
# its compiled functions with it.
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------
# The compiled attack.
# ----------------------------------------------------------------------------


def _loss(model, images, labels, probabilities: bool) -> tf.Tensor:
    """Summed cross-entropy of the model's outputs against ``labels`` (inside a tf.function)."""
    outputs = model(images, training=False)
    logits = softmax_input(outputs) if probabilities else outputs
    if logits is not None:
        logits = tf.cast(logits, tf.float32)
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    chosen = tf.gather(tf.cast(outputs, tf.float32), labels, axis=1, batch_dims=1)
    return -tf.reduce_sum(tf.math.log(tf.maximum(chosen, _SMALLEST_PROBABILITY)))


def _gradient(model, images, labels, probabilities: bool) -> tf.Tensor:
    """The gradient of :func:`_loss` with respect to the images (inside a tf.function)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(images)
        loss = _loss(model, images, labels, probabilities)
    return tape.gradient(loss, images)


# Under L2: the lesson's loop with a step, a projection and a random start of the L2 norm.


def _per_image_l2(tensor: tf.Tensor) -> tf.Tensor:
    """The L2 norm of each image, shaped to broadcast against the batch."""
    axes = list(range(1, tensor.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(tensor), axis=axes, keepdims=True))


def _l2_project(adversarial, images, epsilon) -> tf.Tensor:
    """Back into the L2 epsilon-ball around ``images`` (rescaling the perturbation), then into [0, 1].

    Clipping to [0, 1] after the projection keeps the result in the ball: both
    the original and the clipped pixel lie in [0, 1], so clipping moves each
    pixel towards the original and can only shrink the perturbation.
    """
    delta = adversarial - images
    scale = tf.minimum(1.0, epsilon / tf.maximum(_per_image_l2(delta), 1e-12))
    return tf.clip_by_value(images + delta * scale, 0.0, 1.0)


def _l2_random_point(images, epsilon, seed) -> tf.Tensor:
    """A uniformly random point of the L2 epsilon-ball around each image, clipped to [0, 1]."""
    shape = tf.shape(images)
    # Uniform in the L2 ball: a uniform direction times a radius eps * u^(1/d).
    direction = tf.random.stateless_normal(shape, seed)
    direction = direction / tf.maximum(_per_image_l2(direction), 1e-12)
    dims = tf.cast(tf.reduce_prod(shape[1:]), tf.float32)
    radius_shape = tf.concat([shape[:1], tf.ones_like(shape[1:])], axis=0)
    uniform = tf.random.stateless_uniform(radius_shape, seed + tf.constant([0, 1], tf.int64))
    noise = direction * epsilon * tf.pow(uniform, 1.0 / dims)
    return tf.clip_by_value(images + noise, 0.0, 1.0)


def _l2_pgd(model, images, labels, epsilon, step_size, steps, seed, random_start, gradient) -> tf.Tensor:
    """:func:`helpers.lessons.pgd` under the L2 norm (same arguments, same loop)."""
    adversarial = _l2_random_point(images, epsilon, seed) if random_start else images
    for _ in range(steps):
        slope = gradient(model, adversarial, labels)
        unit = slope / tf.maximum(_per_image_l2(slope), 1e-12)  # zero where the gradient is zero
        adversarial = _l2_project(adversarial + step_size * unit, images, epsilon)
    return adversarial


def _build_attack(model, norm: str, probabilities: bool, image_shape: tuple, iterative: bool,
                  random_start: bool) -> Callable:
    """Compile the attack for one model, norm, image shape and kind of start.

    It runs the lesson's PGD (:func:`helpers.lessons.pgd`; under L2, :func:`_l2_pgd`) with
    this module's gradient: the cross-entropy of the logits, turned around for a
    targeted attack. ``iterative=False`` is a single step from the images themselves
    (FGSM): ``steps`` is then the number 1, so the loop unrolls into a straight-line
    graph, a little faster on CPU than a loop run once.
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
        tf.TensorSpec([2], tf.int64),  # seed
    ]

    @tf.function(input_signature=signature)
    def attack(images, labels, epsilon, step_size, steps, direction, seed):
        def gradient(model, adversarial, labels):  # what the lesson's steps follow
            return direction * _gradient(model, adversarial, labels, probabilities)

        pgd = _l2_pgd if norm == "l2" else _lessons.pgd  # looked up when traced
        return pgd(model_ref(), images, labels, epsilon, step_size, steps if iterative else 1, seed,
                   random_start, gradient)

    return attack


def _compiled_attack(model, norm: str, probabilities: bool, image_shape: tuple, iterative: bool,
                     random_start: bool) -> Callable:
    """The compiled attack from the per-model cache, built on first use."""
    functions = _CACHE.setdefault(model, {})
    key = ("attack", norm, probabilities, image_shape, iterative, random_start)
    if key not in functions:
        functions[key] = _build_attack(model, norm, probabilities, image_shape, iterative, random_start)
    return functions[key]


@dataclass(frozen=True)
class _Settings:
    """An attack's checked numbers and options (see :func:`_check_settings`)."""

    epsilon: float
    step_size: float
    steps: int
    norm: str
    targeted: bool
    from_logits: bool | None
    random_start: bool
    seed: int  # of the first batch; batch i of a dataset uses seed + i


def _check_settings(
    name: str, epsilon, step_size=None, steps=1, *,
    norm="linf", targeted=False, from_logits=None, random_start=False, seed=None,
) -> _Settings:
    """Check an attack's options once; FGSM is one step of size epsilon, BIM and PGD default their step size."""
    epsilon = checks.check_number(
        epsilon, "epsilon", hint="It is the size of a perturbation, not a direction; an L-inf epsilon of 1 already "
        "covers the whole pixel range [0, 1].",
    )
    if name == "fgsm":
        step_size, steps = epsilon, 1
    else:
        steps = checks.check_steps(steps)
        step_size = _default_step_size(epsilon, steps) if step_size is None else checks.check_number(
            step_size, "step_size", hint="It is the size of a step, not a direction.",
        )
    random_start = checks.check_flag(random_start, "random_start")
    seed = checks.check_seed(seed)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1)) if random_start else 0
    return _Settings(
        epsilon=epsilon, step_size=step_size, steps=steps, norm=checks.check_norm(norm),
        targeted=checks.check_flag(targeted, "targeted"),
        from_logits=checks.check_flag(from_logits, "from_logits", allow_none=True),
        random_start=random_start, seed=seed,
    )


def _default_step_size(epsilon: float, steps: int) -> float:
    step_size = 2.5 * epsilon / steps
    if step_size > checks.FLOAT32_MAX:
        raise ValueError(
            f"epsilon = {epsilon:g} is too large: the default step_size, 2.5 * epsilon / steps, is beyond float32. "
            "An L-inf epsilon of 1 already covers the whole pixel range [0, 1]."
        )
    return step_size


def check_data(models: Mapping[str, object], images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Images that every model takes, and one class index per image that fits each of them.

    ``models`` maps the name an error message gives a model (``"model"``,
    ``"source_model"``, ...) to the model; None entries are skipped. Labels may be
    class indices or one-hot rows.
    """
    for name, model in models.items():
        if model is not None:
            images, classes = checks.check_model_inputs(model, images, model_name=name)
            indices = checks.check_labels(labels, len(images), classes)
    return images, indices


def _run(model, images: np.ndarray, labels: np.ndarray, settings: _Settings, batch_index: int = 0) -> np.ndarray:
    """Run the compiled attack on one batch of checked images and labels."""
    probabilities = gives_probabilities(model, images, settings.from_logits)
    iterative = settings.steps > 1 or settings.random_start
    attack = _compiled_attack(model, settings.norm, probabilities, images.shape[1:], iterative, settings.random_start)
    adversarial = attack(
        tf.constant(images),
        tf.constant(labels),
        tf.constant(settings.epsilon, tf.float32),
        tf.constant(settings.step_size, tf.float32),
        tf.constant(settings.steps, tf.int32),
        tf.constant(-1.0 if settings.targeted else 1.0, tf.float32),
        tf.constant([settings.seed + batch_index, 0], tf.int64),
    )
    return adversarial.numpy()


# ----------------------------------------------------------------------------
# The attacks.
# ----------------------------------------------------------------------------


def default_step_size(epsilon: float, steps: int) -> float:
    """``2.5 * epsilon / steps`` (Madry et al.): enough to cross the ball and still move within it."""
    return _default_step_size(checks.check_number(epsilon, "epsilon"), checks.check_steps(steps))


def fgsm(model, images, labels, epsilon, *, targeted=False, norm="linf", from_logits=None) -> np.ndarray:
    """Fast Gradient Sign Method: one step of size ``epsilon`` along the loss gradient.

    Untargeted (``labels`` are the true classes) it climbs the loss; targeted
    (``labels`` are the classes to reach) it descends the loss of the target.
    Under ``norm="l2"`` the step is ``epsilon * grad / ||grad||_2`` per image.
    Returns float32 images in [0, 1], within ``epsilon`` of ``images``.
    """
    settings = _check_settings("fgsm", epsilon, norm=norm, targeted=targeted, from_logits=from_logits)
    images, labels = check_data({"model": model}, images, labels)
    return _run(model, images, labels, settings)


def bim(model, images, labels, epsilon, step_size=None, steps=10, *, targeted=False, norm="linf", from_logits=None) -> np.ndarray:
    """Basic Iterative Method: ``steps`` FGSM steps of ``step_size``, each projected into the epsilon-ball.

    ``step_size`` defaults to :func:`default_step_size` (``2.5 * epsilon / steps``).
    """
    settings = _check_settings(
        "bim", epsilon, step_size, steps, norm=norm, targeted=targeted, from_logits=from_logits,
    )
    images, labels = check_data({"model": model}, images, labels)
    return _run(model, images, labels, settings)


def pgd(
    model, images, labels, epsilon, step_size=None, steps=10, *,
    norm="linf", random_start=True, seed=None, targeted=False, from_logits=None,
) -> np.ndarray:
    """Projected Gradient Descent: BIM from a uniformly random point of the epsilon-ball.

    The same ``seed`` gives the same result; ``seed=None`` draws one from NumPy's
    global generator (which :func:`helpers.setup` seeds). ``step_size`` defaults
    to :func:`default_step_size`.
    """
    settings = _check_settings(
        "pgd", epsilon, step_size, steps, norm=norm, targeted=targeted, from_logits=from_logits,
        random_start=random_start, seed=seed,
    )
    images, labels = check_data({"model": model}, images, labels)
    return _run(model, images, labels, settings)


ATTACKS: dict[str, Callable] = {"fgsm": fgsm, "bim": bim, "pgd": pgd}


def attack_name(attack) -> str:
    """The name in :data:`ATTACKS` that ``attack`` spells (``" FGSM"`` is ``"fgsm"``); any other value is an error."""
    name = attack.strip().lower() if isinstance(attack, str) else None
    if name not in ATTACKS:
        raise ValueError(f"Unknown attack {attack!r}: attack must be one of {', '.join(map(repr, ATTACKS))}.")
    return name


def _prepare(name: str, epsilon, options: dict) -> Callable:
    """Check an attack's options once, against its signature; return ``run(model, images, labels, batch_index)``."""
    function = ATTACKS[name]
    try:
        bound = inspect.signature(function).bind(None, None, None, epsilon, **options)
    except TypeError as error:
        raise TypeError(f"{name} does not take these options ({error}). "
                        f"Its signature: {inspect.signature(function)}") from error
    bound.apply_defaults()
    arguments = {key: value for key, value in bound.arguments.items() if key not in ("model", "images", "labels")}
    settings = _check_settings(name, **arguments)
    return lambda model, images, labels, index: _run(model, images, labels, settings, index)


def _batches(run: Callable, model, images: np.ndarray, labels: np.ndarray, batch_size: int, progress: bool,
             description: str) -> Iterator[tuple[int, int, np.ndarray]]:
    with tqdm(total=len(images), unit="img", desc=description, disable=not progress, leave=False) as bar:
        for index, start in enumerate(range(0, len(images), batch_size)):
            stop = min(start + batch_size, len(images))
            adversarial = run(model, images[start:stop], labels[start:stop], index)
            bar.update(stop - start)
            yield start, stop, adversarial


def _checked_batches(attack, model, images, labels, epsilon, batch_size, progress, description, options):
    """(checked images, generator of batches): every argument checked before the first batch."""
    name = attack_name(attack)
    run = _prepare(name, epsilon, options)
    images, labels = check_data({"model": model}, images, labels)
    batch_size = checks.check_batch_size(batch_size)
    progress = checks.check_flag(progress, "progress")
    description = checks.check_text(description, "description", allow_none=True) or name
    return images, _batches(run, model, images, labels, batch_size, progress, description)


def attack_batches(
    attack, model, images, labels, epsilon, *, batch_size=500, progress=True, description=None, **options
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Attack ``images`` batch by batch, yielding ``(start, stop, adversarial_batch)``.

    ``attack`` is a name in :data:`ATTACKS`; ``options`` are its keyword
    options. A ``seed`` in ``options`` becomes ``seed + batch index``, so every
    batch gets its own random start and a rerun the same ones. Every argument is
    checked when this is called, before the first batch.
    """
    return _checked_batches(attack, model, images, labels, epsilon, batch_size, progress, description, options)[1]


def attack_dataset(attack, model, images, labels, epsilon, *, batch_size=500, progress=True, **options) -> np.ndarray:
    """Adversarial versions of all ``images`` (float32 NumPy), crafted in batches with a progress bar.

    Example: ``attack_dataset("pgd", model, x_test, y_test, 0.1, steps=20, seed=0)``.
    """
    images, batches = _checked_batches(attack, model, images, labels, epsilon, batch_size, progress, None, options)
    output = np.empty(images.shape, dtype=np.float32)
    for start, stop, adversarial in batches:
        output[start:stop] = adversarial
    return output


def input_gradient(model, images, labels, *, from_logits=None) -> np.ndarray:
    """Gradient of the summed cross-entropy with respect to the images (what FGSM follows)."""
    from_logits = checks.check_flag(from_logits, "from_logits", allow_none=True)
    images, labels = check_data({"model": model}, images, labels)
    probabilities = gives_probabilities(model, images, from_logits)
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
        return _gradient(model_ref(), images, labels, probabilities)

    return gradient
