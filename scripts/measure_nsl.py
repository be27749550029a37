"""Notebook 04's headline, without the notebook: for measuring a profile's figures (README).

    ADVLEARN_PROFILE=full python scripts/measure_nsl.py [--attack-size 1000]

Runs what notebook 04 runs for its headline, with the same helpers and the
profile's recipe: notebook 01's CNN as the base model (loaded from
``artifacts/<profile>/`` or trained), the adversarially regularized CNN trained
with notebook 04's own config and wrapping (``defenses.adv_reg_config`` and
``defenses.train_adv_regularized`` run ``helpers.lessons.adversarial_config`` and
``helpers.lessons.adversarial_model``, exported from the notebook), then
both models scored on ``profile.attack_size`` test images (or
``--attack-size``): clean, white-box PGD-20 from one start, every attack of the
profile's ensemble and their per-image worst case with its 95% interval, and the
original workshop notebook's transfer measure (FGSM at 0.05 crafted on the base
model). Prints the numbers with their conditions and times. The ``full`` profile
takes about an hour on a 2-core CPU with ``--attack-size 1000``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402  (first: selects Keras 2)

from helpers import artifacts, attacks, data, defenses, ensemble, evaluation, models  # noqa: E402

EPSILON = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attack-size", type=int, default=None,
                        help="test images to attack (default: the profile's attack_size)")
    arguments = parser.parse_args()
    profile = helpers.setup()
    dataset = data.load_dataset(profile)
    x_train, y_train = data.model_split(dataset, "train", profile.nsl_train_size)
    x_attack, y_attack = data.model_split(dataset, "test", arguments.attack_size or profile.attack_size)

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
          f"within L-inf {profile.nsl_epsilon:g}.", flush=True)
    path = artifacts.save_model(adv, "nsl_adv_regularized_measured", profile, {
        "training_images": len(x_train), "epochs": profile.nsl_epochs, "multiplier": profile.nsl_multiplier,
        "training_seconds": round(seconds, 1), "data": dataset.source})
    print(f"Saved {artifacts.relative_path(path)}", flush=True)
    one_attack = {"PGD-20, 1 start": lambda m, x, y, e: attacks.pgd(m, x, y, e, steps=20, seed=0)}
    strong = ensemble.attacks_for(profile)
    tables = {}
    for name, model in (("base", base), ("adv-regularized", adv)):
        tables[name], times = ensemble.still_correct(model, x_attack, y_attack, EPSILON, {**one_attack, **strong},
                                                     survivors_only=list(strong)[-1:])
        print(f"{name}: " + ", ".join(f"{attack} {value:.0f} s" for attack, value in times.items()), flush=True)
    print(f"\nWhite-box, L-inf eps={EPSILON}, {len(y_attack):,} test images:")
    print(ensemble.summary(tables).round(3).to_string(index=False))
    print(evaluation.evaluate_attack(adv, x_attack, y_attack, "fgsm", 0.05, source_model=base, source_name="base",
                                     model_name="adv-regularized", progress=False))
    print(f"Clean test accuracy of adv-regularized on all {len(dataset.y_test):,} test images: "
          f"{evaluation.accuracy(adv, *data.model_split(dataset, 'test')):.4f}")
    print(f"Total {time.process_time():.0f} s of CPU time.")


if __name__ == "__main__":
    main()
