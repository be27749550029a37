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


def fake_venv_python(tmp_path: Path, uv_fails: bool) -> tuple[Path, Path]:
    """A venv whose python answers the version check with 3.12, logs every other call, and fails to install uv
    when ``uv_fails``: enough to see which installer `make setup` uses, without installing anything."""
    venv, log = tmp_path / "venv", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    refuse_uv = 'case "$*" in *"uv=="*) exit 1;; esac\n' if uv_fails else ""
    script = venv / "bin" / "python"
    script.write_text(f'#!/bin/sh\ncase "$1" in -c) echo 3.12; exit 0;; esac\necho "$*" >> {log}\n{refuse_uv}exit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return venv, log


@pytest.mark.parametrize("case", ["uv", "uv cannot install", "INSTALLER=pip"])
def test_setup_installs_with_uv_or_else_with_pip(tmp_path, case):
    venv, log = fake_venv_python(tmp_path, uv_fails=case == "uv cannot install")
    extra = ["INSTALLER=pip"] if case == "INSTALLER=pip" else []
    result = run_make("setup", f"VENV={venv}", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    with_uv = [call for call in calls if call.startswith("-m uv pip install")]
    with_pip = [call for call in calls if call.startswith("-m pip install --quiet -r requirements.txt")]
    if case == "uv":
        assert "Installing with pip" not in result.stdout and not with_pip
        assert any("--compile-bytecode -r requirements.txt" in call for call in with_uv), calls
    else:
        assert "Installing with pip" in result.stdout and with_pip and not with_uv, calls
    assert any("ipykernel install" in call for call in calls) and (venv / ".installed").exists()
