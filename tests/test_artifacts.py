"""helpers.artifacts: saved models written atomically, checked when read back, paths printed relative."""

import json
import os

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import numpy as np
import pytest
import tensorflow as tf

from helpers import artifacts, data, evaluation, models
from helpers.profiles import get_profile

IMAGES = np.random.default_rng(2).random((5, 28, 28, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def smoke_profile():
    return get_profile("smoke")


def _cnn(seed):
    tf.keras.utils.set_random_seed(seed)
    return models.build_cnn()


def _leftovers(folder):
    """Temporary files a save left behind."""
    return [path.name for path in folder.iterdir() if ".tmp" in path.name]


def test_cnn_save_load_round_trip(tmp_path, smoke_profile):
    model = _cnn(0)
    path = artifacts.save_model(model, "cnn", smoke_profile, {"test_accuracy": np.float32(0.5)}, root=tmp_path)
    assert path == tmp_path / "smoke" / "cnn.keras"
    loaded, metadata = artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path, input_shape=(28, 28, 1), classes=10)
    np.testing.assert_array_equal(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0))
    assert metadata["test_accuracy"] == 0.5 and metadata["profile"] == "smoke"
    assert metadata["format_version"] == artifacts._FORMAT_VERSION
    assert metadata["input_shape"] == [28, 28, 1] and metadata["classes"] == 10
    assert artifacts.load_saved_model("vgg19", smoke_profile, root=tmp_path) == (None, None)
    assert not _leftovers(tmp_path / "smoke")


def test_weights_only_round_trip_and_a_wrong_architecture_is_named(tmp_path, smoke_profile):
    model = _cnn(0)
    path = artifacts.save_model(model, "cnn", smoke_profile, root=tmp_path, weights_only=True)
    assert path == tmp_path / "smoke" / "cnn-weights.h5"
    loaded, metadata = artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path, build=models.build_cnn)
    np.testing.assert_array_equal(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0))
    assert metadata["weights_only"] is True and metadata["tf_keras"]
    with pytest.raises(artifacts.ArtifactError, match="do not fit the architecture build"):
        artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path, build=models.build_lenet)
    with pytest.raises(TypeError, match="build must be a function"):
        artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path, build="cnn")
    assert not _leftovers(tmp_path / "smoke")


def test_what_is_loaded_is_what_was_checked_even_if_a_save_lands_in_between(tmp_path, smoke_profile, monkeypatch):
    artifacts.save_model(_cnn(0), "cnn", smoke_profile, root=tmp_path)
    real_load = tf.keras.models.load_model

    def load_after_a_concurrent_save(path, *args, **kwargs):  # another process saves another CNN meanwhile
        artifacts.save_model(_cnn(1), "cnn", smoke_profile, root=tmp_path)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(tf.keras.models, "load_model", load_after_a_concurrent_save)
    loaded, _ = artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path)
    np.testing.assert_array_equal(loaded.predict(IMAGES, verbose=0), _cnn(0).predict(IMAGES, verbose=0))


def test_vgg_wrapper_round_trip_keeps_custom_layers(tmp_path, smoke_profile, capsys):
    inputs = tf.keras.Input((32, 32, 3))
    x = inputs
    for block in range(1, 6):
        x = tf.keras.layers.Conv2D(4, 3, padding="same", name=f"block{block}_conv1")(x)
        x = tf.keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    status = models.PretrainedStatus(False, "random", "test stand-in")
    model, _ = models.build_vgg19(32, base=tf.keras.Model(inputs, x, name="vgg19"), status=status)
    artifacts.save_model(model, "vgg19", smoke_profile, {"pretrained": status.pretrained}, root=tmp_path)
    loaded, metadata = artifacts.load_vgg19(smoke_profile, root=tmp_path)
    np.testing.assert_allclose(loaded.predict(IMAGES[:3], verbose=0), model.predict(IMAGES[:3], verbose=0), atol=1e-6)
    assert metadata["pretrained"] is False and "RANDOM weights" in capsys.readouterr().out


