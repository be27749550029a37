"""One test per root cause of a silently wrong result found in issue 9 (numbered as there).

Each reproduces the issue's case: the old code returned a wrong number (or data,
or model) without a word; now the answer is right or an error names the argument
or file and the fix.
"""

import json
import shutil

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import numpy as np
import pytest
import tensorflow as tf

from helpers import artifacts, attacks, data, defenses, evaluation, sanity

L = tf.keras.layers


@pytest.fixture(scope="module")
def trained(sample, trained_linear):
    """A softmax regression on the bundled sample (~75% accurate; tests/conftest.py), and 64 test images with labels."""
    return trained_linear(0), data.to_model_input(sample.x_test[:64]), sample.y_test[:64].astype(np.int64)


# 1. evaluation.accuracy did not check labels: (N, 1) labels were argmax'ed to class 0.
def test_1_accuracy_checks_labels_like_the_attacks(trained):
    model, images, labels = trained
    truth = float(np.mean(np.argmax(model.predict(images, verbose=0), axis=1) == labels))
    assert evaluation.accuracy(model, images, labels) == truth
    assert evaluation.accuracy(model, images, np.eye(10)[labels]) == truth  # one-hot rows are fine
    with pytest.raises(ValueError, match=r"labels has shape \(64, 1\), a column of labels: flatten it with labels.ravel\(\)"):
        evaluation.accuracy(model, images, labels.reshape(-1, 1))
    for bad in (np.where(labels == 0, 10, labels), np.where(labels == 0, -1, labels), np.eye(9)[labels % 9],
                labels.astype(str)):
        with pytest.raises(ValueError, match="labels"):
            evaluation.accuracy(model, images, bad)


# 2. Logits vs probabilities was guessed from model.layers[-1], the last layer created.
class _LogitsWithProbabilityHelper(tf.keras.Model):
    """call returns logits; a Softmax created last serves only predict_proba."""

    def __init__(self):
        super().__init__()
        self.flatten, self.dense, self.softmax = L.Flatten(), L.Dense(3), L.Softmax()

    def call(self, images):
        return self.dense(self.flatten(images))

    def predict_proba(self, images):
        return self.softmax(self(images))


class _ProbabilitiesWithLinearLayerLast(tf.keras.Model):
    """call returns probabilities (tf.nn.softmax); the linear Dense is the last layer created."""

    def __init__(self):
        super().__init__()
        self.flatten, self.dense = L.Flatten(), L.Dense(3)

    def call(self, images):
        return tf.nn.softmax(self.dense(self.flatten(images)))


@pytest.mark.parametrize("model_class, kind", [(_LogitsWithProbabilityHelper, "logits"),
                                               (_ProbabilitiesWithLinearLayerLast, "probabilities")])
def test_2_output_kind_of_a_subclassed_model_comes_from_its_outputs(model_class, kind):
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(16, 4, 4, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    model = model_class()
    model(images[:1])
    kernel, bias = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model.dense.set_weights([kernel, bias])
    assert attacks.output_kind(model, images)[0] == kind
    # The gradient FGSM follows is that of the cross-entropy of softmax(W x + b): W^T (p - onehot(y)).
    logits = images.reshape(16, -1).astype(np.float64) @ kernel + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(16), labels] -= 1.0
    expected = (p @ kernel.T).reshape(images.shape)
    np.testing.assert_allclose(attacks.input_gradient(model, images, labels), expected, rtol=1e-4, atol=1e-6)


# 3. steps wrapped around int32: 2**31 steps returned the clean images, 2**32 + 3 ran 3.
@pytest.mark.parametrize("steps", [2**31, 2**32 + 3, 100_001])
def test_3_steps_beyond_a_sane_bound_are_refused(trained, steps):
    model, images, labels = trained
    for attack in (attacks.bim, attacks.pgd):
        with pytest.raises(ValueError, match="steps must be <= 100,000"):
            attack(model, images[:2], labels[:2], 0.1, steps=steps)


