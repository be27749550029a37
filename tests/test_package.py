"""The helpers package's own structure: no import cycles between its modules."""

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def _imports(path: Path) -> set[str]:
    """helpers modules that ``path`` imports anywhere, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            if node.module == "helpers":
                found.update(alias.name for alias in node.names if (HELPERS / f"{alias.name}.py").exists())
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("helpers.") and alias.name.count(".") >= 1)
    return found - {path.stem}


def test_no_import_cycles():
    graph = {path.stem: _imports(path) for path in HELPERS.glob("*.py") if path.stem != "__init__"}
    assert graph["ensemble"], "the import scan found nothing: it is broken"

    def cycle_from(start, node, seen):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return seen + [nxt]
            if nxt not in seen:
                found = cycle_from(start, nxt, seen + [nxt])
                if found:
                    return found
        return None

    for module in sorted(graph):
        cycle = cycle_from(module, module, [module])
        assert cycle is None, "import cycle: " + " -> ".join(cycle)
