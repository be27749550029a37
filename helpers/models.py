"""The models of the series: build them and train them.

* :func:`build_cnn` - notebook 01's small CNN (28x28x1 images in [0, 1]).
* :func:`build_vgg19` - notebook 02's VGG-19 classifier. Its inputs are the same
  28x28x1 images in [0, 1]: converting to 3 channels, resizing and VGG-19's own
  preprocessing happen *inside* the model, as layers, so attacks (notebook 03)
  work in pixel space.
* :func:`load_vgg19_base` - VGG-19's convolutional base with ImageNet weights
  when they can be had, and an honest :class:`PretrainedStatus` saying whether
  they were. Random weights are never passed off as pretrained.

Saving and reloading trained models is :mod:`helpers.artifacts`.

Import :mod:`helpers` before TensorFlow (it selects Keras 2); ``tf.keras`` only.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from helpers import checks as _checks
from helpers import lessons as _lessons
from helpers import data as _data

__all__ = [
    "INPUT_NAME",
    "PretrainedStatus",
    "WeightsError",
    "GrayscaleToRGB",
    "VGG19Preprocess",
    "build_cnn",
    "build_lenet",
    "compile_classifier",
    "train_cnn",
    "count_params",
    "load_vgg19_base",
    "build_vgg19",
    "FastInputGradConv2D",
    "vgg19_base_of",
    "set_trainable_blocks",
]

INPUT_NAME = "image"  # notebook 04's NSL feature dict uses this key
_VGG19_BLOCKS = ("block1", "block2", "block3", "block4", "block5")
# ImageNet channel means in BGR order, as subtracted by vgg19.preprocess_input ("caffe" mode).
IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)
VGG19_BASE_NAME = "vgg19"


# --------------------------------------------------------------------------- small CNN


def compile_classifier(model: tf.keras.Model, learning_rate: float = 1e-3) -> tf.keras.Model:
    """Compile for integer labels: Adam, sparse categorical cross-entropy, accuracy."""
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_cnn(dropout: float = 0.5, name: str = "cnn", classes: int = 10) -> tf.keras.Model:
    """The series' small CNN for 28x28x1 images in [0, 1], compiled: notebook 01's ``cnn``, exported.

    Conv(32, 3x3, ReLU) -> MaxPool(2) -> Conv(64, 3x3, ReLU) -> MaxPool(2) ->
    Flatten -> Dropout -> Dense(128, ReLU) -> Dense(``classes``, softmax), as
    written in notebook 01 (:func:`helpers.lessons.cnn`); this adds the checks and the compile.
    The input layer is named :data:`INPUT_NAME`: NSL (notebook 04) feeds features by that name.
    ``classes`` is 10 for Fashion-MNIST; notebook 02's transfer tasks use 5.
    """
    classes = _checks.check_whole_number(classes, "classes", minimum=2, hint="It is the number of output classes.")
    return compile_classifier(_lessons.cnn(classes=int(classes), dropout=dropout, name=name, input_name=INPUT_NAME))


def build_lenet(name: str = "lenet") -> tf.keras.Model:
    """A second small CNN, LeNet-5 style, for 28x28x1 images in [0, 1], compiled.

    Conv(16, 5x5, ReLU, same padding) -> MaxPool(2) -> Conv(32, 5x5, ReLU) ->
    MaxPool(2) -> Flatten -> Dense(100, ReLU) -> Dense(10, softmax). A different
    architecture from :func:`build_cnn` (larger filters, no dropout): notebook 03
    attacks one with examples crafted on the other (transfer).
    """
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=(28, 28, 1), name=INPUT_NAME)
    x = layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(100, activation="relu", name="dense")(x)
    outputs = layers.Dense(len(_data.CLASS_NAMES), activation="softmax", name="probabilities")(x)
    return compile_classifier(tf.keras.Model(inputs, outputs, name=name))


def _as_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels as loaded become [0, 1] floats; float images pass through."""
    images = np.asarray(images)
    return _data.to_model_input(images) if images.dtype == np.uint8 else images


