"""Pilots for notebook 05: which graph-regularization settings help, judged on development images only.

Settings are chosen by accuracy on a **development set**: training images
outside the graph's pool (5,000 by default), which no model trains on and no
graph contains. The test set is never loaded. (A real project with 100 labels
would not have 5,000 labelled development images; these pilots have them so
that a choice is not decided by the noise of a 20-image validation split. The
notebook then reports every number on the test set, once.)

The pool is the notebook's: ``data.subset`` of the training images with seed 0.
For each label budget (labelled images per class) and seed, the labelled images
come from ``helpers.semisupervised.labelled_split`` as in the notebook, and the
same labelled images train a base CNN and every graph-regularized variant.

Variants (``name: embedding, threshold, neighbours, multiplier, distance, unlabelled centres``):

* the embedding the graph is built from: pixel PCA (64 numbers) or the dense
  autoencoder (32 numbers, centred), with NSL's ``build_graph_from_config`` (LSH
  10x10) at a threshold, then each node's ``--keep`` heaviest edges;
* neighbours per centre (``max_neighbors``), ``multiplier``, distance (L2 or KL);
* labelled centres only, or unlabelled images as centres too (half of every
  batch, supervised weight 0).

Besides accuracy it prints, per graph, label propagation's accuracy on the
unlabelled pool images, next to the base CNN's on the same images (the hidden
classes only score them; nothing is chosen from them).

Run from the repository root (about 3 minutes per budget and seed on a 2-core CPU)::

    .venv/bin/python benchmarks/graph_regularization_pilots.py [--budgets 10 60] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402, F401  (selects Keras 2 before TensorFlow)

import numpy as np  # noqa: E402

from helpers import data, embeddings, evaluation, graph_predictions, graphs, nsl_tools  # noqa: E402
from helpers import semisupervised as semi  # noqa: E402

# name: (embedding, threshold, max_neighbors, multiplier, distance, unlabelled centres[, updates instead of --steps])
VARIANTS = {
    "ae@0.975 k3 m1 labelled only": ("ae", 0.975, 3, 1.0, "l2", False),
    "pca@0.8 k3 m1 labelled only": ("pca", 0.8, 3, 1.0, "l2", False),
    "ae@0.975 k3 m1 +unlabelled": ("ae", 0.975, 3, 1.0, "l2", True),
    "pca@0.8 k3 m1 +unlabelled": ("pca", 0.8, 3, 1.0, "l2", True),
    "pca@0.8 k5 m1 +unlabelled": ("pca", 0.8, 5, 1.0, "l2", True),
    "pca@0.8 k3 m3 +unlabelled": ("pca", 0.8, 3, 3.0, "l2", True),
    "pca@0.8 k3 m1 kl +unlabelled": ("pca", 0.8, 3, 1.0, "kl_divergence", True),
    "pca@0.8 k3 m2 +unlabelled": ("pca", 0.8, 3, 2.0, "l2", True),
    "pca@0.8 k3 m1 +unlabelled 2400 updates": ("pca", 0.8, 3, 1.0, "l2", True, 2400),
    "pca@0.8 k3 m2 +unlabelled 600 updates": ("pca", 0.8, 3, 2.0, "l2", True, 600),
    "pca@0.7 k3 m1 +unlabelled": ("pca", 0.7, 3, 1.0, "l2", True),
    "pca@0.7 k3 m2 +unlabelled": ("pca", 0.7, 3, 2.0, "l2", True),
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=10000, help="training images in the graph (default 10000)")
    parser.add_argument("--development", type=int, default=5000, help="training images outside the pool to score on")
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 60], help="labelled images per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200, help="updates per model (batch 32)")
    parser.add_argument("--base-steps", type=int, nargs="+", default=[400, 1200], help="updates of the base models")
    parser.add_argument("--keep", type=int, default=5, help="heaviest edges each node keeps (0: all)")
    parser.add_argument("--variants", nargs="*", default=None, help="run only these variants (names as printed)")
    return parser.parse_args()


def main() -> int:
    args = parse_arguments()
    variants = {name: spec for name, spec in VARIANTS.items() if not args.variants or name in args.variants}
    dataset = data.load_full()
    # The notebook's pool (data.subset with seed 0), found as positions: subset of the positions themselves.
    positions = np.arange(len(dataset.y_train))[:, None]
    pool = data.subset(positions, dataset.y_train, args.pool, seed=0)[0].ravel()
    outside = np.setdiff1d(np.arange(len(dataset.y_train)), pool)
    development = np.random.default_rng(1).choice(outside, args.development, replace=False)
    images = data.to_model_input(dataset.x_train[pool])
    labels = dataset.y_train[pool].astype(np.int64)
    x_dev = data.to_model_input(dataset.x_train[development])
    y_dev = dataset.y_train[development].astype(np.int64)
    ids = graphs.node_ids(len(pool))

    started = time.perf_counter()
    embedded = {"pca": embeddings.embed(embeddings.fit_pca(images, 64), images)}
    encoder, _, seconds = embeddings.train_autoencoder(images, code_size=32, epochs=5, seed=0)
    embedded["ae"] = embeddings.centre(embeddings.embed(encoder, images))
    print(f"embeddings: {time.perf_counter() - started:.0f} s (autoencoder {seconds:.0f} s)", flush=True)
    built = {}
    for embedding, threshold in sorted({tuple(spec[:2]) for spec in variants.values()}):
        started = time.perf_counter()
        graph = nsl_tools.build_graph(ids, embedded[embedding], threshold, lsh_splits=10, lsh_rounds=10, seed=0)
        built[embedding, threshold] = graph.keep_heaviest(args.keep) if args.keep else graph
        stats = graphs.graph_statistics(built[embedding, threshold], labels)  # hidden labels: a diagnostic
        print(f"graph {embedding}@{threshold} (keep {args.keep}): {time.perf_counter() - started:.0f} s, "
              + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()), flush=True)

    results: dict[tuple, list[float]] = {}
    for budget in args.budgets:
        for seed in args.seeds:
            split = semi.labelled_split(labels, budget, 0.2, seed)
            x_train, y_train = images[split.train], labels[split.train]
            others = np.setdiff1d(split.unlabelled, split.validation)
            line = f"budget {budget}/class seed {seed}:"
            for steps in args.base_steps:
                base, _, base_seconds = semi.train_base(x_train, y_train, steps, seed=seed)
                accuracy = evaluation.accuracy(base, x_dev, y_dev)
                results.setdefault((budget, f"base, {steps} updates"), []).append(accuracy)
                line += f" base {steps} {accuracy:.3f} ({base_seconds:.0f} s)"
                results.setdefault((budget, f"base {steps} updates on unlabelled pool images"), []).append(
                    evaluation.accuracy(base, images[others], labels[others]))
            known = np.full(len(labels), graphs.UNLABELLED)
            known[split.train] = y_train
            for (embedding, threshold), graph in built.items():
                propagated = graph_predictions.label_propagation(graph.without_nodes(split.validation), known)
                results.setdefault((budget, f"graph {embedding}@{threshold}: label propagation on unlabelled pool"),
                                   []).append(float(np.mean(propagated[others] == labels[others])))
            for name, (embedding, threshold, neighbours, multiplier, distance, with_unlabelled, *steps) in variants.items():
                graph = built[embedding, threshold].without_nodes(split.validation)
                config = semi.graph_reg_config(neighbours, multiplier, distance)
                packed = graphs.pack_neighbors(graph, split.train, images, neighbours)
                unlabelled = None
                if with_unlabelled:
                    unlabelled = graphs.pack_neighbors(graph, semi.unlabelled_centres(graph, split), images, neighbours)
                model, _, seconds = semi.train_graph_regularized(
                    packed, y_train, config, steps[0] if steps else args.steps, unlabelled=unlabelled, seed=seed
                )
                accuracy = evaluation.accuracy(model, x_dev, y_dev)
                results.setdefault((budget, name), []).append(accuracy)
                line += f" | {name} {accuracy:.3f} ({seconds:.0f} s)"
            print(line, flush=True)

    print(f"\nDevelopment accuracy ({args.development:,} training images outside the pool; mean and std over seeds "
          f"{args.seeds}; graph-regularized: {args.steps} updates of 32):")
    for budget in args.budgets:
        reference = np.mean(results[(budget, f"base, {args.base_steps[-1]} updates")])
        for (b, name), values in results.items():
            if b != budget:
                continue
            diff = "" if name.startswith(("base", "graph")) else f"  ({100 * (np.mean(values) - reference):+.1f} points)"
            print(f"  {budget:>3}/class  {name:<62} {np.mean(values):.3f} +- {np.std(values):.3f}{diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
