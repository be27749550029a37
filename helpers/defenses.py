"""Adversarial regularization with Neural Structured Learning (NSL), for notebook 04.

NSL wraps a base Keras model in ``nsl.keras.AdversarialRegularization``: every
training batch is perturbed adversarially and the loss becomes
``supervised_loss + multiplier * adversarial_loss``. This module holds the
plumbing a notebook should not have to repeat: the feature/label dict NSL
expects, a config with pixels kept in [0, 1], and one training function used for
both the main model and the trade-off sweep.

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
from helpers.models import INPUT_NAME, compile_classifier

__all__ = ["LABEL_KEY", "nsl_inputs", "adv_reg_config", "wrap", "train_adv_regularized"]

LABEL_KEY = "label"


def _nsl():
    """Import NSL lazily so notebooks 01-03 do not pay for it."""
    import neural_structured_learning as nsl

    return nsl


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
    """An NSL config for L-inf perturbations of images in [0, 1].

    ``pgd_iterations=1`` is NSL's one-step (FGSM-like) neighbour: every pixel
    moves by ``epsilon``. ``pgd_iterations > 1`` trains on PGD neighbours:
    ``pgd_iterations`` steps of ``pgd_step``, each projected into the L-inf ball
    of radius ``epsilon``. ``pgd_iterations * pgd_step`` must reach ``epsilon``,
    or the neighbours never touch the edge of the ball they are meant to fill.

    The clip range is given as ``{feature_key: value}``: NSL's inputs are a dict,
    and a plain number would be matched to no feature, leaving perturbed pixels
    outside [0, 1] without a word. NSL's ``random_init=True`` fails inside
    ``fit`` on TensorFlow 2.21 ("Cannot convert a partially known TensorShape"),
    so iterations start from the clean image.
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
    return _nsl().configs.make_adv_reg_config(
        multiplier=multiplier,
        adv_step_size=pgd_step if iterative else epsilon,
        adv_grad_norm="infinity",
        clip_value_min={feature_key: 0.0},
        clip_value_max={feature_key: 1.0},
        pgd_iterations=pgd_iterations,
        pgd_epsilon=epsilon if iterative else None,
        random_init=False,
    )


def wrap(base_model: tf.keras.Model, config, learning_rate=1e-3):
    """Wrap ``base_model`` with adversarial regularization and compile it."""
    adv_model = _nsl().keras.AdversarialRegularization(base_model, label_keys=[LABEL_KEY], adv_config=config)
    return compile_classifier(adv_model, learning_rate)  # the same optimizer, loss and metric as the base model


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
