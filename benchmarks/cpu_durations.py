"""A pytest plugin for benchmarks/test_time.py: CPU seconds per test phase, printed at the end, slowest first.

CPU seconds (user + system, all threads) of the pytest process and of its live child processes, such as the kernel
nbval runs a notebook in, measured around each test's setup and call. On a machine shared with other jobs they move
much less than wall seconds, so they tell which tests or notebook cells cost the most. Use it with

    PYTHONPATH=benchmarks python -m pytest -p cpu_durations tests
    ADVLEARN_PROFILE=smoke PYTHONPATH=benchmarks python -m pytest -p cpu_durations --nbval-lax --nbval-current-env \
        notebooks/04_*.ipynb

A child process that ends within a test (a subprocess.run) is not counted.
"""

import time

import psutil  # installed with ipykernel
import pytest

_rows = []
_me = psutil.Process()


def _cpu() -> float:
    total = time.process_time()
    for child in _me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # it ended in between
            continue
        total += times.user + times.system
    return total


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    start = _cpu()
    yield
    _rows.append((_cpu() - start, "setup", item.nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    start = _cpu()
    yield
    _rows.append((_cpu() - start, "call", item.nodeid))


def pytest_terminal_summary(terminalreporter):
    total = sum(row[0] for row in _rows)
    terminalreporter.write_line(f"== cpu seconds: {total:.1f} in {len(_rows)} test phases")
    by_file = {}
    for cpu, _, node in _rows:
        name = node.split("::")[0]
        by_file[name] = by_file.get(name, 0.0) + cpu
    for name, cpu in sorted(by_file.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"cpufile {cpu:7.1f} {name}")
    for cpu, phase, node in sorted(_rows, reverse=True)[:60]:
        terminalreporter.write_line(f"cpu {cpu:7.1f} {phase:5s} {node}")
