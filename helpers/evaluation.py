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
  A check that cannot run (an undefended model without a large epsilon, PGD and
  FGSM with no epsilon in common) fails too: nothing checked is never reported
  as passed.

Every public function checks its arguments once, on entry, with :mod:`helpers.checks`.

Example (a notebook cell)::

    curve = evaluation.robustness_curve({"cnn": cnn}, x_test, y_test, profile.epsilons,
                                        steps=profile.pgd_steps, undefended=["cnn"])
    print(curve.table())            # accuracy per model, attack and epsilon
    plots.plot_robustness_curve(curve)
    assert curve.passed             # every sanity check held
"""

from __future__ import annotations

import inspect
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
from helpers import checks as _checks

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
_COUNTS = ("n", "steps", "fooled only by this", "training images")  # whole numbers, shown without decimals

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
    skipped: bool = False  # True when the check could not run; it then counts as failed (passed is False)

    def __str__(self) -> str:
        status = "NOT RUN" if self.skipped else ("ok" if self.passed else "FAILED")
        return f"[{status}] {self.name} - {self.subject}: {self.detail}"


class RobustnessCurve(list):
    """The tidy table of a robustness curve: a list of dict rows, plus what came with it.

    Rows have keys ``model, attack, setting, norm, epsilon, accuracy, n,
    seconds``. Attributes: ``clean_accuracy`` (model name -> accuracy on the
    clean images), ``checks`` (list of :class:`CheckResult`) and ``passed``.
    ``attack_kinds`` maps each attack name in the rows to what it is ("fgsm",
    "bim", "pgd" or the name of another function), for :func:`sanity_checks`.
    """

    def __init__(self, rows: Iterable[dict], clean_accuracy: Mapping[str, float], checks: Sequence[CheckResult] = (),
                 attack_kinds: Mapping[str, str] | None = None):
        super().__init__(rows)
        self.clean_accuracy = dict(clean_accuracy)
        self.checks = list(checks)
        self.attack_kinds = dict(attack_kinds or {})

    @property
    def passed(self) -> bool:
        """True when sanity checks ran and every one passed (False with no checks, e.g. ``check=False``)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def table(self, *, wide: bool = True) -> str:
        """The curve as plain text: one line per series with a column per epsilon, or tidy rows."""
        return format_table(wide_rows(self) if wide else self)

    def frame(self, *, wide: bool = True):
        """The curve as a pandas DataFrame (see :func:`results_table`)."""
        return results_table(wide_rows(self) if wide else self)

    def styled(self, *, wide: bool = True):
        """The curve as a rendered table for a notebook (see :func:`styled_table`)."""
        return styled_table(wide_rows(self) if wide else self)


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


