"""Run profiles: one setting decides how big every notebook's work is.

Set ``ADVLEARN_PROFILE`` to one of:

``smoke``
    The bundled 2,000/1,000-image sample, one short epoch, small attack sets and
    a randomly initialised VGG-19 (no download). The whole series executes in CI
    in a few minutes on 2 CPU cores. Its numbers only show that the code runs;
    they are not results.
``workshop`` (default)
    The full Fashion-MNIST dataset with short training: each notebook runs in
    about five minutes on a laptop CPU and still shows the real effects.
``full``
    The whole dataset and paper-sized training, meant for a GPU.

Every notebook reads the profile through :func:`get_profile` and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from helpers.checks import check_text

__all__ = ["Profile", "get_profile", "check_profile"]  # PROFILES, ENV_VAR, DEFAULT_PROFILE: for the tests

ENV_VAR = "ADVLEARN_PROFILE"
DEFAULT_PROFILE = "workshop"


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets for one run of the series.

    ``None`` for a ``*_size`` field means "all of it".
    """

    name: str
    description: str
    dataset: str  # "sample" (bundled in data/) or "full" (all 70,000 images)
    train_size: int | None  # images used to train the small CNNs
    test_size: int | None  # images for clean test accuracy
    cnn_epochs: int
    batch_size: int
    transfer_source_classes: tuple[int, ...]  # notebook 02: Fashion-MNIST classes of the source task
    transfer_target_classes: tuple[int, ...]  # ... and of the target task
    transfer_source_epochs: int  # pretraining epochs on every source training image
    transfer_budgets: tuple[int, ...]  # labelled target images per class
    transfer_seeds: tuple[int, ...]  # one run per seed at each budget: mean and spread
    transfer_steps: int  # updates for every approach (from scratch, frozen base, fine-tuned), at every budget
    transfer_finetune_steps: int  # fine-tuning's last updates of those, everything unfrozen (the first: its head)
    vgg_image_size: int  # VGG-19 input side in pixels (>= 32)
    vgg_weights: str | None  # "imagenet" (download or Keras cache) or None: random init, no download
    vgg_train_size: int | None
    vgg_test_size: int | None
    vgg_frozen_epochs: int
    vgg_finetune_epochs: int
    vgg_finetune_blocks: int  # VGG-19 conv blocks unfrozen for fine-tuning (5 = all)
    attack_size: int  # test images attacked in each robustness evaluation
    lenet_epochs: int  # notebook 03's second model for transfer attacks (models.build_lenet)
    vgg_attack_size: int  # test images attacked on VGG-19 (tens of times slower per image than the CNN on a CPU)
    epsilons: tuple[float, ...]  # L-inf budgets for robustness curves
    pgd_steps: int
    nsl_epochs: int
    nsl_train_size: int | None  # training images for notebook 04's two main models
    nsl_multiplier: float  # weight of the adversarial loss in the main NSL model
    nsl_epsilon: float  # L-inf radius of NSL's training neighbours (pixels in [0, 1])
    nsl_pgd_iterations: int  # PGD steps per training neighbour (1 would be NSL's one-step, FGSM-like neighbour)
    nsl_pgd_step: float  # size of each PGD step; nsl_pgd_iterations * nsl_pgd_step must reach nsl_epsilon
    nsl_start_from_base: bool  # True: the regularized model starts from notebook 01's trained CNN (adversarial fine-tuning)
    nsl_multipliers: tuple[float, ...]  # section 7: more PGD-trained models, at these multipliers
    nsl_sweep_train_size: int | None  # training images of each model of section 7's comparison at equal cost
    nsl_sweep_epochs: int  # ... and its epochs (the same for every one of those models)
    nsl_sweep_attack_size: int  # attacked test images (the first of the attack set) for each of those models
    nsl_sweep_seeds: tuple[int, ...]  # ... each trained once per seed (3+ for a verdict), compared seed by seed
    # Notebook 04's robustness evaluation: the per-image worst case over an ensemble of attacks (AutoAttack-style).
    ensemble_pgd_steps: int  # the series' PGD, this many steps from each random start
    ensemble_pgd_restarts: int  # random starts of that PGD (an image counts as robust only if no start fools it)
    ensemble_apgd_steps: int  # Auto-PGD iterations, cross-entropy and DLR losses
    ensemble_apgd_restarts: int  # random starts of each Auto-PGD
    ensemble_square_queries: int  # iterations of the gradient-free Square attack
    # Notebook 05: graph regularization with a similarity graph (few labels, many unlabelled images).
    graph_pool_size: int | None  # training images that are the graph's nodes (labelled ones among them); None: all
    graph_labels_per_class: int  # the main label budget, validation images included (10 = 0.17% of 60,000)
    graph_validation_fraction: float  # share of the labelled images held out to choose settings
    graph_pca_dims: int  # pixel-PCA embedding size
    graph_autoencoder_epochs: int  # epochs of the autoencoder embedding (trained on the pool's images, no labels)
    graph_embedding: str  # "pca" or "autoencoder": the embedding the main graph is built from
    graph_threshold_sample: int  # images in the sample graphs that compare embeddings and thresholds
    graph_pca_thresholds: tuple[float, ...]  # thresholds compared for the pixel-PCA graph; the middle one is used
    graph_autoencoder_thresholds: tuple[float, ...]  # ... and for the autoencoder's (its 32-number codes are more alike)
    graph_lsh_splits: int  # NSL's LSH: compare only nodes in the same of 2**splits random buckets (0: every pair)
    graph_lsh_rounds: int  # independent bucketings; an edge found in any round is kept
    graph_keep: int  # each node then keeps its graph_keep heaviest edges (a nearest-neighbour graph)
    graph_neighbors: int  # neighbours packed per centre image (max_neighbors)
    graph_multiplier: float  # weight of the neighbour loss
    graph_steps: int  # updates (batches of 32) for every model of notebook 05, at every budget
    graph_rounds: int  # points on the learning curves (graph_steps is split into this many)
    graph_budgets: tuple[int, ...]  # labelled images per class in the label-budget sweep
    graph_seeds: tuple[int, ...]  # label draws and initial weights: every model of notebook 05 once per seed
    graph_epsilons: tuple[float, ...]  # L-inf budgets of notebook 05's robustness curves
    # The solutions: their exercises that train a model per seed (01's dropout, 04's recipe variants).
    exercise_seeds: tuple[int, ...]  # 3+ for a verdict; each seed its own initial weights and batches

    def summary(self) -> str:
        """A one-line description for a notebook's setup cell."""
        return f"profile '{self.name}': {self.description}"


