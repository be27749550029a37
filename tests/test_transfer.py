"""Tests of helpers.transfer: tasks from Fashion-MNIST classes, label budgets, the three approaches."""

import helpers  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import data, lessons, models, transfer  # noqa: E402


@pytest.fixture(scope="module")
def sample():
    return data.load_sample()


@pytest.fixture(scope="module")
def tasks(sample):
    source = transfer.class_task(sample.x_train, sample.y_train, (0, 1, 4, 5, 8), "source")
    target = transfer.class_task(sample.x_train, sample.y_train, (2, 3, 6, 7, 9), "target")
    target_test = transfer.class_task(sample.x_test, sample.y_test, (2, 3, 6, 7, 9), "target test")
    return source, target, target_test


@pytest.fixture(scope="module")
def pretrained(tasks):
    """The CNN pretrained on the source task for one epoch: shared by the tests below (trained once)."""
    tf.keras.utils.set_random_seed(0)
    return transfer.pretrain_source(tasks[0], epochs=1, verbose=0)


def test_class_task_keeps_only_its_classes_and_renumbers_them(sample, tasks):
    _, target, _ = tasks
    assert target.classes == (2, 3, 6, 7, 9)
    assert set(np.unique(target.y)) == {0, 1, 2, 3, 4}
    assert len(target.x) == int(np.isin(sample.y_train, target.classes).sum())
    assert target.x.dtype == np.float32 and target.x.shape[1:] == (28, 28, 1) and target.x.max() <= 1.0
    # Label i is the original class classes[i]: the first image of label 3 is a Sneaker (class 7).
    first_sneaker = np.flatnonzero(sample.y_train == 7)[0]
    expected = data.to_model_input(sample.x_train[first_sneaker : first_sneaker + 1])[0]
    assert np.array_equal(target.x[np.flatnonzero(target.y == 3)[0]], expected)
    assert target.class_names[3] == "Sneaker"


@pytest.mark.parametrize("classes", [(1,), (2, 2), (3, 10), (-1, 4)])
def test_class_task_refuses_bad_class_lists(sample, classes):
    with pytest.raises(ValueError, match="classes"):
        transfer.class_task(sample.x_train, sample.y_train, classes, "bad")


def test_labelled_sample_is_balanced_reproducible_and_seed_dependent(tasks):
    _, target, _ = tasks
    x, y = transfer.labelled_sample(target, 7, seed=3)
    assert len(x) == 35 and np.bincount(y, minlength=5).tolist() == [7] * 5
    again, _ = transfer.labelled_sample(target, 7, seed=3)
    other, _ = transfer.labelled_sample(target, 7, seed=4)
    assert np.array_equal(x, again) and not np.array_equal(x, other)


@pytest.mark.parametrize("per_class", [0, -3, 2.5, True])
def test_labelled_sample_refuses_bad_budgets(tasks, per_class):
    with pytest.raises((TypeError, ValueError), match="per_class"):
        transfer.labelled_sample(tasks[1], per_class, seed=0)


def test_labelled_sample_says_when_a_class_is_too_small(tasks):
    with pytest.raises(ValueError, match="Lower the label budget"):
        transfer.labelled_sample(tasks[1], 10_000, seed=0)


def test_the_target_model_copies_the_base_and_freezes_it(pretrained):
    scratch = transfer._target_model("from scratch", 5, pretrained)
    frozen = transfer._target_model("frozen base", 5, pretrained)
    for name in transfer.BASE_LAYERS:
        source_kernel = pretrained.get_layer(name).get_weights()[0]
        assert np.array_equal(frozen.get_layer(name).get_weights()[0], source_kernel)
        assert not np.array_equal(scratch.get_layer(name).get_weights()[0], source_kernel)
        assert not frozen.get_layer(name).trainable and scratch.get_layer(name).trainable
    assert frozen.output_shape == (None, 5)
    assert frozen.get_layer("dense").trainable and frozen.get_layer("probabilities").trainable
    assert float(tf.keras.backend.get_value(frozen.optimizer.learning_rate)) == pytest.approx(1e-3)
    conv_only = transfer._target_model("frozen base", 5, pretrained, base_layers=("conv1",))
    assert not conv_only.get_layer("conv1").trainable and conv_only.get_layer("conv2").trainable


def test_the_target_model_refuses_unknown_approaches_and_a_missing_source():
    with pytest.raises(ValueError, match="approach must be"):
        transfer._target_model("frozen", 5)
    with pytest.raises(ValueError, match="unfrozen"):
        transfer._target_model("fine-tuned", 5)
    with pytest.raises(ValueError, match="pretrained="):
        transfer._target_model("frozen base", 5)