def test_get_trained_cnn_trains_when_missing_then_loads(saved_cnn, quick_profile, sample, capsys):
    root, trained, printed = saved_cnn  # get_trained_cnn with nothing saved under root (tests/conftest.py)
    dataset = sample
    assert "No saved CNN from notebook 01 found" in printed and "Saved it to" in printed
    assert (root / "smoke" / "cnn.keras").is_file()
    reloaded = artifacts.get_trained_cnn(quick_profile, dataset, root=root, verbose=0)
    assert "Loaded the CNN" in capsys.readouterr().out
    images = data.to_model_input(dataset.x_test[:20])
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), trained.predict(images, verbose=0))
    assert 0.0 <= evaluation.accuracy(reloaded, images, dataset.y_test[:20]) <= 1.0


def test_printed_paths_are_relative_to_the_repository(tmp_path, monkeypatch, smoke_profile, capsys):
    monkeypatch.setattr(artifacts, "REPO_ROOT", tmp_path.resolve())
    artifacts.save_model(_cnn(1), "vgg19", smoke_profile, root=tmp_path / "artifacts")
    artifacts.load_vgg19(smoke_profile, root=tmp_path / "artifacts")
    out = capsys.readouterr().out
    assert "from artifacts/smoke/vgg19.keras:" in out and str(tmp_path) not in out
    assert artifacts.relative_path(tmp_path / "artifacts" / "x.keras") == "artifacts/x.keras"
    assert artifacts.relative_path("/elsewhere/x.keras") == "/elsewhere/x.keras"  # outside the repository: as given


def test_a_save_killed_before_its_rename_leaves_the_previous_model(tmp_path, smoke_profile, monkeypatch):
    first, second = _cnn(3), _cnn(4)
    artifacts.save_model(first, "cnn", smoke_profile, {"run": 1}, root=tmp_path)

    def killed(source, target):
        raise OSError("killed halfway through the save")

    monkeypatch.setattr(artifacts, "_rename", killed)
    with pytest.raises(OSError, match="killed halfway"):
        artifacts.save_model(second, "cnn", smoke_profile, {"run": 2}, root=tmp_path)
    monkeypatch.undo()
    loaded, metadata = artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path)
    assert metadata["run"] == 1
    np.testing.assert_array_equal(loaded.predict(IMAGES, verbose=0), first.predict(IMAGES, verbose=0))
    assert not np.array_equal(first.predict(IMAGES, verbose=0), second.predict(IMAGES, verbose=0))
    assert not _leftovers(tmp_path / "smoke")


def test_a_save_killed_between_its_two_renames_is_detected_not_loaded(tmp_path, smoke_profile, monkeypatch):
    artifacts.save_model(_cnn(5), "cnn", smoke_profile, {"run": 1}, root=tmp_path)
    real_rename, calls = artifacts._rename, []

    def killed_after_the_model(source, target):
        calls.append(target)
        if len(calls) == 2:  # the model file is in place; the metadata is not
            raise OSError("killed between the renames")
        real_rename(source, target)

    monkeypatch.setattr(artifacts, "_rename", killed_after_the_model)
    with pytest.raises(OSError, match="killed between"):
        artifacts.save_model(_cnn(6), "cnn", smoke_profile, {"run": 2}, root=tmp_path)
    monkeypatch.undo()
    assert [os.path.basename(target) for target in calls] == ["cnn.keras", "cnn.json"]  # metadata last
    with pytest.raises(artifacts.ArtifactError, match="does not match the checksum in .*cnn.json"):
        artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path)
    assert not _leftovers(tmp_path / "smoke")


