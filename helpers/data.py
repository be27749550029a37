"""Fashion-MNIST, found offline where possible, checked before it is used.

Two datasets are available:

* the **full** dataset (60,000 train / 10,000 test), searched for in this order:
  1. the directory named by ``ADVLEARN_DATA_DIR``: when it is set, that folder
     is used and nothing else; one that is missing, or lacks one of the four
     files, raises :class:`DataError` naming it and what is missing;
  2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
  3. Keras's own cache (``~/.keras/datasets/fashion-mnist``), downloading into it
     when the files are not there yet and a network is available;
* the bundled **sample** in ``data/`` (2,000 train / 1,000 test, class-balanced),
  used by the tests and the ``smoke`` profile; it needs neither network nor packages.

Every file is checked against its published checksum before it is parsed. A
corrupted or truncated file raises :class:`DataError` naming the file and how
to fix it; it is never loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from typing import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import checks

__all__ = [
    "CLASS_NAMES",
    "DataError",
    "Dataset",
    "FILES",
    "load_dataset",
    "load_full",
    "load_sample",
    "find_full_dataset",
    "verify_file",
    "to_model_input",
    "subset",
    "draw_per_class",
]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# SHA-256 of each file as published by Zalando Research (the .gz files whose MD5s
# are listed at github.com/zalandoresearch/fashion-mnist, "Get the Data"), and of
# its decompressed IDX content. The second one accepts copies that were
# re-compressed, such as Debian's, whose bytes inside are the same.
FILES: dict[str, tuple[str, str]] = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}

DATA_DIR_ENV = "ADVLEARN_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "fashion_mnist_sample.npz"
SAMPLE_SHA256_PATH = _SAMPLE_PATH.with_suffix(".npz.sha256")

_HOW_TO_GET = (
    "Two ways to get them:\n"
    "  1. With internet: run `make prefetch` (or `python -m helpers.prefetch`) once; it "
    "downloads and checks them into Keras's cache.\n"
    "  2. Offline: copy the four files (from github.com/zalandoresearch/fashion-mnist, or "
    "`apt-get install dataset-fashion-mnist` on Debian/Ubuntu) into a folder and set "
    f"{DATA_DIR_ENV}=/path/to/that/folder.\n"
    "Or run on the bundled sample: ADVLEARN_PROFILE=smoke."
)


class DataError(RuntimeError):
    """A dataset file is missing, corrupted or not what it claims to be."""


@dataclass(frozen=True)
class Dataset:
    """Fashion-MNIST images (uint8, ``(N, 28, 28)``) and labels (uint8, ``(N,)``)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was read from, for the notebook to print
    class_names: tuple[str, ...] = CLASS_NAMES

    def describe(self) -> str:
        """One line for a notebook: sizes and where the images came from, without the folder (no machine paths)."""
        origin = self.source.split(" (/")[0]  # "Debian package ... (/usr/share/...)" -> its label
        return (
            f"{len(self.x_train):,} train / {len(self.x_test):,} test images "
            f"{self.x_train.shape[1]}x{self.x_train.shape[2]}, from {origin}"
        )


def verify_file(path: Path) -> bytes:
    """Check one of the four dataset files and return its decompressed bytes.

    Raises :class:`DataError` when the file is unreadable, truncated or altered.
    """
    path = Path(path)
    if path.name not in FILES:
        raise DataError(f"{path.name} is not one of the Fashion-MNIST files: {', '.join(FILES)}.")
    expected_gz, expected_raw = FILES[path.name]
    compressed = path.read_bytes()
    fix = f"Delete {path} and get it again.\n" + _HOW_TO_GET.split("\n", 1)[1]
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is corrupted or truncated ({len(compressed):,} bytes; gzip says: {error}).\n{fix}"
        ) from error
    if hashlib.sha256(compressed).hexdigest() != expected_gz and hashlib.sha256(raw).hexdigest() != expected_raw:
        raise DataError(
            f"{path} does not match the published Fashion-MNIST checksum (SHA-256 of its content "
            f"is {hashlib.sha256(raw).hexdigest()}, expected {expected_raw}). It is not the original file.\n{fix}"
        )
    return raw


def _read_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an IDX file (the format of MNIST and Fashion-MNIST)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{source} is not an unsigned-byte IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{source} declares shape {shape} ({expected:,} bytes) but holds {len(raw) - header:,}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _candidate_dirs() -> list[tuple[str, Path]]:
    candidates = []
    if os.environ.get(DATA_DIR_ENV):
        candidates.append((f"${DATA_DIR_ENV}", Path(os.environ[DATA_DIR_ENV]).expanduser()))
    candidates.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    candidates.append(("Keras cache", keras_cache_dir()))
    return candidates


