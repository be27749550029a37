"""Accuracy under attack, robustness curves and the sanity checks that keep them honest.

* :func:`evaluate_attack` - a model's accuracy on adversarial versions of a
  dataset, **white-box** (the model crafts its own examples) or **transfer**
  (``source_model`` crafts them), as an :class:`AttackResult` that names the
  attack, norm, epsilon and setting of the number.
* :func:`transfer_matrix` - examples crafted once on each of several models,
  every model scored on every set: white-box on the diagonal, transfer
  elsewhere, with the transfer rate of the examples that fooled their source.
* :func:`robustness_curve` - accuracy against epsilon for several models and
  attacks, as a tidy table (a list of dict rows) that
  :func:`helpers.plots.plot_robustness_curve` draws and :func:`format_table`
  prints. It runs :func:`sanity_checks` and reports them.
* :func:`sanity_checks` - after Carlini et al., "On Evaluating Adversarial
  Robustness" (2019): accuracy at epsilon 0 equals clean accuracy; accuracy does
  not rise with epsilon; iterative attacks (PGD, BIM) do at least as well as
  FGSM; a large epsilon drives an undefended model near 0. A failed check means
  the *evaluation* is wrong (a broken attack, a mislabelled model, gradient
  masking), so it is printed loudly and issued as a :class:`SanityCheckWarning` warning.

Example (a notebook cell)::

    curve = evaluation.robustness_curve({"cnn": cnn}, x_test, y_test, profile.epsilons,
                                        steps=profile.pgd_steps, undefended=["cnn"])
    print(curve.table())            # accuracy per model, attack and epsilon
    plots.plot_robustness_curve(curve)
    assert curve.passed             # every sanity check held
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
import weakref
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers import attacks as _attacks

__all__ = [
    "AttackResult",
    "CheckResult",
    "RobustnessCurve",
    "SanityCheckWarning",
    "predict_classes",
    "accuracy",
    "evaluate_attack",
    "transfer_matrix",
    "robustness_curve",
    "sanity_checks",
    "report_checks",
    "format_table",
    "wide_rows",
]

ITERATIVE_ATTACKS = ("pgd", "bim")
# The smallest epsilon at which an undefended model must be near 0 accuracy.
LARGE_EPSILON = {"linf": 0.3, "l2": 4.0}
NEAR_ZERO = 0.1
_COLUMNS = ("model", "attack", "setting", "norm", "epsilon", "accuracy", "n", "seconds")

_PREDICT_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class SanityCheckWarning(UserWarning):
    """A sanity check of an evaluation failed: the evaluation, not the model, is suspect."""


@dataclass(frozen=True)
class AttackResult:
    """One accuracy under attack, with everything needed to read it."""

    model: str
    attack: str
    norm: str
    epsilon: float
    setting: str  # "white-box" or "transfer from <source model>"
    accuracy: float
    n: int
    seconds: float

    def as_row(self) -> dict:
        """The row of a tidy table (see :func:`robustness_curve`)."""
        return asdict(self)

    def __str__(self) -> str:
        norm = "L-inf" if self.norm == "linf" else "L2"
        return (
            f"{self.model}: accuracy {self.accuracy:.3f} under {self.attack.upper()} "
            f"({norm}, eps={self.epsilon:g}, {self.setting}) on {self.n:,} images, {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one sanity check on one series of results."""

    name: str
    subject: str  # which model / attack / setting it looked at
    passed: bool
    detail: str
    skipped: bool = False

    def __str__(self) -> str:
        status = "skipped" if self.skipped else ("ok" if self.passed else "FAILED")
        return f"[{status}] {self.name} - {self.subject}: {self.detail}"


class RobustnessCurve(list):
    """The tidy table of a robustness curve: a list of dict rows, plus what came with it.

    Rows have keys ``model, attack, setting, norm, epsilon, accuracy, n,
    seconds``. Attributes: ``clean_accuracy`` (model name -> accuracy on the
    clean images), ``checks`` (list of :class:`CheckResult`) and ``passed``.
    """

    def __init__(self, rows: Iterable[dict], clean_accuracy: Mapping[str, float], checks: Sequence[CheckResult] = ()):
        super().__init__(rows)
        self.clean_accuracy = dict(clean_accuracy)
        self.checks = list(checks)

    @property
    def passed(self) -> bool:
        """True when every sanity check passed (or was skipped)."""
        return all(check.passed for check in self.checks)

    def table(self, *, wide: bool = True, markdown: bool = True) -> str:
        """The curve as text: one line per series with a column per epsilon, or tidy rows."""
        return format_table(wide_rows(self) if wide else self, markdown=markdown)


