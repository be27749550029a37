"""Measuring: predictions, accuracy under attack, transfer between models, robustness curves.

* :func:`predict_classes` and :func:`accuracy` - compiled, batched, checked.
* :func:`evaluate_attack` - a model's accuracy on adversarial versions of a
  dataset, **white-box** (the model crafts its own examples) or **transfer**
  (``source_model`` crafts them), as an :class:`AttackResult` that names the
  attack, norm, epsilon and setting of the number.
* :func:`transfer_matrix` - examples crafted once on each of several models,
  every model scored on every set: white-box on the diagonal, transfer
  elsewhere, with the transfer rate of the examples that fooled their source,
  as a pandas DataFrame.
* :func:`robustness_curve` - accuracy against epsilon for several models and
  attacks, as a :class:`RobustnessCurve` (a tidy list of dict rows, also a
  DataFrame with ``.frame()``) that :func:`helpers.plots.plot_robustness_curve`
  draws. It runs the sanity checks of :mod:`helpers.sanity` and reports them.

Two neighbouring concerns have modules of their own: :mod:`helpers.sanity` (the
checks of Carlini et al., 2019, that an evaluation is sound) and
:mod:`helpers.tables` (results as DataFrames, rendered tables and plain text).
The notebooks render tables with ``evaluation.styled_table``, importable from here too.

Every public function checks its arguments once, on entry, with :mod:`helpers.checks`.

Example (a notebook cell)::

    curve = evaluation.robustness_curve({"cnn": cnn}, x_test, y_test, profile.epsilons,
                                        steps=profile.pgd_steps, undefended=["cnn"])
    display(curve.styled())         # accuracy per model, attack and epsilon
    plots.plot_robustness_curve(curve)
    assert curve.passed             # every sanity check held
"""

from __future__ import annotations

import inspect
import time
import weakref
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from helpers import attacks as _attacks
from helpers import checks as _checks
from helpers.sanity import LARGE_EPSILON, CheckResult, report_checks, sanity_checks
from helpers.tables import format_table, results_table, styled_table, wide_rows

__all__ = [
    "AttackResult",
    "RobustnessCurve",
    "predict_classes",
    "accuracy",
    "label_budget_runs",
    "evaluate_attack",
    "transfer_matrix",
    "robustness_curve",
    "styled_table",  # helpers.tables', importable from here too, as the notebooks do
]