def keras_cache_dir() -> Path:
    """Where Keras caches Fashion-MNIST (``$KERAS_HOME`` or ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


def _check_named_folder(folder: Path) -> None:
    """The folder ``ADVLEARN_DATA_DIR`` names must hold the four files: the user means that folder."""
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(
            f"{DATA_DIR_ENV} names {folder}, which {problem}. Put the four Fashion-MNIST files there "
            f"({', '.join(FILES)}), or unset {DATA_DIR_ENV} to use the other locations."
        )
    problems = []
    for name in FILES:
        path = folder / name
        if path.is_dir():
            problems.append(f"{name} is a folder, not a file")
        elif not path.is_file():
            problems.append(f"{name} is missing")
    if problems:
        raise DataError(
            f"{DATA_DIR_ENV} names {folder}, but there " + "; ".join(problems) + ". Copy the four Fashion-MNIST "
            f"files into it, or unset {DATA_DIR_ENV} to use the other locations.\n" + _HOW_TO_GET
        )


def find_full_dataset() -> tuple[str, Path] | None:
    """The first location holding all four files, or None. Files are not checked here.

    When ``ADVLEARN_DATA_DIR`` is set, its folder is the answer, or a
    :class:`DataError` says what it lacks: the others are not searched.
    """
    if os.environ.get(DATA_DIR_ENV):
        label, folder = _candidate_dirs()[0]
        _check_named_folder(folder)
        return label, folder
    for label, folder in _candidate_dirs():
        if all((folder / name).is_file() for name in FILES):
            return label, folder
    return None


def _download(url: str, path: Path, timeout: float = 60.0) -> None:
    """Fetch ``url`` into ``path``; a dead network fails after ``timeout`` seconds instead of hanging."""
    import shutil
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as handle:
        shutil.copyfileobj(response, handle)


def download_full(destination: Path | None = None) -> Path:
    """Download the four files into Keras's cache (or ``destination``) and check them."""
    destination = Path(destination or keras_cache_dir())
    destination.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in FILES:
        target = destination / name
        if target.is_file():
            continue
        try:
            _download(DOWNLOAD_URL + name, target.with_suffix(".part"))
            target.with_suffix(".part").rename(target)
        except OSError as error:
            target.with_suffix(".part").unlink(missing_ok=True)
            failed.append(f"{name} ({error.__class__.__name__}: {error})")
    if failed:
        searched = "\n".join(f"  - {label}: {folder}" for label, folder in _candidate_dirs())
        raise DataError(
            "The full Fashion-MNIST dataset is not on this machine and could not be downloaded "
            "(no network?).\nMissing: " + ", ".join(failed) + f"\nSearched:\n{searched}\n" + _HOW_TO_GET
        )
    for name in FILES:
        verify_file(destination / name)
    return destination


def load_full(download: bool = True) -> Dataset:
    """Load all 70,000 images from the first location that has them (see module doc)."""
    found = find_full_dataset()
    if found is None:
        if not download:
            missing_in = "\n".join(f"  - {label}: {folder}" for label, folder in _candidate_dirs())
            raise DataError(
                "The full Fashion-MNIST dataset was not found. Looked for "
                + ", ".join(FILES)
                + f" in:\n{missing_in}\n"
                + _HOW_TO_GET
            )
        found = ("Keras cache (downloaded)", download_full())
    label, folder = found
    arrays = {}
    for name in FILES:
        path = folder / name
        arrays[name] = _read_idx(verify_file(path), str(path))
    dataset = Dataset(
        x_train=arrays["train-images-idx3-ubyte.gz"],
        y_train=arrays["train-labels-idx1-ubyte.gz"],
        x_test=arrays["t10k-images-idx3-ubyte.gz"],
        y_test=arrays["t10k-labels-idx1-ubyte.gz"],
        source=f"{label} ({folder})",
    )
    _check_shapes(dataset)
    return dataset