# 4. epsilon and step_size overflowed float32 (1e39 passes math.isfinite) and gave NaN pixels.
def test_4_numbers_beyond_float32_are_refused(trained):
    model, images, labels = trained
    with pytest.raises(ValueError, match="epsilon = 1e\\+39 is beyond float32.*L-inf epsilon of 1 already covers"):
        attacks.fgsm(model, images[:2], labels[:2], 1e39)
    with pytest.raises(ValueError, match="step_size = 1e\\+39 is beyond float32"):
        attacks.bim(model, images[:2], labels[:2], 0.1, step_size=1e39)
    with pytest.raises(ValueError, match="default step_size, 2.5 \\* epsilon / steps, is beyond float32"):
        attacks.pgd(model, images[:2], labels[:2], 3e38, steps=1)
    adversarial = attacks.fgsm(model, images[:2], labels[:2], 5.0)  # a huge but representable epsilon is fine
    assert np.isfinite(adversarial).all() and adversarial.min() >= 0 and adversarial.max() <= 1


# 5. Sanity checks passed while checking nothing.
def test_5_sanity_checks_never_pass_without_checking(trained):
    model, images, labels = trained
    images, labels = images[:32], labels[:32]
    with pytest.raises(ValueError, match="attacks is empty"):
        evaluation.robustness_curve({"m": model}, images, labels, [0.0, 0.3], attacks=[], progress=False)
    rows = [{"model": "cnn", "attack": "fgsm", "epsilon": eps, "accuracy": acc, "n": 32} for eps, acc in ((0.0, 0.9), (0.3, 0.0))]
    with pytest.raises(ValueError, match="undefended names 'cnnn', not among 'cnn'"):
        sanity.sanity_checks(rows, {"cnn": 0.9}, undefended=["cnnn"])
    both = evaluation.robustness_curve(
        {"m": model}, images, labels, [0.0, 0.1], attacks=(" PGD", "fgsm"), steps=2, progress=False
    )
    assert "pgd at least as strong as FGSM" in {check.name for check in both.checks} and both.passed
    unchecked = evaluation.robustness_curve({"m": model}, images, labels, [0.1], attacks="fgsm", check=False, progress=False)
    assert not unchecked.passed and not unchecked.checks


# 6. ADVLEARN_DATA_DIR was ignored without a word when unusable; loading fell through to other copies.
@pytest.mark.parametrize(
    "prepare, match",
    [
        (lambda folder: None, "which does not exist"),
        (lambda folder: folder.mkdir(), "train-images-idx3-ubyte.gz is missing"),
        (lambda folder: _files(folder, skip="t10k-labels-idx1-ubyte.gz"), "there t10k-labels-idx1-ubyte.gz is missing"),
        (lambda folder: _files(folder, folder_instead="train-labels-idx1-ubyte.gz"),
         "train-labels-idx1-ubyte.gz is a folder, not a file"),
    ],
)
def test_6_a_named_data_folder_is_used_or_refused(tmp_path, monkeypatch, prepare, match):
    complete = tmp_path / "debian"
    _files(complete)  # a complete copy elsewhere, which the loader used to fall through to
    monkeypatch.setattr(data, "DEBIAN_DIR", complete)
    named = tmp_path / "named"
    prepare(named)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(named))
    with pytest.raises(data.DataError, match=f"ADVLEARN_DATA_DIR names {named}.*{match}"):
        data.find_full_dataset()
    with pytest.raises(data.DataError, match="ADVLEARN_DATA_DIR names"):
        data.load_full(download=False)


def _files(folder, skip=None, folder_instead=None):
    folder.mkdir(parents=True)
    for name in data.FILES:
        if name == folder_instead:
            (folder / name).mkdir()
        elif name != skip:
            (folder / name).write_bytes(b"")


