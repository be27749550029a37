"""Tests for helpers.models: shapes, VGG-19 preprocessing, weights loading (artifacts: test_artifacts.py)."""

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import numpy as np
import pytest
import tensorflow as tf

from helpers import models

HEAD_PARAMS = 2 * 512 + (512 * 256 + 256) + (256 * 10 + 10)
BLOCK5_PARAMS = 4 * (3 * 3 * 512 * 512 + 512)


@pytest.fixture(scope="module")
def vgg(vgg19):
    """The session's randomly initialised VGG-19 classifier at 32x32 (tests/conftest.py builds it once)."""
    return vgg19


@pytest.fixture(scope="module")
def plain_base():
    """Keras's own VGG-19 base (plain Conv2D layers), random weights: what the series' fast base is compared with.

    Each test that uses it sets the weights it needs first.
    """
    return tf.keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))


def test_cnn_shapes_and_input_name():
    model = models.build_cnn()
    assert model.input_names == [models.INPUT_NAME] == ["image"]
    assert model.input_shape == (None, 28, 28, 1)
    probabilities = model.predict(np.random.rand(3, 28, 28, 1).astype("float32"), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.optimizer is not None and model.loss == "sparse_categorical_crossentropy"
    # conv1: 3x3 kernel x 1 input channel x 32 filters + 32 biases
    assert model.get_layer("conv1").count_params() == 3 * 3 * 1 * 32 + 32


def test_vgg_output_shape(vgg):
    model, _ = vgg
    assert model.input_shape == (None, 28, 28, 1)
    assert model.predict(np.random.rand(2, 28, 28, 1).astype("float32"), verbose=0).shape == (2, 10)


def _preprocessing(model):
    return tf.keras.Model(model.input, model.get_layer("vgg19_preprocess").output)


def test_vgg_preprocessing_matches_keras(vgg):
    model, _ = vgg
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    inside = _preprocessing(model).predict(images, verbose=0)
    rgb_255 = tf.image.resize(np.repeat(images, 3, axis=-1), (32, 32)).numpy() * 255.0
    expected = tf.keras.applications.vgg19.preprocess_input(rgb_255.copy())
    assert inside.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(inside, expected, atol=1e-3)


def test_vgg_preprocessing_of_colour_images():
    # A 3-channel 32x32 input is neither repeated nor resized: RGB->BGR and means only.
    tiny = _tiny_base()
    model, _ = models.build_vgg19(32, base=tiny, status=_random_status(), input_shape=(32, 32, 3))
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    inside = _preprocessing(model).predict(images, verbose=0)
    expected = tf.keras.applications.vgg19.preprocess_input(images * 255.0)
    np.testing.assert_allclose(inside, expected, atol=1e-3)
    # Channel 0 of the output is blue minus its mean.
    np.testing.assert_allclose(inside[..., 0], images[..., 2] * 255.0 - 103.939, atol=1e-3)


def test_weights_file_is_loaded(tmp_path, plain_base):
    source = plain_base  # Keras's own VGG-19 base, as Keras's weights file is saved from
    kernel, bias = source.get_layer("block1_conv1").get_weights()
    known_kernel = np.arange(kernel.size, dtype=np.float32).reshape(kernel.shape) / kernel.size
    source.get_layer("block1_conv1").set_weights([known_kernel, np.full_like(bias, 0.25)])
    path = tmp_path / "vgg19_notop.h5"
    source.save_weights(str(path))

    base, status = models.load_vgg19_base(path)
    assert status.pretrained and status.source == str(path)
    assert "file" in status.label and "RANDOM" not in status.banner()
    loaded_kernel, loaded_bias = base.get_layer("block1_conv1").get_weights()
    np.testing.assert_array_equal(loaded_kernel, known_kernel)
    np.testing.assert_array_equal(loaded_bias, 0.25)
    assert len(base.get_weights()) == len(source.get_weights()) == 32  # 16 convolutions: kernel and bias each
    for expected, found in zip(source.get_weights(), base.get_weights()):
        np.testing.assert_array_equal(expected, found)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(models.WeightsError, match="does not exist"):
        models.load_vgg19_base(tmp_path / "nowhere.h5")


def test_corrupt_weights_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "_vgg19", lambda weights, input_shape: _tiny_base())  # the file fails, not the base
    path = tmp_path / "corrupt.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(models.WeightsError, match="could not be loaded"):
        models.load_vgg19_base(path)


def test_random_weights_are_not_reported_as_pretrained(vgg):
    _, status = vgg
    assert not status.pretrained
    assert "RANDOM" in status.label and "NOT PRETRAINED" in status.banner()


def test_failed_imagenet_download_falls_back_honestly(monkeypatch, vgg):
    calls = []

    def offline(weights, input_shape):
        calls.append((weights, input_shape))
        if weights == "imagenet":
            raise Exception("URL fetch failure: Name or service not known")
        return models.vgg19_base_of(vgg[0])  # a random base, as models._vgg19(None, ...) builds (built once: vgg19)

    monkeypatch.setattr(models, "_vgg19", offline)
    base, status = models.load_vgg19_base("imagenet")
    assert calls == [("imagenet", (32, 32, 3)), (None, (32, 32, 3))], "the fallback asks for a random base, same shape"
    assert base is models.vgg19_base_of(vgg[0]) and base.output_shape == (None, 1, 1, 512)
    assert not status.pretrained and status.source == "random"
    assert "could not be loaded" in status.message and "URL fetch failure" in status.message


