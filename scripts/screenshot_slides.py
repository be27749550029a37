"""Screenshot one slide of each deck in headless Chromium, to check that the exported slides render offline.

    python scripts/screenshot_slides.py [--slides slides] [--output slides/screenshots] [--slide 1/0]

For every ``NN_*.slides.html`` in the slides folder (``make slides``), opens
``file://...#/H/V`` (horizontal slide H, vertical sub-slide V; default the second
slide, the first section) in headless Chromium with background networking off,
and writes a PNG. Look at the PNGs: a page that shows raw Markdown, an unstyled
list of every cell or a blank page means reveal.js or MathJax did not load.
Needs ``chromium`` (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars",
         "--virtual-time-budget=8000", "--window-size=1280,800"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("No Chromium found: install it (Debian/Ubuntu: apt-get install chromium).")


def screenshot(page: Path, target: Path, fragment: str = "/1/0", browser: str | None = None) -> Path:
    """Render ``page#fragment`` to the PNG ``target``; returns it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    url = page.resolve().as_uri() + "#" + fragment
    subprocess.run([browser or chromium(), *FLAGS, f"--screenshot={target}", url],
                   check=True, capture_output=True, timeout=120)
    if not target.is_file() or target.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot for {url}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", default=str(ROOT / "slides"))
    parser.add_argument("--output", default=None, help="default: <slides>/screenshots")
    parser.add_argument("--slide", default="1/0", help="H/V: horizontal slide and vertical sub-slide (default 1/0)")
    args = parser.parse_args(argv)
    slides = Path(args.slides)
    decks = sorted(slides.glob("[0-9][0-9]_*.slides.html"))
    if not decks:
        raise FileNotFoundError(f"No NN_*.slides.html in {slides}: run `make slides` first.")
    output = Path(args.output) if args.output else slides / "screenshots"
    for deck in decks:
        target = screenshot(deck, output / f"{deck.name.split('.')[0]}.png", "/" + args.slide.strip("/"))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
