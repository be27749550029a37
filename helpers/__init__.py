"""Shared helpers for the notebook series "Adversarial Learning: building robust vision models".

Import this package first, before TensorFlow: it selects Keras 2 (``tf-keras``)
and makes Neural Structured Learning importable on current TensorFlow (see
:mod:`helpers.environment`). Modules, one per concern:

* :mod:`helpers.environment` - Keras 2 / NSL set-up, versions, device
* :mod:`helpers.profiles` - run profiles (``ADVLEARN_PROFILE``)
* :mod:`helpers.checks` - argument checks, called once by every public function
* :mod:`helpers.data` - Fashion-MNIST loading and checking
* :mod:`helpers.models` - the models of the series, built and trained
* :mod:`helpers.artifacts` - trained models saved atomically and reloaded, checked
* :mod:`helpers.lessons` - generated: the mechanisms the notebooks define in cells tagged ``export``
* :mod:`helpers.pretrained` - ready-trained models on request (``ADVLEARN_PRETRAINED=1``, ``make models``)
* :mod:`helpers.attacks` - batched, compiled FGSM, BIM and PGD (running notebook 03's lesson)
* :mod:`helpers.model_outputs` - does a model output probabilities or logits, and the logits behind its softmax
* :mod:`helpers.strong_attacks` - the series' own Auto-PGD (CE/DLR) and Square attack
* :mod:`helpers.ensemble` - the ensemble of the strongest attacks we run, its worst case and masking checks
* :mod:`helpers.evaluation` - accuracy under attack, transfer, robustness curves
* :mod:`helpers.sanity` - the sanity checks a robustness evaluation must pass
* :mod:`helpers.tables` - results as tables (pandas)
* :mod:`helpers.explorer` - the interactive attack explorer (ipywidgets) and its static stand-in
* :mod:`helpers.defenses` - adversarial regularization with NSL (notebook 04)
* :mod:`helpers.embeddings`, :mod:`helpers.nsl_tools`, :mod:`helpers.graphs`, :mod:`helpers.semisupervised`,
  :mod:`helpers.graph_predictions` - notebook 05: label-free embeddings, NSL's graph tools on files, the
  similarity graph and its packed centres, few-label training with and without the graph, the graph's own
  predictions
* :mod:`helpers.stats` - intervals and paired tests that every conclusion rests on
* :mod:`helpers.plots` - figures with one colour per model across the series
* :mod:`helpers.transfer` - notebook 02's label-budget experiment
* :mod:`helpers.prefetch` - ``make prefetch``: dataset and VGG-19 weights before going offline
* :mod:`helpers.readiness` - ``make check``: is this machine ready for the workshop? (offline)
"""

from helpers.environment import configure as _configure

_configure()

from helpers.profiles import get_profile  # noqa: E402

__all__ = ["get_profile", "setup"]


def setup(seed: int = 42):
    """Seed everything and print what this run uses; returns the run profile.

    Call it in a notebook's setup cell. Re-running a notebook under the same
    profile on the same machine gives the same numbers (TensorFlow's CPU kernels
    are deterministic here; on a GPU some kernels are not, see the README).
    """
    import tensorflow as tf

    from helpers.checks import check_seed
    from helpers.environment import device_description, versions

    seed = check_seed(seed, allow_none=False)
    profile = get_profile()
    tf.keras.utils.set_random_seed(seed)
    print("Versions: " + ", ".join(f"{name} {version}" for name, version in versions().items()))
    print(f"Device:   {device_description()}")
    print(f"Run:      {profile.summary()}")
    print(f"Seed:     {seed}")
    return profile
