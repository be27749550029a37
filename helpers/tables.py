"""Tables of results: pandas DataFrames for notebooks, plain text for logs and tests.

* :func:`results_table` - rows (dicts, or a DataFrame) as a DataFrame, columns in
  the series' usual order; the values stay numbers, to select, sort and plot.
* :func:`styled_table` - the same as Jupyter shows it: accuracies to 3 decimals,
  coloured red (0) to green (1), no index.
* :func:`format_table` - the same as aligned plain text.
* :func:`wide_rows` and :func:`group_series` - a robustness curve's rows, one per
  series (model, attack, setting, norm) with a column per epsilon, or grouped.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["results_table", "styled_table", "format_table", "wide_rows", "group_series"]

_COLUMNS = ("model", "attack", "setting", "norm", "epsilon", "accuracy", "n", "seconds")
_COUNTS = ("n", "steps", "fooled only by this", "training images")  # whole numbers, shown without decimals


def group_series(rows: Iterable[Mapping]) -> dict[tuple, list[Mapping]]:
    """Rows grouped by (model, attack, setting, norm), each group sorted by epsilon."""
    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        key = (row["model"], row["attack"], row.get("setting", "white-box"), row.get("norm", "linf"))
        groups.setdefault(key, []).append(row)
    return {key: sorted(group, key=lambda row: row["epsilon"]) for key, group in groups.items()}


def wide_rows(rows: Iterable[Mapping]) -> list[dict]:
    """One row per (model, attack, setting, norm) with a column ``eps=...`` per epsilon."""
    wide = []
    for (model, attack, setting, norm), series in group_series(rows).items():
        row = {"model": model, "attack": attack, "setting": setting, "norm": norm}
        row.update({f"eps={entry['epsilon']:g}": entry["accuracy"] for entry in series})
        wide.append(row)
    return wide


def _columns(rows: list[Mapping], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return [key for key in _COLUMNS if key in keys] + [key for key in keys if key not in _COLUMNS]


def _is_score(column: str, values) -> bool:
    """Accuracies and other shares in [0, 1]: shown to 3 decimals, coloured by value."""
    numbers = [v for v in values if _is_number(v)]
    return bool(numbers) and all(isinstance(v, (float, np.floating)) for v in numbers) and column not in (
        "epsilon", "seconds", "training s", "s / epoch") and all(-1.0 <= v <= 1.0 for v in numbers)


def _cell(key: str, value) -> str:
    """A value as table text: shares to 3 decimals, epsilons as given, seconds to 0.1, None as '-'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, (float, np.floating)):
        if key in _COUNTS and float(value).is_integer():  # a count that pandas made a float (beside a None)
            return f"{int(value):,}"
        if key == "seconds":
            return f"{value:.1f}"
        if key == "epsilon":
            return f"{value:g}"
        return f"{value:.3f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def results_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None):
    """Rows of dicts (or a DataFrame) as a pandas DataFrame, columns in the series' usual order (or ``columns``).

    The values stay numbers, for sorting and plotting; :func:`styled_table` is
    the form to show in a notebook and :func:`format_table` the plain-text one.
    """
    rows = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    columns = _columns(rows, columns)
    return pd.DataFrame([{key: row.get(key) for key in columns} for row in rows], columns=columns)


def styled_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None, *, colours: bool = True):
    """The table as Jupyter shows it: accuracies to 3 decimals, coloured red (0) to green (1), no index.

    Returns a pandas ``Styler``; a notebook cell that ends with it renders an HTML table.
    """
    frame = results_table(rows, columns)
    formats = {column: (lambda value, key=column: _cell(key, value)) for column in frame.columns}
    styler = frame.style.format(formats).hide(axis="index")
    text = [column for column in frame.columns if not all(_is_number(v) or v is None for v in frame[column].tolist())]
    if text:  # names read left-aligned, numbers stay right-aligned
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    scores = [column for column in frame.columns if _is_score(column, frame[column].tolist())]
    if colours and scores:
        styler = styler.background_gradient(cmap="RdYlGn", vmin=0.0, vmax=1.0, subset=scores)
    return styler


def format_table(rows: Iterable[Mapping], columns: Sequence[str] | None = None) -> str:
    """The table as plain, aligned text for logs and tests: numbers right-aligned, formatted as in notebooks."""
    frame = results_table(rows, columns)
    if frame.empty:
        return "(no rows)"
    text = {}
    for column in frame.columns:
        values = frame[column].tolist()
        cells = [_cell(column, value) for value in values]
        width = max(len(str(column)), *map(len, cells))
        right = all(_is_number(value) or value is None for value in values)
        pad = (lambda cell, w=width: cell.rjust(w)) if right else (lambda cell, w=width: cell.ljust(w))
        text[pad(str(column))] = [pad(cell) for cell in cells]
    return "\n".join(line.rstrip() for line in type(frame)(text).to_string(index=False).splitlines())


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
