"""Static reveal.js slides of the notebooks, usable offline.

    python scripts/make_slides.py [--output slides]      # what `make slides` runs

Writes ``slides/NN_*.slides.html`` (git-ignored) with nbconvert's ``SlidesExporter``
and the series' template (``scripts/slides_template``), which loads reveal.js,
its speaker-notes plugin and MathJax from ``slides/_assets/`` instead of a CDN.
Those files come from two pinned Python packages already installed by
``make setup``: ``sphinx-revealjs`` (reveal.js 5) and ``jupyter-server-mathjax``
(MathJax 2, which nbconvert's templates use). Nothing is downloaded.

The slides follow each notebook's slideshow metadata (set by
``scripts/prepare_notebooks.py``): skipped cells are left out, presenter notes
show in the speaker view (press ``s``). Open ``slides/index.html`` in a browser;
a folder is built beside the target and renamed into place.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

from nbconvert.exporters import SlidesExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"
ASSETS = "_assets"


def _package_folder(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"{package} is not installed: it provides the slides' offline reveal.js / MathJax files. "
            "Run `make setup` (or: .venv/bin/pip install -r requirements.txt)."
        )
    folder = Path(spec.origin).parent.joinpath(*parts)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing from the installed {package}: reinstall it with `make setup`.")
    return folder


def reveal_folder() -> Path:
    """reveal.js (``dist/``, ``plugin/``) as shipped in the sphinx-revealjs package."""
    return _package_folder("sphinx_revealjs", "_static", "revealjs")


def mathjax_folder() -> Path:
    """MathJax 2 (``MathJax.js`` and its config, fonts and output jax) as shipped in jupyter-server-mathjax."""
    return _package_folder("jupyter_server_mathjax", "static")


def slides_exporter() -> SlidesExporter:
    config = Config()
    config.SlidesExporter.reveal_url_prefix = f"{ASSETS}/reveal.js"
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.reveal_width = "1280"  # the notebooks' code is up to 120 characters wide
    config.SlidesExporter.reveal_height = "800"
    # the config jupyter-server-mathjax ships
    config.SlidesExporter.mathjax_url = f"{ASSETS}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
    config.SlidesExporter.extra_template_basedirs = [str(TEMPLATE_DIR.parent)]
    config.SlidesExporter.template_name = TEMPLATE_DIR.name
    return SlidesExporter(config=config)


def make_slides(output: Path, root: Path = ROOT) -> list[Path]:
    """Write every notebook's slides, the assets and an index into ``output``; returns the slide files."""
    output = Path(output).resolve()
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"No notebooks/NN_*.ipynb under {root}: run this from the repository.")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        shutil.copytree(reveal_folder(), staging / ASSETS / "reveal.js")
        shutil.copytree(mathjax_folder(), staging / ASSETS / "mathjax")
        exporter = slides_exporter()
        written, links = [], []
        for notebook in notebooks:
            body, _ = exporter.from_filename(str(notebook))
            name = f"{notebook.stem}.slides.html"
            (staging / name).write_text(body, encoding="utf-8")
            written.append(output / name)
            links.append(f'<li><a href="{html.escape(name)}">{html.escape(notebook.stem)}</a></li>')
        (staging / "index.html").write_text(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Slides</title></head><body>"
            "<h1>Adversarial Learning: building robust vision models</h1><p>Slides, one deck per notebook. "
            "Arrows move, <kbd>s</kbd> opens the speaker notes, <kbd>Esc</kbd> the overview.</p><ul>"
            + "".join(links) + "</ul></body></html>\n", encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "slides"), help="folder to write (default: slides/)")
    parser.add_argument("--root", default=str(ROOT), help="repository whose notebooks/ to convert (default: this one)")
    args = parser.parse_args(argv)
    written = make_slides(Path(args.output), Path(args.root))
    for path in written:
        print(f"wrote {path.relative_to(Path(args.output).resolve().parent)}")
    print(f"Open {Path(args.output).name}/index.html in a browser (works offline; press s for the speaker notes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
