"""How fast are the batched attacks of helpers.attacks, next to what limits them?

Measured in one run, on the same small Fashion-MNIST CNN (2 conv + dense, random
weights: speed does not depend on training) and the bundled sample's test images:

* forward+backward: a compiled function computing the input gradient of the
  loss on a batch, the most a one-step attack can hope for;
* FGSM, batched (``helpers.attacks.attack_dataset("fgsm", ...)``);
* PGD with k steps, batched;
* the original workshop notebook's method: FGSM one image at a time, eagerly,
  with a GradientTape per image.

Then the same for notebook 02's VGG-19 classifier (random weights, 32x32 inputs,
``--vgg-images`` images): forward, forward+backward to the input, FGSM and PGD-k
batched, and forward+backward with TensorFlow's own convolution gradient
(``Conv2DBackpropInput``) instead of :class:`helpers.models.FastInputGradConv2D`,
to show what the faster formulation changes. Goal: VGG-19 FGSM at least 1/3 of
its forward throughput.

Each is warmed up (compiled) first, then run ``--repeats`` times, interleaved
with the others; the best run is reported (the median is shown too). The load
of the machine matters: other processes slow the batched, multi-threaded
measurements far more than the single-threaded loop, so run it on an idle
machine (``uptime``'s load average is printed). Goals on a 2-core CPU: FGSM at least 0.8x
the forward+backward throughput and at least 30x the one-image loop; PGD-k
costing at most 1.2x k FGSM steps.

Run: ``make benchmark`` or ``.venv/bin/python benchmarks/attack_throughput.py
[--batch-size 500] [--steps 10] [--repeats 5] [--loop-images 200]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402  (selects Keras 2 before TensorFlow)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import attacks, models  # noqa: E402
from helpers.data import load_sample, to_model_input  # noqa: E402

EPSILON = 0.05
GOALS = {"fgsm_vs_gradient": 0.8, "fgsm_vs_loop": 30.0, "pgd_vs_k_fgsm": 1.2, "vgg_fgsm_vs_forward": 1 / 3}


def parse_arguments() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=500, help="images per batch (default 500)")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps k (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each measurement (default 5)")
    parser.add_argument("--loop-images", type=int, default=200, help="images for the one-at-a-time loop (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights (default 0)")
    parser.add_argument("--vgg-images", type=int, default=128, help="images for the VGG-19 rows (default 128; 0 skips them)")
    parser.add_argument("--vgg-batch-size", type=int, default=64, help="VGG-19 images per batch (default 64)")
    return parser.parse_args()


def build_cnn(seed: int) -> tf.keras.Model:
    """Notebook 01's CNN (helpers.models.build_cnn) with seeded random weights: speed does not depend on training."""
    tf.keras.utils.set_random_seed(seed)
    return models.build_cnn()


def measure(functions: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (best, median) seconds} of each function, after one warm-up run of each.

    The runs are interleaved (one of each, then again), so a change in the
    machine's load during the benchmark affects every measurement alike.
    """
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: (min(values), statistics.median(values)) for name, values in times.items()}


def gradient_pass(model, images, labels, batch_size: int):
    """A function computing the loss's input gradient over all images in compiled batches."""
    loss = tf.keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([None], tf.int32)])
    def gradient(batch, batch_labels):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            value = loss(batch_labels, model(batch, training=False))
        return tape.gradient(value, batch)

    def run():
        for start in range(0, len(images), batch_size):
            stop = start + batch_size
            gradient(tf.constant(images[start:stop]), tf.constant(labels[start:stop])).numpy()

    return run


def forward_pass(model, images, batch_size: int):
    """A function running the model forward over all images in compiled batches."""

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def forward(batch):
        return model(batch, training=False)

    def run():
        for start in range(0, len(images), batch_size):
            forward(tf.constant(images[start : start + batch_size])).numpy()

    return run


def build_vgg19(seed: int, fast: bool) -> tf.keras.Model:
    """Notebook 02's VGG-19 classifier with seeded random weights; ``fast=False`` keeps plain ``Conv2D`` layers."""
    tf.keras.utils.set_random_seed(seed)
    model, _ = models.build_vgg19(32, weights=None)
    if fast:
        return model
    plain_base = tf.keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))
    plain_base.set_weights(models.vgg19_base_of(model).get_weights())
    plain, _ = models.build_vgg19(32, base=plain_base, status=models.PretrainedStatus(False, "random", "benchmark"))
    plain.set_weights(model.get_weights())
    return plain


