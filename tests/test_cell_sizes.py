"""Every presented code cell of the committed notebooks fits a slide: at most 15 lines of at most 88 characters."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("cell_sizes", ROOT / "scripts" / "cell_sizes.py")
cell_sizes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cell_sizes)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda path: path.name)
def test_presented_cells_fit_a_slide(path):
    assert cell_sizes.too_big(nbformat.read(path, as_version=4)) == []


def test_a_big_cell_is_found_and_skipped_cells_are_exempt():
    notebook = nbformat.v4.new_notebook()
    wide, long = "x = 1" + " " * 90, "\n".join(["x = 1"] * 16)
    skipped = nbformat.v4.new_code_cell(long)
    skipped.metadata["slideshow"] = {"slide_type": "skip"}
    notebook.cells = [nbformat.v4.new_code_cell(wide), nbformat.v4.new_code_cell(long), skipped,
                      nbformat.v4.new_code_cell("\n".join(["x = 1"] * 15))]
    assert cell_sizes.too_big(notebook) == ["cell 0: 1 lines, widest 95 characters",
                                            "cell 1: 16 lines, widest 5 characters"]