_CURVE = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
# Notebook 02's Fashion-MNIST transfer split, chosen on validation images of the training split (see the notebook).
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)

# The workshop profile, written out: the committed notebooks' numbers come from it.
_WORKSHOP = Profile(
    name="workshop",
    description="full Fashion-MNIST, short training: 2 to 11 minutes a notebook on a 2-core laptop CPU",
    dataset="full", train_size=None, test_size=None,
    # notebook 01
    cnn_epochs=4, batch_size=128,
    # notebook 02, within Fashion-MNIST
    transfer_source_classes=SOURCE_CLASSES, transfer_target_classes=TARGET_CLASSES, transfer_source_epochs=3,
    transfer_budgets=(10, 50, 300), transfer_seeds=(0, 1, 2, 3, 4), transfer_steps=200, transfer_finetune_steps=100,
    # notebook 02, VGG-19
    vgg_image_size=32, vgg_weights="imagenet", vgg_train_size=4000, vgg_test_size=1000, vgg_frozen_epochs=2,
    vgg_finetune_epochs=1, vgg_finetune_blocks=1,
    # notebook 03
    attack_size=1000, lenet_epochs=2, vgg_attack_size=500, epsilons=_CURVE, pgd_steps=10,
    # notebook 04
    nsl_epochs=2, nsl_train_size=45000, nsl_multiplier=2.0, nsl_epsilon=0.1, nsl_pgd_iterations=3,
    nsl_pgd_step=0.05, nsl_start_from_base=True,
    # notebook 04, section 7
    nsl_multipliers=(0.2,), nsl_sweep_train_size=5000, nsl_sweep_epochs=1, nsl_sweep_attack_size=200,
    nsl_sweep_seeds=(0, 1, 2),
    # notebook 04, the attack ensemble
    ensemble_pgd_steps=50, ensemble_pgd_restarts=2, ensemble_apgd_steps=50, ensemble_apgd_restarts=1,
    ensemble_square_queries=500,
    # notebook 05
    graph_pool_size=10000, graph_labels_per_class=10, graph_validation_fraction=0.2, graph_pca_dims=64,
    graph_autoencoder_epochs=5, graph_embedding="pca", graph_threshold_sample=2000,
    graph_pca_thresholds=(0.7, 0.8, 0.9), graph_autoencoder_thresholds=(0.95, 0.975, 0.99), graph_lsh_splits=10,
    graph_lsh_rounds=10, graph_keep=5, graph_neighbors=3, graph_multiplier=2.0,
    graph_steps=600, graph_rounds=6,  # half the pilots' 1,200: 3 seeds x 5 models fit (dev gain +2.4 vs +2.5 points)
    graph_budgets=(),  # 7 minutes: no sweep here; solutions/05 exercise 5 runs 60 per class
    graph_seeds=(0, 1, 2), graph_epsilons=(0.0, 0.02, 0.05, 0.1, 0.3),
    # the solutions
    exercise_seeds=(0, 1, 2),
)
# The smoke profile runs the same code on the least that exercises it: its numbers are not results.
_SMOKE = replace(
    _WORKSHOP,
    name="smoke",
    description="bundled 3,000-image sample, minimal training (checks that the code runs; numbers are not results)",
    dataset="sample",
    # notebook 01
    cnn_epochs=1, batch_size=64,
    # notebook 02, within Fashion-MNIST
    transfer_source_epochs=1, transfer_budgets=(5, 20), transfer_seeds=(0, 1), transfer_steps=20,
    transfer_finetune_steps=10,
    # notebook 02, VGG-19
    vgg_weights=None, vgg_train_size=128, vgg_test_size=64, vgg_frozen_epochs=1,
    # notebook 03
    attack_size=100, lenet_epochs=1, vgg_attack_size=16, epsilons=(0.0, 0.05, 0.1, 0.3), pgd_steps=5,
    # notebook 04
    nsl_epochs=1, nsl_train_size=1000, nsl_multiplier=1.0, nsl_pgd_iterations=2, nsl_pgd_step=0.06,
    # notebook 04, section 7
    nsl_sweep_train_size=250, nsl_sweep_attack_size=50, nsl_sweep_seeds=(0,),
    # notebook 04, the attack ensemble
    ensemble_pgd_steps=10, ensemble_apgd_steps=10, ensemble_square_queries=50,
    # notebook 05
    graph_pool_size=None, graph_pca_dims=32, graph_autoencoder_epochs=1, graph_threshold_sample=500,
    graph_lsh_splits=0, graph_lsh_rounds=1, graph_steps=10, graph_rounds=2, graph_budgets=(5,), graph_seeds=(0, 1),
    graph_epsilons=(0.0, 0.05, 0.1, 0.3),
    # the solutions: two seeds still give an interval to compute
    exercise_seeds=(0, 1),
)
# Paper-sized: what the workshop profile shortens.
_FULL = replace(
    _WORKSHOP,
    name="full", description="whole dataset, paper-sized training: meant for a GPU",
    # notebook 01
    cnn_epochs=15,
    # notebook 02, within Fashion-MNIST
    transfer_source_epochs=5, transfer_budgets=(10, 30, 100, 300, 1000),
    # notebook 02, VGG-19
    vgg_train_size=None, vgg_test_size=None, vgg_frozen_epochs=5, vgg_finetune_epochs=12, vgg_finetune_blocks=5,
    # notebook 03
    attack_size=10000, lenet_epochs=5, vgg_attack_size=1000, pgd_steps=20,
    # notebook 04
    nsl_epochs=10, nsl_train_size=None,
    # notebook 04, section 7
    nsl_multipliers=(0.2, 4.0), nsl_sweep_train_size=None, nsl_sweep_epochs=3, nsl_sweep_attack_size=2000,
    # notebook 04, the attack ensemble
    ensemble_pgd_steps=100, ensemble_pgd_restarts=5, ensemble_apgd_steps=100, ensemble_apgd_restarts=2,
    ensemble_square_queries=5000,
    # notebook 05
    graph_pool_size=None, graph_autoencoder_epochs=20, graph_threshold_sample=5000, graph_lsh_splits=12,
    graph_steps=2400, graph_rounds=8, graph_budgets=(5, 30, 60, 300), graph_epsilons=_CURVE,
)
PROFILES: dict[str, Profile] = {"smoke": _SMOKE, "workshop": _WORKSHOP, "full": _FULL}


def get_profile(name: str | None = None) -> Profile:
    """Return the profile named ``name``, or the one ``ADVLEARN_PROFILE`` selects.

    Raises ``ValueError`` listing the valid names when the value is unknown.
    """
    check_text(name, f"name (a run profile: {', '.join(map(repr, PROFILES))})", allow_none=True)
    source = "argument"
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or DEFAULT_PROFILE
        source = f"environment variable {ENV_VAR}"
    key = name.strip().lower()
    if key not in PROFILES:
        valid = ", ".join(repr(p) for p in PROFILES)
        raise ValueError(
            f"Unknown run profile {name!r} (from the {source}). Valid profiles: {valid}. "
            f"Example: {ENV_VAR}=smoke jupyter lab"
        )
    return PROFILES[key]


def check_profile(profile, name: str = "profile") -> Profile:
    """A run profile (:class:`Profile`), as :func:`helpers.get_profile` returns; else a TypeError saying so."""
    if not isinstance(profile, Profile):
        raise TypeError(
            f"{name} must be a run profile from helpers.get_profile() (e.g. profile = helpers.setup()), "
            f"got {type(profile).__name__} {profile!r:.60}."
        )
    return profile
