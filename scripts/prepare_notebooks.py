"""Prepare the notebooks for presenting and for Colab: slides, presenter notes, kernel, Colab cell, repository URL.

    python scripts/prepare_notebooks.py            # rewrite notebooks/NN_*.ipynb and solutions/NN_*.ipynb in place
    python scripts/prepare_notebooks.py --check    # change nothing; exit 1 listing the notebooks that need it

Every change is derived from the notebooks' own content by the rules below, so
running it again changes nothing, and a new notebook (05, 06, ...) is prepared
by the same rules. Outputs are never touched. ``tests/test_prepared.py`` fails
when a committed notebook was not prepared.

Rules, per notebook of ``notebooks/``:

* **Kernel**: the notebook asks for the ``advlearn`` kernel that ``make setup``
  registers (``KERNEL``), not a generic ``python3``.
* **Slides** (``metadata.slideshow.slide_type``, for RISE and ``make slides``):
  the title and every ``#`` / ``##`` heading start a slide; ``###`` headings
  and ``**Warning`` notes start a sub-slide; each other code cell starts a
  sub-slide with its outputs, so long outputs get a screen of their own (a
  code cell right after a warning stays with it); text right after a heading
  stays on its slide, other text starts a sub-slide; the Colab bootstrap cell
  and the setup cell (``import helpers`` ... ``helpers.setup()``) are skipped.
* **Presenter notes** live in the notebooks themselves: a markdown cell tagged
  ``presenter-notes`` (in Jupyter: the property inspector's cell tags) becomes a
  cell of slide type ``notes``, shown in the speaker view only (RISE: ``t``; the
  exported slides: ``s``) and removed from student copies. Edit a note in Jupyter
  like any cell: this script keeps its text as it is.
* **Colab**: the bootstrap cell gets the source of :func:`colab_cell`: it
  installs only what Colab lacks (tf-keras matching Colab's TensorFlow, NSL),
  and clones the repository named once, in ``pyproject.toml``
  (``[project.urls] Repository``); the "Open in Colab" badges point there too.

* **Tables**: a line ``print(evaluation.format_table(...))`` becomes
  ``display(evaluation.styled_table(...))`` and ``print(curve.table())`` becomes
  ``display(curve.styled())``: results render as tables (pandas), with
  accuracies formatted and coloured; ``format_table`` stays for logs and tests.

Solutions (``solutions/NN_*.ipynb``) get the kernel and table rules.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
KERNEL = {"name": "advlearn", "display_name": "Python (advlearn)", "language": "python"}
NOTES_TAG = "presenter-notes"
COLAB_MARKER = "# On Colab only"
NSL_PIN = "neural-structured-learning==1.4.0"
# Results tables are shown as rendered tables (pandas, via helpers.evaluation), not printed as text.
TABLE_RULES = (
    (re.compile(r"^(\s*)print\(evaluation\.format_table\((.*)\)\)\s*$", re.M), r"\1display(evaluation.styled_table(\2))"),
    (re.compile(r"^(\s*)print\((\w+)\.table\(\)\)\s*$", re.M), r"\1display(\2.styled())"),
)
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/")


def repository_url(root: Path = ROOT) -> str:
    """The repository's address: ``[project.urls] Repository`` in pyproject.toml, its only home."""
    with open(root / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle).get("project", {})
    url = project.get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(
            f"pyproject.toml's [project.urls] Repository must be https://github.com/OWNER/NAME (no .git, no slash at "
            f"the end), got {url!r}. Set it to your fork's address and run this script again."
        )
    return url


