"""Trained models kept between notebooks: written atomically, checked when read back.

Notebook 01 saves its CNN, notebook 02 its VGG-19 and notebook 04 its two
models in ``artifacts/<profile>/`` at the repository root (git-ignored);
notebook 03 reuses them.

* :func:`save_model` - ``<name>.keras`` (or, ``weights_only``, ``<name>-weights.h5``) and its metadata
  ``<name>.json``. Each
  is written to a temporary file in the same folder and renamed into place, the
  metadata last, so a save that is killed halfway leaves no half-written file.
  The metadata records the artifact format version, the profile, the model's
  input shape and number of classes, and the SHA-256 of the model file, which
  tells a model file and metadata from different saves apart.
* :func:`load_saved_model` - a model and its metadata, checked; an
  :class:`ArtifactError` says, with the file's path, why one cannot be used.
* :func:`get_trained_cnn` - notebook 01's CNN, retrained (saying why) when it is
  missing or cannot be used.
* :func:`load_vgg19` - notebook 02's VGG-19, or ``(None, None)`` saying why.
* :func:`relative_path` - a path as helpers print it: relative to the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

from helpers import checks
from helpers.profiles import check_profile
from helpers import data as _data
from helpers import evaluation as _evaluation
from helpers import models as _models

__all__ = [
    "ArtifactError",
    "RESERVED_KEYS",
    "relative_path",
    "save_model",
    "load_saved_model",
    "get_trained_cnn",
    "load_vgg19",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
_ARTIFACTS_DIR = REPO_ROOT / "artifacts"
# Raised when what save_model writes changes; older artifacts are then reported and retrained.
_FORMAT_VERSION = 1
RESERVED_KEYS = (
    "name", "profile", "format_version", "input_shape", "classes", "sha256", "saved_at", "weights_only", "tf_keras",
)
_TF_KERAS = _package_version("tf-keras")


class ArtifactError(RuntimeError):
    """A saved model that cannot be used: unreadable, incomplete, or saved for another profile or input."""


def relative_path(path) -> str:
    """``path`` relative to the repository root when it is inside it (``artifacts/smoke/cnn.keras``), else as given."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _artifact_dir(profile, root: Path | None = None) -> Path:
    """``artifacts/<profile name>/`` at the repository root (or under ``root``)."""
    profile = check_profile(profile)
    return Path(root if root is not None else _ARTIFACTS_DIR) / profile.name


# ----------------------------------------------------------------------------
# Writing.
# ----------------------------------------------------------------------------


def _model_path(folder: Path, name: str, weights_only: bool) -> Path:
    return folder / (f"{name}-weights.h5" if weights_only else f"{name}.keras")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temporary_beside(target: Path) -> Path:
    """A hidden, unique file name in ``target``'s folder, with its suffix (Keras picks the format by it)."""
    return target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")


def _write_temporary(target: Path, write: Callable[[Path], None]) -> Path:
    """``write`` a temporary file beside ``target`` and flush it to disk; removed again if writing fails."""
    temporary = _temporary_beside(target)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _rename(source: Path, target: Path) -> None:
    """Move ``source`` over ``target`` in one step (both in one folder, so one file system)."""
    os.replace(source, target)


