"""Argument checks for every public function of :mod:`helpers`.

Each check takes what a user passed and the argument's name, and either returns
the value in the form the code below needs (a float, an int, a float32 array of
images, int32 class indices...) or raises an error that names the argument,
says what is wrong and how to fix it. A public function calls them once, on
entry; the private functions below it trust what they are given.

* numbers: :func:`check_number` (finite, and finite in float32, where TensorFlow
  computes), :func:`check_whole_number`, :func:`check_steps`,
  :func:`check_batch_size`, :func:`check_seed`, :func:`check_flag`
* text and choices: :func:`check_text`, :func:`check_file_name`,
  :func:`check_names`, :func:`check_norm`, :func:`check_epsilons`
* models and data: :func:`check_model`, :func:`check_images`,
  :func:`check_model_inputs` (images a model can take, and its number of
  classes), :func:`check_labels`, :func:`check_attack_output`

TensorFlow is imported only by the checks that need it, so :mod:`helpers.data`
and :mod:`helpers.profiles` stay light. (The profile check lives in :mod:`helpers.profiles`:
this module imports no other module of the package.)
"""

from __future__ import annotations

import numbers
import re
import sys
import weakref
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "FLOAT32_MAX",
    "check_number",
    "check_whole_number",
    "check_steps",
    "check_batch_size",
    "check_seed",
    "check_flag",
    "check_text",
    "check_file_name",
    "check_names",
    "check_norm",
    "check_epsilons",
    "check_model",
    "check_images",
    "check_model_inputs",
    "check_labels",
]

_NORMS = ("linf", "l2")
_NORM_ALIASES = {"linf": "linf", "l-inf": "linf", "inf": "linf", "l_inf": "linf", "l2": "l2", "l-2": "l2"}
# The largest float32: TensorFlow computes in float32, where a larger number becomes inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Far beyond any useful attack (a PGD of 100,000 steps on one image of the series' CNN takes minutes on a
# CPU) and far below int32, which TensorFlow's loop counter is: 2**31 steps would wrap around to none.
_MAX_STEPS = 100_000
# NumPy's global seed (which helpers.setup sets through Keras) must be below 2**32.
_MAX_SEED = 2**32 - 1

# model -> {per-image input shape: number of classes}, found once by a forward pass on one image.
_CLASSES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _tensorflow():
    """TensorFlow, imported on first use (``import helpers`` must come first, and it does here)."""
    import tensorflow as tf

    return tf


def _as_array(value, name: str) -> np.ndarray:
    """``value`` as a NumPy array (TensorFlow tensors included), or an error naming ``name``."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"{name} must be an array of equal-sized entries; NumPy cannot make one of it ({error}).") from error


def _describe(value) -> str:
    """A short repr for messages (arrays are summarised)."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------
# Numbers.
# ----------------------------------------------------------------------------


def check_number(value, name: str, *, allow_none: bool = False, minimum: float | None = 0.0,
                 maximum: float | None = None, hint: str = "") -> float | None:
    """A finite Python float from ``value``, within ``[minimum, maximum]``.

    Accepts Python and NumPy numbers and 0-d arrays or tensors. Values beyond
    float32 (about 3.4e38) are refused: TensorFlow computes in float32, where
    they become infinite. ``hint`` is added to a range error (say why the bound).
    """
    if value is None and allow_none:
        return None
    tf = sys.modules.get("tensorflow")
    is_tensor = tf is not None and isinstance(value, (tf.Tensor, tf.Variable))
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (numbers.Real, np.ndarray)) or is_tensor):
        if isinstance(value, str):
            raise TypeError(f"{name} must be a number, got the string {value!r}: write it without quotes.")
        raise TypeError(f"{name} must be a number, got {_describe(value)} ({type(value).__name__}).")
    if not isinstance(value, numbers.Real):
        array = _as_array(value, name)
        if array.ndim != 0 or array.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a single number, got {_describe(array)} of dtype {array.dtype}.")
        value = array.item()
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}.")
    if abs(number) > FLOAT32_MAX:
        raise ValueError(
            f"{name} = {number:g} is beyond float32 (largest {FLOAT32_MAX:.3g}), in which TensorFlow computes: it "
            f"would become infinite. {hint}".rstrip()
        )
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {number:g}. {hint}".rstrip())
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {number:g}. {hint}".rstrip())
    return number


