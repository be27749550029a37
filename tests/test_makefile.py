"""The Makefile refuses an unsupported Python before it creates .venv or downloads anything; `make compat`'s pins."""

import os
import re
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


# The versions of Colab's stack README names: the package as the pin file spells it, and as README writes it.
COLAB_HEADLINE = {"tensorflow": "TensorFlow", "tf-keras": "tf-keras", "numpy": "numpy", "pandas": "pandas",
                  "matplotlib": "matplotlib", "ipywidgets": "ipywidgets", "ipykernel": "ipykernel"}


def compat_pins() -> tuple[Path, dict]:
    """The pin file `make compat` installs, as `make help` names it, and its pins by normalised package name."""
    match = re.search(r"make compat .*\((compat/[^)\s]+\.txt)\)", run_make("help").stdout)
    assert match, "`make help` does not name the pin file that `make compat` installs"
    path = ROOT / match.group(1)
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert re.fullmatch(r"[A-Za-z0-9_.-]+", name) and version, f"{path.name}: {line!r} is not name==version"
            key = re.sub(r"[-_.]+", "-", name).lower()
            assert key not in pins, f"{path.name}: {name} is pinned twice"
            pins[key] = version
    return path, pins


def test_compat_pins_every_package_and_the_readme_names_them():
    path, pins = compat_pins()
    assert {"nbval", "pytest", "neural-structured-learning", "ipykernel"} <= pins.keys()
    readme = (ROOT / "README.md").read_text()
    assert str(path.relative_to(ROOT)) in readme, f"README does not name {path.name}, the stack `make compat` checks"
    for key, label in COLAB_HEADLINE.items():
        assert f"{label} {pins[key]}" in readme, f"README does not say that `make compat` checks {label} {pins[key]}"
