"""The layout docs/architecture.md promises: imports one way, no cycle, modules of one idea."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("router", "plugins", "policies")
MAX_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Every module of the three packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(tree: ast.Module, name: str, is_package: bool) -> Iterator[tuple[ast.AST, str]]:
    """Each import in *tree* (inside functions too) with the module it names, absolute."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield node, base
            for alias in node.names:
                yield node, f"{base}.{alias.name}"


def type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:``: imports for annotations only."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(sub) for sub in ast.walk(node)}
    return skip


@functools.cache
def graph() -> dict[str, set[str]]:
    """Which module imports which, among ours; a module's own packages do not count."""
    mods = modules()
    edges: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = type_checking_only(tree)
        for node, target in imported(tree, name, path.name == "__init__.py"):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if id(node) in skip or not target or target == name:
                continue
            if not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def says_why(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    """Whether *node* opens its body (after the docstring) with a comment."""
    body = node.body
    documented = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    first = body[1] if documented and len(body) > 1 else body[0]
    start = (body[0].end_lineno or body[0].lineno) if first is not body[0] else node.lineno
    return any(line.strip().startswith("#") for line in lines[start : first.lineno - 1])


def test_no_import_cycle_among_the_packages() -> None:
    edges = graph()
    cycles = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_no_module_getattr_and_no_mixins_on_the_router() -> None:
    found = []
    for name, path in modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                found.append(f"{name}: module __getattr__")
            if isinstance(node, ast.ClassDef) and node.name == "Router" and node.bases:
                found.append(f"{name}: Router has bases")
    assert found == []


def test_the_core_names_no_plugin_or_policy() -> None:
    edges = graph()
    found = [
        f"{name} imports {target}"
        for name, targets in edges.items()
        if name.startswith("router")
        for target in targets
        if target.partition(".")[0] in ("plugins", "policies")
    ]
    assert found == []


def test_modules_and_functions_stay_readable_in_one_sitting() -> None:
    found = []
    for name, path in modules().items():
        source = path.read_text()
        lines = source.splitlines()
        if len(lines) > MAX_LINES:
            found.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not says_why(node, lines):
                found.append(f"{name}.{node.name}: {length} lines and no comment saying why")
    assert found == []
