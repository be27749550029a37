"""Pre-workshop check: is this machine ready for the series? One screen, offline.

    make check               # or: python -m helpers.readiness

Run it at home before the day. Each line is OK, WARN (the series runs, with
less) or FAIL (fix it before the workshop), and every WARN or FAIL line says how
to fix it. It checks the Python version, that the pinned packages import at
their pinned versions, the Keras 2 set-up, one Neural Structured Learning
training step, the full Fashion-MNIST dataset (found and checksummed), whether
the VGG-19 ImageNet weights are cached, free disk space and the Jupyter kernel.
Then it times a short training epoch and estimates how long each notebook takes
in the ``workshop`` profile on this machine.

Nothing is downloaded: a missing dataset or missing weights are reported with
the command that would fetch them (``make prefetch``). Exit status 1 when a
line is FAIL, else 0.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from helpers import data

# `make check` runs main(); the checks it runs are its parts, tested one by one, and not used elsewhere.
__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
KERNEL_NAME = "advlearn"
MIN_FREE_GB = 1.0  # trained models (artifacts/), Keras caches and the VGG-19 weights fit in well under 1 GB

# Import name of each pinned distribution whose import name differs from its own.
IMPORT_NAMES = {
    "tensorflow": "tensorflow",
    "tf-keras": "tf_keras",
    "neural-structured-learning": "neural_structured_learning",
    "adversarial-robustness-toolbox": "art",
    "scikit-learn": "sklearn",
    "pytest-xdist": "xdist",
}

# The timing reference: what the README's "What a run gives" table measured (`make execute`, workshop
# profile) on a 2-core CPU without a GPU, and what `timed_epoch()` measured on that same machine type.
# tests/test_readiness.py checks these seconds against the README's table, so the two cannot drift apart.
# The README's times for 01, 02, 03 and 05 were measured while the CPU was shared (load average 3 to 6), so
# estimates built on them lean long: read them as upper bounds. 04's was measured alone (2026-12-02, load 2).
REFERENCE_MACHINE = "a 2-core CPU without a GPU"
REFERENCE_NOTEBOOK_SECONDS = {
    "01_cnn_basics": 158,
    "02_transfer_learning_vgg19": 327,
    "03_adversarial_attacks_fgsm": 269,
    "04_adversarial_regularization_nsl": 846,
    "05_graph_regularization_nsl": 768,
}
# timed_epoch() on that machine type (2026-11-25): 1,960 to 2,085 images/s in its quieter runs; the CPU
# is shared with other jobs, and its busiest runs (600 to 1,250) were left out. Estimates are +-30 % at best.
REFERENCE_IMAGES_PER_SECOND = 2000.0

STATUSES = ("OK", "WARN", "FAIL")


@dataclass(frozen=True)
class Result:
    """One line of the check: ``status`` is OK, WARN or FAIL; ``fix`` says what to do when it is not OK."""

    status: str
    what: str
    fix: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def lines(self) -> list[str]:
        out = [f"{self.status:<5} {self.what}"]
        if self.fix and self.status != "OK":
            out.append(f"      fix: {self.fix}")
        return out


def check_python(version_info=None) -> Result:
    """Python 3.11 to 3.13: what TensorFlow 2.21 and the pinned packages support."""
    major, minor = tuple((version_info or sys.version_info)[:2])
    if (major, minor) in SUPPORTED_PYTHONS:
        return Result("OK", f"Python {major}.{minor}")
    return Result(
        "FAIL",
        f"Python {major}.{minor}: the series needs 3.11 to 3.13",
        "install Python 3.12 and rebuild the environment: make clean && make setup PYTHON=python3.12",
    )


def pinned_packages(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """``{distribution: version}`` for every ``name==version`` line of requirements.txt."""
    pins = {}
    for line in Path(requirements).read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def check_packages(requirements: Path = REQUIREMENTS) -> Result:
    """Every pinned package is installed at its pinned version and imports."""
    import importlib

    missing, wrong, broken = [], [], []
    pins = pinned_packages(requirements)
    for name, pinned in pins.items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if found != pinned:
            wrong.append(f"{name} {found} (pinned {pinned})")
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        try:
            importlib.import_module(module)
        except Exception as error:  # an import can fail in many ways; all mean "broken"
            broken.append(f"{module} ({error.__class__.__name__})")
    if missing or broken:
        problems = ([f"not installed: {', '.join(missing)}"] if missing else []) + (
            [f"do not import: {', '.join(broken)}"] if broken else []
        )
        return Result("FAIL", "pinned packages: " + "; ".join(problems),
                      "reinstall them into .venv: make setup (or: .venv/bin/pip install -r requirements.txt)")
    if wrong:
        return Result("WARN", "pinned packages import, other versions: " + ", ".join(wrong),
                      "the numbers may differ from the notebooks: .venv/bin/pip install -r requirements.txt")
    return Result("OK", f"{len(pins)} pinned packages import, at their pinned versions")


def check_keras2() -> Result:
    """tf.keras is Keras 2 (tf-keras) with the same minor version as TensorFlow."""
    import tensorflow as tf
    import tf_keras

    tf_minor = tf.__version__.rsplit(".", 1)[0]
    if not tf.keras.__name__.startswith("tf_keras"):
        return Result("FAIL", f"tf.keras is {tf.keras.__name__}, not Keras 2",
                      "import helpers before tensorflow, and keep tf-keras installed")
    if not tf_keras.__version__.startswith(tf_minor + "."):
        return Result("FAIL", f"tf-keras {tf_keras.__version__} does not match TensorFlow {tf.__version__}",
                      f".venv/bin/pip install 'tf-keras~={tf_minor}.0'")
    return Result("OK", f"Keras 2: tf.keras is tf-keras {tf_keras.__version__} on TensorFlow {tf.__version__}")


def check_nsl(images=None, labels=None) -> Result:
    """One adversarial-regularization training step with NSL on a few sample images."""
    try:
        import neural_structured_learning as nsl
        import numpy as np

        from helpers import defenses, models

        if images is None:
            sample = data.load_sample()
            images, labels = data.to_model_input(sample.x_train[:32]), sample.y_train[:32]
        base = models.build_cnn()
        adv_model = defenses.wrap(base, defenses.adv_reg_config(1.0, 0.1, pgd_iterations=2, pgd_step=0.05))
        loss = adv_model.train_on_batch(defenses.nsl_inputs(base, images, labels))
        loss = float(np.ravel(loss)[0])
        if not np.isfinite(loss):
            raise RuntimeError(f"the training loss is {loss}")
    except Exception as error:
        return Result("FAIL", f"NSL training step failed: {error.__class__.__name__}: {str(error).splitlines()[0][:120]}",
                      "make setup, then check that `import helpers` comes before `import tensorflow`")
    return Result("OK", f"NSL {nsl.__version__}: one adversarial-regularization training step (loss {loss:.2f})")


def check_dataset() -> Result:
    """The full Fashion-MNIST dataset is found and every file matches its published checksum."""
    try:
        found = data.find_full_dataset()
        if found is None:
            return Result("FAIL", "full Fashion-MNIST not found (the workshop profile needs it)",
                          "make prefetch (downloads 30 MB), or apt-get install dataset-fashion-mnist, "
                          f"or set {data.DATA_DIR_ENV} to a folder with the four files")
        label, folder = found
        for name in data.FILES:
            data.verify_file(folder / name)
    except data.DataError as error:
        return Result("FAIL", f"Fashion-MNIST: {str(error).splitlines()[0]}",
                      "delete the bad file and run make prefetch, or copy a good one in its place")
    return Result("OK", f"Fashion-MNIST found ({label}), 4 files checksummed")


def check_vgg19_weights() -> Result:
    """Whether the VGG-19 ImageNet weights are in Keras's cache (looked at, never downloaded)."""
    from helpers.prefetch import VGG19_WEIGHTS_FILE, keras_models_dir

    path = keras_models_dir() / VGG19_WEIGHTS_FILE
    if path.is_file() and path.stat().st_size > 70e6:
        return Result("OK", f"VGG-19 ImageNet weights cached ({path.stat().st_size / 1e6:.0f} MB)")
    return Result("WARN", "VGG-19 ImageNet weights not cached: notebook 02 Part 2 will use random weights, and say so",
                  "make prefetch where there is internet (downloads 80 MB), or copy ~/.keras/models from a machine that has them")


