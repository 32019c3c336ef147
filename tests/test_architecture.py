"""The package's shape: no import cycles among reeflow modules, even through imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "reeflow"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """reeflow modules that ``path`` imports anywhere (module level or inside a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:  # `from reeflow.clean import hs` names a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    own = module_name(path)
    return {m for m in found if m in modules and m != own and not own.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None (depth-first search, three colours)."""
    colour = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == 0 and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0 and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "reeflow.mfa.tracing" in graph["reeflow.mfa.balance"]  # imported inside trace_year only
    assert "reeflow.clean.quality" in graph["reeflow.clean.declarations"]  # inside clean_comtrade_year
    assert "reeflow.io" in graph["reeflow.mfa.balance"]  # at module level


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    if cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle) + "; move the shared code down a layer")


@pytest.mark.parametrize("core", ["reeflow.io", "reeflow.schemas", "reeflow.countries", "reeflow.commodities"])
def test_the_core_imports_no_step(core: str) -> None:
    steps = ("reeflow.acquire", "reeflow.clean", "reeflow.mfa", "reeflow.sensitivity", "reeflow.validate",
             "reeflow.report")  # fmt: skip
    assert not [m for m in import_graph()[core] if m.startswith(steps)]
