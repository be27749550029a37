"""helpers.stats: the intervals and paired tests behind every conclusion of the series."""

import math

import numpy as np
import pytest
from scipy.stats import t

from helpers import stats


def test_seed_interval_is_student_t():
    mean, low, high = stats.seed_interval([0.80, 0.82, 0.84])
    half = t.ppf(0.975, 2) * 0.02 / math.sqrt(3)  # sample std of the three is 0.02
    assert mean == pytest.approx(0.82)
    assert (low, high) == pytest.approx((0.82 - half, 0.82 + half))


def test_one_seed_has_no_interval():
    mean, low, high = stats.seed_interval([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
    assert "no verdict" in stats.verdict(mean, low, high, "a", "b")


def test_paired_seed_difference_cancels_what_the_seeds_share():
    # Seeds move both recipes together by a lot; the paired difference stays tight.
    shared = np.array([0.60, 0.75, 0.90])
    _, low, high = stats.paired_seed_difference(shared + 0.02, shared)
    assert low == pytest.approx(0.02) and high == pytest.approx(0.02)
    _, unpaired_low, _ = stats.seed_interval(shared + 0.02)
    assert unpaired_low < 0.77 - 0.3  # the mean of shared + 0.02 is 0.77, its interval is wide
    with pytest.raises(ValueError, match="one number per seed"):
        stats.paired_seed_difference([1, 2, 3], [1, 2])


def test_verdict_names_a_difference_only_beyond_zero():
    assert stats.verdict(0.05, 0.01, 0.09, "A", "B").startswith("A beats B")
    assert stats.verdict(-0.05, -0.09, -0.01, "A", "B").startswith("B beats A")
    assert "cannot be told apart" in stats.verdict(0.01, -0.02, 0.04, "A", "B")
    # Seeds that all give the same difference leave a t interval of zero width: no verdict on it.
    degenerate = stats.verdict(*stats.paired_seed_difference([0.87] * 3, [0.885] * 3), "A", "B")
    assert "no verdict" in degenerate and "beats" not in degenerate
    assert "cannot be told apart" in stats.verdict(0.0, 0.0, 0.0, "A", "B")  # identical: no difference


def test_mcnemar_uses_only_the_disagreements():
    first = np.array([True] * 50 + [True] * 20 + [False] * 2 + [False] * 28)
    second = np.array([True] * 50 + [False] * 20 + [True] * 2 + [False] * 28)
    result = stats.mcnemar(first, second)
    assert (result["only_first"], result["only_second"]) == (20, 2)
    assert result["p_value"] < 0.001
    assert result["difference"] == pytest.approx(0.18)
    assert stats.mcnemar(first, first)["p_value"] == 1.0
    balanced = stats.mcnemar([True, False] * 10, [False, True] * 10)
    assert balanced["p_value"] == 1.0


def test_paired_difference_and_wilson_reject_bad_input():
    with pytest.raises(ValueError, match="True/False"):
        stats.wilson_interval([0.5, 0.7])
    with pytest.raises(ValueError, match="same images"):
        stats.paired_difference([True, False], [True])
