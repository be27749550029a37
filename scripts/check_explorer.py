"""Check the attack explorer in a real browser: JupyterLab in headless Chromium, the epsilon slider moved.

    python scripts/check_explorer.py [--out DIR] [--chromium /usr/bin/chromium]

Needs Playwright's Python package, which the series itself does not (``pip install playwright`` in any
environment; ``/usr/bin/chromium`` from ``apt-get install chromium`` serves as the browser, so no browser download).
Run it with that environment's Python; JupyterLab and the kernel come from the series' .venv.

It writes a small notebook (notebook 01's trained CNN if ``artifacts/`` has one, else a freshly built one, with 12
test images of the bundled sample) into a temporary folder, opens it in JupyterLab, runs it, and takes a screenshot
with the epsilon slider at three positions (0, the middle, the end). Each screenshot is checked to differ from the
one before (the figure redrew), and the PNGs are written to ``--out`` (default ``benchmarks/results/explorer``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
CELLS = [
    "import helpers\nfrom helpers import artifacts, data, explorer, models\nprofile = helpers.setup()",
    "dataset = data.load_sample()\nimages, labels = data.model_split(dataset, 'test', 12)\n"
    "model, _ = artifacts.load_saved_model('cnn', helpers.profiles.get_profile('workshop'))\n"
    "if model is None:\n    model = models.build_cnn()\n    print('no trained CNN in artifacts/: random weights')",
    "right = model.predict(images, verbose=0).argmax(axis=1) == labels  # start from images it gets right\n"
    "explorer.attack_explorer(model, images[right], labels[right])",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "explorer")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("This check needs Playwright: pip install playwright (then run this script with that Python).")
    if not Path(options.chromium).exists():
        sys.exit(f"--chromium {options.chromium} does not exist: apt-get install chromium, or pass its path.")
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
        notebook.metadata["kernelspec"] = {"name": "advlearn", "display_name": "Python (advlearn)", "language": "python"}
        nbformat.write(notebook, Path(folder) / "explorer.ipynb")
        port, token = _free_port(), secrets.token_hex(16)
        server = subprocess.Popen(
            [str(VENV / "jupyter"), "lab", "--no-browser", f"--port={port}", f"--ServerApp.token={token}",
             f"--ServerApp.root_dir={folder}", "--allow-root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            return _drive(sync_playwright, options, port, token)
        finally:
            server.terminate()
            server.wait(30)


def _drive(sync_playwright, options, port: int, token: str) -> int:
    url = f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=options.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for _ in range(60):  # the server takes a few seconds to listen
            try:
                page.goto(url, timeout=10_000)
                break
            except Exception:
                time.sleep(1)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        for _ in range(6):  # a kernel still connecting ignores "Run All Cells": ask again
            page.wait_for_timeout(3000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:
                page.wait_for_selector(".jp-InputArea-prompt:has-text('[1]')", timeout=20_000)
                break
            except Exception:
                continue
        try:
            page.locator(".widget-output img").first.wait_for(timeout=300_000)
        except Exception:
            page.screenshot(path=str(options.out / "failed.png"), full_page=True)
            raise
        slider = page.locator(".widget-slider", has_text="epsilon").locator(".noUi-handle, .ui-slider-handle").first
        slider.wait_for(timeout=300_000)
        figure = page.locator(".widget-output img").first
        figure.wait_for(timeout=120_000)
        news = page.get_by_role("button", name="No", exact=True)
        if news.count():  # JupyterLab's "get notified about news?" toast would cover the figure
            news.first.click()
        widget = page.locator(".jp-OutputArea-output .widget-vbox").first
        track = page.locator(".widget-slider", has_text="epsilon").locator(".noUi-target, .ui-slider").first
        box = track.bounding_box()
        shots, digests = [], []
        for name, fraction in (("epsilon-0", 0.0), ("epsilon-middle", 0.5), ("epsilon-end", 1.0)):
            before = figure.get_attribute("src")
            page.mouse.click(box["x"] + max(1, fraction * box["width"] - 1), box["y"] + box["height"] / 2)
            page.wait_for_function(
                "src => { const img = document.querySelector('.widget-output img');"
                " return img && img.getAttribute('src') !== src; }", arg=before, timeout=60_000)
            page.wait_for_timeout(1500)
            readout = page.locator(".widget-slider", has_text="epsilon").locator(".widget-readout").first.inner_text()
            path = options.out / f"{name}.png"
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(path))
            shots.append((name, readout.strip(), path))
            digests.append(_digest(path))
        browser.close()
    for name, readout, path in shots:
        print(f"{name}: epsilon readout {readout}, screenshot {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if len(set(digests)) != len(digests):
        print("Two screenshots are identical: the figure did not redraw when the slider moved.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
