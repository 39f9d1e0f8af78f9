"""Structure of :mod:`proxylab.importing`: its modules import each other without a cycle.

The import graph is read from the source with :mod:`ast` (module-level and function-level imports alike: a lazy
import inside a function is still a dependency, and two modules that need each other cannot be read on their own).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "proxylab" / "importing"


def _module_name(path: Path) -> str:
    return path.stem if path.name != "__init__.py" else "__init__"


def import_graph(package: Path) -> dict[str, set[str]]:
    """``{module: modules of the same package it imports}`` for every ``.py`` file directly in ``package``."""
    modules = {_module_name(p): p for p in package.glob("*.py")}
    dotted = f"proxylab.{package.name}"
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:  # from .x import y / from . import x
                    base = node.module
                elif node.level == 0 and node.module and node.module.startswith(dotted + "."):
                    base = node.module[len(dotted) + 1:]
                elif node.level == 0 and node.module == dotted:
                    base = None
                else:
                    continue
                if base is None:  # from . import a, b: each name may be a module of the package
                    targets |= {a.name for a in node.names if a.name in modules}
                else:
                    targets.add(base.split(".")[0])
            elif isinstance(node, ast.Import):
                targets |= {a.name[len(dotted) + 1:].split(".")[0] for a in node.names
                            if a.name.startswith(dotted + ".")}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_importing_modules_import_each_other_without_a_cycle():
    graph = import_graph(PACKAGE)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    assert {"embeddings", "proxies", "common", "cli"} <= set(graph)  # the graph was read
    assert "proxies" in graph["embeddings"]  # a lazy import inside a function is an edge too


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