def _predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    predict = _compiled_predict(model, images.shape[1:])
    parts = [predict(tf.constant(images[i : i + batch_size])).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


def predict_classes(model, images, batch_size: int = 500) -> np.ndarray:
    """The predicted class of each image (floats in [0, 1]), computed in batches."""
    images, _ = _checks.check_model_inputs(model, images)  # refuses 0-255 pixels instead of predicting garbage
    return _predict(model, images, _checks.check_batch_size(batch_size))


def accuracy(model, images, labels, batch_size: int = 500) -> float:
    """Share of ``images`` the model classifies as ``labels`` (clean accuracy on clean images).

    ``labels`` are class indices ``(N,)`` or one-hot rows ``(N, classes)``, checked as the attacks check them.
    """
    images, labels = _attacks.check_data({"model": model}, images, labels)
    return float(np.mean(_predict(model, images, _checks.check_batch_size(batch_size)) == labels))


# ----------------------------------------------------------------------------
# One accuracy under attack.
# ----------------------------------------------------------------------------


def _name_of(model, name: str | None) -> str:
    """The given name, or the Keras model's own."""
    return name if name is not None else getattr(model, "name", type(model).__name__)


# Options a robustness curve gives every attack; one that does not take them (FGSM has no steps) goes without.
_SHARED_OPTIONS = ("norm", "steps", "step_size", "seed")


def _supported_options(function, options: Mapping) -> dict:
    """The entries of ``options`` that ``function`` accepts; any other unknown option is an error, not dropped."""
    unknown = [key for key in options if key not in _SHARED_OPTIONS and not _attacks.accepts(function, key)]
    if unknown:
        raise TypeError(
            f"{_attacks.attack_name(function)} does not take the option(s) {', '.join(map(repr, unknown))}. "
            f"Check the spelling against its signature: {inspect.signature(function)}"
        )
    return {key: value for key, value in options.items() if _attacks.accepts(function, key)}


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
    norm = _checks.check_norm(norm)
    epsilon = _checks.check_number(epsilon, "epsilon")
    images, true_classes = _attacks.check_data({"model": model, "source_model": source_model}, images, labels)
    model_name = _checks.check_text(model_name, "model_name", allow_none=True)
    source_name = _checks.check_text(source_name, "source_name", allow_none=True)
    crafter = model if source_model is None else source_model
    setting = "white-box" if source_model is None else f"transfer from {_name_of(source_model, source_name)}"
    options = _supported_options(function, {"norm": norm, **attack_options})
    description = f"{_attacks.attack_name(attack)} eps={epsilon:g} on {_name_of(model, model_name)}"
    started = time.perf_counter()
    correct = 0
    kept = []
    for start, stop, adversarial in _attacks.attack_batches(
        function, crafter, images, true_classes, epsilon,
        batch_size=batch_size, progress=progress, description=description, **options,
    ):
        predicted = _compiled_predict(model, adversarial.shape[1:])(tf.constant(adversarial)).numpy()
        correct += int(np.sum(predicted == true_classes[start:stop]))
        if return_adversarial:
            kept.append(adversarial)
    result = AttackResult(
        model=_name_of(model, model_name), attack=_attacks.attack_name(attack), norm=norm, epsilon=epsilon,
        setting=setting, accuracy=correct / len(true_classes), n=len(true_classes),
        seconds=time.perf_counter() - started,
    )
    return (result, np.concatenate(kept)) if return_adversarial else result


def transfer_matrix(
    models: Mapping[str, object], images, labels, attack, epsilon: float, *,
    norm: str = "linf", batch_size: int = 500, progress: bool = True, keep_correct: bool = False,
    **attack_options,
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
    qualifies). With ``keep_correct=True`` each row also holds ``correct``: one
    True/False per image (right after the attack), for paired comparisons.
    """
    if not isinstance(models, Mapping) or len(models) < 2:
        raise TypeError("models must be a dict of at least two {name: tf.keras model}: transfer needs a source and a target.")
    function = _attacks.get_attack(attack)
    norm = _checks.check_norm(norm)
    epsilon = _checks.check_number(epsilon, "epsilon")
    batch_size = _checks.check_batch_size(batch_size)
    keep_correct = _checks.check_flag(keep_correct, "keep_correct")
    images, true_classes = _attacks.check_data(dict(models), images, labels)
    options = _supported_options(function, {"norm": norm, **attack_options})
    clean_right = {name: _predict(model, images, batch_size) == true_classes for name, model in models.items()}
    rows = []
    for source, source_model in models.items():
        started = time.perf_counter()
        adversarial = _attacks.attack_dataset(
            function, source_model, images, true_classes, epsilon, batch_size=batch_size, progress=progress, **options
        )
        seconds = time.perf_counter() - started
        right_after = {name: _predict(model, adversarial, batch_size) == true_classes for name, model in models.items()}
        fooled_source = clean_right[source] & ~right_after[source]
        for name in models:
            eligible = fooled_source & clean_right[name]
            rate = float(np.mean(~right_after[name][eligible])) if eligible.any() else None
            rows.append({
                "model": name, "source": source, "setting": "white-box" if name == source else f"transfer from {source}",
                "attack": _attacks.attack_name(attack), "norm": norm, "epsilon": epsilon,
                "accuracy": float(np.mean(right_after[name])), "n": len(true_classes), "seconds": seconds,
                "transfer_rate": rate,
            })
            if keep_correct:
                rows[-1]["correct"] = right_after[name]
    return rows


# ----------------------------------------------------------------------------
# Robustness curves.
# ----------------------------------------------------------------------------


def _attack_table(attacks) -> dict:
    """{name: attack} from names, or a mapping of names to names or functions; never empty."""
    if isinstance(attacks, str) or callable(attacks):
        attacks = (attacks,)
    if isinstance(attacks, Mapping):
        table = {_checks.check_text(name, "attacks (a name)"): _attacks.get_attack(attack) for name, attack in attacks.items()}
    else:
        table = {_attacks.attack_name(attack): _attacks.get_attack(attack) for attack in attacks}
    if not table:
        raise ValueError("attacks is empty: name at least one attack, e.g. attacks=('fgsm', 'pgd').")
    return table


def _attack_kind(name: str, function) -> str:
    """'fgsm', 'bim' or 'pgd' for the attacks of helpers.attacks, whatever the table calls them; else the name."""
    for kind, attack in _attacks.ATTACKS.items():
        if function is attack:
            return kind
    return name.strip().lower()


def _check_models(models) -> dict:
    """{name: model}: a non-empty mapping of string names to tf.keras models."""
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of {name: tf.keras model}, e.g. {'cnn': cnn}.")
    for name, model in models.items():
        _checks.check_text(name, "models (a name)")
        _checks.check_model(model, f"models[{name!r}]")
    return dict(models)


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
    iterative attacks (``step_size=None``: ``2.5 * epsilon / steps`` at each epsilon). ``undefended`` names the
    models expected near 0 accuracy
    at a large epsilon. Returns a :class:`RobustnessCurve`: the tidy rows, with
    ``.clean_accuracy``, ``.checks`` and ``.table()``. The checks are printed
    (``check=False`` skips them, and ``passed`` is then False: nothing was checked).
    An undefended model needs an epsilon at least :data:`LARGE_EPSILON` for its
    norm; without one this raises before any work, since its check could not run.
    """
    models = _check_models(models)
    if source_model is not None:
        _checks.check_model(source_model, "source_model")
    images, labels = _attacks.check_data(
        {**{f"models[{name!r}]": model for name, model in models.items()}, "source_model": source_model}, images, labels
    )
    values = _checks.check_epsilons(epsilons)
    table = _attack_table(attacks)
    norm = _checks.check_norm(norm)
    steps = _checks.check_steps(steps)
    step_size = _checks.check_number(step_size, "step_size", allow_none=True)
    seed = _checks.check_seed(seed)
    source_name = _checks.check_text(source_name, "source_name", allow_none=True)
    undefended = _checks.check_names(undefended, "undefended", known=models)
    batch_size = _checks.check_batch_size(batch_size)
    progress = _checks.check_flag(progress, "progress")
    check = _checks.check_flag(check, "check")
    tolerance = _checks.check_number(tolerance, "tolerance", allow_none=True, maximum=1.0)
    if check and undefended and values[-1] < LARGE_EPSILON[norm]:
        raise ValueError(
            f"undefended={list(undefended)} asks for the large-epsilon check, which needs an epsilon >= "
            f"{LARGE_EPSILON[norm]:g} ({norm}); the largest in epsilons is {values[-1]:g}. Add {LARGE_EPSILON[norm]:g} "
            "to epsilons, or leave undefended empty."
        )
    kinds = {name: _attack_kind(name, function) for name, function in table.items()}
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
    curve = RobustnessCurve(rows, clean, attack_kinds=kinds)
    if check:
        curve.checks = sanity_checks(curve, clean, undefended=undefended, tolerance=tolerance, attack_kinds=kinds)
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

    ``kinds`` says what each attack name is, so renamed attacks ("PGD-20") are still compared.
    """
    results = []
    for (model, attack, setting, norm), series in groups.items():
        baselines = [
            rows for (other_model, other, other_setting, other_norm), rows in groups.items()
            if (other_model, other_setting, other_norm) == (model, setting, norm) and kinds[other] == "fgsm"
        ]
        if kinds[attack] not in ITERATIVE_ATTACKS or not baselines:
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
    tolerance: float | None = None, large_epsilon: Mapping[str, float] | None = None, near_zero: float = NEAR_ZERO,
    attack_kinds: Mapping[str, str] | None = None,
) -> list[CheckResult]:
    """Check a robustness table for the signs of a broken evaluation (Carlini et al., 2019).

    ``tolerance`` is the accuracy noise allowed by the monotonicity and PGD-vs-FGSM
    checks (default: max(0.01, 3 images)). ``large_epsilon`` maps a norm to the
    smallest epsilon at which an ``undefended`` model (names of models in the
    rows) must be at most ``near_zero`` accurate (default :data:`LARGE_EPSILON`).
    ``attack_kinds`` maps an attack name in the rows to "fgsm", "bim" or "pgd"
    (default: the name itself, lower-case; a :class:`RobustnessCurve` brings its
    own). A check that cannot run is returned as failed, with ``skipped=True``.
    """
    own_kinds = getattr(rows, "attack_kinds", {})
    rows = _check_rows(rows)
    if not isinstance(clean_accuracy, Mapping):
        raise TypeError("clean_accuracy must be a dict {model name: accuracy on the clean images}.")
    groups = _series(rows)
    undefended = _checks.check_names(undefended, "undefended", known=sorted({key[0] for key in groups}))
    tolerance = _checks.check_number(tolerance, "tolerance", allow_none=True, maximum=1.0)
    near_zero = _checks.check_number(near_zero, "near_zero", maximum=1.0)
    if large_epsilon is not None and not isinstance(large_epsilon, Mapping):
        raise TypeError("large_epsilon must be a dict {norm: epsilon}, e.g. {'linf': 0.3}.")
    kinds = {**own_kinds, **(attack_kinds or {})}
    kinds = {attack: kinds.get(attack, str(attack).strip().lower()) for (_, attack, _, _) in groups}
    found: list[CheckResult] = []
    for key, series in groups.items():
        found += _check_eps_zero(key, series, clean_accuracy)
        found += _check_monotone(key, series, tolerance)
    found += _check_iterative(groups, tolerance, kinds)
    found += _check_undefended(groups, undefended, large_epsilon or LARGE_EPSILON, near_zero)
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


# ----------------------------------------------------------------------------
# Tables: pandas DataFrames for notebooks, plain text for logs and tests.
# ----------------------------------------------------------------------------


def wide_rows(rows: Iterable[Mapping]) -> list[dict]:
    """One row per (model, attack, setting, norm) with a column ``eps=...`` per epsilon."""
    wide = []
    for (model, attack, setting, norm), series in _series(rows).items():
        row = {"model": model, "attack": attack, "setting": setting, "norm": norm}
        row.update({f"eps={entry['epsilon']:g}": entry["accuracy"] for entry in series})
        wide.append(row)
    return wide


def _columns(rows: list[Mapping], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return [key for key in _COLUMNS if key in keys] + [key for key in keys if key not in _COLUMNS]


def _is_score(column: str, values) -> bool:
    """Accuracies and other shares in [0, 1]: shown to 3 decimals, coloured by value."""
    numbers = [v for v in values if _is_number(v)]
    return bool(numbers) and all(isinstance(v, (float, np.floating)) for v in numbers) and column not in (
        "epsilon", "seconds", "training s", "s / epoch") and all(-1.0 <= v <= 1.0 for v in numbers)


def _cell(key: str, value) -> str:
    """A value as table text: shares to 3 decimals, epsilons as given, seconds to 0.1, None as '-'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, (float, np.floating)):
        if key in _COUNTS and float(value).is_integer():  # a count that pandas made a float (beside a None)
            return f"{int(value):,}"
        if key == "seconds":
            return f"{value:.1f}"
        if key == "epsilon":
            return f"{value:g}"
        return f"{value:.3f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def results_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None):
    """Rows of dicts as a pandas DataFrame, columns in the series' usual order (or ``columns``).

    The values stay numbers, for sorting and plotting; :func:`styled_table` is
    the form to show in a notebook and :func:`format_table` the plain-text one.
    """
    import pandas as pd

    rows = list(rows)
    columns = _columns(rows, columns)
    return pd.DataFrame([{key: row.get(key) for key in columns} for row in rows], columns=columns)


