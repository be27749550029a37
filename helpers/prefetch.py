"""Download and check everything a workshop room needs, before it goes offline.

    make prefetch            # or: python -m helpers.prefetch

Fetches the four Fashion-MNIST files into Keras's cache (unless they are already
found elsewhere, see :mod:`helpers.data`) and the VGG-19 ImageNet weights
without the classifier top into Keras's model cache. Each item is reported as
ready or missing; for a missing one it says where to put the file by hand.
Exit status 0 when everything is ready, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from helpers import data, models

VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_models_dir() -> Path:
    """Keras's model cache (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    return data.keras_cache_dir().parent.parent / "models"


def _prefetch_dataset() -> tuple[bool, str]:
    """Make sure the full dataset is on disk and intact."""
    try:
        dataset = data.load_full(download=True)
    except data.DataError as error:
        return False, str(error)
    return True, f"Fashion-MNIST: {dataset.describe()}, checksums verified"


def _prefetch_vgg19_weights() -> tuple[bool, str]:
    """Make sure the VGG-19 ImageNet no-top weights are in Keras's cache."""
    target = keras_models_dir() / VGG19_WEIGHTS_FILE
    _, status = models.load_vgg19_base("imagenet")
    if not status.pretrained:
        return False, (
            f"VGG-19 ImageNet weights: {status.message}\n"
            f"  Put {VGG19_WEIGHTS_FILE} (about 80 MB, from the Keras applications release on "
            f"GitHub, keras-team/keras-applications) at {target}"
        )
    return True, f"VGG-19 ImageNet weights: {target}"


def main() -> int:
    results = [_prefetch_dataset(), _prefetch_vgg19_weights()]
    for ready, message in results:
        print(("READY    " if ready else "MISSING  ") + message.replace("\n", "\n         "))
    if all(ready for ready, _ in results):
        print("\nEverything is cached: the workshop profile runs offline now.")
        return 0
    print("\nSome items are missing (see above). The smoke profile still works offline on the bundled sample.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
