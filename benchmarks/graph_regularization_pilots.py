"""Pilots for notebook 05: which graph-regularization settings help, judged on validation images only.

Everything here is chosen by accuracy on a **validation split of the labelled
images** (``helpers.semisupervised.labelled_split``); the test set is never
loaded. For each label budget (labelled images per class) and seed, the same
labelled images train a base CNN and every graph-regularized variant for the
same number of updates, and each model is scored on the same validation images.
Validation images are cut out of the graph, so no model sees them.

The graph's nodes are a pool of training images (the labelled ones among
them); embeddings are fitted on the pool's images without labels. Variants:

* the embedding the graph is built from: pixel PCA or a dense autoencoder;
* neighbours per image (``max_neighbors``), ``multiplier``, distance (L2 or KL);
* unlabelled images also as training centres (supervised weight 0), as many as
  labelled ones in every batch, with twice the updates so that the labelled
  images get the same number of supervised updates as the base model.

Besides accuracy it prints, per embedding, the graph's own accuracy (label
propagation from the labelled training images, scored on the validation
images) next to the base CNN's, and :func:`helpers.graphs.edge_information`:
whether the packed edges tell the CNN anything it does not already predict.
Those diagnostics use the hidden classes of unlabelled images; nothing is
chosen from them.

Run from the repository root (minutes on a 2-core CPU)::

    .venv/bin/python benchmarks/graph_regularization_pilots.py [--budgets 30 60] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402  (selects Keras 2 before TensorFlow)

import numpy as np  # noqa: E402

from helpers import data, embeddings, evaluation, graphs  # noqa: E402
from helpers import semisupervised as semi  # noqa: E402


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=10000, help="training images in the graph (default 10000)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[30, 60], help="labelled images per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400, help="updates per model (batch 32)")
    parser.add_argument("--variants", nargs="*", default=None, help="run only these variants (names as printed)")
    return parser.parse_args()


# name: (embedding, max_neighbors, multiplier, distance, unlabelled centres)
VARIANTS = {
    "pca k3 m1 l2": ("pca", 3, 1.0, "l2", False),
    "pca k3 m1 kl": ("pca", 3, 1.0, "kl_divergence", False),
    "pca k10 m1 l2": ("pca", 10, 1.0, "l2", False),
    "ae k3 m1 l2": ("ae", 3, 1.0, "l2", False),
    "pca k3 m1 l2 +unlabelled centres": ("pca", 3, 1.0, "l2", True),
    "ae k3 m5 l2": ("ae", 3, 5.0, "l2", False),
    "ae k3 m20 l2": ("ae", 3, 20.0, "l2", False),
    "ae k3 m50 l2": ("ae", 3, 50.0, "l2", False),
    "pca k3 m20 l2": ("pca", 3, 20.0, "l2", False),
}
# Thresholds giving a median of about 10-20 edges per node on a 10,000-image pool (measured on the pool's
# graph without labels); the packing takes the heaviest max_neighbors of them.
THRESHOLDS = {"pca": 0.9, "ae": 0.975}


def main() -> int:
    args = parse_arguments()
    variants = {name: spec for name, spec in VARIANTS.items() if not args.variants or name in args.variants}
    dataset = data.load_full()
    rng = np.random.default_rng(0)
    pool = np.sort(rng.choice(len(dataset.y_train), args.pool, replace=False))
    images = data.to_model_input(dataset.x_train[pool])
    labels = dataset.y_train[pool].astype(np.int64)
    ids = graphs.node_ids(len(pool))

    started = time.perf_counter()
    embedded = {"pca": embeddings.embed(embeddings.fit_pca(images, 64), images)}
    encoder, _, seconds = embeddings.train_autoencoder(images, code_size=32, epochs=5, seed=0)
    embedded["ae"] = embeddings.centre(embeddings.embed(encoder, images))
    print(f"embeddings: {time.perf_counter() - started:.0f} s (autoencoder {seconds:.0f} s)", flush=True)
    built = {}
    for name in sorted({spec[0] for spec in variants.values()} | {"pca"}):
        started = time.perf_counter()
        built[name] = graphs.build_graph(ids, embedded[name], THRESHOLDS[name], lsh_splits=10, lsh_rounds=10, seed=0)
        stats = graphs.graph_statistics(built[name], labels)  # homophily uses hidden labels: a diagnostic
        print(f"graph {name}: {time.perf_counter() - started:.0f} s, "
              + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()), flush=True)

    results: dict[tuple, list[float]] = {}
    for budget in args.budgets:
        for seed in args.seeds:
            split = semi.labelled_split(labels, budget, 0.2, seed)
            x_train, y_train = images[split.train], labels[split.train]
            validation = (images[split.validation], labels[split.validation])
            base, _, base_seconds = semi.train_base(x_train, y_train, args.steps, seed=seed)
            base_accuracy = evaluation.accuracy(base, *validation)
            results.setdefault((budget, "base"), []).append(base_accuracy)
            line = f"budget {budget}/class seed {seed}: base {base_accuracy:.3f} ({base_seconds:.0f} s)"
            base_predictions = evaluation.predict_classes(base, images)
            for name, graph in built.items():
                known = np.full(len(labels), graphs.UNLABELLED)
                known[split.train] = y_train
                propagated = graphs.label_propagation(graph, known)
                info = graphs.edge_information(
                    graph.without_nodes(split.validation), split.train, y_train, labels, base_predictions, 3
                )
                results.setdefault((budget, f"graph {name}: label propagation"), []).append(
                    float(np.mean(propagated[split.validation] == labels[split.validation]))
                )
                for key in ("homophily", "model agrees", "useful", "harmful"):
                    results.setdefault((budget, f"graph {name}: edges k3 {key}"), []).append(info[key])
            for name, (embedding, neighbours, multiplier, distance, with_unlabelled) in variants.items():
                graph = built[embedding].without_nodes(split.validation)
                config = semi.graph_reg_config(neighbours, multiplier, distance)
                centres, centre_labels, weights, steps = split.train, y_train, None, args.steps
                if with_unlabelled:
                    others = np.setdiff1d(split.unlabelled, split.validation)
                    extra = np.random.default_rng(seed).choice(others, len(split.train), replace=False)
                    centres = np.concatenate([split.train, extra])
                    centre_labels = np.concatenate([y_train, np.zeros(len(extra), np.int64)])  # weight 0: never used
                    weights = np.concatenate([np.ones(len(split.train)), np.zeros(len(extra))]).astype(np.float32)
                    steps = 2 * args.steps
                packed = graphs.pack_neighbors(graph, centres, images, neighbours)
                model, _, seconds = semi.train_graph_regularized(
                    packed, centre_labels, config, steps, seed=seed, sample_weight=weights
                )
                accuracy = evaluation.accuracy(model, *validation)
                results.setdefault((budget, name), []).append(accuracy)
                line += f" | {name} {accuracy:.3f} ({seconds:.0f} s)"
            print(line, flush=True)

    print(f"\nValidation accuracy (mean and std over seeds {args.seeds}; {args.steps} updates, batch 32; "
          f"validation = 20% of each budget's labelled images):")
    for budget in args.budgets:
        base = np.mean(results[(budget, "base")])
        for (b, name), values in results.items():
            if b != budget:
                continue
            diff = "" if name == "base" or "edges" in name else f"  ({np.mean(values) - base:+.3f} vs base)"
            print(f"  {budget:>3}/class  {name:<38} {np.mean(values):.3f} +- {np.std(values):.3f}{diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