# ----------------------------------------------------------------------------
# Predictions and accuracy.
# ----------------------------------------------------------------------------


def _compiled_predict(model, image_shape: tuple):
    """A compiled ``argmax(model(images))`` for one model and image shape, cached."""
    functions = _PREDICT_CACHE.setdefault(model, {})
    if image_shape not in functions:
        model_ref = weakref.ref(model)

        @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)])
        def predict(images):
            return tf.argmax(model_ref()(images, training=False), axis=-1, output_type=tf.int32)

        functions[image_shape] = predict
    return functions[image_shape]


def predict_classes(model, images, batch_size: int = 500) -> np.ndarray:
    """The predicted class of each image (floats in [0, 1]), computed in batches."""
    _attacks._check_model(model)
    batch_size = _attacks._check_batch_size(batch_size)
    images = _attacks._check_images(images)  # refuses 0-255 pixels instead of predicting garbage
    predict = _compiled_predict(model, images.shape[1:])
    parts = [predict(tf.constant(images[i : i + batch_size])).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


def accuracy(model, images, labels, batch_size: int = 500) -> float:
    """Share of ``images`` the model classifies as ``labels`` (clean accuracy on clean images)."""
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"labels has {len(labels)} entries but images has {len(images)}: they must match one to one.")
    labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
    return float(np.mean(predict_classes(model, images, batch_size) == labels))


# ----------------------------------------------------------------------------
# One accuracy under attack.
# ----------------------------------------------------------------------------


def _name_of(model, name: str | None) -> str:
    """The given name, or the Keras model's own."""
    return name if name is not None else getattr(model, "name", type(model).__name__)


def _attack_name(attack) -> str:
    """'fgsm', 'pgd', ... or a function's name."""
    return attack.strip().lower() if isinstance(attack, str) else getattr(attack, "__name__", "attack")


# Options a robustness curve gives every attack; one that does not take them (FGSM has no steps) goes without.
_SHARED_OPTIONS = ("norm", "steps", "step_size", "seed")


def _supported_options(function, options: Mapping) -> dict:
    """The entries of ``options`` that ``function`` accepts; any other unknown option is an error, not dropped."""
    unknown = [key for key in options if key not in _SHARED_OPTIONS and not _attacks._accepts(function, key)]
    if unknown:
        raise TypeError(
            f"{_attack_name(function)} does not take the option(s) {', '.join(map(repr, unknown))}. "
            f"Check the spelling against its signature: {inspect.signature(function)}"
        )
    return {key: value for key, value in options.items() if _attacks._accepts(function, key)}


def evaluate_attack(
    model, images, labels, attack, epsilon: float, *,
    norm: str = "linf", source_model=None, model_name: str | None = None, source_name: str | None = None,
    batch_size: int = 500, progress: bool = True, return_adversarial: bool = False, **attack_options,
):
    """Accuracy of ``model`` on adversarial versions of ``images``, over the dataset in batches.

    White-box when ``source_model`` is None (``model`` crafts its own examples);
    otherwise transfer: ``source_model`` crafts them and ``model`` is scored on
    them. ``attack`` is a name ("fgsm", "bim", "pgd") or a function ``attack(model,
    images, labels, epsilon, **options)``; ``norm`` and ``attack_options`` (e.g.
    ``steps=20, seed=0``) go to it when it accepts them.

    Returns an :class:`AttackResult`; with ``return_adversarial=True``, the pair
    ``(result, adversarial_images)`` so the examples can be shown or reused.
    """
    function = _attacks.get_attack(attack)
    norm = _attacks._check_norm(norm)
    epsilon = _attacks._check_number(epsilon, "epsilon")
    _attacks._check_model(model)
    crafter = model if source_model is None else source_model
    _attacks._check_model(crafter)
    setting = "white-box" if source_model is None else f"transfer from {_name_of(source_model, source_name)}"
    options = _supported_options(function, {"norm": norm, **attack_options})
    labels = np.asarray(labels)
    true_classes = labels.argmax(axis=1) if labels.ndim == 2 else labels
    description = f"{_attack_name(attack)} eps={epsilon:g} on {_name_of(model, model_name)}"
    started = time.perf_counter()
    correct = 0
    kept = []
    for start, stop, adversarial in _attacks.attack_batches(
        function, crafter, images, labels, epsilon,
        batch_size=batch_size, progress=progress, description=description, **options,
    ):
        predicted = _compiled_predict(model, adversarial.shape[1:])(tf.constant(adversarial)).numpy()
        correct += int(np.sum(predicted == true_classes[start:stop]))
        if return_adversarial:
            kept.append(adversarial)
    result = AttackResult(
        model=_name_of(model, model_name), attack=_attack_name(attack), norm=norm, epsilon=epsilon,
        setting=setting, accuracy=correct / len(true_classes), n=len(true_classes),
        seconds=time.perf_counter() - started,
    )
    return (result, np.concatenate(kept)) if return_adversarial else result


