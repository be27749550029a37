"""scripts/make_slides.py: reveal.js slides that load nothing from the network."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_slides", ROOT / "scripts" / "make_slides.py")
make_slides = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_slides)


def test_slides_load_only_local_files(tmp_path):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 01 · Title", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell("Say this", metadata={"slideshow": {"slide_type": "notes"}}),
        nbformat.v4.new_code_cell("import helpers", metadata={"slideshow": {"slide_type": "skip"}}),
        nbformat.v4.new_markdown_cell("## Math: $x + \\epsilon$", metadata={"slideshow": {"slide_type": "slide"}}),
    ]
    nbformat.write(notebook, root / "notebooks" / "01_x.ipynb")
    written = make_slides.make_slides(tmp_path / "slides", root)
    page = written[0].read_text()
    loaded = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert loaded and not [url for url in loaded if url.startswith(("http:", "https:", "//"))], loaded
    for url in loaded:
        assert (tmp_path / "slides" / url.split("?")[0]).is_file(), url
    assert 'class="notes"' in page and "Say this" in page
    assert "import helpers" not in page  # skipped
    assert page.count("<section") >= 2
    assert (tmp_path / "slides" / "index.html").is_file()


def test_missing_notebooks_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks"):
        make_slides.make_slides(tmp_path / "slides", tmp_path)
