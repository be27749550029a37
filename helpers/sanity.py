"""Sanity checks of a robustness evaluation, after Carlini et al., "On Evaluating Adversarial Robustness" (2019).

:func:`sanity_checks` reads a table of accuracies (rows with ``model, attack,
setting, norm, epsilon, accuracy, n``, as :func:`helpers.evaluation.robustness_curve`
makes them) and checks that accuracy at epsilon 0 equals clean accuracy, that
accuracy does not rise with epsilon, that iterative attacks (PGD, BIM) do at
least as well as FGSM, and that a large epsilon drives an undefended model near 0.
A failed check means the *evaluation* is wrong (a broken attack, a mislabelled
model, gradient masking), so :func:`report_checks` prints it loudly and issues a
:class:`SanityCheckWarning`. A check that cannot run (an undefended model without
a large epsilon, PGD and FGSM with no epsilon in common) fails too: nothing
checked is never reported as passed.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from helpers import checks as _checks
from helpers.tables import group_series

__all__ = [
    "LARGE_EPSILON",
    "NEAR_ZERO",
    "CheckResult",
    "SanityCheckWarning",
    "sanity_checks",
    "report_checks",
]

_ITERATIVE_ATTACKS = ("pgd", "bim")
# The smallest epsilon at which an undefended model must be near 0 accuracy.
LARGE_EPSILON = {"linf": 0.3, "l2": 4.0}
NEAR_ZERO = 0.1


class SanityCheckWarning(UserWarning):
    """A sanity check of an evaluation failed: the evaluation, not the model, is suspect."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one sanity check on one series of results."""

    name: str
    subject: str  # which model / attack / setting it looked at
    passed: bool
    detail: str
    skipped: bool = False  # True when the check could not run; it then counts as failed (passed is False)

    def __str__(self) -> str:
        status = "NOT RUN" if self.skipped else ("ok" if self.passed else "FAILED")
        return f"[{status}] {self.name} - {self.subject}: {self.detail}"


def _slack(tolerance: float | None, n: int) -> float:
    """Allowed noise in an accuracy: ``tolerance``, or by default max(0.01, 3 images)."""
    return tolerance if tolerance is not None else max(0.01, 3.0 / max(n, 1))


def _subject(key: tuple) -> str:
    model, attack, setting, norm = key
    return f"{model}, {attack}, {setting}, {'L-inf' if norm == 'linf' else 'L2'}"


def _check_eps_zero(key, series, clean_accuracy) -> list[CheckResult]:
    """Accuracy at epsilon 0 must equal the clean accuracy: the attack changes nothing."""
    if series[0]["epsilon"] != 0:
        return []
    if key[0] not in clean_accuracy:
        detail = f"cannot run: clean_accuracy has no entry for model {key[0]!r}"
        return [CheckResult("eps 0 equals clean accuracy", _subject(key), False, detail, skipped=True)]
    found, clean = series[0]["accuracy"], clean_accuracy[key[0]]
    passed = abs(found - clean) <= 1e-9
    detail = f"accuracy at eps=0 is {found:.4f}, clean accuracy {clean:.4f}"
    return [CheckResult("eps 0 equals clean accuracy", _subject(key), passed, detail)]


def _check_monotone(key, series, tolerance) -> list[CheckResult]:
    """Accuracy must not rise with epsilon (a bigger ball contains the smaller one); needs two epsilons."""
    if len(series) < 2:
        return []
    rises = []
    for before, after in zip(series, series[1:]):
        if after["accuracy"] > before["accuracy"] + _slack(tolerance, after["n"]):
            rises.append(f"{before['accuracy']:.3f} at eps={before['epsilon']:g} -> "
                         f"{after['accuracy']:.3f} at eps={after['epsilon']:g}")
    detail = "rises: " + "; ".join(rises) if rises else f"non-increasing over {len(series)} epsilons"
    return [CheckResult("accuracy does not rise with epsilon", _subject(key), not rises, detail)]


def _check_iterative(groups, tolerance, kinds) -> list[CheckResult]:
    """An iterative attack (PGD, BIM) must do at least as well as FGSM at each epsilon.

    ``kinds`` is each attack name in lower case.
    """
    results = []
    for (model, attack, setting, norm), series in groups.items():
        baselines = [
            rows for (other_model, other, other_setting, other_norm), rows in groups.items()
            if (other_model, other_setting, other_norm) == (model, setting, norm) and kinds[other] == "fgsm"
        ]
        if kinds[attack] not in _ITERATIVE_ATTACKS or not baselines:
            continue
        fgsm_at: dict[float, float] = {}  # the strongest FGSM at each epsilon
        for row in (row for rows in baselines for row in rows):
            fgsm_at[row["epsilon"]] = min(row["accuracy"], fgsm_at.get(row["epsilon"], 1.0))
        name, subject = f"{attack} at least as strong as FGSM", _subject((model, attack, setting, norm))
        shared = [row for row in series if row["epsilon"] in fgsm_at]
        if not shared:
            detail = f"cannot run: {attack} and FGSM share no epsilon"
            results.append(CheckResult(name, subject, False, detail, skipped=True))
            continue
        worse = [
            f"eps={row['epsilon']:g}: {attack} {row['accuracy']:.3f} > fgsm {fgsm_at[row['epsilon']]:.3f}"
            for row in shared
            if row["accuracy"] > fgsm_at[row["epsilon"]] + _slack(tolerance, row["n"])
        ]
        detail = "; ".join(worse) if worse else "at least as strong as FGSM at every epsilon"
        results.append(CheckResult(name, subject, not worse, detail))
    return results


