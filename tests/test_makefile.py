"""The Makefile refuses an unsupported Python before it creates .venv or downloads anything."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def fake_python(folder: Path, version: str) -> Path:
    """An executable that answers the Makefile's version question like Python `version` would."""
    path = folder / f"python{version}"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def run_make(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *arguments], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MAKEFLAGS": ""})


@pytest.mark.parametrize("version", ["3.10", "3.14"])
def test_unsupported_python_is_refused_before_the_venv_is_made(tmp_path, version):
    venv = tmp_path / "venv"
    result = run_make("setup", f"PYTHON={fake_python(tmp_path, version)}", f"VENV={venv}")
    assert result.returncode != 0
    assert f"is {version}" in result.stdout and "3.11 to 3.13" in result.stdout
    assert "make lab PYTHON=python3.12" in result.stdout
    assert "Installing" not in result.stdout and not venv.exists()


def test_missing_python_is_named(tmp_path):
    result = run_make("python-version", f"PYTHON={tmp_path / 'no-such-python'}", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0 and "not found" in result.stdout


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_supported_python_passes(tmp_path, version):
    result = run_make("python-version", f"PYTHON={fake_python(tmp_path, version)}", f"VENV={tmp_path / 'venv'}")
    assert result.returncode == 0, result.stdout
