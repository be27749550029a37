"""helpers.defenses: NSL plumbing for notebook 04."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import defenses, lessons


def _tiny_base():
    inputs = tf.keras.Input(shape=(6, 6, 1), name="image")
    outputs = tf.keras.layers.Dense(4, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    return tf.keras.Model(inputs, outputs)


def test_inputs_are_keyed_by_the_model_input_name():
    model = _tiny_base()
    feed = defenses.nsl_inputs(model, np.zeros((3, 6, 6, 1)), np.arange(3))
    assert set(feed) == {"image", "label"}
    with pytest.raises(ValueError, match="labels has 2 entries but images has 3"):
        defenses.nsl_inputs(model, np.zeros((3, 6, 6, 1)), np.arange(2))


@pytest.mark.parametrize("iterations, step", [(1, None), (3, 0.04)])
def test_config_keeps_pixels_in_range_and_inside_the_ball(iterations, step):
    config = defenses.adv_reg_config(multiplier=0.5, epsilon=0.1, pgd_iterations=iterations, pgd_step=step)
    neighbor = config.adv_neighbor_config
    assert neighbor.clip_value_min == {"image": 0.0} and neighbor.clip_value_max == {"image": 1.0}
    assert neighbor.pgd_iterations == iterations and config.multiplier == 0.5
    if iterations > 1:
        assert neighbor.pgd_epsilon == 0.1 and neighbor.adv_step_size == pytest.approx(0.04)
    else:
        assert neighbor.adv_step_size == 0.1 and neighbor.pgd_epsilon is None


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        defenses.adv_reg_config(multiplier=-1, epsilon=0.1)
    with pytest.raises(ValueError, match="pgd_iterations"):
        defenses.adv_reg_config(multiplier=1, epsilon=0.1, pgd_iterations=0)
    with pytest.raises(ValueError, match="needs pgd_step"):
        defenses.adv_reg_config(multiplier=1, epsilon=0.1, pgd_iterations=3)
    with pytest.raises(ValueError, match="only used with pgd_iterations > 1"):
        defenses.adv_reg_config(multiplier=1, epsilon=0.1, pgd_step=0.05)


def test_pgd_steps_that_cannot_reach_epsilon_are_refused():
    # 3 steps of epsilon / 4 stop at 0.075: the training neighbours would never touch the 0.1 ball's edge.
    with pytest.raises(ValueError, match="reach at most 0.075"):
        defenses.adv_reg_config(multiplier=1, epsilon=0.1, pgd_iterations=3, pgd_step=0.025)
    config = defenses.adv_reg_config(multiplier=1, epsilon=0.1, pgd_iterations=4, pgd_step=0.025)
    assert config.adv_neighbor_config.pgd_iterations == 4


def test_training_returns_the_trained_base_and_perturbs_within_the_ball():
    tf.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    images = rng.random((64, 6, 6, 1), dtype=np.float32)
    labels = rng.integers(0, 4, 64)
    config = defenses.adv_reg_config(multiplier=1.0, epsilon=0.05, pgd_iterations=2, pgd_step=0.03)
    base, history, seconds = defenses.train_adv_regularized(_tiny_base, config, images, labels, epochs=2, verbose=0)
    assert isinstance(base, tf.keras.Model) and seconds > 0
    assert len(history["loss"]) == 2 and "scaled_adversarial_loss" in history
    adv_model = defenses.wrap(base, config)
    perturbed = adv_model.perturb_on_batch(defenses.nsl_inputs(base, images, labels))["image"]
    assert perturbed.min() >= 0.0 and perturbed.max() <= 1.0
    assert np.abs(perturbed - images).max() <= 0.05 + 1e-6


def test_the_helpers_run_notebook_04s_recipe(monkeypatch):
    """adv_reg_config and wrap build notebook 04's config and wrapper (helpers.lessons), and nothing else."""
    import neural_structured_learning as nsl

    for iterations, step in ((1, None), (3, 0.04)):
        assert defenses.adv_reg_config(0.5, 0.1, iterations, step) == lessons.adversarial_config(0.5, 0.1, iterations, step)
    # What the notebook wrote by hand before it was a function: the helper builds exactly this config.
    assert defenses.adv_reg_config(2.0, 0.1, 3, 0.05) == nsl.configs.make_adv_reg_config(
        multiplier=2.0, adv_step_size=0.05, adv_grad_norm="infinity", clip_value_min={"image": 0.0},
        clip_value_max={"image": 1.0}, pgd_iterations=3, pgd_epsilon=0.1, random_init=False)
    calls = []

    def spy(name):
        real = getattr(lessons, name)

        def recorded(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return recorded

    for name in ("adversarial_config", "adversarial_model"):
        monkeypatch.setattr(lessons, name, spy(name))
    config = defenses.adv_reg_config(1.0, 0.05, pgd_iterations=2, pgd_step=0.03)
    adv_model = defenses.wrap(_tiny_base(), config, learning_rate=3e-4)
    assert calls == ["adversarial_config", "adversarial_model"]
    assert isinstance(adv_model, nsl.keras.AdversarialRegularization) and adv_model.label_keys == ["label"]
    assert adv_model.adv_config == config and defenses.LABEL_KEY == lessons.LABEL_KEY == "label"
    assert float(tf.keras.backend.get_value(adv_model.optimizer.learning_rate)) == pytest.approx(3e-4)
