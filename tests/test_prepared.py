"""scripts/prepare_notebooks.py: slides, presenter notes, kernel and Colab cell, by rules, idempotent."""

import importlib.util
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
spec = importlib.util.spec_from_file_location("prepare_notebooks", ROOT / "scripts" / "prepare_notebooks.py")
prepare_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_notebooks)

URL = "https://github.com/example/fork-of-series"


def copy_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("notebooks", "solutions"):
        shutil.copytree(ROOT / name, root / name)
    text = (ROOT / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text.replace(prepare_notebooks.repository_url(ROOT), URL))
    return root


def test_committed_notebooks_are_prepared():
    """Fails when a notebook was added or edited without running the script (the fix is in the message)."""
    unprepared = prepare_notebooks.run(ROOT, check=True)
    assert not unprepared, (
        "Not prepared: " + ", ".join(path.name for path in unprepared) + ". Run: python scripts/prepare_notebooks.py")


def test_prepare_is_idempotent_and_follows_the_rules(tmp_path):
    root = copy_repository(tmp_path)
    first = prepare_notebooks.run(root)
    assert first, "the copies should have needed preparing (the URL changed)"
    snapshot = {path: path.read_text() for path in root.rglob("*.ipynb")}
    assert prepare_notebooks.run(root) == []
    assert {path: path.read_text() for path in root.rglob("*.ipynb")} == snapshot

    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        assert notebook.metadata.kernelspec["name"] == "advlearn"
        types = [cell.metadata["slideshow"]["slide_type"] for cell in notebook.cells]
        assert types[0] == "slide" and set(types) <= {"slide", "subslide", "fragment", "-", "skip", "notes"}
        colab = [cell for cell in notebook.cells if cell.source.startswith(prepare_notebooks.COLAB_MARKER)]
        assert len(colab) == 1 and colab[0].metadata.slideshow.slide_type == "skip"
        assert URL in colab[0].source and "requirements.txt" not in colab[0].source
        assert 'tf-keras~={tf_minor}.0' in colab[0].source and "neural-structured-learning==1.4.0" in colab[0].source
        text = "\n".join(cell.source for cell in notebook.cells)
        assert "github.com/advlearn/" not in text and "colab.research.google.com/github/example/fork-of-series" in text
        setup = [cell for cell in notebook.cells if prepare_notebooks._is_setup(cell)]
        assert setup and all(cell.metadata.slideshow.slide_type == "skip" for cell in setup)
        notes = [cell for cell in notebook.cells if "presenter-notes" in cell.metadata.get("tags", [])]
        assert notes, f"{path.name} has no presenter notes"
        assert all(cell.metadata.slideshow.slide_type == "notes" and cell.cell_type == "markdown" for cell in notes)
        for cell in notebook.cells:  # every heading of level 1-2 at the top of a cell starts a slide
            if cell.cell_type == "markdown" and cell.source.startswith(("# ", "## ")):
                assert cell.metadata.slideshow.slide_type == "slide"
    for path in root.rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert notebook.metadata.kernelspec["name"] == "advlearn"
        code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert "print(evaluation.format_table(" not in code and ".table())" not in code


def test_a_new_notebook_is_prepared_by_the_same_rules(tmp_path):
    root = copy_repository(tmp_path)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 06 · A new notebook\n\n[![Open In Colab](https://colab.research.google.com/"
                                      "github/advlearn/adversarial-learning/blob/main/notebooks/06_new.ipynb)]"),
        nbformat.v4.new_code_cell("# On Colab only: old cell\n!pip install -r requirements.txt"),
        nbformat.v4.new_code_cell("import helpers\nprofile = helpers.setup()"),
        nbformat.v4.new_markdown_cell("## 1. Graphs"),
        nbformat.v4.new_markdown_cell("Text under the heading."),
        nbformat.v4.new_code_cell("x = 1\nprint(evaluation.format_table(rows, columns=['a']))\nprint(curve.table())"),
        nbformat.v4.new_markdown_cell("**Warning: about 1 minute**"),
        nbformat.v4.new_code_cell("y = 2"),
    ]
    nbformat.write(notebook, root / "notebooks" / "06_new.ipynb")
    prepare_notebooks.run(root)
    prepared = nbformat.read(root / "notebooks" / "06_new.ipynb", as_version=4)
    assert [cell.metadata.slideshow.slide_type for cell in prepared.cells] == [
        "slide", "skip", "skip", "slide", "-", "subslide", "subslide", "-"]
    assert URL in prepared.cells[1].source and "requirements.txt" not in prepared.cells[1].source
    assert prepared.cells[5].source == "x = 1\ndisplay(evaluation.styled_table(rows, columns=['a']))\ndisplay(curve.styled())"
    assert "github/example/fork-of-series/blob/main/notebooks/06_new.ipynb" in prepared.cells[0].source


def test_a_note_edited_in_jupyter_is_kept(tmp_path):
    root = copy_repository(tmp_path)
    path = root / "notebooks" / "01_cnn_basics.ipynb"
    notebook = nbformat.read(path, as_version=4)
    note = next(cell for cell in notebook.cells if "presenter-notes" in cell.metadata.get("tags", []))
    note.source = "**Say**: a note edited in Jupyter."
    note.metadata["slideshow"] = {"slide_type": "-"}
    nbformat.write(notebook, path)
    prepare_notebooks.run(root)
    prepared = nbformat.read(path, as_version=4)
    kept = [cell for cell in prepared.cells if "presenter-notes" in cell.metadata.get("tags", [])]
    assert "**Say**: a note edited in Jupyter." in [cell.source for cell in kept]
    assert all(cell.metadata.slideshow.slide_type == "notes" for cell in kept)


def test_repository_url_is_checked(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "github.com/x"\n')
    with pytest.raises(ValueError, match="Repository"):
        prepare_notebooks.repository_url(tmp_path)


def test_readme_clones_the_configured_repository():
    assert f"git clone {prepare_notebooks.repository_url(ROOT)}" in (ROOT / "README.md").read_text()
