"""helpers/lessons.py is what the notebooks' cells tagged ``export`` define, and the helpers run it."""

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("export_lessons", ROOT / "scripts" / "export_lessons.py")
export_lessons = importlib.util.module_from_spec(spec)
sys.modules["export_lessons"] = export_lessons
spec.loader.exec_module(export_lessons)


def test_lessons_module_matches_the_notebooks():
    assert (ROOT / "helpers" / "lessons.py").read_text() == export_lessons.render(), (
        "helpers/lessons.py is stale: run python scripts/export_lessons.py")


def test_an_edited_lesson_makes_the_module_stale(tmp_path):
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("def width():\n    return 32\n\nprint(width())")
    cell.metadata["tags"] = ["export"]
    notebook.cells = [cell, nbformat.v4.new_code_cell("def not_exported():\n    pass")]
    nbformat.write(notebook, tmp_path / "notebooks" / "01_x.ipynb")
    first = export_lessons.render(tmp_path)
    assert "def width():\n    return 32\n" in first and "print(width())" not in first and "not_exported" not in first
    cell.source = cell.source.replace("32", "64")
    nbformat.write(notebook, tmp_path / "notebooks" / "01_x.ipynb")
    assert export_lessons.render(tmp_path) != first
    cell.source = "print('no definition')"
    nbformat.write(notebook, tmp_path / "notebooks" / "01_x.ipynb")
    with pytest.raises(ValueError, match="defines no function"):
        export_lessons.render(tmp_path)


def test_build_cnn_runs_the_lesson():
    from helpers import lessons, models

    built, lesson = models.build_cnn(classes=5), lessons.cnn(classes=5)
    assert [layer.get_config() for layer in built.layers] == [layer.get_config() for layer in lesson.layers]
    assert built.optimizer is not None, "build_cnn compiles the lesson's network"