def test_set_trainable_blocks_counts(vgg):
    model, _ = vgg
    total = model.count_params()
    try:
        assert models.set_trainable_blocks(model, 0) == []
        assert models.count_params(model) == (HEAD_PARAMS, total - HEAD_PARAMS)
        assert models.set_trainable_blocks(model, 1) == [f"block5_conv{i}" for i in range(1, 5)]
        assert models.count_params(model)[0] == HEAD_PARAMS + BLOCK5_PARAMS
        models.set_trainable_blocks(model, 5)
        assert models.count_params(model) == (total, 0)
        with pytest.raises(ValueError):
            models.set_trainable_blocks(model, 6)
    finally:
        models.set_trainable_blocks(model, 0)


def test_vgg_needs_32_pixels():
    with pytest.raises(ValueError, match="at least 32"):
        models.build_vgg19(28, weights=None)


def _tiny_base(conv=tf.keras.layers.Conv2D):
    """A stand-in for VGG-19's base: one conv per block, same layer names, 32x32 -> 1x1."""
    inputs = tf.keras.Input((32, 32, 3))
    x = inputs
    for block in range(1, 6):
        x = conv(4, 3, padding="same", name=f"block{block}_conv1")(x)
        x = tf.keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return tf.keras.Model(inputs, x, name="vgg19")


def _random_status():
    return models.PretrainedStatus(False, "random", "test stand-in")


def test_build_cnn_takes_the_number_of_classes():
    assert models.build_cnn(classes=5).output_shape == (None, 5)
    for bad in (1, 0, 2.5, True, "5"):
        with pytest.raises((TypeError, ValueError), match="classes"):
            models.build_cnn(classes=bad)


def test_lenet_is_a_different_working_architecture():
    lenet, cnn = models.build_lenet(), models.build_cnn()
    assert lenet.input_names == [models.INPUT_NAME] and lenet.output_shape == (None, 10)
    assert lenet.get_layer("conv1").kernel_size == (5, 5) and cnn.get_layer("conv1").kernel_size == (3, 3)
    probabilities = lenet.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- fast input gradients


def _gradients(layer, images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = tf.reduce_sum(tf.sin(layer(images)))  # a non-trivial upstream gradient
    return tape.gradient(loss, [images, layer.kernel])


@pytest.mark.parametrize("side", [1, 2, 4, 8])
def test_fast_input_gradient_conv_has_the_gradients_of_conv2d(side):
    rng = np.random.default_rng(side)
    images = tf.constant(rng.standard_normal((3, side, side, 16), dtype=np.float32))
    plain = tf.keras.layers.Conv2D(24, 3, padding="same", activation="relu")
    fast = models.FastInputGradConv2D.from_config(plain.get_config())
    plain.build(images.shape)
    fast.build(images.shape)
    fast.set_weights(plain.get_weights())
    assert fast._fast_path(images) == (side <= models.FAST_GRADIENT_MAX_SIDE)
    np.testing.assert_allclose(fast(images).numpy(), plain(images).numpy(), rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(_gradients(fast, images), _gradients(plain, images)):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)


def test_fast_path_only_where_the_formulation_holds():
    images = tf.zeros((1, 2, 2, 4))
    for config in ({"strides": 2}, {"padding": "valid"}, {"kernel_size": 2}, {"dilation_rate": 2}):
        layer = models.FastInputGradConv2D(**{"filters": 4, "kernel_size": 3, "padding": "same", **config})
        assert not layer._fast_path(images), config


def test_vgg19_uses_fast_convolutions_and_attacks_give_the_same_images(vgg, plain_base):
    model, _ = vgg
    base = models.vgg19_base_of(model)
    assert all(type(layer) is models.FastInputGradConv2D for layer in base.layers if "conv" in layer.name)
    plain_base.set_weights(base.get_weights())
    plain, _ = models.build_vgg19(32, base=plain_base, status=models.PretrainedStatus(False, "random", "test"))
    plain.set_weights(model.get_weights())
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    labels = np.arange(8) % 10
    from helpers import attacks

    mine, theirs = attacks.fgsm(model, images, labels, 0.05), attacks.fgsm(plain, images, labels, 0.05)
    assert np.mean(np.isclose(mine, theirs, atol=1e-6)) >= 0.999  # FGSM's sign agrees on (nearly) every pixel


def test_fast_convolutions_survive_save_and_load(tmp_path):
    # The classifier of build_vgg19 around a fast base with VGG-19's layer names: what is saved and loaded per layer
    # does not depend on the base's size, and this one saves in a second (VGG-19's 80 MB take tens of seconds).
    tf.keras.utils.set_random_seed(0)
    fast_base = _tiny_base(conv=models.FastInputGradConv2D)
    model, _ = models.build_vgg19(32, base=fast_base, status=_random_status())
    model.save(tmp_path / "vgg.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "vgg.keras")
    for block in range(1, 6):
        assert type(models.vgg19_base_of(reloaded).get_layer(f"block{block}_conv1")) is models.FastInputGradConv2D
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
