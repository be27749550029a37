"""Notebook 04's main comparison, without the notebook: for measuring a profile's figures (README).

    ADVLEARN_PROFILE=full python scripts/measure_nsl.py

Runs what notebook 04 runs for its headline, with the same helpers and the
profile's recipe: notebook 01's CNN as the base model (loaded from
``artifacts/<profile>/`` or trained), the adversarially regularized CNN trained
with ``defenses.adv_reg_config`` from the profile, then both models scored on
``profile.attack_size`` test images: clean, white-box PGD-20 at L-inf 0.1, and
the original workshop notebook's transfer measure (FGSM at 0.05 crafted on the
base model). Prints the numbers with their conditions and the training time.
Takes tens of minutes on a 2-core CPU in the ``full`` profile.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402  (first: selects Keras 2)

from helpers import artifacts, data, defenses, evaluation, models  # noqa: E402

EPSILON, STEPS = 0.1, 20


def main() -> None:
    profile = helpers.setup()
    dataset = data.load_dataset(profile)
    x_train, y_train = data.model_split(dataset, "train", profile.nsl_train_size)
    x_attack, y_attack = data.model_split(dataset, "test", profile.attack_size)

    base = artifacts.get_trained_cnn(profile, dataset, verbose=2)
    config = defenses.adv_reg_config(profile.nsl_multiplier, profile.nsl_epsilon, profile.nsl_pgd_iterations,
                                     profile.nsl_pgd_step)

    def start():
        model = models.build_cnn(name="adv_regularized")
        if profile.nsl_start_from_base:
            model.set_weights(base.get_weights())
        return model

    adv, _, seconds = defenses.train_adv_regularized(
        start, config, x_train, y_train, epochs=profile.nsl_epochs, batch_size=profile.batch_size, verbose=2)
    print(f"\nProfile '{profile.name}': adv-regularized trained in {seconds:.0f} s on {len(x_train):,} images, "
          f"{profile.nsl_epochs} epochs, from {'the base model' if profile.nsl_start_from_base else 'random weights'}, "
          f"multiplier {profile.nsl_multiplier:g}, {profile.nsl_pgd_iterations} PGD steps of {profile.nsl_pgd_step:g} "
          f"within L-inf {profile.nsl_epsilon:g}.")
    headline = {"steps": STEPS, "seed": 0, "progress": False}
    for name, model in (("base", base), ("adv-regularized", adv)):
        clean = evaluation.accuracy(model, x_attack, y_attack)
        pgd = evaluation.evaluate_attack(model, x_attack, y_attack, "pgd", EPSILON, model_name=name, **headline)
        print(f"{name}: clean {clean:.3f}; {pgd}, {STEPS} steps")
    transfer = evaluation.evaluate_attack(adv, x_attack, y_attack, "fgsm", 0.05, source_model=base, source_name="base",
                                          model_name="adv-regularized", progress=False)
    print(transfer)


if __name__ == "__main__":
    main()