def styled_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None, *, colours: bool = True):
    """The table as Jupyter shows it: accuracies to 3 decimals, coloured red (0) to green (1), no index.

    Returns a pandas ``Styler``; a notebook cell that ends with it renders an HTML table.
    """
    frame = results_table(rows, columns)
    formats = {column: (lambda value, key=column: _cell(key, value)) for column in frame.columns}
    styler = frame.style.format(formats).hide(axis="index")
    text = [column for column in frame.columns if not all(_is_number(v) or v is None for v in frame[column].tolist())]
    if text:  # names read left-aligned, numbers stay right-aligned
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    scores = [column for column in frame.columns if _is_score(column, frame[column].tolist())]
    if colours and scores:
        styler = styler.background_gradient(cmap="RdYlGn", vmin=0.0, vmax=1.0, subset=scores)
    return styler


def format_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None) -> str:
    """The table as plain, aligned text for logs and tests: numbers right-aligned, formatted as in notebooks."""
    frame = results_table(rows, columns)
    if frame.empty:
        return "(no rows)"
    text = {}
    for column in frame.columns:
        values = frame[column].tolist()
        cells = [_cell(column, value) for value in values]
        width = max(len(str(column)), *map(len, cells))
        right = all(_is_number(value) or value is None for value in values)
        pad = (lambda cell, w=width: cell.rjust(w)) if right else (lambda cell, w=width: cell.ljust(w))
        text[pad(str(column))] = [pad(cell) for cell in cells]
    return "\n".join(line.rstrip() for line in type(frame)(text).to_string(index=False).splitlines())


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