def _check_undefended(groups, undefended, large_epsilon, near_zero) -> list[CheckResult]:
    """At a large epsilon the strongest attack must bring an undefended model near 0."""
    results = []
    for model in undefended:
        for norm in sorted({key[3] for key in groups if key[0] == model}):
            rows = [row for key, series in groups.items() if key[0] == model and key[3] == norm for row in series]
            largest = max(row["epsilon"] for row in rows)
            subject = f"{model}, {'L-inf' if norm == 'linf' else 'L2'}"
            name = "large epsilon breaks an undefended model"
            threshold = large_epsilon.get(norm, float("inf"))
            if largest < threshold:
                detail = f"cannot run: largest eps {largest:g} < {threshold:g}; add an epsilon >= {threshold:g}"
                results.append(CheckResult(name, subject, False, detail, skipped=True))
                continue
            best = min((row for row in rows if row["epsilon"] == largest), key=lambda row: row["accuracy"])
            passed = best["accuracy"] <= near_zero
            detail = f"{best['attack']} at eps={largest:g} leaves accuracy {best['accuracy']:.3f} (should be <= {near_zero:g})"
            results.append(CheckResult(name, subject, passed, detail))
    return results


_ROW_KEYS = ("model", "attack", "epsilon", "accuracy", "n")


def _check_rows(rows) -> list[Mapping]:
    """The rows of a robustness table: a non-empty list of dicts with the keys the checks read."""
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise TypeError("rows must be a list of dict rows, such as a robustness_curve(...) result.")
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: there is nothing to check (did the evaluation run any attack?).")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{index}] must be a dict, got {type(row).__name__}.")
        missing = [key for key in _ROW_KEYS if key not in row]
        if missing:
            raise ValueError(
                f"rows[{index}] lacks the key(s) {', '.join(map(repr, missing))}: every row needs "
                f"{', '.join(_ROW_KEYS)} (as robustness_curve and AttackResult.as_row() make them)."
            )
        _checks.check_number(row["epsilon"], f"rows[{index}]['epsilon']")
        _checks.check_number(row["accuracy"], f"rows[{index}]['accuracy']", maximum=1.0)
    return rows


def sanity_checks(
    rows: Iterable[Mapping], clean_accuracy: Mapping[str, float], *, undefended: Sequence[str] = (),
    tolerance: float | None = None,
) -> list[CheckResult]:
    """Check a robustness table for the signs of a broken evaluation (Carlini et al., 2019).

    ``tolerance`` is the accuracy noise allowed by the monotonicity and PGD-vs-FGSM
    checks (default: max(0.01, 3 images)). An ``undefended`` model (names of
    models in the rows) must be at most :data:`NEAR_ZERO` accurate from the
    epsilon :data:`LARGE_EPSILON` gives its norm. Attack names ("fgsm", "bim",
    "pgd") are read in lower case. A check that cannot run is returned as
    failed, with ``skipped=True``.
    """
    rows = _check_rows(rows)
    if not isinstance(clean_accuracy, Mapping):
        raise TypeError("clean_accuracy must be a dict {model name: accuracy on the clean images}.")
    groups = group_series(rows)
    undefended = _checks.check_names(undefended, "undefended", known=sorted({key[0] for key in groups}))
    tolerance = _checks.check_number(tolerance, "tolerance", allow_none=True, maximum=1.0)
    kinds = {attack: str(attack).strip().lower() for (_, attack, _, _) in groups}
    found: list[CheckResult] = []
    for key, series in groups.items():
        found += _check_eps_zero(key, series, clean_accuracy)
        found += _check_monotone(key, series, tolerance)
    found += _check_iterative(groups, tolerance, kinds)
    found += _check_undefended(groups, undefended, LARGE_EPSILON, NEAR_ZERO)
    return found


def report_checks(checks: Sequence[CheckResult], *, file=None) -> bool:
    """Print the checks; a failure gets a loud block and a :class:`SanityCheckWarning`. True if all passed."""
    file = file or sys.stdout
    bar = "!" * 72
    if not checks:
        print(
            f"{bar}\nNO SANITY CHECK RAN: nothing was checked, so nothing is known to be right.\n"
            "Give epsilon 0 and several epsilons, and FGSM with PGD, to check an evaluation.\n{bar}",
            file=file,
        )
        warnings.warn("no sanity check ran", SanityCheckWarning, stacklevel=2)
        return False
    failed = [check for check in checks if not check.passed]
    print(f"Sanity checks (Carlini et al. 2019): {len(checks) - len(failed)} of {len(checks)} passed", file=file)
    if failed:
        lines = "\n".join(f"  {check}" for check in failed)
        print(
            f"{bar}\nSANITY CHECK FAILED ({len(failed)} of {len(checks)})\n{lines}\n"
            "This points at the evaluation (attack, labels, model outputs), not at the model's robustness.\n"
            f"{bar}",
            file=file,
        )
        warnings.warn(f"{len(failed)} sanity check(s) failed: " + "; ".join(map(str, failed)), SanityCheckWarning, stacklevel=2)
    return not failed