def check_disk(path: Path = ROOT, minimum_gb: float = MIN_FREE_GB) -> Result:
    """Enough free disk for the trained models and caches."""
    free_gb = shutil.disk_usage(path).free / 1e9
    if free_gb < minimum_gb:
        return Result("FAIL", f"free disk {free_gb:.1f} GB (the series needs {minimum_gb:.0f} GB for models and caches)",
                      "free some space on this disk")
    return Result("OK", f"free disk {free_gb:.0f} GB")


def check_kernel(specs: dict | None = None, python: str = sys.executable) -> Result:
    """The ``advlearn`` Jupyter kernel is registered and runs this environment's Python."""
    if specs is None:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().get_all_specs()
    if KERNEL_NAME not in specs:
        return Result("FAIL", f"Jupyter kernel '{KERNEL_NAME}' not registered: the notebooks ask for it by name",
                      "make setup (registers it in .venv for make lab), or make kernel for your own Jupyter / VS Code")
    argv = specs[KERNEL_NAME]["spec"]["argv"]
    kernel_python = argv[0] if argv else ""
    if kernel_python != "python" and Path(kernel_python).parent != Path(python).parent:
        return Result("WARN", f"Jupyter kernel '{KERNEL_NAME}' runs {kernel_python}, not this environment's Python",
                      "re-register it from here: make kernel")
    return Result("OK", f"Jupyter kernel '{KERNEL_NAME}' registered")