def transfer_matrix(
    models: Mapping[str, object], images, labels, attack, epsilon: float, *,
    norm: str = "linf", batch_size: int = 500, progress: bool = True, **attack_options,
) -> list[dict]:
    """Craft ``attack`` once on every model and score every model on every model's examples.

    ``models`` maps names to models (at least two). For each source model the
    examples are crafted once (white-box on the source) and every other model is
    scored on the same images (transfer). Tidy rows: ``model`` (scored),
    ``source``, ``setting``, ``attack``, ``norm``, ``epsilon``, ``accuracy``, ``n``,
    ``seconds`` (crafting time on the source) and ``transfer_rate``: of the
    images the source model classifies right when clean and wrong after its own
    attack, and the scored model classifies right when clean, the share the
    scored model now gets wrong (1.0 for the source itself; None when no image
    qualifies).
    """
    if not isinstance(models, Mapping) or len(models) < 2:
        raise TypeError("models must be a dict of at least two {name: tf.keras model}: transfer needs a source and a target.")
    function = _attacks.get_attack(attack)
    norm = _attacks._check_norm(norm)
    epsilon = _attacks._check_number(epsilon, "epsilon")
    options = _supported_options(function, {"norm": norm, **attack_options})
    labels = np.asarray(labels)
    true_classes = labels.argmax(axis=1) if labels.ndim == 2 else labels
    clean_right = {name: predict_classes(model, images, batch_size) == true_classes for name, model in models.items()}
    rows = []
    for source, source_model in models.items():
        started = time.perf_counter()
        adversarial = _attacks.attack_dataset(
            function, source_model, images, labels, epsilon, batch_size=batch_size, progress=progress, **options
        )
        seconds = time.perf_counter() - started
        right_after = {name: predict_classes(model, adversarial, batch_size) == true_classes for name, model in models.items()}
        fooled_source = clean_right[source] & ~right_after[source]
        for name in models:
            eligible = fooled_source & clean_right[name]
            rate = float(np.mean(~right_after[name][eligible])) if eligible.any() else None
            rows.append({
                "model": name, "source": source, "setting": "white-box" if name == source else f"transfer from {source}",
                "attack": _attack_name(attack), "norm": norm, "epsilon": epsilon,
                "accuracy": float(np.mean(right_after[name])), "n": len(true_classes), "seconds": seconds,
                "transfer_rate": rate,
            })
    return rows


# ----------------------------------------------------------------------------
# Robustness curves.
# ----------------------------------------------------------------------------


def _attack_table(attacks) -> dict:
    """{name: attack} from names, or a mapping of names to names or functions."""
    if isinstance(attacks, str) or callable(attacks):
        attacks = (attacks,)
    if isinstance(attacks, Mapping):
        return {str(name): _attacks.get_attack(attack) for name, attack in attacks.items()}
    return {_attack_name(attack): _attacks.get_attack(attack) for attack in attacks}


def _check_epsilons(epsilons) -> list[float]:
    """Each epsilon checked, in increasing order without repeats."""
    if isinstance(epsilons, (int, float)):
        epsilons = [epsilons]
    values = sorted({_attacks._check_number(eps, "epsilons") for eps in epsilons})
    if not values:
        raise ValueError("epsilons is empty: give at least one epsilon (include 0 for the clean-accuracy check).")
    return values


