"""Tests of helpers.tables: results as DataFrames, rendered tables and plain text."""

import pandas as pd

from helpers import tables


def _rows(attack, accuracies, model="m", epsilons=(0.0, 0.1, 0.3), n=1000, norm="linf"):
    return [
        {"model": model, "attack": attack, "setting": "white-box", "norm": norm, "epsilon": e, "accuracy": a, "n": n}
        for e, a in zip(epsilons, accuracies)
    ]


def test_format_table_plain_text():
    rows = [{"model": "cnn", "epsilon": 0.05, "accuracy": 0.4567, "n": 10000}]
    assert tables.format_table(rows).splitlines() == [
        "model epsilon accuracy      n",
        "cnn      0.05    0.457 10,000",
    ]
    assert tables.format_table(rows, ["model", "accuracy"]).splitlines()[1] == "cnn      0.457"
    assert tables.format_table([]) == "(no rows)"


def test_results_table_is_a_dataframe_with_numbers():
    rows = [{"accuracy": 0.4567, "model": "cnn", "n": 10}, {"model": "adv", "accuracy": 0.5, "n": 20, "extra": "x"}]
    frame = tables.results_table(rows)
    assert list(frame.columns) == ["model", "accuracy", "n", "extra"]
    assert frame["accuracy"].tolist() == [0.4567, 0.5] and frame["n"].tolist() == [10, 20]


def test_styled_table_formats_and_colours_accuracies():
    rows = [{"model": "cnn", "epsilon": 0.05, "accuracy": 0.4567, "n": 10000, "transfer_rate": None}]
    html = tables.styled_table(rows).to_html()
    assert "0.457" in html and "10,000" in html and ">-<" in html.replace(" ", "")
    assert "background-color" in html
    assert "background-color" not in tables.styled_table(rows, colours=False).to_html()


def test_wide_rows():
    wide = tables.wide_rows(_rows("fgsm", [0.9, 0.4, 0.1]))
    assert wide == [{"model": "m", "attack": "fgsm", "setting": "white-box", "norm": "linf",
                     "eps=0": 0.9, "eps=0.1": 0.4, "eps=0.3": 0.1}]


def test_tables_show_missing_values_as_a_dash():
    assert "-" in tables.format_table([{"model": "a", "transfer_rate": None}]).splitlines()[-1]


def test_a_dataframe_is_taken_as_its_rows():
    rows = [{"model": "cnn", "epsilon": 0.05, "accuracy": 0.4567, "n": 10000}, {"model": "lenet", "accuracy": 0.5}]
    frame = pd.DataFrame(rows)
    assert tables.format_table(frame) == tables.format_table(rows)
    assert tables.results_table(frame, ["model", "accuracy"]).equals(tables.results_table(rows, ["model", "accuracy"]))
    assert "0.457" in tables.styled_table(frame).to_html()


def test_group_series_sorts_each_series_by_epsilon():
    rows = _rows("fgsm", [0.1, 0.9], epsilons=(0.3, 0.0)) + _rows("pgd", [0.5], epsilons=(0.1,))
    groups = tables.group_series(rows)
    assert list(groups) == [("m", "fgsm", "white-box", "linf"), ("m", "pgd", "white-box", "linf")]
    assert [row["epsilon"] for row in groups["m", "fgsm", "white-box", "linf"]] == [0.0, 0.3]
