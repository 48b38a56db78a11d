"""The package layout as DESIGN.md draws it: `drn/` holds packages plus errors.py and config.py,
imports point down the layers only, and no two modules import each other (directly or round a
longer circle). Read from the source with `ast`, so lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

DRN = REPO / "drn"

# Lower rank = lower layer. A module may import its own package and any package of lower rank.
RANK = {
    "errors": 0, "ops": 1, "utils": 1,
    "model": 2, "data": 2, "metrics": 2,
    "config": 3,
    "engine": 4,
    "video": 5,
    "inference": 6,
    "serve": 7, "demo": 7,
    "cli": 8,
}
TOP_LEVEL_MODULES = {"__init__.py", "errors.py", "config.py", "_C.pyi"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def drn_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(DRN.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The drn modules `path` imports (for `from drn.x import y`, drn.x.y when it is a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("drn"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("drn"):
                continue
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {target for target in found if target in known and target != name}


def graph() -> dict[str, set[str]]:
    modules = drn_modules()
    return {name: imports_of(path, name, set(modules)) for name, path in modules.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_drn_top_level_holds_only_packages_errors_and_config():
    loose = sorted(p.name for p in DRN.iterdir() if p.is_file() and p.suffix in (".py", ".pyi")
                   and p.name not in TOP_LEVEL_MODULES)
    assert loose == []
    packages = sorted(p.name for p in DRN.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert set(packages) | {"errors", "config"} == set(RANK)


def test_imports_point_down_the_layers():
    upward = []
    for module, targets in graph().items():
        source = layer(module)
        if source is None:  # drn/__init__.py
            continue
        for target in targets:
            dest = layer(target)
            if dest is not None and dest != source and RANK[dest] >= RANK[source]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycles_between_modules():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in edges[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # a package's __init__ re-exporting its modules is not a circle of logic
            if len(component) > 1 and not _only_package_reexports(component, edges):
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    assert cycles == []


def _only_package_reexports(component: list[str], edges: dict[str, set[str]]) -> bool:
    """True when every edge inside the component that closes a circle goes from a module up to
    its own package's __init__ (e.g. drn.data.x importing `from drn.data import y`)."""
    members = set(component)
    inner = [(a, b) for a in component for b in edges[a] & members]
    downward = [(a, b) for a, b in inner if not a.startswith(b + ".")]
    return _acyclic(members, downward)


def _acyclic(nodes: set[str], pairs: list[tuple[str, str]]) -> bool:
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in pairs:
        children[a].append(b)
    state: dict[str, int] = {}

    def dfs(n: str) -> bool:
        state[n] = 1
        for c in children[n]:
            if state.get(c) == 1 or (c not in state and not dfs(c)):
                return False
        state[n] = 2
        return True

    return all(n in state or dfs(n) for n in nodes)


@pytest.mark.parametrize("pattern", ["DRN_STOP_AFTER_STEPS", "os._exit("])
def test_no_test_hooks_inside_the_library(pattern):
    hits = [f"{path.relative_to(REPO)}" for path in DRN.rglob("*.py") if pattern in path.read_text(encoding="utf-8")]
    assert hits == []


def test_tests_mirror_the_packages():
    packages = {p.name for p in DRN.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - folders == set()
