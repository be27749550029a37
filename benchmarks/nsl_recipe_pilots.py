"""Pilots behind notebook 04's workshop recipe, scored on validation images, never on the test set.

    .venv/bin/python benchmarks/nsl_recipe_pilots.py "m2 3x0.05 n45000 e2" "m4 3x0.05 n54000 e3 cosine"

Each recipe fine-tunes notebook 01's CNN (artifacts/workshop/cnn.keras, trained on
training images 0-53,999; 54,000-59,999 were its validation split) with NSL
adversarial regularization on PGD neighbours within L-inf 0.1, drawn from
training images 0-53,999 only. Scored on training images 54,000-54,999, which no
model trained on: clean accuracy, white-box PGD-20 (one start), every attack of
the workshop profile's ensemble (Square on the images the gradient attacks left)
and their per-image worst case, with its 95% Wilson interval. Rows are appended to benchmarks/results/nsl_recipe_pilots.csv.

A recipe is words: ``m<multiplier>``, ``<steps>x<step size>`` (PGD neighbours),
``n<training images>``, ``e<epochs>``, ``cosine`` (learning rate decays from
1e-3 to 0 along a cosine over the run; else constant 1e-3), ``s<seed>`` (the
training images' order and NSL's draws; default 0).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import helpers  # noqa: E402  (first: selects Keras 2)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import artifacts, attacks, data, defenses, ensemble, evaluation, models  # noqa: E402

EPSILON = 0.1
POOL = 54_000  # training images 0-53,999 may be trained on
VALIDATION = slice(54_000, 55_000)
RESULTS = ROOT / "benchmarks" / "results" / "nsl_recipe_pilots.csv"


def parse(recipe: str) -> dict:
    settings = {"multiplier": 2.0, "steps": 3, "step": 0.05, "images": 45_000, "epochs": 2, "cosine": False,
                "seed": 0}
    for word in recipe.split():
        if match := re.fullmatch(r"m([\d.]+)", word):
            settings["multiplier"] = float(match[1])
        elif match := re.fullmatch(r"(\d+)x([\d.]+)", word):
            settings["steps"], settings["step"] = int(match[1]), float(match[2])
        elif match := re.fullmatch(r"n(\d+)", word):
            settings["images"] = int(match[1])
        elif match := re.fullmatch(r"e(\d+)", word):
            settings["epochs"] = int(match[1])
        elif match := re.fullmatch(r"s(\d+)", word):
            settings["seed"] = int(match[1])
        elif word == "cosine":
            settings["cosine"] = True
        else:
            raise SystemExit(f"Unknown word {word!r} in recipe {recipe!r}; see the module docstring.")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+")
    arguments = parser.parse_args()
    profile = helpers.setup()
    if profile.name != "workshop":
        raise SystemExit("Run the pilots in the workshop profile (unset ADVLEARN_PROFILE).")
    dataset = data.load_dataset(profile)
    pool_images, pool_labels = dataset.x_train[:POOL], dataset.y_train[:POOL]
    x_val = data.to_model_input(dataset.x_train[VALIDATION])
    y_val = dataset.y_train[VALIDATION].astype(np.int64)
    base = artifacts.get_trained_cnn(profile, dataset, verbose=2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for recipe in arguments.recipes:
        settings = parse(recipe)
        images, labels = data.subset(pool_images, pool_labels, settings["images"], seed=settings["seed"])
        images = data.to_model_input(images)
        tf.keras.utils.set_random_seed(settings["seed"])
        updates = settings["epochs"] * int(np.ceil(len(images) / profile.batch_size))
        rate = (tf.keras.optimizers.schedules.CosineDecay(1e-3, updates) if settings["cosine"] else 1e-3)
        config = defenses.adv_reg_config(settings["multiplier"], EPSILON, settings["steps"], settings["step"])

        def start():
            model = models.build_cnn(name="adv_regularized")
            model.set_weights(base.get_weights())
            return model

        model, _, seconds = defenses.train_adv_regularized(
            start, config, images, labels, epochs=settings["epochs"], batch_size=profile.batch_size, verbose=2,
            learning_rate=rate)
        pgd20 = evaluation.accuracy(model, attacks.attack_dataset(
            "pgd", model, x_val, y_val, EPSILON, steps=20, seed=0, progress=False), y_val)
        started = time.perf_counter()
        strong = ensemble.attacks_for(profile)
        table, times = ensemble.still_correct(model, x_val, y_val, EPSILON, strong, survivors_only=list(strong)[-1:])
        worst = table.all(axis=1)
        low, high = ensemble.wilson_interval(worst)
        names = dict(zip(strong, ("pgd_restarts", "apgd_ce", "apgd_dlr", "square")))
        row = {"recipe": recipe, **settings, "training_s": round(seconds), "clean": table["clean"].mean(),
               "pgd20": pgd20, **{names[name]: table[name].mean() for name in strong},
               "worst_case": worst.mean(), "worst_low": round(low, 4), "worst_high": round(high, 4),
               "ensemble": "; ".join(strong) + " (Square on the images the gradient attacks left)",
               "ensemble_s": round(time.perf_counter() - started),
               **{f"{names[name]}_s": round(value) for name, value in times.items()}}
        print(" | ".join(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}"
                         for key, value in row.items()), flush=True)
        new = not RESULTS.exists()
        with RESULTS.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


if __name__ == "__main__":
    main()