def test_metadata_that_cannot_be_stored_is_refused_before_writing(tmp_path, smoke_profile):
    with pytest.raises(ValueError, match="metadata uses the key\\(s\\) 'profile'"):
        artifacts.save_model(_cnn(7), "cnn", smoke_profile, {"profile": "full"}, root=tmp_path)
    with pytest.raises(TypeError, match="metadata values must be"):
        artifacts.save_model(_cnn(7), "cnn", smoke_profile, {"when": object()}, root=tmp_path)
    with pytest.raises(ValueError, match="name must be a plain name"):
        artifacts.save_model(_cnn(7), "../cnn", smoke_profile, root=tmp_path)
    with pytest.raises(TypeError, match="profile must be a run profile"):
        artifacts.save_model(_cnn(7), "cnn", "smoke", root=tmp_path)
    assert not (tmp_path / "smoke").exists() or not list((tmp_path / "smoke").iterdir())


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda folder: (folder / "cnn.json").unlink(), "has no metadata file .*cnn.json"),
        (lambda folder: (folder / "cnn.json").write_text('{"name": "cnn", "prof'), "cnn.json cannot be read .*JSONDecodeError"),
        (lambda folder: _edit(folder, format_version=None), "no format version"),
        (lambda folder: _edit(folder, profile="full"), "saved for the 'full' profile, and this run is 'smoke'"),
        (lambda folder: (folder / "cnn.keras").write_bytes((folder / "cnn.keras").read_bytes()[:1000]),
         "cnn.keras does not match the checksum"),
    ],
)
def test_an_unusable_artifact_names_its_file_and_why(tmp_path, smoke_profile, damage, match):
    artifacts.save_model(_cnn(8), "cnn", smoke_profile, root=tmp_path)
    damage(tmp_path / "smoke")
    with pytest.raises(artifacts.ArtifactError, match=match):
        artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path)


def test_a_corrupted_model_file_whose_checksum_matches_is_reported_not_raised_from_h5py(tmp_path, smoke_profile):
    artifacts.save_model(_cnn(9), "cnn", smoke_profile, root=tmp_path)
    folder = tmp_path / "smoke"
    (folder / "cnn.keras").write_bytes(b"not a keras file")
    _edit(folder, sha256=artifacts._sha256(folder / "cnn.keras"))
    with pytest.raises(artifacts.ArtifactError, match=r"cnn.keras cannot be loaded \(.*\): it is truncated or corrupted"):
        artifacts.load_saved_model("cnn", smoke_profile, root=tmp_path)


def test_an_unusable_vgg19_is_reported_and_not_returned(tmp_path, smoke_profile, capsys):
    artifacts.save_model(_cnn(10), "vgg19", smoke_profile, root=tmp_path)
    _edit(tmp_path / "smoke", profile="workshop", file="vgg19.json")
    assert artifacts.load_vgg19(smoke_profile, root=tmp_path) == (None, None)
    out = capsys.readouterr().out
    assert "vgg19.keras cannot be used: it was saved for the 'workshop' profile" in out and "Run notebook 02" in out


def _edit(folder, file="cnn.json", **changes):
    """Change fields of saved metadata (None removes one)."""
    path = folder / file
    info = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            info.pop(key, None)
        else:
            info[key] = value
    path.write_text(json.dumps(info))


def test_a_random_vgg19_is_not_loaded_when_only_a_pretrained_one_is_wanted(tmp_path, smoke_profile, capsys,
                                                                           monkeypatch):
    artifacts.save_model(_cnn(5), "vgg19", smoke_profile, {"pretrained": False}, root=tmp_path)
    real_load = tf.keras.models.load_model
    monkeypatch.setattr(tf.keras.models, "load_model", lambda *a, **k: pytest.fail("a random VGG-19 was loaded"))
    model, metadata = artifacts.load_vgg19(smoke_profile, root=tmp_path, pretrained_only=True)
    assert model is None and metadata["pretrained"] is False
    assert "RANDOM weights, not pretrained: not loaded" in capsys.readouterr().out
    monkeypatch.setattr(tf.keras.models, "load_model", real_load)
    artifacts.save_model(_cnn(5), "vgg19", smoke_profile, {"pretrained": True, "weights": "imagenet"}, root=tmp_path)
    model, metadata = artifacts.load_vgg19(smoke_profile, root=tmp_path, pretrained_only=True)
    assert model is not None and "base started from pretrained (imagenet)" in capsys.readouterr().out
    _edit(tmp_path / "smoke", profile="workshop", pretrained=False, file="vgg19.json")  # unusable: said, as before
    assert artifacts.load_vgg19(smoke_profile, root=tmp_path, pretrained_only=True) == (None, None)
    assert "saved for the 'workshop' profile" in capsys.readouterr().out