def _json_value(value):
    """NumPy numbers and arrays as plain JSON; anything else that JSON cannot hold is an error."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(
        f"metadata values must be numbers, strings, booleans, None, lists or dicts; got {type(value).__name__} "
        f"({value!r:.80})."
    )


def _shape_of(model) -> tuple[list | None, int | None]:
    """(per-image input shape, number of classes) as the model declares them, or None where it does not."""
    try:
        input_shape = list(model.input_shape[1:])
    except (AttributeError, RuntimeError, TypeError, ValueError):
        input_shape = None
    try:
        classes = int(model.output_shape[-1])
    except (AttributeError, RuntimeError, TypeError, ValueError):
        classes = None
    return input_shape, classes


def save_model(
    model: tf.keras.Model, name: str, profile, metadata: Mapping | None = None, root: Path | None = None,
    *, weights_only: bool = False,
) -> Path:
    """Save ``model`` as ``artifacts/<profile>/<name>.keras`` (or its weights) with ``<name>.json``; returns its path.

    ``metadata`` (numbers, strings, lists...: accuracy, whether weights were
    pretrained...) is stored with the profile, the format version, the model's
    input shape and classes, the SHA-256 of the model file and the time of
    saving. Both files are written to temporary files in the same folder first
    and then renamed into place, the metadata last: an interrupted save leaves
    the previous files, or a pair whose checksum tells :func:`load_saved_model`
    they do not belong together, never a half-written file.

    ``weights_only=True`` saves only the weights, as ``<name>-weights.h5`` (HDF5, read by every tf-keras 2 version;
    a ``.keras`` file written by tf-keras 2.21 cannot be read by 2.20): :func:`load_saved_model` then needs ``build``.
    """
    checks.check_model(model)
    name = checks.check_file_name(name)
    profile = check_profile(profile)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}.")
    metadata = dict(metadata or {})
    reserved = sorted(set(metadata) & set(RESERVED_KEYS))
    if reserved:
        raise ValueError(
            f"metadata uses the key(s) {', '.join(map(repr, reserved))}, which save_model writes itself; rename them."
        )
    json.dumps(metadata, default=_json_value)  # a value JSON cannot hold fails here, before any file is touched

    folder = _artifact_dir(profile, root)
    folder.mkdir(parents=True, exist_ok=True)
    path, info_path = _model_path(folder, name, weights_only), folder / f"{name}.json"
    write = model.save_weights if weights_only else model.save
    model_file = _write_temporary(path, lambda temporary: write(temporary))
    try:
        input_shape, classes = _shape_of(model)
        info = {
            "name": name, "profile": profile.name, "format_version": _FORMAT_VERSION, "input_shape": input_shape,
            "classes": classes, "sha256": _sha256(model_file), "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "weights_only": weights_only, "tf_keras": _TF_KERAS, **metadata,
        }
        text = json.dumps(info, indent=2, default=_json_value)
        info_file = _write_temporary(info_path, lambda temporary: temporary.write_text(text))
    except BaseException:
        model_file.unlink(missing_ok=True)
        raise
    try:
        _rename(model_file, path)
    except BaseException:
        model_file.unlink(missing_ok=True)
        info_file.unlink(missing_ok=True)
        raise
    try:
        _rename(info_file, info_path)  # metadata last: it vouches for the model file now in place
    except BaseException:
        info_file.unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------
# Reading.
# ----------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def _read_metadata(path: Path, info_path: Path) -> dict:
    where = relative_path(info_path)
    if not info_path.is_file():
        raise ArtifactError(
            f"{relative_path(path)} has no metadata file {where}: its save was interrupted, or an older version "
            "of helpers wrote it."
        )
    try:
        metadata = json.loads(info_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{where} cannot be read ({_first_line(error)}): it is truncated or corrupted.") from error
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{where} does not hold the metadata of a saved model (a JSON object).")
    return metadata


def _mismatches(metadata: dict, name: str, profile, input_shape, classes) -> list[str]:
    """Why the metadata does not fit what is asked for, in words (empty when it fits)."""
    problems = []
    version = metadata.get("format_version")
    if version != _FORMAT_VERSION:
        found = f"format {version}" if version is not None else "no format version (an older version of helpers)"
        problems.append(f"it was saved in {found}, and this code reads format {_FORMAT_VERSION}")
    if metadata.get("profile") != profile.name:
        problems.append(f"it was saved for the {metadata.get('profile')!r} profile, and this run is {profile.name!r}")
    if metadata.get("name") != name:
        problems.append(f"its metadata names it {metadata.get('name')!r}, not {name!r}")
    if input_shape is not None and metadata.get("input_shape") != list(input_shape):
        problems.append(f"it takes images of shape {metadata.get('input_shape')}, and {list(input_shape)} is expected")
    if classes is not None and metadata.get("classes") != classes:
        problems.append(f"it scores {metadata.get('classes')} classes, and {classes} are expected")
    return problems


def _load_checked(path: Path, where: str, metadata: dict, build):
    """The model in ``path`` (a checked copy of the file ``where`` names), loaded, or an ArtifactError saying why not."""
    model = build() if build is not None else None  # outside the try: a broken builder is not a broken file
    try:
        if model is None:
            model = tf.keras.models.load_model(path)
        else:
            model.load_weights(path)
    except Exception as error:  # h5py OSError, zipfile BadZipFile, Keras ValueError...
        if build is not None:
            cause = "its weights do not fit the architecture build() returns, or it is truncated or corrupted"
        else:
            cause = "it is truncated or corrupted"
            saved_by = metadata.get("tf_keras")
            if saved_by and saved_by != _TF_KERAS:
                cause += f", or tf-keras {_TF_KERAS} cannot read what tf-keras {saved_by} wrote"
        raise ArtifactError(f"{where} cannot be loaded ({_first_line(error)}): {cause}.") from error
    return model


def load_saved_model(
    name: str, profile, root: Path | None = None, *, input_shape=None, classes: int | None = None,
    build: Callable[[], tf.keras.Model] | None = None,
):
    """``(model, metadata)`` saved by :func:`save_model`, or ``(None, None)`` when there is none.

    With ``build`` (a function returning the untrained, compiled architecture), it reads the weights saved with
    ``weights_only=True`` into ``build()``'s model.

    Raises :class:`ArtifactError`, naming the file and why, when the saved model
    cannot be used: its metadata is missing or unreadable, its format version
    or profile differ from this run's, it takes another ``input_shape`` or
    scores another number of ``classes`` than asked for (when given), the model
    file does not match its metadata's checksum, or it cannot be loaded.
    """
    name = checks.check_file_name(name)
    profile = check_profile(profile)
    classes = checks.check_whole_number(classes, "classes", minimum=2, allow_none=True)
    if build is not None and not callable(build):
        raise TypeError(f"build must be a function returning the model to load the weights into, not {build!r}.")
    folder = _artifact_dir(profile, root)
    path, info_path = _model_path(folder, name, build is not None), folder / f"{name}.json"
    if not path.exists():
        return None, None
    where = relative_path(path)
    if not path.is_file():
        raise ArtifactError(f"{where} is not a file. Delete it.")
    metadata = _read_metadata(path, info_path)
    problems = _mismatches(metadata, name, profile, input_shape, classes)
    if problems:
        raise ArtifactError(f"{where} cannot be used: " + "; ".join(problems) + ".")
    # What is checked is what is loaded: a private copy, so that a save renaming a new file over `path` meanwhile
    # (another process, e.g. make test's second worker saving notebook 01's CNN) cannot swap it in between.
    with tempfile.TemporaryDirectory() as private:
        checked = Path(private) / path.name
        shutil.copyfile(path, checked)
        if _sha256(checked) != metadata.get("sha256"):
            raise ArtifactError(
                f"{where} does not match the checksum in {relative_path(info_path)}: the two files come from "
                "different saves (one was interrupted) or one was changed."
            )
        model = _load_checked(checked, where, metadata, build)
    if list(_shape_of(model)) != [metadata.get("input_shape"), metadata.get("classes")]:
        raise ArtifactError(f"{where} holds a model whose input or output shape differs from its metadata.")
    return model, metadata


def get_trained_cnn(profile, dataset, root: Path | None = None, verbose: int = 1) -> tf.keras.Model:
    """Notebook 01's trained CNN: loaded from ``artifacts/<profile>/cnn.keras``, or retrained.

    A saved CNN is used only when its metadata matches this run (profile, format
    version, an input shape and class count that fit ``dataset``). When none is
    found, or the one found cannot be used (it says why, with its path), it
    trains one with :func:`helpers.models.train_cnn` (same settings as notebook
    01) and saves it for the next notebook.
    """
    profile = check_profile(profile)
    if not isinstance(dataset, _data.Dataset):
        raise TypeError(f"dataset must be a helpers.data.Dataset (data.load_dataset(profile)), got {type(dataset).__name__}.")
    path = _artifact_dir(profile, root) / "cnn.keras"
    where = relative_path(path)
    input_shape = _data.to_model_input(dataset.x_test[:1]).shape[1:]
    try:
        model, metadata = load_saved_model("cnn", profile, root, input_shape=input_shape, classes=len(dataset.class_names))
    except ArtifactError as error:
        model, reason = None, f"{error}\nTraining a new CNN instead"
    else:
        reason = f"No saved CNN from notebook 01 found at {where}; training one now"
    if model is not None:
        accuracy = metadata.get("test_accuracy")
        note = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, float) else ""
        print(f"Loaded the CNN trained in notebook 01 from {where} (saved {metadata.get('saved_at', '?')}{note}).")
        return model
    train_count = len(_data.subset(dataset.x_train, dataset.y_train, profile.train_size)[0])
    # ~20 s per epoch over 60,000 images on a 2-core CPU (measured in notebook 01), plus start-up.
    estimate = int(5 + profile.cnn_epochs * 20 * train_count / 60_000)
    print(f"{reason} (~{estimate} s on a 2-core CPU).")
    model, _ = _models.train_cnn(profile, dataset, verbose=verbose)
    test_images, test_labels = _data.subset(dataset.x_test, dataset.y_test, profile.test_size)
    accuracy = _evaluation.accuracy(model, _data.to_model_input(test_images), test_labels)
    save_model(model, "cnn", profile, {"test_accuracy": accuracy, "trained_by": "helpers.artifacts.get_trained_cnn"}, root)
    print(f"Saved it to {where} (test accuracy {accuracy:.4f}).")
    return model


def load_vgg19(profile, root: Path | None = None, *, pretrained_only: bool = False):
    """Notebook 02's fine-tuned VGG-19 and its metadata, or ``(None, None)`` when not saved or not usable.

    ``metadata["pretrained"]`` says whether its base started from trained
    weights; ``metadata["weights"]`` says which. It is not retrained here: that
    takes minutes, so a notebook decides what to do without it. With
    ``pretrained_only``, a VGG-19 whose base started from random weights is not
    loaded (loading its 20 million weights takes seconds, for nothing to learn):
    ``(None, metadata)``, saying so.
    """
    profile = check_profile(profile)
    folder = _artifact_dir(profile, root)
    path = _model_path(folder, "vgg19", weights_only=False)
    where = relative_path(path)
    if pretrained_only and path.is_file():
        try:
            metadata = _read_metadata(path, folder / "vgg19.json")
        except ArtifactError:
            metadata = None  # load_saved_model below reports why
        if metadata is not None and not _mismatches(metadata, "vgg19", profile, None, None) \
                and not metadata.get("pretrained"):
            print(f"The VGG-19 saved at {where} started from RANDOM weights, not pretrained: not loaded. "
                  "Run `make prefetch` with internet, then notebook 02, to include it.")
            return None, metadata
    try:
        model, metadata = load_saved_model("vgg19", profile, root)
    except ArtifactError as error:
        print(f"{error}\nRun notebook 02 to save the VGG-19 again.")
        return None, None
    if model is None:
        print(f"No saved VGG-19 from notebook 02 found at {where}. For one to attack: `make prefetch` with "
              "internet (ImageNet weights), then notebook 02.")
        return None, None
    origin = ("pretrained (" + str(metadata.get("weights")) + ")" if metadata.get("pretrained")
              else "RANDOM weights, not pretrained")
    print(f"Loaded the fine-tuned VGG-19 from {where}: base started from {origin}.")
    return model, metadata