def load_sample(path: Path | None = None) -> Dataset:
    """Load the bundled class-balanced sample (2,000 train / 1,000 test)."""
    path = Path(path or _SAMPLE_PATH)
    fix = (
        f"Restore it with `git checkout -- {path.name}` from the data/ folder, or regenerate it "
        "from the full dataset with `python data/make_sample.py`."
    )
    if not path.is_file():
        raise DataError(f"The bundled sample {path} is missing. {fix}")
    checksum_file = path.with_suffix(".npz.sha256")
    if checksum_file.is_file():
        expected = checksum_file.read_text().split()[0]
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != expected:
            raise DataError(
                f"The bundled sample {path} is corrupted: its SHA-256 is {found}, "
                f"{checksum_file.name} says {expected}. {fix}"
            )
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as error:  # zipfile, KeyError, ValueError: all mean a bad file
        raise DataError(f"The bundled sample {path} cannot be read ({error}). {fix}") from error
    dataset = Dataset(**arrays, source=f"bundled sample ({path.name})")
    _check_shapes(dataset)
    return dataset


def _check_shapes(dataset: Dataset) -> None:
    for split in ("train", "test"):
        images, labels = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DataError(f"{split} images have shape {images.shape} and dtype {images.dtype}, expected (N, 28, 28) uint8.")
        if labels.shape != (len(images),):
            raise DataError(f"{split} has {len(images)} images but labels of shape {labels.shape}.")
        if labels.size and labels.max() >= len(CLASS_NAMES):
            raise DataError(f"{split} labels go up to {labels.max()}, expected 0-9.")


def load_dataset(profile) -> Dataset:
    """The dataset a run profile asks for (``profile.dataset``: 'sample' or 'full')."""
    if profile.dataset == "sample":
        return load_sample()
    return load_full()


def subset(images: np.ndarray, labels: np.ndarray, size: int | None, seed: int = 0):
    """A class-stratified random subset of ``size`` examples (all of them when None).

    ``labels`` are class indices (0-9) or one-hot rows; they come back as given.
    ``size`` is a whole number >= 1 (a larger one than there are images gives them all).
    """
    size = checks.check_whole_number(size, "size", minimum=1, allow_none=True)
    seed = checks.check_seed(seed, allow_none=False)
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"images must be an array of images, shape (N, height, width), got shape {images.shape}.")
    classes = checks.check_labels(labels, len(images), len(CLASS_NAMES))
    labels = np.asarray(labels)
    if size is None or size >= len(images):
        return images, labels
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    # Taking the first k of each class in a shuffled order keeps classes balanced.
    per_class = size // len(CLASS_NAMES)
    chosen = np.concatenate([order[classes[order] == c][:per_class] for c in range(len(CLASS_NAMES))])
    if len(chosen) < size:
        rest = np.setdiff1d(order, chosen, assume_unique=True)
        chosen = np.concatenate([chosen, rest[: size - len(chosen)]])
    chosen = np.sort(chosen)
    return images[chosen], labels[chosen]


def draw_per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator,
                   class_names: Sequence[str] = CLASS_NAMES, where: str = "") -> list[np.ndarray]:
    """``per_class`` indices of each class ``0 .. len(class_names) - 1``, drawn with ``rng`` without replacement.

    The label budgets of notebooks 02 and 05 (``transfer.labelled_sample``, ``semisupervised.labelled_split``)
    draw with it, class by class in order; raises, naming the class (and ``where``: the task), when one has too
    few images.
    """
    labels = np.asarray(labels)
    drawn = []
    for label, name in enumerate(class_names):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(
                f"{where}class {label} ({name}) has {len(members)} image(s); per_class={per_class} asks for more. "
                "Lower the label budget."
            )
        drawn.append(rng.choice(members, per_class, replace=False))
    return drawn


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` pixels to float32 ``(N, 28, 28, 1)`` in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"to_model_input expects uint8 pixels in 0-255 as loaded, got {images.dtype}. "
            "Images already scaled to [0, 1] need no conversion."
        )
    scaled = images.astype(np.float32) / 255.0
    return scaled[..., np.newaxis] if scaled.ndim == 3 else scaled


def model_split(dataset: Dataset, split: str, size: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced subset of one split, ready for the models: ``(x, y)``.

    ``split`` is ``"train"`` or ``"test"``; ``size`` images (all when None),
    chosen by :func:`subset` with ``seed``. ``x`` is float32 ``(N, 28, 28, 1)`` in
    [0, 1] (:func:`to_model_input`), ``y`` int64 class numbers 0-9. Every notebook
    names these ``x_<what>, y_<what>``; uint8 pixels stay in ``dataset``.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be the Dataset that data.load_dataset(profile) returns, got {type(dataset).__name__}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    images, labels = (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_test, dataset.y_test)
    images, labels = subset(images, labels, size, seed)
    return to_model_input(images), labels.astype(np.int64)