def robustness_curve(
    models: Mapping[str, object], images, labels, epsilons: Sequence[float], attacks=("fgsm", "pgd"), *,
    norm: str = "linf", steps: int = 10, step_size: float | None = None, seed: int = 0,
    source_model=None, source_name: str | None = None, undefended: Sequence[str] = (),
    batch_size: int = 500, progress: bool = True, check: bool = True, tolerance: float | None = None,
) -> RobustnessCurve:
    """Accuracy of every model under every attack at every epsilon, plus sanity checks.

    ``models`` maps a name (used in the table and the plot colours) to a model.
    White-box by default; with ``source_model`` every model is scored on examples
    crafted on it (transfer). ``steps``, ``step_size`` and ``seed`` go to the
    iterative attacks (``step_size=None``: ``2.5 * epsilon / steps`` at each epsilon). ``undefended`` names the models expected near 0 accuracy
    at a large epsilon. Returns a :class:`RobustnessCurve`: the tidy rows, with
    ``.clean_accuracy``, ``.checks`` and ``.table()``. The checks are printed
    (``check=False`` skips them).
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of {name: tf.keras model}.")
    unknown = set(undefended) - set(models)
    if unknown:
        raise ValueError(f"undefended names models that are not in models: {sorted(unknown)}.")
    table = _attack_table(attacks)
    values = _check_epsilons(epsilons)
    options = {"steps": steps, "step_size": step_size, "seed": seed}
    clean = {name: accuracy(model, images, labels, batch_size) for name, model in models.items()}
    jobs = [(name, attack, eps) for name in models for attack in table for eps in values]
    rows = []
    bar = tqdm(jobs, desc="robustness curve", unit="point", disable=not progress)
    for name, attack, eps in bar:
        bar.set_postfix_str(f"{name}, {attack}, eps={eps:g}")
        result = evaluate_attack(
            models[name], images, labels, table[attack], eps, norm=norm, source_model=source_model,
            model_name=name, source_name=source_name, batch_size=batch_size, progress=False, **options,
        )
        rows.append({**result.as_row(), "attack": attack})
    curve = RobustnessCurve(rows, clean)
    if check:
        curve.checks = sanity_checks(curve, clean, undefended=undefended, tolerance=tolerance)
        report_checks(curve.checks)
    return curve


# ----------------------------------------------------------------------------
# Sanity checks (Carlini et al., 2019).
# ----------------------------------------------------------------------------


def _series(rows: Iterable[Mapping]) -> dict[tuple, list[Mapping]]:
    """Rows grouped by (model, attack, setting, norm), each group sorted by epsilon."""
    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        key = (row["model"], row["attack"], row.get("setting", "white-box"), row.get("norm", "linf"))
        groups.setdefault(key, []).append(row)
    return {key: sorted(group, key=lambda row: row["epsilon"]) for key, group in groups.items()}


def _slack(tolerance: float | None, n: int) -> float:
    """Allowed noise in an accuracy: ``tolerance``, or by default max(0.01, 3 images)."""
    return tolerance if tolerance is not None else max(0.01, 3.0 / max(n, 1))


def _subject(key: tuple) -> str:
    model, attack, setting, norm = key
    return f"{model}, {attack}, {setting}, {'L-inf' if norm == 'linf' else 'L2'}"


def _check_eps_zero(key, series, clean_accuracy) -> list[CheckResult]:
    """Accuracy at epsilon 0 must equal the clean accuracy: the attack changes nothing."""
    if series[0]["epsilon"] != 0 or key[0] not in clean_accuracy:
        return []
    found, clean = series[0]["accuracy"], clean_accuracy[key[0]]
    passed = abs(found - clean) <= 1e-9
    detail = f"accuracy at eps=0 is {found:.4f}, clean accuracy {clean:.4f}"
    return [CheckResult("eps 0 equals clean accuracy", _subject(key), passed, detail)]


def _check_monotone(key, series, tolerance) -> list[CheckResult]:
    """Accuracy must not rise with epsilon (a bigger ball contains the smaller one)."""
    rises = []
    for before, after in zip(series, series[1:]):
        if after["accuracy"] > before["accuracy"] + _slack(tolerance, after["n"]):
            rises.append(f"{before['accuracy']:.3f} at eps={before['epsilon']:g} -> {after['accuracy']:.3f} at eps={after['epsilon']:g}")
    detail = "rises: " + "; ".join(rises) if rises else f"non-increasing over {len(series)} epsilons"
    return [CheckResult("accuracy does not rise with epsilon", _subject(key), not rises, detail)]


def _check_iterative(groups, tolerance) -> list[CheckResult]:
    """An iterative attack (PGD, BIM) must do at least as well as FGSM at each epsilon."""
    results = []
    for (model, attack, setting, norm), series in groups.items():
        baseline = groups.get((model, "fgsm", setting, norm))
        if attack not in ITERATIVE_ATTACKS or baseline is None:
            continue
        fgsm_at = {row["epsilon"]: row["accuracy"] for row in baseline}
        worse = [
            f"eps={row['epsilon']:g}: {attack} {row['accuracy']:.3f} > fgsm {fgsm_at[row['epsilon']]:.3f}"
            for row in series
            if row["epsilon"] in fgsm_at and row["accuracy"] > fgsm_at[row["epsilon"]] + _slack(tolerance, row["n"])
        ]
        detail = "; ".join(worse) if worse else "at least as strong as FGSM at every epsilon"
        results.append(CheckResult(f"{attack} at least as strong as FGSM", _subject((model, attack, setting, norm)), not worse, detail))
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
            threshold = large_epsilon.get(norm, math.inf)
            if largest < threshold:
                detail = f"not run: largest eps {largest:g} < {threshold:g}"
                results.append(CheckResult(name, subject, True, detail, skipped=True))
                continue
            best = min((row for row in rows if row["epsilon"] == largest), key=lambda row: row["accuracy"])
            passed = best["accuracy"] <= near_zero
            detail = f"{best['attack']} at eps={largest:g} leaves accuracy {best['accuracy']:.3f} (should be <= {near_zero:g})"
            results.append(CheckResult(name, subject, passed, detail))
    return results


def sanity_checks(
    rows: Iterable[Mapping], clean_accuracy: Mapping[str, float], *, undefended: Sequence[str] = (),
    tolerance: float | None = None, large_epsilon: Mapping[str, float] | None = None, near_zero: float = NEAR_ZERO,
) -> list[CheckResult]:
    """Check a robustness table for the signs of a broken evaluation (Carlini et al., 2019).

    ``tolerance`` is the accuracy noise allowed by the monotonicity and PGD-vs-FGSM
    checks (default: max(0.01, 3 images)). ``large_epsilon`` maps a norm to the
    smallest epsilon at which an ``undefended`` model must be at most
    ``near_zero`` accurate (default :data:`LARGE_EPSILON`).
    """
    groups = _series(rows)
    checks: list[CheckResult] = []
    for key, series in groups.items():
        checks += _check_eps_zero(key, series, clean_accuracy)
        checks += _check_monotone(key, series, tolerance)
    checks += _check_iterative(groups, tolerance)
    checks += _check_undefended(groups, undefended, large_epsilon or LARGE_EPSILON, near_zero)
    return checks


def report_checks(checks: Sequence[CheckResult], *, file=None) -> bool:
    """Print the checks; a failure gets a loud block and a :class:`SanityCheckWarning`. True if all passed."""
    file = file or sys.stdout
    failed = [check for check in checks if not check.passed]
    ran = [check for check in checks if not check.skipped]
    print(f"Sanity checks (Carlini et al. 2019): {len(ran) - len(failed)} of {len(ran)} passed", file=file)
    for check in checks:
        if check.skipped:
            print(f"  {check}", file=file)
    if failed:
        bar = "!" * 72
        lines = "\n".join(f"  {check}" for check in failed)
        print(
            f"{bar}\nSANITY CHECK FAILED ({len(failed)} of {len(ran)})\n{lines}\n"
            "This points at the evaluation (attack, labels, model outputs), not at the model's robustness.\n"
            f"{bar}",
            file=file,
        )
        warnings.warn(f"{len(failed)} sanity check(s) failed: " + "; ".join(map(str, failed)), SanityCheckWarning, stacklevel=2)
    return not failed


# ----------------------------------------------------------------------------
# Tables as text.
# ----------------------------------------------------------------------------


def wide_rows(rows: Iterable[Mapping]) -> list[dict]:
    """One row per (model, attack, setting, norm) with a column ``eps=...`` per epsilon."""
    wide = []
    for (model, attack, setting, norm), series in _series(rows).items():
        row = {"model": model, "attack": attack, "setting": setting, "norm": norm}
        row.update({f"eps={entry['epsilon']:g}": entry["accuracy"] for entry in series})
        wide.append(row)
    return wide


def _cell(key: str, value) -> str:
    """A value as table text: accuracies to 3 decimals, epsilons as given, seconds to 0.1, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if key == "seconds":
            return f"{value:.1f}"
        if key == "epsilon":
            return f"{value:g}"
        return f"{value:.3f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None, *, markdown: bool = True) -> str:
    """Rows of dicts as a Markdown table (or aligned plain text with ``markdown=False``)."""
    rows = list(rows)
    if not rows:
        return "(no rows)"
    if columns is None:
        keys = list(dict.fromkeys(key for row in rows for key in row))
        columns = [key for key in _COLUMNS if key in keys] + [key for key in keys if key not in _COLUMNS]
    cells = [[_cell(key, row.get(key, "")) for key in columns] for row in rows]
    widths = [max(len(str(column)), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    numeric = [all(_is_number(row.get(key)) for row in rows) for key in columns]

    def line(values):
        padded = [value.rjust(w) if right else value.ljust(w) for value, w, right in zip(values, widths, numeric)]
        return ("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded)

    rule = ["-" * (w - 1) + ":" if right else "-" * w for w, right in zip(widths, numeric)]
    body = [line(columns)] + ([("|" + "|".join(f" {r} " for r in rule) + "|")] if markdown else [line(["-" * w for w in widths])])
    return "\n".join(body + [line(values) for values in cells])


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
