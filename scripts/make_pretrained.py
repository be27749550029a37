"""Ship the ready-trained models: save the weights of the ones the notebooks trained (workshop profile) into pretrained/.

    make execute ONLY="notebooks/01_cnn_basics.ipynb notebooks/03_adversarial_attacks_fgsm.ipynb \
        notebooks/04_adversarial_regularization_nsl.ipynb"     # the recipe: the notebooks themselves
    python scripts/make_pretrained.py                          # then this

Reads artifacts/workshop/{cnn,lenet,nsl_adv_regularized}.keras (checked against their metadata) and saves the weights
of each into pretrained/workshop/<name>-weights.h5 (HDF5: every tf-keras 2 reads it, while Colab's tf-keras 2.20
cannot read a .keras file written by 2.21; helpers.pretrained builds the architecture from the lessons' code), with its
metadata plus: the notebook that trained it, the TensorFlow and tf-keras versions, and its
accuracy on the bundled sample's test images (``sample_accuracy``), which tests/test_pretrained.py measures again.
Each is then loaded back as the notebooks load it (helpers.pretrained: the lessons' architecture, these weights) and
must predict exactly what the trained model predicts on the sample: a builder that drifted from what was trained
(a layer without weights changed, say) is caught here, before it ships. Machine paths are left out of the metadata.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

import helpers
import numpy as np

from helpers import artifacts, data, evaluation, pretrained
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
        kept = {key: value for key, value in metadata.items() if key not in (*artifacts.RESERVED_KEYS, "data")}
        accuracy = next((metadata[key] for key in ACCURACY_KEYS if key in metadata), None)
        kept.update({
            "trained_by": f"{notebook}, workshop profile (full Fashion-MNIST)",
            "trained_on": str(metadata.get("saved_at", "?"))[:10], "test_accuracy": accuracy,
            "versions": {package: version(package) for package in ("tensorflow", "tf-keras")},
            "sample_accuracy": evaluation.accuracy(model, x_sample, y_sample),
            "sample_images": len(y_sample),
        })
        kept.pop("saved_at", None)
        path = artifacts.save_model(model, name, workshop, kept, root=pretrained.PRETRAINED_DIR, weights_only=True)
        shipped, _ = pretrained._load(name)
        if not np.array_equal(shipped.predict(x_sample, verbose=0), model.predict(x_sample, verbose=0)):
            print(f"{artifacts.relative_path(path)} loaded into helpers.pretrained's architecture for {name} does not "
                  f"predict what {notebook}'s model predicts: fix helpers.pretrained._BUILDERS, then run this again.")
            return 1
        print(f"{artifacts.relative_path(path)}: {path.stat().st_size / 1e6:.1f} MB, test accuracy {accuracy}, "
              f"sample accuracy {kept['sample_accuracy']:.4f} on {len(y_sample)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