def train_cnn(profile, dataset, model: tf.keras.Model | None = None, validation_split: float = 0.1, verbose: int = 1):
    """Train the small CNN with the profile's epochs, batch size and training-set size.

    The last ``validation_split`` of the training images are held out for
    validation (Keras's ``validation_split``); the test set is not touched.
    Returns ``(model, history)``; Keras's progress bar shows while it trains.
    """
    images, labels = _data.subset(dataset.x_train, dataset.y_train, profile.train_size)
    model = model or build_cnn()
    history = model.fit(
        _as_input(images),
        labels,
        epochs=profile.cnn_epochs,
        batch_size=profile.batch_size,
        validation_split=validation_split,
        verbose=verbose,
    )
    return model, history


def count_params(model: tf.keras.Model) -> tuple[int, int]:
    """``(trainable, non-trainable)`` parameter counts, as ``summary()`` reports them."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return trainable, frozen


# --------------------------------------------------------------------------- VGG-19


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not fit VGG-19's convolutional base."""


@dataclass(frozen=True)
class PretrainedStatus:
    """Which weights a VGG-19 base really holds.

    ``pretrained`` is True only when trained weights were loaded (ImageNet through
    Keras, or a file); ``source`` says from where; ``message`` explains it in words.
    """

    pretrained: bool
    source: str  # "imagenet", a file path, or "random"
    message: str

    @property
    def label(self) -> str:
        """A short tag for tables and plot titles."""
        if not self.pretrained:
            return "weights: RANDOM (not pretrained)"
        return "weights: ImageNet" if self.source == "imagenet" else f"weights: file {Path(self.source).name}"

    def banner(self) -> str:
        """A loud, multi-line notice for a notebook's output."""
        if self.pretrained:
            return f"VGG-19 base: {self.message}"
        line = "!" * 78
        return (
            f"{line}\n!!  WARNING: the VGG-19 base is RANDOMLY INITIALISED, NOT PRETRAINED.\n"
            f"!!  {self.message}\n"
            "!!  Every number below is for a VGG-19 trained from random weights: it does\n"
            "!!  NOT show transfer learning. Get the ImageNet weights (see above) and re-run.\n"
            f"{line}"
        )


# Spatial sizes at or below this use FastInputGradConv2D's forward formulation of the input gradient.
FAST_GRADIENT_MAX_SIDE = 4


def _flipped_kernel(kernel: tf.Tensor) -> tf.Tensor:
    """The kernel of the transposed convolution: rotated 180 degrees, input and output channels swapped."""
    return tf.transpose(tf.reverse(kernel, axis=[0, 1]), [0, 1, 3, 2])


@tf.keras.utils.register_keras_serializable(package="advlearn")
class FastInputGradConv2D(tf.keras.layers.Conv2D):
    """``Conv2D`` whose gradient with respect to its input is computed as a forward convolution.

    The same mathematics as ``Conv2D``: for stride 1, no dilation and "same"
    padding with an odd kernel, the input gradient is the output gradient
    convolved with the kernel rotated by 180 degrees, input and output channels
    swapped. TensorFlow's CPU kernel for that gradient (``Conv2DBackpropInput``)
    is 10 to 40 times slower than a forward convolution on VGG-19's 2x2 and 4x4
    maps of 512 channels (``benchmarks/README.md``), which made every VGG-19
    attack crawl; the forward formulation runs at the forward speed. It is used
    only on maps of at most :data:`FAST_GRADIENT_MAX_SIDE` pixels a side, where it
    wins; elsewhere, and for any other configuration, the layer is a plain ``Conv2D``.
    The kernel's own gradient is TensorFlow's usual one.
    """

    def _fast_path(self, inputs) -> bool:
        side = inputs.shape[1]
        odd_kernel = all(size % 2 == 1 for size in self.kernel_size)
        return (
            side is not None and side <= FAST_GRADIENT_MAX_SIDE and self.padding == "same" and odd_kernel
            and tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1) and self.groups == 1
            and self.data_format == "channels_last"
        )

    def convolution_op(self, inputs, kernel):
        if not self._fast_path(inputs):
            return super().convolution_op(inputs, kernel)

        @tf.custom_gradient
        def convolution(images, weights):
            outputs = tf.nn.conv2d(images, weights, strides=1, padding="SAME")

            def gradient(upstream):
                images_gradient = tf.nn.conv2d(upstream, _flipped_kernel(weights), strides=1, padding="SAME")
                weights_gradient = tf.raw_ops.Conv2DBackpropFilter(
                    input=images, filter_sizes=tf.shape(weights), out_backprop=upstream,
                    strides=[1, 1, 1, 1], padding="SAME",
                )
                return images_gradient, weights_gradient

            return outputs, gradient

        return convolution(inputs, kernel)


