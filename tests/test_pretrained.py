"""The ready-trained models: they load, match their checksums, reach their stated accuracy, and are used on request."""

import numpy as np
import pytest

from helpers import artifacts, data, evaluation, pretrained
from helpers.profiles import get_profile


@pytest.fixture(scope="module")
def sample_test():
    return data.model_split(data.load_sample(), "test")


@pytest.mark.parametrize("name", sorted(pretrained.READY))
def test_each_loads_and_reaches_its_stated_accuracy(name, sample_test):
    model, metadata = pretrained._load(name)
    x_sample, y_sample = sample_test
    assert metadata["sample_images"] == len(y_sample)
    measured = evaluation.accuracy(model, x_sample, y_sample)
    # Other TensorFlow versions may round one borderline image the other way; more than that is a changed model.
    assert abs(measured - metadata["sample_accuracy"]) <= 1 / len(y_sample), (name, measured, metadata)
    assert measured > 0.5, f"{name} scores {measured:.3f} on the sample: not a trained model"
    assert (pretrained.PRETRAINED_DIR / "workshop" / f"{name}-weights.h5").stat().st_size < 2_000_000


def test_used_only_on_request(monkeypatch, capsys):
    monkeypatch.delenv(pretrained._ENVIRONMENT_VARIABLE, raising=False)
    assert pretrained.ready_trained("lenet") == (None, None)
    monkeypatch.setenv(pretrained._ENVIRONMENT_VARIABLE, "0")
    assert pretrained.ready_trained("lenet") == (None, None)
    monkeypatch.setenv(pretrained._ENVIRONMENT_VARIABLE, "1")
    model, metadata = pretrained.ready_trained("lenet")
    assert model is not None and metadata["name"] == "lenet"
    assert "Loaded the ready-trained lenet instead of training it" in capsys.readouterr().out


def test_bad_requests_are_named(monkeypatch):
    monkeypatch.setenv(pretrained._ENVIRONMENT_VARIABLE, "maybe")
    with pytest.raises(ValueError, match="ADVLEARN_PRETRAINED='maybe'"):
        pretrained._requested()
    with pytest.raises(ValueError, match="name must be one of"):
        pretrained._load("vgg19")


def test_a_changed_file_is_refused(tmp_path):
    folder = tmp_path / "workshop"
    folder.mkdir()
    for suffix in ("-weights.h5", ".json"):
        (folder / f"cnn{suffix}").write_bytes((pretrained.PRETRAINED_DIR / "workshop" / f"cnn{suffix}").read_bytes())
    with open(folder / "cnn-weights.h5", "ab") as file:
        file.write(b"\0")
    with pytest.raises(artifacts.ArtifactError, match="checksum"):
        pretrained._load("cnn", root=tmp_path)


def test_install_lets_later_notebooks_find_them(tmp_path, sample_test):
    written = pretrained._install(target=tmp_path)
    assert sorted(path.name for path in written) == sorted(f"{n}{s}" for n in pretrained.READY for s in (".keras", ".json"))
    model, metadata = artifacts.load_saved_model("cnn", get_profile("workshop"), tmp_path)
    assert metadata["ready_trained"] is True and metadata["trained_by"].startswith("notebook 01")
    shipped, _ = pretrained._load("cnn")
    x_sample, _ = sample_test
    np.testing.assert_array_equal(model.predict(x_sample[:50], verbose=0), shipped.predict(x_sample[:50], verbose=0))
