"""Report the presented code cells that do not fit a slide: more than 15 lines, or a line over 88 characters.

    python scripts/cell_sizes.py      # exit status 1 while any notebook has such a cell

Cells that never become slides are exempt (slide type "skip": the Colab and setup cells; "notes").
tests/test_cell_sizes.py enforces this on every committed notebook.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES, MAX_WIDTH = 15, 88


def too_big(notebook) -> list[str]:
    """``cell N: L lines, widest W characters`` for each presented code cell over the limits."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.metadata.get("slideshow", {}).get("slide_type") in ("skip", "notes"):
            continue
        lines = cell.source.splitlines()
        if len(lines) > MAX_LINES or any(len(line) > MAX_WIDTH for line in lines):
            found.append(f"cell {index}: {len(lines)} lines, widest {max(map(len, lines))} characters")
    return found


def main() -> int:
    failing = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        found = too_big(nbformat.read(path, as_version=4))
        print(f"{path.name}: {len(found)} cell(s) too big for a slide" + "".join(f"\n  {line}" for line in found))
        failing += bool(found)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
