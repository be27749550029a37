"""What a classifier outputs, probabilities or logits, and the logits behind its softmax.

The loss an attack climbs is the cross-entropy of the model's output, so it
must know what the output is (:func:`output_kind`):

1. ``from_logits=True`` or ``False``, when given, decides.
2. Otherwise, for a functional or ``Sequential`` model, the layer that produces
   its output decides: a softmax activation (``Dense(..., activation="softmax")``,
   ``Activation("softmax")``, ``Softmax()``, also inside a nested model) means
   probabilities; a linear one means logits.
3. Otherwise (any other output layer, or a subclassed model, whose ``layers``
   are listed in the order they were created and say nothing about what ``call``
   returns) the outputs on the images decide: rows that are non-negative and sum
   to 1 are probabilities.

The answer is worked out on a model's first attack and cached per model.

For a model that outputs probabilities, the compiled attack (:mod:`helpers.attacks`) follows the graph
back from the output to the softmax (through pass-through ops such as an
inactive Dropout after it) and takes the cross-entropy of its input
logits. That is exact and does not saturate: with a confident model, a softmax
output rounds to exactly 1.0 in float32 and the usual clipped ``-log(p)`` has a
zero gradient there, which would leave FGSM with nothing to follow. Only when no
softmax can be found (a probability model built some other way) does the loss
fall back to ``-log(max(p, 1e-30))``.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from helpers import checks

__all__ = ["output_kind", "gives_probabilities", "softmax_input"]

# How far from 1 a row of probabilities may sum (float32 rounding over many classes).
_SUM_TOLERANCE = 1e-3

# model -> {"probabilities": bool}. Weak keys: a deleted model takes its facts with it.
_FACTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _output_layer(model):
    """The layer that produces the model's output, or None when the model does not say.

    A functional model knows it (its output tensor's history); a ``Sequential``
    model's output comes from its last layer. A subclassed model's ``layers``
    are in the order they were created, which says nothing about what ``call``
    returns, so it gives None. Nested models are followed inside.
    """
    layer = None
    outputs = getattr(model, "outputs", None) if getattr(model, "_is_graph_network", False) else None
    if outputs and len(outputs) == 1 and hasattr(outputs[0], "_keras_history"):
        layer = outputs[0]._keras_history.layer
    elif isinstance(model, tf.keras.Sequential) and model.layers:
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


def _output_kind(model, images: np.ndarray | None, from_logits: bool | None) -> tuple[str, str]:
    """(kind, reason) for checked arguments; see :func:`output_kind`."""
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
            "The model does not say whether it gives probabilities or logits (its output layer has no softmax or "
            "linear activation, or it is a subclassed model); pass images to check its outputs, or say it with "
            "from_logits=True/False."
        )
    outputs = np.asarray(model(images[:64], training=False), dtype=np.float32)
    if _looks_like_probabilities(outputs):
        return "probabilities", "outputs are non-negative and each row sums to 1"
    return "logits", "outputs are not rows of probabilities (negative or not summing to 1)"


def output_kind(model, images=None, *, from_logits: bool | None = None) -> tuple[str, str]:
    """Whether ``model`` outputs ``"probabilities"`` or ``"logits"``, and how that is known.

    Returns ``(kind, reason)``. ``from_logits`` overrides; otherwise the layer
    producing the output of a functional or Sequential model decides (softmax:
    probabilities, linear: logits); otherwise the outputs on ``images`` (needed
    then) decide: rows that are non-negative and sum to 1 are probabilities. See
    the module docstring.
    """
    checks.check_model(model)
    from_logits = checks.check_flag(from_logits, "from_logits", allow_none=True)
    if images is not None:
        images, _ = checks.check_model_inputs(model, images)
    return _output_kind(model, images, from_logits)


def gives_probabilities(model, images: np.ndarray, from_logits: bool | None) -> bool:
    """Whether the model outputs probabilities (``from_logits`` wins), cached per model."""
    if from_logits is not None:
        return not from_logits
    facts = _FACTS.setdefault(model, {})
    if "probabilities" not in facts:
        facts["probabilities"] = _output_kind(model, images, None)[0] == "probabilities"
    return facts["probabilities"]


def softmax_input(tensor: tf.Tensor) -> tf.Tensor | None:
    """The logits a graph tensor was computed from by a softmax, through Identity ops."""
    while tensor.op.type == "Identity" and len(tensor.op.inputs) == 1:
        tensor = tensor.op.inputs[0]
    if tensor.op.type == "Softmax":
        return tensor.op.inputs[0]
    return None
