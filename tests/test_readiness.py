"""helpers.readiness (make check): the pre-workshop check's lines, their fixes, and its time estimates."""

import re
from pathlib import Path

import numpy as np
import pytest

from helpers import data
from helpers import readiness as check

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("version, status", [((3, 10, 12), "FAIL"), ((3, 11, 7), "OK"), ((3, 13, 0), "OK"), ((3, 14, 0), "FAIL")])
def test_python_versions(version, status):
    result = check.check_python(version)
    assert result.status == status
    if status == "FAIL":
        assert "PYTHON=python3.12" in result.fix


def test_pins_are_read_from_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nnumpy==1.0.0  # all notebooks\nno-such-package-advlearn==1.0\npip>=1\n")
    assert check.pinned_packages(requirements) == {"numpy": "1.0.0", "no-such-package-advlearn": "1.0"}
    result = check.check_packages(requirements)
    assert result.status == "FAIL" and "no-such-package-advlearn" in result.what and "make setup" in result.fix


def test_pin_with_another_version_warns(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==0.0.1\n")
    result = check.check_packages(requirements)
    assert result.status == "WARN" and "numpy" in result.what and "(pinned 0.0.1)" in result.what


def test_the_real_pins_are_installed_here():
    assert check.check_packages().status == "OK"


def test_keras2_is_active():
    assert check.check_keras2().status == "OK"


def test_nsl_training_step_runs():
    sample = data.load_sample()
    result = check.check_nsl(data.to_model_input(sample.x_train[:8]), sample.y_train[:8])
    assert result.status == "OK", result.what


def test_nsl_failure_is_a_fail_line_with_a_fix():
    result = check.check_nsl(np.zeros((4, 28, 28, 1), np.float32), np.array([0, 1, 2, 99]))
    assert result.status == "FAIL" and result.fix


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    result = check.check_dataset()
    assert result.status == "FAIL" and "make prefetch" in result.fix


def test_corrupted_dataset_file_fails(tmp_path, monkeypatch):
    for name in data.FILES:
        (tmp_path / name).write_bytes(b"not a dataset")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    result = check.check_dataset()
    assert result.status == "FAIL" and "make prefetch" in result.fix


def test_vgg19_weights_are_looked_at_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    result = check.check_vgg19_weights()
    assert result.status == "WARN" and "make prefetch" in result.fix
    assert not any(tmp_path.rglob("*.h5"))


def test_disk_below_minimum_fails(tmp_path):
    assert check.check_disk(tmp_path, minimum_gb=1e9).status == "FAIL"
    assert check.check_disk(tmp_path, minimum_gb=0.0).status == "OK"


def test_kernel_lines():
    python = "/x/.venv/bin/python"
    assert check.check_kernel({}, python).status == "FAIL"
    assert check.check_kernel({"advlearn": {"spec": {"argv": [python, "-m", "ipykernel_launcher"]}}}, python).status == "OK"
    other = check.check_kernel({"advlearn": {"spec": {"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher"]}}}, python)
    assert other.status == "WARN" and "make kernel" in other.fix


def test_estimates_scale_with_speed():
    reference = {"01": 100.0, "02": 200.0}
    assert check.estimate_notebook_seconds(1000.0, reference, 1000.0) == reference
    assert check.estimate_notebook_seconds(500.0, reference, 1000.0) == {"01": 200.0, "02": 400.0}
    with pytest.raises(ValueError, match="images_per_second"):
        check.estimate_notebook_seconds(0.0, reference, 1000.0)


def test_reference_times_are_the_readmes():
    """The estimate's reference seconds are the measured times in README's results table."""
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d\d) [^|]+\| (\d+) s \|", readme, flags=re.M))
    assert table, "README's 'What a run gives' table not found"
    expected = {name[:2]: seconds for name, seconds in check.REFERENCE_NOTEBOOK_SECONDS.items()}
    assert {key: int(value) for key, value in table.items()} == expected
    notebooks = {path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(check.REFERENCE_NOTEBOOK_SECONDS) <= notebooks


def test_status_is_checked():
    with pytest.raises(ValueError, match="status"):
        check.Result("GOOD", "x")