def _with_fast_input_gradients(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of a functional ``model`` (weights included) whose ``Conv2D`` layers are :class:`FastInputGradConv2D`."""

    def clone(layer):
        if type(layer) is tf.keras.layers.Conv2D:
            return FastInputGradConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    fast = tf.keras.models.clone_model(model, clone_function=clone)
    fast.set_weights(model.get_weights())
    return fast


def _vgg19(weights, input_shape) -> tf.keras.Model:
    base = tf.keras.applications.VGG19(include_top=False, weights=weights, input_shape=input_shape)
    return _with_fast_input_gradients(base)  # attacks and fine-tuning differentiate it: keep them fast


_DOWNLOAD_TIMEOUT = 60.0  # seconds


def load_vgg19_base(weights: str | Path | None = "imagenet", input_shape=(32, 32, 3)):
    """VGG-19's convolutional base (``include_top=False``) and what weights it holds.

    ``weights`` is ``"imagenet"`` (Keras's cache, downloading on first use),
    ``None`` (random initialisation, on purpose) or the path of a weights file
    saved from a VGG-19 base (``.h5``, e.g. Keras's
    ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` copied by hand).

    When the ImageNet weights cannot be had (no network and nothing cached), the
    base is randomly initialised and the returned :class:`PretrainedStatus` says
    ``pretrained=False``: check it. A missing or unreadable file raises
    :class:`WeightsError`. Returns ``(base, status)``.
    """
    if weights is None:
        base = _vgg19(None, input_shape)
        return base, PretrainedStatus(False, "random", "randomly initialised on request (weights=None).")
    if str(weights) == "imagenet":
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT)  # a dead network should fail, not hang
        try:
            base = _vgg19("imagenet", input_shape)
        except Exception as error:  # Keras raises a bare Exception for a failed download
            reason = str(error).splitlines()[0][:200]
            base = _vgg19(None, input_shape)
            return base, PretrainedStatus(
                False,
                "random",
                "the ImageNet weights could not be loaded from Keras's cache or downloaded "
                f"({error.__class__.__name__}: {reason}). Fell back to random weights.",
            )
        finally:
            socket.setdefaulttimeout(previous_timeout)
        return base, PretrainedStatus(True, "imagenet", "ImageNet weights (Keras's VGG19, include_top=False).")

    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"VGG-19 weights file {path} does not exist. Pass weights='imagenet' to use Keras's "
            "download/cache, or the path of an existing .h5 file saved from a VGG-19 base."
        )
    base = _vgg19(None, input_shape)
    try:
        base.load_weights(str(path))
    except Exception as error:  # h5py OSError, Keras ValueError on a mismatch...
        raise WeightsError(
            f"VGG-19 weights file {path} could not be loaded ({error.__class__.__name__}: "
            f"{str(error).splitlines()[0][:300]}). It is corrupted, truncated or not the weights of "
            "a VGG-19 convolutional base (include_top=False). Get it again."
        ) from error
    return base, PretrainedStatus(True, str(path), f"weights loaded from the file {path}.")


@tf.keras.utils.register_keras_serializable(package="advlearn")
class GrayscaleToRGB(tf.keras.layers.Layer):
    """Repeats a single grey channel three times; 3-channel images pass unchanged."""

    def call(self, images):
        if images.shape[-1] == 1:
            return tf.repeat(images, 3, axis=-1)
        return images

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([3])


@tf.keras.utils.register_keras_serializable(package="advlearn")
class VGG19Preprocess(tf.keras.layers.Layer):
    """``vgg19.preprocess_input`` as a layer, for RGB pixels in 0-255.

    RGB becomes BGR and each channel's ImageNet mean is subtracted (no scaling):
    the input convention VGG-19's ImageNet weights were trained with.
    """

    def call(self, images):
        bgr = images[..., ::-1]
        return bgr - tf.constant(IMAGENET_BGR_MEANS, dtype=images.dtype)


def build_vgg19(
    image_size: int = 32,
    weights: str | Path | None = "imagenet",
    trainable_blocks: int = 0,
    input_shape=(28, 28, 1),
    head_units: int = 256,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    base: tf.keras.Model | None = None,
    status: PretrainedStatus | None = None,
):
    """A compiled VGG-19 classifier for images in [0, 1]; returns ``(model, status)``.

    Layers: ``image`` (``input_shape``, values in [0, 1]) -> ``to_rgb`` (grey to 3
    channels) -> ``resize`` (``image_size`` square, bilinear) -> ``to_0_255`` ->
    ``vgg19_preprocess`` (RGB->BGR, minus ImageNet means) -> ``vgg19`` (the
    convolutional base from :func:`load_vgg19_base`) -> global average pooling ->
    layer normalisation -> Dense(``head_units``, ReLU) -> Dropout -> Dense(10, softmax).

    The top ``trainable_blocks`` convolutional blocks are trainable (0: the base
    is frozen, a feature extractor). ``status`` tells whether the base is
    pretrained; pass ``base`` and ``status`` to reuse an already loaded base.
    """
    if image_size < 32:
        raise ValueError(f"VGG-19 needs images of at least 32x32 pixels (five 2x2 poolings); got {image_size}.")
    if base is None:
        base, status = load_vgg19_base(weights, input_shape=(image_size, image_size, 3))
    elif status is None:
        raise ValueError("Pass the PretrainedStatus of the base you give: whether it is pretrained must be known.")
    base._name = VGG19_BASE_NAME  # a fixed name lets set_trainable_blocks find it

    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=input_shape, name=INPUT_NAME)
    x = GrayscaleToRGB(name="to_rgb")(inputs)
    x = layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(x)
    x = layers.Rescaling(255.0, name="to_0_255")(x)
    x = VGG19Preprocess(name="vgg19_preprocess")(x)
    # training=False keeps the base in inference mode (matters for layers such as
    # dropout or batch norm; VGG-19 has none, but a fine-tuning habit worth keeping).
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Normalising the 512 features per image makes the head's training independent
    # of their scale, which differs a lot between pretrained and random bases.
    x = layers.LayerNormalization(name="head_norm")(x)
    x = layers.Dense(head_units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(len(_data.CLASS_NAMES), activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(inputs, outputs, name="vgg19_classifier")
    set_trainable_blocks(model, trainable_blocks)
    return compile_classifier(model, learning_rate), status


def vgg19_base_of(model: tf.keras.Model) -> tf.keras.Model:
    """The VGG-19 convolutional base inside a model from :func:`build_vgg19`."""
    return model.get_layer(VGG19_BASE_NAME)


def set_trainable_blocks(model: tf.keras.Model, n: int) -> list[str]:
    """Unfreeze the top ``n`` convolutional blocks of VGG-19 (block5, then block4, ...).

    ``n=0`` freezes the whole base; ``n=5`` makes all of it trainable. The head
    stays trainable. Recompile the model afterwards (:func:`compile_classifier`)
    for the change to take effect in training. Returns the names of the
    trainable layers of the base.
    """
    if not 0 <= n <= len(_VGG19_BLOCKS):
        raise ValueError(f"n must be between 0 and {len(_VGG19_BLOCKS)}, got {n}.")
    base = vgg19_base_of(model)
    unfrozen = set(_VGG19_BLOCKS[len(_VGG19_BLOCKS) - n :])
    base.trainable = n > 0
    for layer in base.layers:
        layer.trainable = layer.name.split("_")[0] in unfrozen
    return [layer.name for layer in base.layers if layer.trainable and layer.weights]
