"""List the public names of ``helpers`` that nothing outside the tests uses.

A module's public names are its ``__all__`` (or, without one, its top-level
defs, classes and assignments not starting with ``_``). A name counts as used
when a notebook, a solution, a script, a benchmark or *another* helpers module
refers to it: ``from helpers.M import name``, or ``M.name`` where ``M`` was
imported as ``from helpers import M`` or ``import helpers.M as M``. Tests do not
count. ``helpers/lessons.py`` is skipped: it is generated from the notebooks.
:data:`KEEP` lists the names public on purpose without a user who names them.

Run: ``.venv/bin/python scripts/unused_names.py`` (exit status 1 when a name is unused).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
SKIP = {"__init__", "lessons"}
# Public without a user who names them, on purpose: what a caller catches (errors and warnings raised by
# public functions), the types of values public functions return, and Keras layers that saved models name.
KEEP = {
    ("artifacts", "ArtifactError"), ("environment", "KerasVersionError"), ("models", "WeightsError"),
    ("sanity", "SanityCheckWarning"),
    ("evaluation", "AttackResult"), ("evaluation", "RobustnessCurve"), ("profiles", "Profile"),
    ("semisupervised", "LabelledSplit"), ("transfer", "Task"),
    ("models", "GrayscaleToRGB"), ("models", "VGG19Preprocess"), ("models", "FastInputGradConv2D"),
}


def public_names(path: Path) -> list[str]:
    """``__all__`` when the module has one, else its top-level public defs, classes and assignments."""
    tree = ast.parse(path.read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            # IPython magics and shell lines are not Python.
            lines += [re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.splitlines()]
            lines.append("")
    return "\n".join(lines)


def uses(source: str, own_module: str | None = None) -> set[tuple[str, str]]:
    """(module, name) pairs of helpers that ``source`` refers to (not counting ``own_module`` itself)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    aliases: dict[str, str] = {}  # local name -> helpers module
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "helpers":
                for alias in node.names:
                    aliases[alias.asname or alias.name] = alias.name
                    found.add(("__init__", alias.name))
            elif node.module.startswith("helpers."):
                module = node.module.split(".")[1]
                found |= {(module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "helpers" and len(parts) == 2 and alias.asname:
                    aliases[alias.asname] = parts[1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.add((aliases[node.value.id], node.attr))
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
              and isinstance(node.value.value, ast.Name) and node.value.value.id == "helpers"):
            found.add((node.value.attr, node.attr))
    return {(module, name) for module, name in found if module != own_module}


def users() -> dict[tuple[str, str], list[str]]:
    """(module, name) -> the files outside the tests that use it."""
    found = defaultdict(list)
    sources = [(path, _notebook_source(path)) for folder in ("notebooks", "solutions")
               for path in sorted((ROOT / folder).glob("*.ipynb"))]
    sources += [(path, path.read_text()) for folder in ("scripts", "benchmarks")
                for path in sorted((ROOT / folder).rglob("*.py"))]
    sources += [(path, path.read_text()) for path in sorted(HELPERS.glob("*.py"))]
    for path, source in sources:
        own = path.stem if path.parent == HELPERS else None
        for pair in uses(source, own):
            found[pair].append(str(path.relative_to(ROOT)))
    # `python -m helpers.M` in the Makefile runs a module's main().
    for module in re.findall(r"-m helpers\.(\w+)", (ROOT / "Makefile").read_text()):
        found[(module, "main")].append("Makefile")
    return found


def unused() -> dict[str, list[str]]:
    """module -> its public names that nothing outside the tests uses."""
    used = users()
    result = {}
    for path in sorted(HELPERS.glob("*.py")):
        if path.stem in SKIP:
            continue
        names = [name for name in public_names(path) if (path.stem, name) not in used and (path.stem, name) not in KEEP]
        if names:
            result[path.stem] = names
    return result


def main() -> int:
    result = unused()
    for module, names in result.items():
        print(f"helpers.{module}: {', '.join(names)}")
    if not result:
        print("Every public name of helpers is used outside the tests.")
    return 1 if result else 0


if __name__ == "__main__":
    sys.exit(main())
