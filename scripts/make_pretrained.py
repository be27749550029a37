"""Ship the ready-trained models: copy the ones the notebooks trained in the workshop profile into pretrained/.

    make execute ONLY="notebooks/01_cnn_basics.ipynb notebooks/03_adversarial_attacks_fgsm.ipynb \
        notebooks/04_adversarial_regularization_nsl.ipynb"     # the recipe: the notebooks themselves
    python scripts/make_pretrained.py                          # then this

Reads artifacts/workshop/{cnn,lenet,nsl_adv_regularized}.keras (checked against their metadata) and saves each into
pretrained/workshop/ without its optimizer state (a clone with the same weights, compiled as the series compiles its
classifiers), with its metadata plus: the notebook that trained it, the TensorFlow and tf-keras versions, and its
accuracy on the bundled sample's test images (``sample_accuracy``), which tests/test_pretrained.py measures again.
Machine paths are left out of the metadata.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

import helpers
import tensorflow as tf

from helpers import artifacts, data, evaluation, models, pretrained
from helpers.profiles import get_profile

ACCURACY_KEYS = ("test_accuracy", "clean_test_accuracy")  # notebooks 01/03 and 04 name it differently


def main() -> int:
    helpers.setup(0)
    workshop = get_profile("workshop")
    x_sample, y_sample = data.model_split(data.load_sample(), "test")
    for name, notebook in pretrained.READY.items():
        model, metadata = artifacts.load_saved_model(name, workshop)
        if model is None:
            print(f"artifacts/workshop/{name}.keras is missing: execute {notebook} in the workshop profile first.")
            return 1
        kept = {key: value for key, value in metadata.items()
                if key not in ("name", "profile", "format_version", "input_shape", "classes", "sha256", "data")}
        accuracy = next((metadata[key] for key in ACCURACY_KEYS if key in metadata), None)
        kept.update({
            "trained_by": f"{notebook}, workshop profile (full Fashion-MNIST)",
            "trained_on": str(metadata.get("saved_at", "?"))[:10], "test_accuracy": accuracy,
            "versions": {package: version(package) for package in ("tensorflow", "tf-keras")},
            "sample_accuracy": evaluation.accuracy(model, x_sample, y_sample),
            "sample_images": len(y_sample),
        })
        kept.pop("saved_at", None)
        shipped = tf.keras.models.clone_model(model)  # the same network and weights, a fresh optimizer:
        shipped.set_weights(model.get_weights())  # its state is never built, so it is not saved (a third of the size)
        models.compile_classifier(shipped)
        path = artifacts.save_model(shipped, name, workshop, kept, root=pretrained.PRETRAINED_DIR)
        print(f"{artifacts.relative_path(path)}: {path.stat().st_size / 1e6:.1f} MB, test accuracy {accuracy}, "
              f"sample accuracy {kept['sample_accuracy']:.4f} on {len(y_sample)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
