"""The environment every notebook runs in: Keras 2, a working NSL import, quiet logs.

TensorFlow 2.16+ ships Keras 3 as ``tf.keras`` and no longer has ``tf.estimator``.
Neural Structured Learning 1.4.0 (the latest release) needs Keras 2 and imports
``tensorflow.estimator`` from its package ``__init__``. This module is the one
place that fixes both, and it must run *before TensorFlow is first imported*:

* ``TF_USE_LEGACY_KERAS=1`` makes ``tf.keras`` resolve to the ``tf-keras``
  package (Keras 2).
* A stand-in module is registered as ``tensorflow.estimator``. NSL's Keras API
  never uses it; touching anything on it raises an error that says so.

``import helpers`` calls :func:`configure` for you, so a notebook's first line
``import helpers`` is all it takes.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import types

__all__ = ["configure", "KerasVersionError", "versions", "device_description"]

_ESTIMATOR_MODULE = "tensorflow.estimator"


class KerasVersionError(RuntimeError):
    """TensorFlow was imported with Keras 3 before ``helpers`` could select Keras 2."""


class _RemovedEstimator(types.ModuleType):
    """Stand-in for ``tf.estimator`` (removed in TensorFlow 2.16).

    NSL imports it at package import time but its Keras API never calls it.
    """

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"tf.estimator.{name} is not available: TensorFlow removed tf.estimator in 2.16. "
            "This series uses only NSL's Keras API (nsl.keras), which does not need it."
        )


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what TensorFlow's C++ runtime writes to stderr while it loads.

    On a machine without a GPU it prints "Could not find cuda drivers" lines
    before its log level can be set. Python exceptions are unaffected: they are
    raised, not printed.
    """
    try:
        stderr_fd = sys.__stderr__.fileno()
        saved = os.dup(stderr_fd)
    except (AttributeError, OSError, ValueError):  # no real stderr (some embedded kernels)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), stderr_fd)
            yield
    finally:
        os.dup2(saved, stderr_fd)
        os.close(saved)


def _keras_is_legacy(tf_module) -> bool:
    return tf_module.keras.__name__.startswith("tf_keras")


def configure() -> None:
    """Select Keras 2, quieten TensorFlow's start-up logging and make NSL importable.

    Safe to call more than once. Raises :class:`KerasVersionError` when TensorFlow
    was already imported with Keras 3, since that choice cannot be undone in a
    running process.
    """
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        if not _keras_is_legacy(tf):
            raise KerasVersionError(
                "TensorFlow was imported before `helpers`, so tf.keras is Keras 3 and "
                "Neural Structured Learning cannot train. Restart the kernel "
                "(Kernel > Restart) and make `import helpers` the first import, before "
                "`import tensorflow`. (Outside Jupyter: set the environment variable "
                "TF_USE_LEGACY_KERAS=1 before Python starts.)"
            )
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        # 1 hides INFO, 2 also WARNING. Keep a user's own choice.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    if _ESTIMATOR_MODULE not in sys.modules:
        sys.modules[_ESTIMATOR_MODULE] = _RemovedEstimator(_ESTIMATOR_MODULE)

    with _quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the GPU probe logs too: do it now, quietly
    if not _keras_is_legacy(tf):
        raise KerasVersionError(
            "tf.keras is not Keras 2 even though TF_USE_LEGACY_KERAS=1 is set. Install the "
            "tf-keras package matching your TensorFlow version: "
            f"pip install 'tf-keras~={tf.__version__.rsplit('.', 1)[0]}.0'"
        )
    tf.get_logger().setLevel("ERROR")
    # absl's Python logger prints deprecation chatter from NSL and tf-keras.
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway.
        pass


def versions() -> dict[str, str]:
    """Versions of Python and the libraries the series depends on."""
    import matplotlib
    import numpy as np
    import tensorflow as tf
    import tf_keras

    found = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf.keras (tf-keras)": tf_keras.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
    }
    try:
        from importlib.metadata import version

        found["neural-structured-learning"] = version("neural-structured-learning")
    except Exception:  # not installed: notebook 04 will say so when it imports it
        found["neural-structured-learning"] = "not installed"
    return found


def device_description() -> str:
    """A one-line description of where TensorFlow will compute."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s): " + ", ".join(gpu.name for gpu in gpus)
    in_colab = "google.colab" in sys.modules
    hint = (
        " (on Colab: Runtime > Change runtime type > GPU)"
        if in_colab
        else " (fine for the smoke and workshop profiles)"
    )
    return f"CPU only, {os.cpu_count()} cores{hint}"
