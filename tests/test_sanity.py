"""Tests of helpers.sanity: each check of a robustness table passes on a sound one and can fail."""

import pytest

from helpers import sanity


def _rows(attack, accuracies, model="m", epsilons=(0.0, 0.1, 0.3), n=1000, norm="linf"):
    return [
        {"model": model, "attack": attack, "setting": "white-box", "norm": norm, "epsilon": e, "accuracy": a, "n": n}
        for e, a in zip(epsilons, accuracies)
    ]


def _failed(checks):
    return {check.name for check in checks if not check.passed}


def test_sanity_checks_pass_on_a_sound_table():
    checks = sanity.sanity_checks(_rows("fgsm", [0.9, 0.4, 0.1]) + _rows("pgd", [0.9, 0.3, 0.0]), {"m": 0.9},
                                  undefended=["m"])
    assert all(check.passed for check in checks) and len(checks) == 2 + 2 + 1 + 1


@pytest.mark.parametrize(
    "rows, clean, failing",
    [
        (_rows("fgsm", [0.8, 0.4, 0.1]), 0.9, "eps 0 equals clean accuracy"),
        (_rows("fgsm", [0.9, 0.02, 0.08]), 0.9, "accuracy does not rise with epsilon"),
        (_rows("fgsm", [0.9, 0.4, 0.1]) + _rows("pgd", [0.9, 0.5, 0.0]), 0.9, "pgd at least as strong as FGSM"),
        (_rows("fgsm", [0.9, 0.4, 0.2]) + _rows("pgd", [0.9, 0.3, 0.15]), 0.9, "large epsilon breaks an undefended model"),
    ],
)
def test_each_sanity_check_can_fail(rows, clean, failing):
    assert _failed(sanity.sanity_checks(rows, {"m": clean}, undefended=["m"])) == {failing}


def test_small_noise_is_tolerated_but_not_more():
    noisy = _rows("fgsm", [0.9, 0.4, 0.405], n=1000)
    assert not _failed(sanity.sanity_checks(noisy, {"m": 0.9}))
    assert _failed(sanity.sanity_checks(noisy, {"m": 0.9}, tolerance=0.001)) == {"accuracy does not rise with epsilon"}


def test_large_epsilon_check_that_cannot_run_is_not_a_pass():
    checks = sanity.sanity_checks(_rows("fgsm", [0.9, 0.6], epsilons=(0.0, 0.05)), {"m": 0.9}, undefended=["m"])
    skipped = [check for check in checks if check.skipped]
    assert len(skipped) == 1 and not skipped[0].passed and "cannot run" in skipped[0].detail
    assert str(skipped[0]).startswith("[NOT RUN]")
    assert _failed(checks) == {"large epsilon breaks an undefended model"}


def test_report_checks_prints_and_warns(capsys):
    checks = sanity.sanity_checks(_rows("fgsm", [0.8, 0.4, 0.1]), {"m": 0.9})
    with pytest.warns(sanity.SanityCheckWarning):
        assert sanity.report_checks(checks) is False
    out = capsys.readouterr().out
    assert "SANITY CHECK FAILED (1 of 2)" in out and "eps 0 equals clean accuracy" in out
