"""Shared test set-up: helpers is imported first so tf.keras is Keras 2 everywhere."""

import helpers  # noqa: F401  (must precede any TensorFlow import)
