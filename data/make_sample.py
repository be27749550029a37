"""Regenerate data/fashion_mnist_sample.npz from the full Fashion-MNIST files.

The sample is class-balanced (200 train and 100 test images per class) and drawn
with a fixed seed, so running this again gives byte-identical arrays:

    python data/make_sample.py

It reads the full dataset wherever helpers.data finds it (see that module).
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data import SAMPLE_PATH, load_full, subset  # noqa: E402

TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 100
SEED = 20201024


def main() -> None:
    full = load_full()
    x_train, y_train = subset(full.x_train, full.y_train, TRAIN_PER_CLASS * 10, seed=SEED)
    x_test, y_test = subset(full.x_test, full.y_test, TEST_PER_CLASS * 10, seed=SEED + 1)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    SAMPLE_PATH.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    SAMPLE_PATH.with_suffix(".npz.sha256").write_text(f"{digest}  {SAMPLE_PATH.name}\n")
    print(f"wrote {SAMPLE_PATH} ({SAMPLE_PATH.stat().st_size:,} bytes, sha256 {digest})")
    print(f"train {x_train.shape} classes {np.bincount(y_train)}; test {x_test.shape} classes {np.bincount(y_test)}")


if __name__ == "__main__":
    main()
