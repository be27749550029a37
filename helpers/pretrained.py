"""Ready-trained models for slow laptops: notebook 01's CNN, notebook 03's LeNet and notebook 04's defended CNN.

They were trained by the workshop recipe itself: the notebooks, executed in the workshop profile, saved them in
``artifacts/workshop/``, and ``scripts/make_pretrained.py`` saved their weights into ``pretrained/workshop/`` with
metadata: the SHA-256 of each file, the recipe, the versions that trained it and its accuracy on the full test split
and on the bundled sample (which ``tests/test_pretrained.py`` re-measures). Only the weights ship (HDF5, which every
tf-keras 2 reads; Colab's tf-keras 2.20 cannot read a ``.keras`` file written by 2.21): the architecture is the
lessons' own code (:data:`_BUILDERS`).

They are used only on request:

* ``ADVLEARN_PRETRAINED=1`` before starting Jupyter: the notebooks load them where they would train, and say so
  (:func:`ready_trained`);
* ``make models``: saves them into ``artifacts/workshop/``, where notebooks 02-05 look for notebook 01's CNN
  (:func:`_install`).
"""

from __future__ import annotations

import os
from pathlib import Path

from helpers import artifacts, models
from helpers.profiles import get_profile

__all__ = ["PRETRAINED_DIR", "READY", "ready_trained"]

PRETRAINED_DIR = artifacts.REPO_ROOT / "pretrained"
READY = {"cnn": "notebook 01", "lenet": "notebook 03", "nsl_adv_regularized": "notebook 04"}
_ENVIRONMENT_VARIABLE = "ADVLEARN_PRETRAINED"
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_BUILDERS = {  # the untrained, compiled architecture each set of weights goes into
    "cnn": models.build_cnn,
    "lenet": models.build_lenet,
    "nsl_adv_regularized": lambda: models.build_cnn(name="adv_regularized"),  # notebook 04's base
}


def _requested() -> bool:
    """Whether ``ADVLEARN_PRETRAINED`` asks for the ready-trained models (1/true/yes/on; unset, 0/false/no/off: no)."""
    value = os.environ.get(_ENVIRONMENT_VARIABLE, "").strip().lower()
    if value not in _YES + _NO:
        raise ValueError(
            f"{_ENVIRONMENT_VARIABLE}={os.environ[_ENVIRONMENT_VARIABLE]!r} is neither yes nor no: set it to 1 to load "
            "the ready-trained models instead of training, or unset it (or 0) to train."
        )
    return value in _YES


def _check_name(name: str) -> str:
    if name not in READY:
        raise ValueError(f"name must be one of the ready-trained models {sorted(READY)}, not {name!r}.")
    return name


def _load(name: str, root: Path | None = None):
    """``(model, metadata)`` of a ready-trained model, its checksum checked; raises when it is missing."""
    name = _check_name(name)
    model, metadata = artifacts.load_saved_model(
        name, get_profile("workshop"), root or PRETRAINED_DIR, build=_BUILDERS[name])
    if model is None:
        raise FileNotFoundError(
            f"pretrained/workshop/{name}-weights.h5 is missing: this checkout has no ready-trained {name}. "
            "Restore it with git (git checkout -- pretrained), or unset ADVLEARN_PRETRAINED to train it here."
        )
    return model, metadata


def ready_trained(name: str, root: Path | None = None):
    """The ready-trained model ``name`` when ``ADVLEARN_PRETRAINED`` asks for it, else ``(None, None)``.

    A notebook calls this where it would train: ``(None, None)`` means "train as usual". When it loads, it says so,
    with the recipe and the accuracy the model was measured at.
    """
    name = _check_name(name)
    if not _requested():
        return None, None
    model, metadata = _load(name, root)
    accuracy = metadata.get("test_accuracy")
    measured = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, float) else ""
    print(f"Loaded the ready-trained {name} instead of training it ({_ENVIRONMENT_VARIABLE}=1): trained by "
          f"{READY[name]} in the workshop profile on {metadata.get('trained_on') or '?'}{measured}.")
    return model, metadata


def _install(root: Path | None = None, target: Path | None = None) -> list[Path]:
    """Save the ready-trained models into ``artifacts/workshop/`` (``make models``); returns the files written.

    Each is loaded (its checksum checked) and saved as the notebooks save what they train, by this tf-keras, with
    its metadata, marked ``ready_trained``.
    """
    loaded = {name: _load(name, root) for name in READY}  # a missing or changed file stops before anything is written
    written = []
    for name, (model, metadata) in loaded.items():
        kept = {key: value for key, value in metadata.items() if key not in artifacts.RESERVED_KEYS}
        path = artifacts.save_model(model, name, get_profile("workshop"), {**kept, "ready_trained": True}, target)
        written += [path, path.with_suffix(".json")]
    return written


if __name__ == "__main__":  # make models
    for path in _install():
        print(f"wrote {artifacts.relative_path(path)}")