# 7. Saved models were not checked: a cnn.json saying profile 'full' and a 32x32x3 model came back as "the CNN".
def test_7_a_saved_cnn_that_does_not_fit_the_run_is_retrained(tmp_path, quick_profile, sample, capsys):
    wrong = tf.keras.Sequential([L.Input((32, 32, 3)), L.Flatten(), L.Dense(10, activation="softmax")])
    artifacts.save_model(wrong, "cnn", quick_profile, root=tmp_path)
    info_path = tmp_path / "smoke" / "cnn.json"
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "profile": "full"}))
    model = artifacts.get_trained_cnn(quick_profile, sample, root=tmp_path, verbose=0)
    out = capsys.readouterr().out
    assert model.input_shape == (None, 28, 28, 1)
    assert "cnn.keras cannot be used: it was saved for the 'full' profile, and this run is 'smoke'" in out
    assert "it takes images of shape [32, 32, 3], and [28, 28, 1] is expected" in out
    assert "Training a new CNN instead" in out
    reloaded, metadata = artifacts.load_saved_model("cnn", quick_profile, root=tmp_path, input_shape=(28, 28, 1))
    assert metadata["profile"] == "smoke" and reloaded.input_shape == (None, 28, 28, 1)


# 8. defenses accepted NaN and inf sizes (NaN weights after one batch), 2.5 iterations and 0-255 pixels.
def test_8_defenses_refuse_bad_values(trained):
    model, images, labels = trained
    with pytest.raises(ValueError, match="multiplier must be finite"):
        defenses.adv_reg_config(float("nan"), 0.1)
    with pytest.raises(ValueError, match="epsilon must be finite"):
        defenses.adv_reg_config(1.0, float("inf"))
    with pytest.raises(TypeError, match="pgd_iterations must be a whole number"):
        defenses.adv_reg_config(1.0, 0.1, pgd_iterations=2.5)
    with pytest.raises(ValueError, match="images must be in \\[0, 1\\].*divide by 255"):
        defenses.nsl_inputs(model, images * 255, labels)
    feed = defenses.nsl_inputs(model, images, np.eye(10)[labels])
    assert feed["label"].dtype == np.int32 and np.array_equal(feed["label"], labels)


# 9. data.subset(x, y, -5) returned 1,990 images.
def test_9_subset_refuses_a_negative_size(sample):
    with pytest.raises(ValueError, match="size must be >= 1, got -5"):
        data.subset(sample.x_train, sample.y_train, -5)
    assert len(data.subset(sample.x_train, sample.y_train, 5)[0]) == 5


# 10. Saving was not atomic: a broken cnn.keras raised OSError from h5py naming no path and was not retrained;
#     a truncated cnn.json raised a bare JSONDecodeError. (Interrupted saves themselves: test_artifacts.py.)
def test_10_an_unreadable_artifact_is_reported_with_its_path_and_retrained(tmp_path, quick_profile, sample, saved_cnn,
                                                                           capsys):
    shutil.copytree(saved_cnn[0] / "smoke", tmp_path / "smoke")  # a CNN trained and saved by get_trained_cnn
    first = artifacts.get_trained_cnn(quick_profile, sample, root=tmp_path, verbose=0)
    assert "Loaded the CNN" in capsys.readouterr().out
    folder = tmp_path / "smoke"
    (folder / "cnn.keras").write_bytes((folder / "cnn.keras").read_bytes()[:4096])  # what a killed write leaves
    second = artifacts.get_trained_cnn(quick_profile, sample, root=tmp_path, verbose=0)
    out = capsys.readouterr().out
    assert f"{folder / 'cnn.keras'} does not match the checksum in {folder / 'cnn.json'}" in out
    assert "Training a new CNN instead" in out and second is not first
    artifacts.load_saved_model("cnn", quick_profile, root=tmp_path)  # the retrained one is saved and loads
    (folder / "cnn.json").write_text((folder / "cnn.json").read_text()[:40])
    with pytest.raises(artifacts.ArtifactError, match=r"cnn.json cannot be read \(JSONDecodeError"):
        artifacts.load_saved_model("cnn", quick_profile, root=tmp_path)