_PREDICT_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
        """True when sanity checks ran and every one passed (False with no checks, e.g. ``check=False``)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def table(self, *, wide: bool = True) -> str:
        """The curve as plain text: one line per series with a column per epsilon, or tidy rows."""
        return format_table(wide_rows(self) if wide else self)

    def frame(self, *, wide: bool = True) -> pd.DataFrame:
        """The curve as a pandas DataFrame (see :func:`helpers.tables.results_table`): select rows with pandas."""
        return results_table(wide_rows(self) if wide else self)

    def styled(self, *, wide: bool = True):
        """The curve as a rendered table for a notebook (see :func:`helpers.tables.styled_table`)."""
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


def _supported_options(name: str, options: Mapping) -> dict:
    """The entries of ``options`` that the attack ``name`` takes; any other unknown option is an error, not dropped."""
    signature = inspect.signature(_attacks.ATTACKS[name])
    unknown = [key for key in options if key not in _SHARED_OPTIONS and key not in signature.parameters]
    if unknown:
        raise TypeError(
            f"{name} does not take the option(s) {', '.join(map(repr, unknown))}. "
            f"Check the spelling against its signature: {signature}"
        )
    return {key: value for key, value in options.items() if key in signature.parameters}


def label_budget_runs(budgets: Sequence[int], seeds: Sequence[int], run, *, progress: bool = True) -> pd.DataFrame:
    """The loop of the label-budget experiments (notebooks 02 and 05): every budget, then every seed.

    ``run(budget, seed)`` trains and scores that run's models and returns its rows (dicts); all rows come back
    as one DataFrame, in the order run. ``budgets`` are labelled images per class.
    """
    if isinstance(budgets, (int, np.integer)) or isinstance(seeds, (int, np.integer)) or not budgets or not seeds:
        raise ValueError("budgets and seeds must each be a non-empty list, e.g. budgets=(10, 30), seeds=(0, 1, 2).")
    budgets = [_checks.check_whole_number(budget, "budgets (labelled images per class)") for budget in budgets]
    seeds = [_checks.check_seed(seed, "seeds", allow_none=False) for seed in seeds]
    rows = []
    jobs = [(budget, seed) for budget in budgets for seed in seeds]
    for budget, seed in tqdm(jobs, desc="label budgets", unit="run", disable=not progress):
        rows += run(budget, seed)
    return pd.DataFrame(rows)


def evaluate_attack(
    model, images, labels, attack, epsilon: float, *,
    norm: str = "linf", source_model=None, model_name: str | None = None, source_name: str | None = None,
    batch_size: int = 500, progress: bool = True, return_adversarial: bool = False, **attack_options,
):
    """Accuracy of ``model`` on adversarial versions of ``images``, over the dataset in batches.

    White-box when ``source_model`` is None (``model`` crafts its own examples);
    otherwise transfer: ``source_model`` crafts them and ``model`` is scored on
    them. ``attack`` is a name ("fgsm", "bim", "pgd"); ``norm`` and
    ``attack_options`` (e.g. ``steps=20, seed=0``) go to it when it takes them.

    Returns an :class:`AttackResult`; with ``return_adversarial=True``, the pair
    ``(result, adversarial_images)`` so the examples can be shown or reused.
    """
    attack = _attacks.attack_name(attack)
    norm = _checks.check_norm(norm)
    epsilon = _checks.check_number(epsilon, "epsilon")
    images, true_classes = _attacks.check_data({"model": model, "source_model": source_model}, images, labels)
    model_name = _checks.check_text(model_name, "model_name", allow_none=True)
    source_name = _checks.check_text(source_name, "source_name", allow_none=True)
    crafter = model if source_model is None else source_model
    setting = "white-box" if source_model is None else f"transfer from {_name_of(source_model, source_name)}"
    options = _supported_options(attack, {"norm": norm, **attack_options})
    description = f"{attack} eps={epsilon:g} on {_name_of(model, model_name)}"
    started = time.perf_counter()
    correct = 0
    kept = []
    for start, stop, adversarial in _attacks.attack_batches(
        attack, crafter, images, true_classes, epsilon,
        batch_size=batch_size, progress=progress, description=description, **options,
    ):
        predicted = _compiled_predict(model, adversarial.shape[1:])(tf.constant(adversarial)).numpy()
        correct += int(np.sum(predicted == true_classes[start:stop]))
        if return_adversarial:
            kept.append(adversarial)
    result = AttackResult(
        model=_name_of(model, model_name), attack=attack, norm=norm, epsilon=epsilon,
        setting=setting, accuracy=correct / len(true_classes), n=len(true_classes),
        seconds=time.perf_counter() - started,
    )
    return (result, np.concatenate(kept)) if return_adversarial else result


def transfer_matrix(
    models: Mapping[str, object], images, labels, attack, epsilon: float, *,
    norm: str = "linf", batch_size: int = 500, progress: bool = True, keep_correct: bool = False,
    **attack_options,
) -> pd.DataFrame:
    """Craft ``attack`` once on every model and score every model on every model's examples.

    ``models`` maps names to models (at least two). For each source model the
    examples are crafted once (white-box on the source) and every other model is
    scored on the same images (transfer). Returns a pandas DataFrame, one row per
    source and scored model: ``model`` (scored), ``source``, ``setting``,
    ``attack``, ``norm``, ``epsilon``, ``accuracy``, ``n``, ``seconds`` (crafting
    time on the source) and ``transfer_rate``: of the images the source model
    classifies right when clean and wrong after its own attack, and the scored
    model classifies right when clean, the share the scored model now gets wrong
    (1.0 for the source itself; missing, NaN, when no image qualifies). With
    ``keep_correct=True`` each row also holds ``correct``: an array of one
    True/False per image (right after the attack), for paired comparisons.
    Select a row with pandas, e.g. ``table.set_index(["model", "source"]).loc["cnn", "lenet"]``.
    """
    if not isinstance(models, Mapping) or len(models) < 2:
        raise TypeError("models must be a dict of at least two {name: tf.keras model}: transfer needs a source and a target.")
    attack = _attacks.attack_name(attack)
    norm = _checks.check_norm(norm)
    epsilon = _checks.check_number(epsilon, "epsilon")
    batch_size = _checks.check_batch_size(batch_size)
    keep_correct = _checks.check_flag(keep_correct, "keep_correct")
    images, true_classes = _attacks.check_data(dict(models), images, labels)
    options = _supported_options(attack, {"norm": norm, **attack_options})
    clean_right = {name: _predict(model, images, batch_size) == true_classes for name, model in models.items()}
    rows = []
    for source, source_model in models.items():
        started = time.perf_counter()
        adversarial = _attacks.attack_dataset(
            attack, source_model, images, true_classes, epsilon, batch_size=batch_size, progress=progress, **options
        )
        seconds = time.perf_counter() - started
        right_after = {name: _predict(model, adversarial, batch_size) == true_classes for name, model in models.items()}
        fooled_source = clean_right[source] & ~right_after[source]
        for name in models:
            eligible = fooled_source & clean_right[name]
            rate = float(np.mean(~right_after[name][eligible])) if eligible.any() else None
            rows.append({
                "model": name, "source": source, "setting": "white-box" if name == source else f"transfer from {source}",
                "attack": attack, "norm": norm, "epsilon": epsilon,
                "accuracy": float(np.mean(right_after[name])), "n": len(true_classes), "seconds": seconds,
                "transfer_rate": rate,
            })
            if keep_correct:
                rows[-1]["correct"] = right_after[name]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------
# Robustness curves.
# ----------------------------------------------------------------------------


def _attack_names(attacks) -> list[str]:
    """The names in ``attacks`` (one name or several), checked; never empty."""
    names = [_attacks.attack_name(attack) for attack in ((attacks,) if isinstance(attacks, str) else attacks)]
    if not names:
        raise ValueError("attacks is empty: name at least one attack, e.g. attacks=('fgsm', 'pgd').")
    return names


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
    names = _attack_names(attacks)
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
    options = {"steps": steps, "step_size": step_size, "seed": seed}
    clean = {name: accuracy(model, images, labels, batch_size) for name, model in models.items()}
    jobs = [(name, attack, eps) for name in models for attack in names for eps in values]
    rows = []
    bar = tqdm(jobs, desc="robustness curve", unit="point", disable=not progress)
    for name, attack, eps in bar:
        bar.set_postfix_str(f"{name}, {attack}, eps={eps:g}")
        result = evaluate_attack(
            models[name], images, labels, attack, eps, norm=norm, source_model=source_model,
            model_name=name, source_name=source_name, batch_size=batch_size, progress=False, **options,
        )
        rows.append(result.as_row())
    curve = RobustnessCurve(rows, clean)
    if check:
        curve.checks = sanity_checks(curve, clean, undefended=undefended, tolerance=tolerance)
        report_checks(curve.checks)
    return curve