def check_whole_number(value, name: str, *, minimum: int | None = 1, maximum: int | None = None,
                       allow_none: bool = False, hint: str = "") -> int | None:
    """A Python int from an integer ``value`` (not a bool, not a float such as 100.0)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        fix = f": write {int(value)}" if isinstance(value, float) and value.is_integer() else ""
        kind = "a whole number (int)" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {kind}, got {_describe(value)} ({type(value).__name__}){fix}.")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:,}, got {number:,}. {hint}".rstrip())
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum:,}, got {number:,}. {hint}".rstrip())
    return number


def check_steps(steps, name: str = "steps") -> int:
    """A whole number of attack (or NSL PGD) iterations, from 1 to :data:`_MAX_STEPS`."""
    return check_whole_number(
        steps, name, minimum=1, maximum=_MAX_STEPS,
        hint=f"More than {_MAX_STEPS:,} iterations is no longer an attack one can run; TensorFlow's loop counter "
        "is int32 and would wrap around.",
    )


def check_batch_size(batch_size, name: str = "batch_size") -> int:
    """A whole number of images per batch, at least 1."""
    return check_whole_number(batch_size, name, minimum=1)


def check_seed(seed, name: str = "seed", *, allow_none: bool = True) -> int | None:
    """None (where allowed) or an integer from 0 to :data:`_MAX_SEED` (2**32 - 1)."""
    if seed is None and allow_none:
        return None
    allowed = f"{'None or ' if allow_none else ''}an integer from 0 to {_MAX_SEED:,} (2**32 - 1)"
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be {allowed}, got {_describe(seed)} ({type(seed).__name__}).")
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"{name} must be {allowed}, got {seed!r}.")
    return int(seed)


def check_flag(value, name: str, *, allow_none: bool = False) -> bool | None:
    """A bool (or None where allowed): catches ``targeted='yes'`` or ``from_logits=1``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name} must be {allowed}, got {_describe(value)}.")
    return bool(value)


# ----------------------------------------------------------------------------
# Text and choices.
# ----------------------------------------------------------------------------


