"""What one small model costs in `make test` (smoke profile), and whether TensorFlow settings change it.

    .venv/bin/python benchmarks/model_cost_pilot.py                 # TensorFlow as the attendees run it
    .venv/bin/python benchmarks/model_cost_pilot.py --no-grappler   # without TensorFlow's graph optimizer
    .venv/bin/python benchmarks/model_cost_pilot.py --no-onednn     # TF_ENABLE_ONEDNN_OPTS=0

Trains, per seed, one NSL adversarially regularized CNN as solutions/04 does in the smoke profile (notebook 01's
smoke CNN as its start, the recipe's PGD neighbours, 250 training images, one epoch) and scores it with notebook 04's
attack ensemble on 50 test images; prints the CPU seconds of each step and of the whole process, and appends
them to benchmarks/results/model_cost_pilot.csv. The first seed pays TensorFlow's one-time costs; the next ones
show what every further model costs: almost all of it is tracing, as the data are tiny.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "model_cost_pilot.csv"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-grappler", action="store_true", help="turn TensorFlow's graph optimizer off")
    parser.add_argument("--no-onednn", action="store_true", help="TF_ENABLE_ONEDNN_OPTS=0 (set before TensorFlow loads)")
    parser.add_argument("--seeds", type=int, default=3, help="models to train and attack (default 3)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.no_onednn:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    os.environ["ADVLEARN_PROFILE"] = "smoke"
    import helpers

    profile = helpers.setup()
    import tensorflow as tf

    from helpers import artifacts, data, defenses, ensemble, models

    if args.no_grappler:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    dataset = data.load_dataset(profile)
    base = artifacts.get_trained_cnn(profile, dataset)
    x_train, y_train = data.model_split(dataset, "train", profile.nsl_sweep_train_size)
    x_attack, y_attack = data.model_split(dataset, "test", profile.nsl_sweep_attack_size)
    strong = ensemble.attacks_for(profile)
    recipe = defenses.adv_reg_config(profile.nsl_multiplier, profile.nsl_epsilon, profile.nsl_pgd_iterations,
                                     profile.nsl_pgd_step)
    setting = "no grappler" if args.no_grappler else "no oneDNN" if args.no_onednn else "default"
    rows = []
    for seed in range(args.seeds):
        def start(seed=seed):
            tf.keras.utils.set_random_seed(seed)
            model = models.build_cnn(name="adv")
            model.set_weights(base.get_weights())
            return model

        before = cpu_seconds()
        model, _, _ = defenses.train_adv_regularized(start, recipe, x_train, y_train, epochs=profile.nsl_sweep_epochs,
                                                     batch_size=profile.batch_size, verbose=0)
        trained = cpu_seconds()
        ensemble.still_correct(model, x_attack, y_attack, profile.nsl_epsilon, strong,
                               survivors_only=[list(strong)[-1]])
        attacked = cpu_seconds()
        rows.append({"setting": setting, "seed": seed, "train_cpu_s": round(trained - before, 2),
                     "ensemble_cpu_s": round(attacked - trained, 2)})
        print(f"{setting}, seed {seed}: training {trained - before:.1f} CPU-s, ensemble {attacked - trained:.1f} CPU-s")
    total = cpu_seconds()
    print(f"{setting}: {total:.1f} CPU-s for the whole process (TensorFlow's import included)")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    new = not RESULTS.exists()
    with RESULTS.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, ["started_utc", "setting", "seed", "train_cpu_s", "ensemble_cpu_s",
                                         "process_cpu_s", "load_average"])
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({"started_utc": stamp, **row, "process_cpu_s": round(total, 1),
                             "load_average": round(os.getloadavg()[0], 2)})


if __name__ == "__main__":
    main()