def vgg19_rows(options, images, labels) -> None:
    """VGG-19's forward, forward+backward, FGSM and PGD throughput, measured side by side."""
    count, k, batch = min(options.vgg_images, len(images)), options.steps, options.vgg_batch_size
    images, labels = images[:count], labels[:count]
    model, plain = build_vgg19(options.seed, fast=True), build_vgg19(options.seed, fast=False)
    print(f"\nVGG-19 classifier (32x32 inside, random weights, {model.count_params():,} parameters), {count} images, "
          f"batch {batch}, best of {options.repeats} runs")

    def fgsm():
        attacks.attack_dataset("fgsm", model, images, labels, EPSILON, batch_size=batch, progress=False)

    def pgd():
        attacks.attack_dataset("pgd", model, images, labels, EPSILON, batch_size=batch, progress=False, steps=k, seed=0)

    functions = {
        "VGG-19 forward (compiled, batched)": forward_pass(model, images, batch),
        "VGG-19 forward+backward to the input": gradient_pass(model, images, labels, batch),
        "VGG-19 FGSM (helpers.attacks, batched)": fgsm,
        f"VGG-19 PGD-{k} (helpers.attacks, batched)": pgd,
        "VGG-19 forward+backward, Conv2DBackpropInput": gradient_pass(plain, images, labels, batch),
    }
    rates = {}
    print(f"{'measurement':<46} {'images/s (best)':>16} {'images/s (median)':>18}")
    for name, (best, median) in measure(functions, options.repeats).items():
        rates[name] = {"best": count / best, "median": count / median}
        print(f"{name:<46} {count / best:>16,.1f} {count / median:>18,.1f}")
    forward, gradient, fgsm_rate, pgd_rate, plain_rate = rates.values()
    goal = GOALS["vgg_fgsm_vs_forward"]
    for run in ("best", "median"):
        ratio = fgsm_rate[run] / forward[run]
        print(f"VGG-19 FGSM / forward throughput ({run} runs): {ratio:.2f} (goal >= {goal:.2f}: "
              f"{verdict(ratio, goal, False)}); forward+backward {gradient[run] / plain_rate[run]:.1f}x faster "
              f"than with Conv2DBackpropInput")


def one_image_loop(model, images, labels):
    """The original workshop notebook's FGSM: one image at a time, eager, a GradientTape per image."""
    loss = tf.keras.losses.SparseCategoricalCrossentropy()

    def run():
        crafted = []
        for image, label in zip(images, labels):
            image = tf.convert_to_tensor(image[np.newaxis])
            with tf.GradientTape() as tape:
                tape.watch(image)
                value = loss(label[np.newaxis], model(image, training=False))
            step = EPSILON * tf.sign(tape.gradient(value, image))
            crafted.append(tf.clip_by_value(image + step, 0.0, 1.0).numpy())
        return crafted

    return run


def verdict(value: float, goal: float, at_most: bool) -> str:
    """'met' or 'NOT met'."""
    return "met" if (value <= goal if at_most else value >= goal) else "NOT met"


def report_ratios(rates: dict[str, dict[str, float]], k: int) -> None:
    """The three goals, from the best runs and from the median runs."""
    gradient, fgsm, pgd, loop = (rates[name] for name in rates)
    ratios = [
        ("FGSM / forward+backward throughput", lambda r: fgsm[r] / gradient[r], GOALS["fgsm_vs_gradient"], False),
        ("FGSM / one-image loop throughput", lambda r: fgsm[r] / loop[r], GOALS["fgsm_vs_loop"], False),
        (f"PGD-{k} time / ({k} x FGSM time)", lambda r: (1 / pgd[r]) / (k / fgsm[r]), GOALS["pgd_vs_k_fgsm"], True),
    ]
    print(f"\n{'ratio':<36} {'goal':>7} {'best runs':>16} {'median runs':>18}")
    for name, ratio, goal, at_most in ratios:
        cells = [f"{ratio(r):6.2f}x {verdict(ratio(r), goal, at_most):>7}" for r in ("best", "median")]
        print(f"{name:<36} {('<= ' if at_most else '>= ') + f'{goal:g}':>7} {cells[0]:>16} {cells[1]:>18}")


def main() -> None:
    options = parse_arguments()
    sample = load_sample()
    images = to_model_input(sample.x_test)
    labels = sample.y_test.astype(np.int32)
    model = build_cnn(options.seed)
    count, k = len(images), options.steps

    print(f"Device: {helpers.environment.device_description()}; TensorFlow {tf.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"Model: small CNN ({model.count_params():,} parameters), {count:,} test images 28x28x1, "
          f"batch {options.batch_size}, eps {EPSILON} L-inf, best of {options.repeats} runs\n")

    def fgsm():
        attacks.attack_dataset("fgsm", model, images, labels, EPSILON, batch_size=options.batch_size, progress=False)

    def pgd():
        attacks.attack_dataset("pgd", model, images, labels, EPSILON, batch_size=options.batch_size,
                               progress=False, steps=k, seed=0)

    loop_images = images[: options.loop_images]
    functions = {
        "forward+backward (compiled, batched)": gradient_pass(model, images, labels, options.batch_size),
        "FGSM (helpers.attacks, batched)": fgsm,
        f"PGD-{k} (helpers.attacks, batched)": pgd,
        "FGSM one image at a time (eager loop)": one_image_loop(model, loop_images, labels),
    }
    sizes = [count, count, count, len(loop_images)]
    rates = {}
    print(f"{'measurement':<40} {'images/s (best)':>16} {'images/s (median)':>18}")
    for (name, (best, median)), n in zip(measure(functions, options.repeats).items(), sizes):
        rates[name] = {"best": n / best, "median": n / median}
        print(f"{name:<40} {n / best:>16,.0f} {n / median:>18,.0f}")
    report_ratios(rates, k)
    if options.vgg_images > 0:
        vgg19_rows(options, images, labels)
    print(f"(load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