def test_the_helpers_run_notebook_02s_lesson(monkeypatch, tasks, pretrained):
    """The frozen base and fine-tuning are lessons.copy_and_freeze and lessons.unfreeze, as notebook 02 defines them."""
    helper = transfer._target_model("frozen base", 5, pretrained)
    lesson = lessons.copy_and_freeze(models.build_cnn(classes=5, name="frozen_base"), pretrained, transfer.BASE_LAYERS)
    assert [layer.get_config() for layer in helper.layers] == [layer.get_config() for layer in lesson.layers]
    assert [layer.trainable for layer in helper.layers] == [layer.trainable for layer in lesson.layers]
    for name in transfer.BASE_LAYERS:
        copied, taught = helper.get_layer(name).get_weights(), lesson.get_layer(name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(copied, taught))
    assert [layer.trainable for layer in lessons.unfreeze(lesson).layers] == [True] * len(lesson.layers)
    calls = []

    def spy(name):
        real = getattr(lessons, name)

        def recorded(*args):
            calls.append(name)
            return real(*args)
        return recorded

    for name in ("copy_and_freeze", "unfreeze"):
        monkeypatch.setattr(lessons, name, spy(name))
    compiled = []
    real_compile = models.compile_classifier

    def compile_recorded(model, learning_rate=1e-3):
        compiled.append((learning_rate, all(layer.trainable for layer in model.layers)))
        return real_compile(model, learning_rate)

    monkeypatch.setattr(models, "compile_classifier", compile_recorded)
    _, target, target_test = tasks
    transfer.label_budget_experiment(pretrained, target, target_test, [2], [0], steps=2, finetune_steps=1, progress=False)
    assert calls == ["copy_and_freeze", "unfreeze"], "one seed, one budget: the base frozen once, unfrozen once"
    assert compiled[-1] == (3e-4, True) and compiled[-2] == (1e-3, False), "the head at 1e-3, fine-tuning at 3e-4"


def test_frozen_base_does_not_change_while_training(tasks, pretrained):
    _, target, _ = tasks
    frozen = transfer._target_model("frozen base", 5, pretrained)
    before = frozen.get_layer("conv1").get_weights()[0].copy()
    head_before = frozen.get_layer("probabilities").get_weights()[0].copy()
    x, y = transfer.labelled_sample(target, 5, seed=0)
    transfer.train_target(frozen, x, y, steps=5)
    assert np.array_equal(frozen.get_layer("conv1").get_weights()[0], before)
    assert not np.array_equal(frozen.get_layer("probabilities").get_weights()[0], head_before)


def test_label_budget_experiment_and_summary(tasks, pretrained):
    _, target, target_test = tasks
    runs = transfer.label_budget_experiment(pretrained, target, target_test, [2, 4], [0, 1], steps=3,
                                            finetune_steps=2, progress=False)
    assert isinstance(runs, pd.DataFrame) and len(runs) == 2 * 2 * 3
    rows = runs.to_dict("records")
    assert {r["approach"] for r in rows} == {"from scratch", "frozen base", "fine-tuned"}
    assert all(r["n"] == len(target_test.y) and 0 <= r["accuracy"] <= 1 for r in rows)
    summary = transfer.summarize(runs)
    assert isinstance(summary, pd.DataFrame) and len(summary) == 2 * 3
    assert transfer.summarize(rows).equals(summary), "rows as dicts give the same summary"
    for line in summary.to_dict("records"):
        values = [r["accuracy"] for r in rows if r["approach"] == line["approach"] and r["per_class"] == line["per_class"]]
        assert line["mean"] == pytest.approx(np.mean(values)) and line["std"] == pytest.approx(np.std(values, ddof=1))
        scratch = summary.set_index(["per_class", "approach"]).loc[line["per_class"], "from scratch"]
        assert line["errors cut"] == pytest.approx(1 - (1 - line["mean"]) / (1 - scratch["mean"]))
        gains = [r["accuracy"] - next(b["accuracy"] for b in rows if b["approach"] == "from scratch"
                                      and b["per_class"] == r["per_class"] and b["seed"] == r["seed"])
                 for r in rows if r["approach"] == line["approach"] and r["per_class"] == line["per_class"]]
        assert line["gain"] == pytest.approx(np.mean(gains))
        assert line["gain low"] <= line["gain"] <= line["gain high"]
    assert {r["updates"] for r in rows} == {3}, "every approach gets the same number of updates"
    with pytest.raises(ValueError, match="finetune_steps"):
        transfer.label_budget_experiment(pretrained, target, target_test, [2], [0], steps=3, finetune_steps=3,
                                         progress=False)


def test_summary_needs_its_baseline():
    with pytest.raises(ValueError, match="nothing to compare"):
        transfer.summarize([{"approach": "fine-tuned", "per_class": 10, "accuracy": 0.9}])


def test_label_budget_experiment_refuses_bad_settings(tasks):
    source, target, target_test = tasks
    for kwargs, match in [({"budgets": 10}, "non-empty list"), ({"seeds": ()}, "non-empty list"),
                          ({"steps": 0}, "steps"), ({"finetune_steps": 0}, "finetune_steps")]:
        arguments = {"budgets": (2,), "seeds": (0,), "steps": 2, "finetune_steps": 1, **kwargs}
        with pytest.raises((TypeError, ValueError), match=match):
            transfer.label_budget_experiment(None, target, target_test, progress=False, **arguments)
