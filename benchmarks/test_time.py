"""How long `make test` takes, part by part, on a fresh clone (issue 18, "Time": within 8 minutes on 2 cores).

Clones the committed HEAD into a temporary folder (no artifacts/, no caches: what a fresh clone has), points
Python at that clone, and runs `make test`'s pytest command one part at a time, in `make test`'s order: the unit
tests, then each notebook, then each solution (smoke profile, nbval). Notebook 01 trains and saves the CNN the
later notebooks load, as in `make test`. Each part is a separate pytest process, so the parts add up to a little
more than `make test` (one process): about one TensorFlow import per part. `--whole` also times the single
command `make test` runs.

Each row of the CSV: label, part, wall seconds, CPU seconds (user + system of pytest and the kernels it started, all
threads), pytest's summary line, the 1-minute load average before and after, and the slowest tests. Other jobs on the
machine slow the wall time of every part a lot (compare parts measured under similar load); the CPU seconds move much
less with the load, so they compare runs made under different loads better.

    .venv/bin/python benchmarks/test_time.py --label before            # every part, fresh clone of HEAD
    .venv/bin/python benchmarks/test_time.py --label before --commit 1f47558   # ... of that commit
    .venv/bin/python benchmarks/test_time.py --label pilot --overlay helpers/profiles.py   # HEAD + a working file
    .venv/bin/python benchmarks/test_time.py --label after --parts unit notebooks/01_cnn_basics.ipynb
    .venv/bin/python benchmarks/test_time.py --label after --whole      # also the one-process make test

Appends to benchmarks/results/test_time.csv. Not a test: nothing here enforces the time.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "test_time.csv"
PYTEST = ["-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider"]
FIELDS = ["label", "started_utc", "commit", "part", "seconds", "cpu_seconds", "summary", "load_before", "load_after",
          "slowest"]


def parts_of(repo: Path) -> list[str]:
    """`make test`'s order: tests, then notebooks, then solutions (each sorted, as the Makefile's wildcard)."""
    notebooks = sorted(p.relative_to(repo).as_posix() for p in (repo / "notebooks").glob("[0-9]*.ipynb"))
    solutions = sorted(p.relative_to(repo).as_posix() for p in (repo / "solutions").glob("[0-9]*.ipynb"))
    return ["tests", *notebooks, *solutions]


def slowest(output: str, count: int) -> str:
    """The first `count` lines of pytest's --durations table, joined by ' | '."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if "slowest" in line and "durations" in line)
    except StopIteration:
        return ""
    rows = [line.strip() for line in lines[start + 1:] if re.match(r"^\d+\.\d+s ", line.strip())]
    return " | ".join(rows[:count])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_part(repo: Path, python: str, targets: list[str], durations: int) -> tuple[float, float, str, str, str]:
    env = {**os.environ, "ADVLEARN_PROFILE": "smoke", "PYTHONPATH": str(repo)}
    command = [python, *PYTEST, f"--durations={durations}", *targets]
    cpu_start, start = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu() - cpu_start
    output = result.stdout + result.stderr
    summary = next((line.strip("= ") for line in reversed(output.splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line)), f"exit {result.returncode}")
    return seconds, cpu_seconds, summary, output, slowest(output, durations)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="names this run in the CSV, e.g. before / after")
    parser.add_argument("--parts", nargs="*", help="some of: tests, notebooks/0X_*.ipynb, solutions/0X_*.ipynb "
                        "(default: all, in make test's order)")
    parser.add_argument("--whole", action="store_true", help="then time make test's single pytest command too")
    parser.add_argument("--repo", type=Path, help="run in this checkout instead of a fresh clone of HEAD")
    parser.add_argument("--commit", help="clone this commit instead of HEAD")
    parser.add_argument("--overlay", nargs="*", default=[], help="copy these files of the working tree into the clone "
                        "(a pilot of uncommitted changes: the clone is the commit plus these files)")
    parser.add_argument("--files-from", nargs="+", metavar=("COMMIT", "PATH"), help="take these paths as they were "
                        "at COMMIT (e.g. the clone without one change: --files-from abc123^ helpers/profiles.py)")
    parser.add_argument("--durations", type=int, default=15, help="slowest tests kept per part")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, help="also write each part's full pytest output into this folder")
    args = parser.parse_args(argv)

    python = str(ROOT / ".venv" / "bin" / "python")
    commit = subprocess.run(["git", "rev-parse", "--short", args.commit or "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    workdir = None
    if args.repo is None:
        workdir = Path(tempfile.mkdtemp(prefix="advlearn-fresh-"))
        repo = workdir / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
        subprocess.run(["git", "checkout", "--quiet", commit], cwd=repo, check=True)
        for name in args.overlay:
            shutil.copy2(ROOT / name, repo / name)
        if args.files_from:
            subprocess.run(["git", "checkout", "--quiet", args.files_from[0], "--", *args.files_from[1:]], cwd=repo,
                           check=True)
        (repo / ".venv").symlink_to(ROOT / ".venv")  # the installed packages; helpers comes from the clone
    else:
        repo = args.repo.resolve()
    parts = args.parts or parts_of(repo)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    new_file = not args.output.exists()
    failed = False
    try:
        with args.output.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            if new_file:
                writer.writeheader()
            runs = [(part, [part]) for part in parts]
            if args.whole:
                runs.append(("make test (one process)", parts_of(repo)))
            for part, targets in runs:
                load_before = os.getloadavg()[0]
                started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                seconds, cpu_seconds, summary, output, top = run_part(repo, python, targets, args.durations)
                load_after = os.getloadavg()[0]
                failed |= "failed" in summary or "error" in summary
                print(f"{part:55s} {seconds:7.1f} s  cpu {cpu_seconds:7.1f} s  load {load_before:.2f} -> {load_after:.2f}  "
                      f"{summary}", flush=True)
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    (args.logs / (re.sub(r"[^\w.-]+", "_", part) + ".log")).write_text(output)
                writer.writerow({"label": args.label, "started_utc": started, "commit": commit, "part": part,
                                 "seconds": f"{seconds:.1f}", "cpu_seconds": f"{cpu_seconds:.1f}", "summary": summary,
                                 "load_before": f"{load_before:.2f}",
                                 "load_after": f"{load_after:.2f}", "slowest": top})
                handle.flush()
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