def timed_epoch(images: int = 2000, batch_size: int = 128, seed: int = 0) -> float:
    """Train the series' CNN for one epoch on the bundled sample; returns images per second.

    A first short fit builds the model's graph so that start-up is not timed.
    """
    import tensorflow as tf

    from helpers import models

    sample = data.load_sample()
    x = data.to_model_input(sample.x_train[:images])
    y = sample.y_train[:images]
    tf.keras.utils.set_random_seed(seed)
    model = models.build_cnn()
    model.fit(x[:batch_size], y[:batch_size], batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - start)


def estimate_notebook_seconds(images_per_second: float,
                              reference: dict[str, float] = REFERENCE_NOTEBOOK_SECONDS,
                              reference_speed: float = REFERENCE_IMAGES_PER_SECOND) -> dict[str, float]:
    """Each notebook's workshop-profile time here: the reference time scaled by the speed ratio."""
    if not images_per_second > 0:
        raise ValueError(f"images_per_second must be > 0 (a measured training speed), got {images_per_second!r}")
    return {name: seconds * reference_speed / images_per_second for name, seconds in reference.items()}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_checks() -> list[Result]:
    return [check_python(), check_packages(), check_keras2(), check_nsl(), check_dataset(),
            check_vgg19_weights(), check_disk(), check_kernel()]


def main() -> int:
    print("Pre-workshop check (offline: nothing is downloaded)")
    results = run_checks()
    for result in results:
        print("\n".join(result.lines()))
    speed = timed_epoch()
    estimates = estimate_notebook_seconds(speed)
    print(f"\nWorkshop-profile time per notebook here, from a timed epoch ({speed:,.0f} images/s; "
          f"reference {REFERENCE_IMAGES_PER_SECOND:,.0f} on {REFERENCE_MACHINE}):")
    print("  " + " · ".join(f"{name[:2]} ~{_minutes(seconds)}" for name, seconds in estimates.items())
          + f" · all ~{_minutes(sum(estimates.values()))}")
    if speed < REFERENCE_IMAGES_PER_SECOND / 3:
        print("  Slow machine: use ADVLEARN_PROFILE=smoke in the room, or Colab with a GPU.")
    failed = sum(r.status == "FAIL" for r in results)
    warned = sum(r.status == "WARN" for r in results)
    if failed:
        print(f"\nNOT READY: {failed} FAIL line(s) above; each says how to fix it.")
        return 1
    print("\nREADY" + (f" ({warned} warning(s) above: the series runs, with less)" if warned else "") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