def colab_cell(url: str) -> str:
    """The bootstrap cell: on Colab only, clone the series and install the two packages Colab lacks."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return (
        f"{COLAB_MARKER}: fetch the series and install the two packages Colab lacks (about 1 minute, once per session).\n"
        "# Colab's own TensorFlow, numpy and matplotlib are kept (reinstalling them would need a runtime restart);\n"
        "# tf-keras must match its TensorFlow minor version. The address is set in pyproject.toml (see README).\n"
        "import os, sys\n"
        'if "google.colab" in sys.modules and not os.path.isdir("../helpers"):\n'
        "    from importlib.metadata import version\n"
        '    tf_minor = ".".join(version("tensorflow").split(".")[:2])  # read without importing TensorFlow\n'
        f"    !git clone --quiet --depth 1 {url} /content/{name}\n"
        f'    !pip install --quiet "tf-keras~={{tf_minor}}.0" "{NSL_PIN}"\n'
        f'    os.chdir("/content/{name}/notebooks")\n'
        'sys.path.insert(0, os.path.abspath(".."))'
    )


def _is_setup(cell) -> bool:
    source = cell.source.lstrip()
    return cell.cell_type == "code" and source.startswith("import helpers") and "helpers.setup(" in source


def _heading_level(cell) -> int:
    if cell.cell_type != "markdown":
        return 0
    match = re.match(r"(#{1,6}) ", cell.source.lstrip())
    return len(match.group(1)) if match else 0


def _is_notes(cell) -> bool:
    return NOTES_TAG in cell.metadata.get("tags", [])


def slide_type(cell, previous) -> str:
    """The slideshow type of ``cell``, given the cell shown before it (``None`` for the first)."""
    if _is_notes(cell):
        return "notes"
    source = cell.source.lstrip()
    if cell.cell_type == "code":
        if source.startswith(COLAB_MARKER) or _is_setup(cell):
            return "skip"
        if previous is not None and previous.cell_type == "markdown" and previous.source.lstrip().startswith("**Warning"):
            return "-"
        return "subslide"
    level = _heading_level(cell)
    if previous is None or level in (1, 2):
        return "slide"
    if level >= 3 or source.startswith("**Warning"):
        return "subslide"
    if previous.cell_type == "markdown" and _heading_level(previous):
        return "-"
    return "subslide"


def display_tables(source: str) -> str:
    """``print(evaluation.format_table(...))`` and ``print(x.table())`` become rendered tables."""
    for pattern, replacement in TABLE_RULES:
        source = pattern.sub(replacement, source)
    return source


def prepare(notebook, number: str, url: str, solution: bool = False):
    """Return a prepared copy of ``notebook`` (an nbformat node) for notebook ``number`` ("01", ...)."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata["kernelspec"] = dict(KERNEL)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = display_tables(cell.source)
    if solution:
        return notebook
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith(COLAB_MARKER):
            cell.source = colab_cell(url)
        if cell.cell_type == "markdown":
            repository = url.split("github.com/", 1)[1]
            cell.source = BADGE.sub(f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/",
                                    cell.source)
        cells.append(cell)
    previous = None
    for cell in cells:
        kind = slide_type(cell, previous)
        cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
        if kind != "notes":
            previous = cell
    notebook.cells = cells
    return notebook


def targets(root: Path = ROOT) -> list[tuple[Path, bool]]:
    """Every notebook the rules apply to, with whether it is a solutions notebook."""
    found = [(path, False) for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    found += [(path, True) for path in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))]
    return found


def _write(path: Path, notebook) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    nbformat.write(notebook, temporary)
    temporary.replace(path)


def run(root: Path = ROOT, check: bool = False) -> list[Path]:
    """Prepare every notebook under ``root``; returns those that changed (or, with ``check``, would change)."""
    root = Path(root).resolve()
    url = repository_url(root)
    changed = []
    for path, solution in targets(root):
        original = nbformat.read(path, as_version=4)
        prepared = prepare(original, path.name[:2], url, solution)
        if nbformat.writes(prepared) != nbformat.writes(original):
            changed.append(path)
            if not check:
                nbformat.validate(prepared)
                _write(path, prepared)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs preparing")
    parser.add_argument("--root", default=str(ROOT), help="repository root (default: this repository)")
    args = parser.parse_args(argv)
    changed = run(Path(args.root), check=args.check)
    for path in changed:
        print(("needs preparing: " if args.check else "prepared: ") + str(path.relative_to(Path(args.root).resolve())))
    if args.check and changed:
        print("Run: python scripts/prepare_notebooks.py")
        return 1
    if not changed:
        print("All notebooks already prepared.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
