"""Student copies of the series: notebooks without outputs, solutions or presenter notes, ready to hand out.

    python scripts/make_student.py [--output student]      # what `make student` runs

Writes ``student/`` (git-ignored): the notebooks of ``notebooks/`` passed through
nbconvert's ``ClearOutputPreprocessor`` (outputs and execution counts removed)
and ``TagRemovePreprocessor`` (cells tagged ``solution`` or ``presenter-notes``
removed), next to what they need to run (``helpers/``, ``data/``, the
requirements, the Makefile and README). ``solutions/`` and ``tests/`` are left
out. Works offline. The folder is built beside the target and renamed into
place, so an interrupted run never leaves half a hand-out.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
REMOVED_TAGS = ("solution", "presenter-notes")
# What a student copy needs to run besides the notebooks.
SUPPORT = ("helpers", "data", "Makefile", "README.md", "requirements.txt", "environment.yml", "pyproject.toml")


def student_exporter() -> NotebookExporter:
    """nbconvert's notebook exporter with outputs cleared and solution and presenter-note cells removed."""
    config = Config()
    config.ClearOutputPreprocessor.enabled = True
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    return NotebookExporter(config=config)


def student_notebook(path: Path, exporter: NotebookExporter | None = None) -> str:
    """The student version of one notebook, as notebook JSON text."""
    body, _ = (exporter or student_exporter()).from_filename(str(path))
    nbformat.validate(nbformat.reads(body, as_version=4))
    return body


def make_student(output: Path, root: Path = ROOT) -> list[Path]:
    """Write the hand-out folder ``output``; returns the notebooks written (paths inside ``output``)."""
    output = Path(output).resolve()
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"No notebooks/NN_*.ipynb under {root}: run this from the repository.")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        exporter = student_exporter()
        (staging / "notebooks").mkdir()
        written = []
        for notebook in notebooks:
            target = staging / "notebooks" / notebook.name
            target.write_text(student_notebook(notebook, exporter), encoding="utf-8")
            written.append(output / "notebooks" / notebook.name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in SUPPORT:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, staging / name, ignore=ignore)
            elif source.is_file():
                shutil.copy2(source, staging / name)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "student"), help="folder to write (default: student/)")
    args = parser.parse_args(argv)
    written = make_student(Path(args.output))
    for path in written:
        print(f"wrote {path.relative_to(Path(args.output).resolve().parent)}")
    print(f"Hand out {Path(args.output).name}/ (zip it, or copy it to a USB stick): no outputs, no solutions.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
