"""Robust accuracy as the field measures it: the per-image worst case over an ensemble of attacks.

One attack gives an upper bound on robust accuracy, and a loose one when the
attack is weak, unlucky in its start or short of steps. AutoAttack (Croce & Hein,
"Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020) therefore runs several diverse attacks and
counts an image as robust only if *every* attack fails on it. This module holds
the plumbing of that evaluation for notebook 04 (the worst case itself is written
out in the notebook):

* :func:`attacks_for` - the ensemble a run profile asks for: the series' PGD with
  restarts, Auto-PGD under two losses and the gradient-free Square attack (the
  last two from :mod:`helpers.strong_attacks`).
* :func:`still_correct`, :func:`worst_case`, :func:`summary` - which images each
  attack leaves standing, the per-image worst case, and accuracies with 95% intervals.
* :func:`masking_checks` - the signs of gradient masking, as checks that can fail.
* :func:`wilson_interval`, :func:`paired_difference` (from :mod:`helpers.stats`) - 95% intervals for an
  accuracy and for the difference of two accuracies on the same images.

Every public function checks its arguments once, on entry.
"""

from __future__ import annotations

import numpy as np

from helpers import checks
from helpers.profiles import check_profile
from helpers.stats import paired_difference, wilson_interval
from helpers.strong_attacks import apgd, square

__all__ = ["attacks_for", "still_correct", "worst_case", "summary", "masking_checks", "wilson_interval",
           "paired_difference"]


# ----------------------------------------------------------------------------
# The ensemble.
# ----------------------------------------------------------------------------


def _predicted(model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    from helpers.evaluation import predict_classes

    return predict_classes(model, images, batch_size)


def _pgd_restarts(model, images, labels, epsilon, steps: int, restarts: int, *, seed: int = 0) -> np.ndarray:
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
        f"PGD-{p.ensemble_pgd_steps}, {p.ensemble_pgd_restarts} starts": lambda m, x, y, e: _pgd_restarts(
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
