"""Adversarial regularization with Neural Structured Learning (NSL), for notebook 04.

NSL wraps a base Keras model in ``nsl.keras.AdversarialRegularization``: every
training batch is perturbed adversarially and the loss becomes
``supervised_loss + multiplier * adversarial_loss``. This module holds the
plumbing around the recipe that notebook 04 teaches: the feature/label dict NSL
expects, the argument checks of the config, and one training function used for
both the main model and the trade-off sweep. The recipe itself, the config and
the wrapping, is written once, in notebook 04's cells tagged ``export``
(:func:`helpers.lessons.adversarial_config`, :func:`helpers.lessons.adversarial_model`),
and this module runs it; NSL is imported there, only when a config or a wrapper is built.

Facts about NSL 1.4 on TensorFlow 2.21 that shape this code (notebook 04 shows each):
the wrapper takes ``adv_config=`` by keyword (the second positional argument is
``label_keys``); the feature key must equal the base model's input name; and
``adv_model.summary()`` fails until the wrapper has been called, so summarise
``adv_model.base_model`` instead.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers import lessons as _lessons
from helpers.models import INPUT_NAME

__all__ = ["LABEL_KEY", "nsl_inputs", "adv_reg_config", "wrap", "train_adv_regularized"]

LABEL_KEY = _lessons.LABEL_KEY  # "label": where NSL finds the labels in its input dict (notebook 04)


def nsl_inputs(model: tf.keras.Model, images: np.ndarray, labels: np.ndarray) -> dict:
    """The ``{input name: images, 'label': labels}`` dict NSL trains and evaluates on.

    ``model`` is the base model (not the NSL wrapper); ``images`` are floats in
    [0, 1] it can take, as the attacks want them (NSL clips its perturbations to
    [0, 1]); ``labels`` are class indices or one-hot rows, given to NSL as int32
    class indices.
    """
    images, classes = checks.check_model_inputs(model, images)
    labels = checks.check_labels(labels, len(images), classes)
    return {model.input_names[0]: images, LABEL_KEY: labels}


def adv_reg_config(
    multiplier: float, epsilon: float, pgd_iterations: int = 1, pgd_step: float | None = None,
    feature_key: str = INPUT_NAME,
):
    """An NSL config for L-inf perturbations of images in [0, 1]: notebook 04's recipe, with its arguments checked.

    ``pgd_iterations=1`` is NSL's one-step (FGSM-like) neighbour: every pixel
    moves by ``epsilon``. ``pgd_iterations > 1`` trains on PGD neighbours:
    ``pgd_iterations`` steps of ``pgd_step``, each projected into the L-inf ball
    of radius ``epsilon``. ``pgd_iterations * pgd_step`` must reach ``epsilon``,
    or the neighbours never touch the edge of the ball they are meant to fill.

    The clip range is given as ``{feature_key: value}``: NSL's inputs are a dict,
    and a plain number would be matched to no feature, leaving perturbed pixels
    outside [0, 1] without a word. NSL's ``random_init=True`` fails inside
    ``fit`` on TensorFlow 2.21 ("Cannot convert a partially known TensorShape"),
    so iterations start from the clean image. The config is built by
    :func:`helpers.lessons.adversarial_config`, as notebook 04 writes it.
    """
    multiplier = checks.check_number(multiplier, "multiplier", hint="It weighs the adversarial loss.")
    epsilon = checks.check_number(
        epsilon, "epsilon", maximum=1.0, hint="It is an L-inf size in pixels in [0, 1]; 1 already covers them all.",
    )
    pgd_iterations = checks.check_steps(pgd_iterations, "pgd_iterations")
    feature_key = checks.check_text(feature_key, "feature_key")
    if pgd_step is not None:
        pgd_step = checks.check_number(pgd_step, "pgd_step", maximum=1.0, hint="It is the L-inf size of each PGD step.")
    iterative = pgd_iterations > 1
    if iterative:
        if pgd_step is None or pgd_step <= 0:
            raise ValueError(f"pgd_iterations={pgd_iterations} needs pgd_step > 0 (the size of each PGD step), got {pgd_step}.")
        if pgd_iterations * pgd_step < epsilon - 1e-9:
            raise ValueError(
                f"{pgd_iterations} steps of {pgd_step:g} reach at most {pgd_iterations * pgd_step:g} from the clean image, "
                f"less than epsilon={epsilon:g}: raise pgd_step to at least {epsilon / pgd_iterations:g} or add iterations."
            )
    elif pgd_step is not None:
        raise ValueError("pgd_step is only used with pgd_iterations > 1; a one-step neighbour moves by epsilon.")
    return _lessons.adversarial_config(multiplier, epsilon, pgd_iterations, pgd_step, feature_key)


def wrap(base_model: tf.keras.Model, config, learning_rate=1e-3):
    """``base_model`` wrapped with adversarial regularization and compiled: notebook 04's
    :func:`helpers.lessons.adversarial_model` (Adam, sparse cross-entropy, accuracy, as the base model)."""
    return _lessons.adversarial_model(base_model, config, learning_rate)


def train_adv_regularized(
    build_base: Callable[[], tf.keras.Model],
    config,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    verbose: int = 1,
    learning_rate=1e-3,
):
    """Train a base model from ``build_base()`` under adversarial regularization.

    ``build_base`` returns the model to train: a fresh one, or one that starts
    from trained weights. Returns ``(base_model, history, seconds)``.
    ``base_model`` is the plain Keras model inside the wrapper: it predicts,
    saves and is attacked like any other. ``learning_rate`` is Adam's: a number
    or a Keras schedule.
    """
    base_model = build_base()
    adv_model = wrap(base_model, config, learning_rate)
    start = time.perf_counter()
    history = adv_model.fit(
        nsl_inputs(base_model, images, labels), batch_size=batch_size, epochs=epochs, verbose=verbose
    )
    return adv_model.base_model, history.history, time.perf_counter() - start
