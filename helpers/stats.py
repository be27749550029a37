"""The statistics every conclusion of the series rests on, each with its 95% interval.

* :func:`wilson_interval` - an accuracy measured on n images;
* :func:`paired_difference` - two accuracies on the *same* images (paired bootstrap);
* :func:`mcnemar` - the exact McNemar test of two models or attacks on the same images;
* :func:`seed_interval` - a mean over training seeds (Student's t, since 3 to 5 seeds are few);
* :func:`paired_seed_difference` - two training recipes, each run from the same seeds (same data
  draws and initial weights), compared seed by seed.

All use scipy (``binomtest``, ``bootstrap``, ``t``). A difference is worth naming only when
its interval excludes zero; :func:`verdict` words that rule for a notebook's printout.
"""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "paired_difference", "mcnemar", "seed_interval", "paired_seed_difference",
           "verdict"]


def _booleans(values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype != bool and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold one True/False per image (right or wrong), got values {values[:5]}...")
    return values.astype(bool).ravel()


def wilson_interval(correct) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy, from one True/False per image (scipy's ``binomtest``)."""
    from scipy.stats import binomtest

    correct = _booleans(correct, "correct")
    if correct.size == 0:
        raise ValueError("correct must hold one True/False per image; it is empty.")
    interval = binomtest(int(correct.sum()), correct.size).proportion_ci(0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _pair(first, second) -> tuple[np.ndarray, np.ndarray]:
    first, second = _booleans(first, "first"), _booleans(second, "second")
    if first.shape != second.shape or first.size < 2:
        raise ValueError(f"first and second must be the same images (one True/False each, at least 2), got "
                         f"{first.size} and {second.size}.")
    return first, second


def paired_difference(first, second, *, seed: int = 0, resamples: int = 2000) -> tuple[float, float, float]:
    """Accuracy of ``first`` minus ``second`` on the same images, with its 95% paired bootstrap interval.

    ``first`` and ``second`` hold one True/False per image, the same images in
    the same order. Returns ``(difference, low, high)`` from scipy's
    ``bootstrap(paired=True)`` (percentile interval): images are resampled together, so what
    both get right or wrong cancels out.
    """
    from scipy.stats import bootstrap

    first, second = _pair(first, second)
    difference = float(first.mean() - second.mean())
    if np.array_equal(first, second):
        return difference, difference, difference
    result = bootstrap((first.astype(float), second.astype(float)), lambda a, b: np.mean(a) - np.mean(b),
                       paired=True, n_resamples=resamples, random_state=seed, method="percentile")
    return difference, float(result.confidence_interval.low), float(result.confidence_interval.high)


def mcnemar(first, second) -> dict:
    """Exact McNemar test: do ``first`` and ``second`` (True/False per image, same images) differ?

    Only the images on which they disagree carry information: ``only_first`` right for
    ``first`` alone, ``only_second`` for ``second`` alone. Under "no difference" each
    disagreement is a fair coin, so the p-value is a two-sided binomial test on them.
    Returns a dict with ``only_first``, ``only_second``, ``p_value`` and the accuracy ``difference``.
    """
    from scipy.stats import binomtest

    first, second = _pair(first, second)
    only_first = int((first & ~second).sum())
    only_second = int((second & ~first).sum())
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(binomtest(only_first, discordant, 0.5).pvalue)
    return {"only_first": only_first, "only_second": only_second, "p_value": p_value,
            "difference": float(first.mean() - second.mean())}


def seed_interval(values) -> tuple[float, float, float]:
    """Mean of one number per training seed, with its 95% Student-t interval: ``(mean, low, high)``.

    With one seed there is no spread to measure: ``low`` and ``high`` are NaN.
    """
    from scipy.stats import t

    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"values must hold one finite number per seed, got {values}.")
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan"), float("nan")
    half = float(t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def paired_seed_difference(first, second) -> tuple[float, float, float]:
    """``first`` minus ``second``, seed by seed (same seeds in the same order), with a 95% t interval."""
    first = np.asarray(first, dtype=float).ravel()
    second = np.asarray(second, dtype=float).ravel()
    if first.shape != second.shape:
        raise ValueError(f"first and second must hold one number per seed for the same seeds, got {first.size} "
                         f"and {second.size}.")
    return seed_interval(first - second)


def verdict(difference: float, low: float, high: float, better: str, worse: str) -> str:
    """One line that names a difference only when its 95% interval excludes zero (and is not of zero width)."""
    interval = f"{difference:+.3f} (95% interval {low:+.3f} to {high:+.3f})"
    if np.isnan(low) or np.isnan(high):
        return f"{better} minus {worse}: {difference:+.3f}, one seed: no interval, no verdict."
    if low == high and difference != 0:  # e.g. 3 seeds with the same count: a degenerate t interval
        return (f"{better} minus {worse}: {difference:+.3f} on every seed alike: no spread to build an "
                f"interval on, no verdict.")
    if low > 0:
        return f"{better} beats {worse}: {interval}."
    if high < 0:
        return f"{worse} beats {better}: {interval}."
    return f"{better} and {worse} cannot be told apart here: {interval}."
