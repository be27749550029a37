"""Unsupervised image embeddings for notebook 05's similarity graph: no label goes in.

A similarity graph joins images whose embeddings point the same way. If the
embedding were learned from Fashion-MNIST's labels (notebook 01's CNN, say), the
graph would smuggle those labels into a "few labels" experiment. So nothing here
takes a label, by construction: every function receives images only.

* :func:`fit_pca` - pixel principal components, the
  baseline: the directions along which the images vary most.
* :func:`train_autoencoder` - a small dense
  autoencoder that learns to squeeze an image through ``code_size`` numbers
  and rebuild it; its encoder is the embedding.
* :func:`embed` - the embedding of many images with either of them.
* :func:`centre` - subtract the mean embedding. Cosine similarity (what NSL's
  graph builder compares) measures directions from the origin: codes that all
  share a large common part point the same way, and every pair looks similar.
  PCA's embedding is centred by construction; an autoencoder's code is not.

Images are float32 ``(N, 28, 28, 1)`` (or ``(N, 28, 28)``) in [0, 1], as
:func:`helpers.data.to_model_input` returns them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from helpers import checks

__all__ = ["fit_pca", "train_autoencoder", "embed", "centre"]


def _flat_images(images, name: str = "images") -> np.ndarray:
    """Checked images in [0, 1], one row of pixels per image."""
    images = checks.check_images(images, name)
    return images.reshape(len(images), -1)


@dataclass(frozen=True)
class _PCAEmbedding:
    """Pixel PCA: ``(pixels - mean) @ components``, one row of ``dims`` numbers per image."""

    mean: np.ndarray  # (pixels,)
    components: np.ndarray  # (pixels, dims), orthonormal columns, largest variance first
    explained_variance_ratio: np.ndarray  # (dims,) share of the pixel variance along each component

    @property
    def dims(self) -> int:
        return self.components.shape[1]

    def transform(self, images) -> np.ndarray:
        """The embedding of ``images``: float32 ``(N, dims)``."""
        flat = _flat_images(images)
        if flat.shape[1] != len(self.mean):
            raise ValueError(
                f"images have {flat.shape[1]} pixels each but this PCA was fitted on images of {len(self.mean)} pixels."
            )
        return ((flat - self.mean) @ self.components).astype(np.float32)


def fit_pca(images, dims: int) -> _PCAEmbedding:
    """Principal components of ``images`` (no labels): the top ``dims`` eigenvectors of the pixel covariance."""
    flat = _flat_images(images)
    dims = checks.check_whole_number(dims, "dims", minimum=1, maximum=flat.shape[1])
    if len(flat) < 2:
        raise ValueError(f"fit_pca needs at least 2 images to measure how they vary, got {len(flat)}.")
    mean = flat.mean(axis=0, dtype=np.float64)
    centred = flat - mean.astype(np.float32)
    # One float32 matrix product (fast BLAS), then the small pixels x pixels eigenproblem in float64.
    covariance = (centred.T @ centred).astype(np.float64) / (len(flat) - 1)
    variances, vectors = np.linalg.eigh(covariance)  # ascending order
    order = np.argsort(variances)[::-1][:dims]
    total = float(variances.sum()) or 1.0
    return _PCAEmbedding(
        mean=mean.astype(np.float32),
        components=vectors[:, order].astype(np.float32),
        explained_variance_ratio=(variances[order] / total).astype(np.float32),
    )


def _build_autoencoder(code_size: int = 32, hidden: int = 256, image_shape=(28, 28, 1), name: str = "autoencoder"):
    """A compiled dense autoencoder; returns ``(autoencoder, encoder)``.

    ``image`` -> Flatten -> Dense(``hidden``, ReLU) -> Dense(``code_size``) = the
    code -> Dense(``hidden``, ReLU) -> Dense(pixels, sigmoid) -> the image again.
    Trained with binary cross-entropy between the image and its reconstruction
    (pixels in [0, 1]). ``encoder`` shares the first half's layers.
    """
    code_size = checks.check_whole_number(code_size, "code_size", minimum=1)
    hidden = checks.check_whole_number(hidden, "hidden", minimum=1)
    layers = tf.keras.layers
    pixels = int(np.prod(image_shape))
    inputs = tf.keras.Input(shape=tuple(image_shape), name="image")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(hidden, activation="relu", name="encoder_hidden")(x)
    code = layers.Dense(code_size, name="code")(x)
    x = layers.Dense(hidden, activation="relu", name="decoder_hidden")(code)
    x = layers.Dense(pixels, activation="sigmoid", name="decoder_pixels")(x)
    outputs = layers.Reshape(tuple(image_shape), name="reconstruction")(x)
    autoencoder = tf.keras.Model(inputs, outputs, name=name)
    autoencoder.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    encoder = tf.keras.Model(inputs, code, name=f"{name}_encoder")
    return autoencoder, encoder


def train_autoencoder(images, code_size: int = 32, epochs: int = 5, batch_size: int = 256, seed: int = 0,
                      verbose: int = 0):
    """Train :func:`_build_autoencoder` to rebuild ``images`` (no labels); returns ``(encoder, history, seconds)``.

    ``history`` is Keras's ``History.history`` (``loss`` per epoch: the mean
    binary cross-entropy of the reconstruction).
    """
    images = checks.check_images(images)
    epochs = checks.check_whole_number(epochs, "epochs", minimum=1)
    batch_size = checks.check_batch_size(batch_size)
    seed = checks.check_seed(seed, allow_none=False)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    tf.keras.utils.set_random_seed(seed)
    autoencoder, encoder = _build_autoencoder(code_size, image_shape=images.shape[1:])
    started = time.perf_counter()
    history = autoencoder.fit(images, images, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return encoder, history.history, time.perf_counter() - started


def embed(embedder, images, batch_size: int = 2000) -> np.ndarray:
    """The embedding of ``images`` by a :class:`_PCAEmbedding` or an encoder from :func:`train_autoencoder`."""
    if isinstance(embedder, _PCAEmbedding):
        return embedder.transform(images)
    checks.check_model(embedder, "embedder")
    images = checks.check_images(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    batch_size = checks.check_batch_size(batch_size)
    return np.asarray(embedder.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def centre(vectors) -> np.ndarray:
    """``vectors`` minus their mean row, so that cosine similarity compares how embeddings differ from the average."""
    array = np.asarray(vectors)
    if array.ndim != 2 or array.dtype.kind not in "iuf" or len(array) < 2:
        raise ValueError(f"centre needs an array of shape (N >= 2, dims) of numbers, got {array.dtype} of shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError("vectors contain NaN or infinite values.")
    return (array - array.mean(axis=0)).astype(np.float32)
