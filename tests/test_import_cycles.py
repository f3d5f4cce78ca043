"""No import cycle inside laravel_queue.

Module-level imports only: an import inside a function runs when called (a deliberate lazy
import), and one under `if TYPE_CHECKING:` never runs. A package's `__init__` counts as
imported by each of its submodules (Python imports the parent first)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "laravel_queue"

# Cycles still present on purpose, each with the reason; empty is the goal.
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Names imported at module level (not in functions, not under TYPE_CHECKING)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {
            name for name in _runtime_imports(tree, module, path.name == "__init__.py") if name in paths
        }
        graph[module] = targets - {module}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of modules that import one another in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A concrete path a -> b -> ... -> a inside `group`, for the failure message."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return sorted(group)


def test_no_import_cycle_inside_the_package() -> None:
    graph = import_graph()
    cycles = [group for group in strongly_connected(graph) if frozenset(group) not in KNOWN_CYCLES]
    report = [" -> ".join(_one_cycle(graph, group)) + f"  ({len(group)} modules)" for group in cycles]
    assert report == []


def test_the_checker_finds_a_cycle_and_ignores_lazy_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\nimport a.b\nif TYPE_CHECKING:\n    import a.c\n"
        "def f():\n    import a.d\n"
    )
    assert _runtime_imports(ast.parse(source), "a.x", False) == {"typing", "typing.TYPE_CHECKING", "a.b"}
    graph = {"a": set(), "a.b": {"a.c"}, "a.c": {"a.b"}, "a.d": set()}
    assert strongly_connected(graph) == [{"a.b", "a.c"}]
    assert _one_cycle(graph, {"a.b", "a.c"}) == ["a.b", "a.c", "a.b"]