def check_text(value, name: str, *, allow_none: bool = False) -> str | None:
    """A non-empty string (or None where allowed)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        allowed = "a string" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {allowed}, got {_describe(value)} ({type(value).__name__}).")
    if not value.strip():
        raise ValueError(f"{name} must not be empty.")
    return value


def check_file_name(value, name: str = "name") -> str:
    """A plain file name stem: letters, digits, ``_``, ``-`` and ``.``; no folders."""
    check_text(value, name)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value):
        raise ValueError(
            f"{name} must be a plain name made of letters, digits, '_', '-' and '.', such as 'cnn'; got {value!r}."
        )
    return value


def check_names(value, name: str, known: Iterable[str] | None = None) -> tuple[str, ...]:
    """A tuple of names from a list of strings or one string; each must be in ``known`` when given."""
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of names such as ['cnn'], got {_describe(value)}.")
    names = tuple(value)
    for item in names:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold names (strings), found {_describe(item)}.")
    if known is not None:
        known = list(known)
        unknown = [item for item in names if item not in known]
        if unknown:
            raise ValueError(
                f"{name} names {', '.join(map(repr, unknown))}, not among {', '.join(map(repr, known)) or 'nothing'}. "
                "Check the spelling."
            )
    return names


def check_norm(norm, name: str = "norm") -> str:
    """'linf' or 'l2' (also accepts np.inf, 2, 'inf', 'L2', 'L-inf')."""
    if isinstance(norm, (numbers.Real, np.number)) and not isinstance(norm, (bool, np.bool_)):
        if norm == float("inf"):
            return "linf"
        if norm == 2:
            return "l2"
    key = norm.strip().lower() if isinstance(norm, str) else None
    if key not in _NORM_ALIASES:
        raise ValueError(f"Unknown norm {norm!r}: {name} must be one of {', '.join(map(repr, _NORMS))}.")
    return _NORM_ALIASES[key]


def check_epsilons(epsilons, name: str = "epsilons") -> list[float]:
    """One epsilon or several, each a size >= 0, returned in increasing order without repeats."""
    if isinstance(epsilons, str):
        raise TypeError(f"{name} must be numbers such as [0.0, 0.05, 0.1], got the string {epsilons!r}.")
    array = None if isinstance(epsilons, (list, tuple)) else _as_array(epsilons, name)
    if array is not None and array.ndim == 0:
        items = [epsilons]
    elif array is not None and array.ndim == 1:
        items = list(array)
    elif array is not None:
        raise ValueError(f"{name} must be one number or a flat list of numbers, got shape {array.shape}.")
    else:
        items = list(epsilons)
    values = sorted({check_number(item, name, hint="Each epsilon is the size of a perturbation.") for item in items})
    if not values:
        raise ValueError(f"{name} is empty: give at least one epsilon (include 0 for the clean-accuracy check).")
    return values


# ----------------------------------------------------------------------------
# Models and data.
# ----------------------------------------------------------------------------


def check_model(model, name: str = "model") -> None:
    """A tf.keras (Keras 2) model, and not an NSL wrapper (attack or evaluate its ``base_model``)."""
    tf = _tensorflow()
    if any(cls.__name__ == "AdversarialRegularization" for cls in type(model).__mro__):
        raise TypeError(
            f"{name} is an NSL AdversarialRegularization wrapper, which takes a dict of features and labels. "
            f"Attack or evaluate the model inside it: pass {name}.base_model."
        )
    if not isinstance(model, tf.keras.Model):
        raise TypeError(
            f"{name} must be a tf.keras model (Keras 2, `import helpers` first), got {type(model).__name__}."
        )


def check_images(images, name: str = "images") -> np.ndarray:
    """float32 images of shape (N, ...) with every value in [0, 1]."""
    array = _as_array(images, name)
    if array.dtype == np.uint8:
        raise ValueError(
            f"{name} are uint8 pixels (0-255); models and attacks here take floats in [0, 1]. Divide by 255 "
            "(helpers.data.to_model_input does it)."
        )
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array of pixels, got dtype {array.dtype}.")
    if array.ndim < 2:
        raise ValueError(f"{name} must be a batch of shape (N, height, width[, channels]), got shape {array.shape}.")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: there is nothing to work on.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values.")
    lowest, highest = float(array.min()), float(array.max())
    if lowest < 0.0 or highest > 1.0:
        if lowest >= 0.0 and highest <= 255.0:
            hint = "They look like 0-255 pixels: divide by 255."
        else:
            hint = (
                "They look preprocessed (e.g. centred or scaled to [-1, 1]): give pixels in [0, 1] "
                "and put the preprocessing inside the model."
            )
        raise ValueError(f"{name} must be in [0, 1], found values from {lowest:g} to {highest:g}. {hint}")
    return array.astype(np.float32, copy=False)


def _input_shape(model, name: str) -> tuple | None:
    """The per-image input shape a model declares, or None when it declares none (subclassed, unbuilt)."""
    try:
        shape = model.input_shape
    except (AttributeError, RuntimeError, ValueError):
        return None
    if isinstance(shape, list):
        raise ValueError(f"{name} takes {len(shape)} inputs; helpers work with models that take one batch of images.")
    return tuple(shape[1:]) if shape is not None else None


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


def _shape_text(shape: Sequence) -> str:
    return "(N, " + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def _count_classes(model, images: np.ndarray, model_name: str, images_name: str) -> int:
    """The number of classes ``model`` scores, from one image; an error naming what does not fit."""
    expected = _input_shape(model, model_name)
    shape = tuple(images.shape[1:])
    if expected is not None and not _fits(shape, expected):
        if _fits(tuple(images.shape), expected):
            fix = f"It looks like a single image: add a batch axis, {images_name}[np.newaxis]."
        elif expected and expected[-1] == 1 and _fits(shape + (1,), expected):
            fix = (f"Add the channel axis with {images_name}[..., np.newaxis] (helpers.data.to_model_input does it "
                   "for uint8 pixels).")
        else:
            fix = f"Give {images_name} of the shape the model was built for."
        raise ValueError(
            f"{images_name} have shape {tuple(images.shape)}, but {model_name} takes images of shape "
            f"{_shape_text(expected)}. {fix}"
        )
    found = _CLASSES.setdefault(model, {})
    if shape not in found:
        try:
            outputs = model(images[:1], training=False)
        except Exception as error:  # Keras raises ValueError, TensorFlow InvalidArgumentError, ...
            first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            hint = (f" If {images_name} is a single image, add a batch axis: {images_name}[np.newaxis]."
                    if images.ndim <= 3 else "")
            raise ValueError(
                f"{model_name} cannot take {images_name} of shape {tuple(images.shape)}: {first}.{hint}"
            ) from error
        if isinstance(outputs, (list, tuple, dict)):
            raise ValueError(f"{model_name} must have a single output (one score per class); it returns several.")
        outputs_shape = tuple(outputs.shape)
        if len(outputs_shape) != 2 or outputs_shape[1] < 2:
            raise ValueError(
                f"{model_name} must output one score per class, shape (N, classes) with classes >= 2; "
                f"got shape {outputs_shape}."
            )
        found[shape] = int(outputs_shape[1])
    return found[shape]


def check_model_inputs(model, images, *, model_name: str = "model", images_name: str = "images") -> tuple[np.ndarray, int]:
    """``(images, classes)``: images checked (:func:`check_images`) and fitting ``model``, and its class count.

    The shape is compared with the model's declared input; then the model is run
    on one image (once per model and image shape) to check that it gives one
    score per class and to count the classes.
    """
    check_model(model, model_name)
    images = check_images(images, images_name)
    return images, _count_classes(model, images, model_name, images_name)


def check_labels(labels, count: int, classes: int, name: str = "labels") -> np.ndarray:
    """int32 class indices of shape ``(count,)``, from class indices or one-hot rows of width ``classes``.

    Anything else raises ``ValueError`` naming ``name``: another shape (a column
    ``(N, 1)`` included), a length other than ``count``, values that are not whole
    numbers in ``0..classes-1``, rows that are not one-hot, or non-numbers.
    """
    array = _as_array(labels, name)
    forms = f"class indices of shape ({count},) with values 0 to {classes - 1}, or one-hot rows of shape ({count}, {classes})"
    if array.dtype.kind not in "iuf":
        kind = {"b": "booleans", "U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}.get(
            array.dtype.kind, f"dtype {array.dtype}"
        )
        fix = " Map class names to indices first (CLASS_NAMES.index(name))." if array.dtype.kind in "US" else ""
        raise ValueError(f"{name} must be {forms}; got {kind}.{fix}")
    if array.ndim == 0:
        raise ValueError(f"{name} is a single value; give one label per image: {forms}.")
    if array.ndim == 2 and array.shape[1] == 1 and classes != 1:
        raise ValueError(
            f"{name} has shape {array.shape}, a column of labels: flatten it with {name}.ravel() to get shape "
            f"({array.shape[0]},). (One-hot rows would have {classes} columns, one per class.)"
        )
    if array.ndim == 2 and array.shape[1] != classes:
        raise ValueError(
            f"{name} has shape {array.shape}: one-hot rows of width {array.shape[1]}, but the model has {classes} "
            f"classes. Give {forms}."
        )
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be {forms}; got shape {array.shape}.")
    if len(array) != count:
        raise ValueError(f"{name} has {len(array)} entries but images has {count}: they must match one to one.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values; give {forms}.")
    if array.ndim == 2:
        is_one_hot = np.isin(array, (0, 1)).all(axis=1) & (array.sum(axis=1) == 1)
        if not is_one_hot.all():
            row = int(np.argmin(is_one_hot))
            raise ValueError(
                f"{name} row {row} is not one-hot ({_describe(array[row])}): a one-hot row holds a single 1 and "
                f"zeros. For scores or soft labels, pass {name}.argmax(axis=1)."
            )
        return array.argmax(axis=1).astype(np.int32)
    if not (np.mod(array, 1) == 0).all():
        raise ValueError(f"{name} must be whole class indices, found {_describe(array[np.mod(array, 1) != 0][0])}.")
    if array.min() < 0 or array.max() >= classes:
        raise ValueError(
            f"{name} must be class indices in 0..{classes - 1} (the model has {classes} classes), "
            f"found values from {array.min():g} to {array.max():g}."
        )
    return array.astype(np.int32)
