"""The client's modules import one another without a circle (``app`` and ``cli`` share ``run_options``)."""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"


def _client_imports(path: Path) -> set[str]:
    """The ``client.*`` modules that ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.startswith("client.")}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle in ``graph`` (module -> modules it imports), or [] when there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for target in sorted(graph.get(module, ())):
            if found := visit(target, [*path, module]):
                return found
        done.add(module)
        return []

    for module in sorted(graph):
        if found := visit(module, []):
            return found
    return []


def test_the_client_has_no_import_circle() -> None:
    graph = {f"client.{path.stem}": _client_imports(path) for path in CLIENT.glob("*.py") if path.stem != "__init__"}
    assert graph["client.cli"] >= {"client.app", "client.run_options"}
    assert _cycle(graph) == []


def test_a_circle_is_found() -> None:
    assert _cycle({"client.app": {"client.cli"}, "client.cli": {"client.app"}}) == [
        "client.app",
        "client.cli",
        "client.app",
    ]
