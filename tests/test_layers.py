"""The layout: core imports none of the packages above it, nor Gradio, and has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from core.paths import PROJECT_ROOT

CORE = PROJECT_ROOT / "core"


def _module_imports(path: Path) -> set[str]:
    """Modules a file imports anywhere: an import deferred into a function hides a cycle, it does not
    break it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_core_imports_nothing_above_it_and_not_gradio():
    for path in CORE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        imported = {name for node in ast.walk(ast.parse(source)) for name in _names(node)}
        above = {
            n for n in imported if n.split(".")[0] in {"app", "trainer", "evaluation", "gradio", "spaces"}
        }
        assert not above, f"{path.name} imports {sorted(above)}"


def _names(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module]
    return []


def test_core_has_no_import_cycle():
    modules = {f"core.{p.stem}": p for p in CORE.glob("*.py") if p.stem != "__init__"}
    graph = {name: {m for m in _module_imports(path) if m in modules} for name, path in modules.items()}
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in visiting, "import cycle: " + " -> ".join([*trail, name])
        if name in done:
            return
        visiting.add(name)
        for other in graph[name]:
            visit(other, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in graph:
        visit(name, [])
