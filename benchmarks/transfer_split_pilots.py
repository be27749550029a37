"""Pilots behind notebook 02's Fashion-MNIST split, scored on validation images, never on the test set.

    .venv/bin/python benchmarks/transfer_split_pilots.py [--seeds 0 1 2] [--budget 10]

For each candidate split of the ten classes into a source and a target task: the
series' CNN is pretrained on the source classes of training images 0-53,999 (the
workshop profile's epochs), then notebook 02's label-budget experiment runs at
``--budget`` labelled images per target class (drawn from training images
0-53,999), with the workshop profile's updates, for every seed, and each model is
scored on the target classes of training images 54,000-59,999 (validation images
no model trained on). Prints the table notebook 02 quotes (mean over seeds, and
the paired gain over from scratch with its 95% interval) and writes it to
benchmarks/results/transfer_split_pilots.csv (written, then renamed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import helpers  # noqa: E402, F401  (first: selects Keras 2)

import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import data, get_profile, transfer  # noqa: E402

POOL = 54_000  # training images 0-53,999 may be trained on; 54,000-59,999 are validation images
RESULTS = ROOT / "benchmarks" / "results" / "transfer_split_pilots.csv"
SPLITS = (  # source classes, target classes
    ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)),
    ((2, 3, 6, 7, 9), (0, 1, 4, 5, 8)),
    ((0, 1, 4, 5, 8), (2, 3, 6, 7, 9)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=10, help="labelled images per target class")
    arguments = parser.parse_args()
    profile = get_profile("workshop")
    dataset = data.load_full()
    pool_x, pool_y = dataset.x_train[:POOL], dataset.y_train[:POOL]
    valid_x, valid_y = dataset.x_train[POOL:], dataset.y_train[POOL:]
    rows = []
    for source_classes, target_classes in SPLITS:
        started = time.perf_counter()
        source = transfer.class_task(pool_x, pool_y, source_classes, "source")
        target = transfer.class_task(pool_x, pool_y, target_classes, "target")
        validation = transfer.class_task(valid_x, valid_y, target_classes, "target validation")
        tf.keras.utils.set_random_seed(0)
        pretrained = transfer.pretrain_source(source, profile.transfer_source_epochs, profile.batch_size, verbose=0)
        runs = transfer.label_budget_experiment(
            pretrained, target, validation, [arguments.budget], arguments.seeds, steps=profile.transfer_steps,
            finetune_steps=profile.transfer_finetune_steps, progress=False)
        split = f"{', '.join(source.class_names)} -> {', '.join(target.class_names)}"
        for line in transfer.summarize(runs).to_dict("records"):
            rows.append({"split": split, **line, "validation images": len(validation.y)})
        print(f"{split}: {time.perf_counter() - started:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    shown = table.pivot_table(index="split", columns="approach", values="mean", sort=False)
    print(shown.round(3).to_string())
    print(table[["split", "approach", "gain", "gain low", "gain high"]].round(3).to_string(index=False))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    partial = RESULTS.with_suffix(".csv.partial")
    table.to_csv(partial, index=False)
    partial.replace(RESULTS)
    print(f"Wrote {RESULTS.relative_to(ROOT)} (budget {arguments.budget}, seeds {arguments.seeds}, "
          f"{profile.transfer_steps} updates, the last {profile.transfer_finetune_steps} unfrozen for fine-tuning).")


if __name__ == "__main__":
    main()
