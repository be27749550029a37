"""The Fashion-MNIST loader: checksums, broken and missing files, the bundled sample."""

import gzip
import hashlib
import shutil
import urllib.error

import numpy as np
import pytest

from helpers import data

NAMES = list(data.FILES)


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def no_dataset_anywhere(tmp_path, monkeypatch):
    """No ADVLEARN_DATA_DIR, and every other location the loader searches an empty folder."""
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path


@pytest.fixture
def synthetic_files(tmp_path, monkeypatch):
    """Four small valid files in a folder, with FILES patched to their checksums."""
    folder = tmp_path / "synthetic"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(20) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(10) % 10,
    }
    checksums = {}
    for name, array in arrays.items():
        raw = _idx_bytes(array)
        compressed = gzip.compress(raw, mtime=0)
        (folder / name).write_bytes(compressed)
        checksums[name] = (hashlib.sha256(compressed).hexdigest(), hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(data, "FILES", checksums)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(folder))
    return folder, arrays


def test_sample_shapes_dtypes_and_balance():
    sample = data.load_sample()
    assert sample.x_train.shape == (2000, 28, 28) and sample.x_test.shape == (1000, 28, 28)
    assert sample.x_train.dtype == np.uint8 and sample.y_train.dtype == np.uint8
    assert np.bincount(sample.y_train, minlength=10).tolist() == [200] * 10
    assert np.bincount(sample.y_test, minlength=10).tolist() == [100] * 10
    assert sample.x_train.max() > 200 and sample.x_train.min() == 0  # real pixels, not blank
    assert len(sample.class_names) == 10 and sample.class_names[9] == "Ankle boot"


def test_loads_valid_files_from_the_environment_folder(synthetic_files):
    folder, arrays = synthetic_files
    dataset = data.load_full(download=False)
    assert "ADVLEARN_DATA_DIR" in dataset.source
    np.testing.assert_array_equal(dataset.x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(dataset.y_test, arrays["t10k-labels-idx1-ubyte.gz"])


def test_recompressed_copy_is_accepted_by_content_checksum(synthetic_files):
    folder, _ = synthetic_files
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=12345))
    assert len(data.verify_file(path)) == 8 + 20


def test_altered_file_is_refused(synthetic_files):
    folder, _ = synthetic_files
    path = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataError, match=r"train-labels-idx1-ubyte.gz does not match the published"):
        data.load_full(download=False)


def test_truncated_file_is_refused_with_its_path(synthetic_files):
    folder, _ = synthetic_files
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.DataError, match=r"(?s)t10k-images-idx3-ubyte.gz is corrupted or truncated.*Delete"):
        data.load_full(download=False)


def test_missing_files_list_where_it_looked_and_how_to_fix(no_dataset_anywhere):
    with pytest.raises(data.DataError) as error:
        data.load_full(download=False)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "make prefetch" in message and data.DATA_DIR_ENV in message
    assert str(no_dataset_anywhere / "debian") in message


def test_no_network_gives_a_clear_error(no_dataset_anywhere, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(data.DataError, match=r"could not be downloaded \(no network\?\)"):
        data.load_full(download=True)
    assert not list((no_dataset_anywhere / "keras").rglob("*.part")), "a partial download was left behind"


def test_corrupted_sample_is_refused(tmp_path):
    copy = tmp_path / data._SAMPLE_PATH.name
    shutil.copy(data._SAMPLE_PATH, copy)
    shutil.copy(data.SAMPLE_SHA256_PATH, tmp_path / data.SAMPLE_SHA256_PATH.name)
    blob = bytearray(copy.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    copy.write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match="bundled sample .* is corrupted"):
        data.load_sample(copy)


def test_missing_sample_says_how_to_restore(tmp_path):
    with pytest.raises(data.DataError, match="is missing.*make_sample.py"):
        data.load_sample(tmp_path / "nothing.npz")


def test_read_idx_rejects_wrong_magic_and_wrong_length():
    with pytest.raises(data.DataError, match="bad magic"):
        data._read_idx(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    good = _idx_bytes(np.zeros((2, 3)))
    with pytest.raises(data.DataError, match="declares shape"):
        data._read_idx(good[:-1])


def test_subset_is_class_balanced_and_reproducible():
    sample = data.load_sample()
    images, labels = data.subset(sample.x_train, sample.y_train, 500, seed=3)
    again, _ = data.subset(sample.x_train, sample.y_train, 500, seed=3)
    assert len(images) == 500 and np.bincount(labels).tolist() == [50] * 10
    np.testing.assert_array_equal(images, again)


def test_to_model_input_scales_and_refuses_floats():
    sample = data.load_sample()
    x = data.to_model_input(sample.x_test[:4])
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(TypeError, match="expects uint8"):
        data.to_model_input(x)


@pytest.mark.skipif(data.find_full_dataset() is None, reason="the full dataset is not on this machine")
def test_full_dataset_when_present():
    dataset = data.load_full(download=False)
    assert dataset.x_train.shape == (60000, 28, 28) and dataset.x_test.shape == (10000, 28, 28)
    assert np.bincount(dataset.y_train).tolist() == [6000] * 10


def test_model_split_gives_model_inputs_and_int_labels():
    sample = data.load_sample()
    x, y = data.model_split(sample, "test", 100)
    assert x.shape == (100, 28, 28, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int64 and np.bincount(y, minlength=10).tolist() == [10] * 10
    images, labels = data.subset(sample.x_test, sample.y_test, 100)
    assert np.array_equal(x, data.to_model_input(images)) and np.array_equal(y, labels)
    x_all, _ = data.model_split(sample, "train")
    assert len(x_all) == len(sample.x_train)


def test_model_split_names_the_valid_splits_and_wants_a_dataset():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.model_split(data.load_sample(), "validation")
    with pytest.raises(TypeError, match="load_dataset"):
        data.model_split((np.zeros((2, 28, 28)), np.zeros(2)), "test")
