"""The attack explorer: its attacks are the series' own, it changes with its controls, and it refuses bad input."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import attacks, explorer, models  # noqa: E402


@pytest.fixture(scope="module")
def cnn_and_images():
    model = models.build_cnn()
    images = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    labels = np.argmax(model.predict(images, verbose=0), axis=1)  # right by definition before the attack
    return model, images, labels


def test_the_explorer_runs_the_series_attacks(cnn_and_images):
    model, images, labels = cnn_and_images
    got = explorer._adversarial_example(model, images[0], labels[0], "FGSM", "linf", 0.1)
    np.testing.assert_allclose(got, attacks.fgsm(model, images[:1], labels[:1], 0.1)[0])
    got = explorer._adversarial_example(model, images[1], labels[1], "PGD-10", "l2", 1.0)
    np.testing.assert_allclose(got, attacks.pgd(model, images[1:2], labels[1:2], 1.0, steps=10, norm="l2", seed=0)[0])
    np.testing.assert_array_equal(explorer._adversarial_example(model, images[0], labels[0], "FGSM", "linf", 0), images[0])


def test_top_classes_are_sorted_probabilities(cnn_and_images):
    model, images, _ = cnn_and_images
    top = explorer._top_classes(model, images[0])
    probabilities = model.predict(images[:1], verbose=0)[0]
    assert [k for k, _ in top] == list(np.argsort(probabilities)[::-1][:3])
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_static_figure_has_a_row_per_model_and_epsilon(cnn_and_images):
    model, images, labels = cnn_and_images
    figure = explorer.explorer_figure({"a": model, "b": model}, images, labels, index=2, epsilons=(0.0, 0.1))
    assert len(figure.axes) == 2 * 2 * 4
    assert any(word in figure.axes[2].get_title() for word in ("fooled", "still right", "wrong even when clean"))


def test_widget_redraws_when_a_control_moves(cnn_and_images):
    model, images, labels = cnn_and_images
    widget = explorer.attack_explorer(model, images, labels)
    controls, output = widget.children
    (index, epsilon), (attack, norm) = (box.children for box in controls.children)
    assert (epsilon.max, epsilon.value) == (0.3, 0.05)
    norm.value = "L2"  # the slider follows the norm's scale
    assert epsilon.max == 3.0 and epsilon.value == pytest.approx(0.5)
    epsilon.value, attack.value, index.value = 1.2, "PGD-10", 3
    assert (epsilon.value, attack.value, index.value) == (1.2, "PGD-10", 3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="attack must be one of"):
        explorer._adversarial_example(models.build_cnn(), np.zeros((28, 28, 1)), 0, "CW", "linf", 0.1)
    with pytest.raises(ValueError, match="models is empty"):
        explorer.explorer_figure({}, np.zeros((1, 28, 28, 1)), [0])
