"""Execute notebooks in place, top to bottom in a fresh kernel, and tidy their outputs.

    python scripts/execute_notebooks.py [notebooks/01_cnn_basics.ipynb ...]

Used by ``make execute`` to refresh the committed outputs (profile from
``ADVLEARN_PROFILE``, default ``workshop``). After each run the outputs are
tidied so the notebooks read well on GitHub: consecutive stream outputs are
merged, progress-bar redraws (carriage returns and backspaces, as Keras writes
them) collapse to their final state, and live progress widgets, which are
meaningless once saved, are dropped. Prints each notebook's wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _final_line(line: str) -> str:
    """What a terminal shows for one line after its carriage returns and backspaces."""
    line = line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
    while "\x08" in line:  # a backspace erases the character before it
        line = re.sub("[^\x08]?\x08", "", line, count=1)
    return line


def tidy_outputs(notebook) -> None:
    """Merge stream outputs, resolve progress-bar redraws, drop saved widget views and state."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tidied = []
        for output in cell.get("outputs", []):
            if output.output_type in ("display_data", "execute_result") and WIDGET_MIME in output.get("data", {}):
                continue
            previous = tidied[-1] if tidied else None
            if output.output_type == "stream" and previous is not None and previous.output_type == "stream" \
                    and previous.name == output.name:
                tidied[-1].text += output.text
                continue
            tidied.append(output)
        for output in tidied:
            if output.output_type == "stream":
                output.text = "\n".join(_final_line(line) for line in output.text.split("\n"))
        cell.outputs = [o for o in tidied if o.output_type != "stream" or o.text.strip()]


def execute(path: Path, timeout: int, slow: float = 30.0) -> tuple[float, list[tuple[int, float]]]:
    """Run one notebook in place; returns its wall time and the cells slower than ``slow`` seconds."""
    notebook = nbformat.read(path, as_version=4)
    started: dict[int, float] = {}
    slow_cells: list[tuple[int, float]] = []

    def on_start(cell, cell_index):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, **_):
        seconds = time.perf_counter() - started.get(cell_index, time.perf_counter())
        if seconds >= slow:
            slow_cells.append((cell_index, seconds))

    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_start, on_cell_executed=on_done,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    tidy_outputs(notebook)
    partial = path.with_name(f".{path.name}.partial")  # write, then rename: never a half-written notebook
    nbformat.write(notebook, partial)
    os.replace(partial, path)
    return seconds, slow_cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    profile = os.environ.get("ADVLEARN_PROFILE", "workshop")
    for path in paths:
        print(f"== {path.name} (profile {profile})", flush=True)
        try:
            seconds, slow_cells = execute(path, args.timeout)
        except CellExecutionError as error:
            name = getattr(error, "ename", "error")
            print(f"   FAILED, {path.name} left as it was: a cell raised {name}. An AssertionError means a claim "
                  f"the notebook's text makes no longer holds in this run: fix the text (or the code), never the "
                  f"assert alone.\n{error}", file=sys.stderr, flush=True)
            return 1
        print(f"   {seconds:.0f} s", flush=True)
        for index, cell_seconds in slow_cells:  # what the notebook's "Warning: about N s" notes should say
            print(f"   cell {index}: {cell_seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
