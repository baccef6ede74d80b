"""The package's import structure: no cycle, no stage reaching into another, no import hiding in a function.

The stages (DESIGN.md) are the packages and modules below; the ground floor (schema, config,
minhash, embedder, engine, readers, ...) imports no stage; only ``pipeline`` and ``cli`` put
stages together. Imports are read from the source (``ast``), so the test sees what a reader sees.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import hf_ftbuilder

PACKAGE = Path(hf_ftbuilder.__file__).parent
STAGES = ("collect", "extract", "clean", "dedup", "label", "split", "quality", "write", "push")
ORCHESTRATORS = ("hf_ftbuilder", "hf_ftbuilder.pipeline", "hf_ftbuilder.cli", "hf_ftbuilder.__main__")


def _modules() -> dict[str, Path]:
    out = {"hf_ftbuilder": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="hf_ftbuilder."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None
        out[info.name] = Path(spec.origin)
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The project modules an ``from ... import ...`` names (a name that is a submodule counts as it)."""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if not base.startswith("hf_ftbuilder"):
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports(module: str) -> tuple[set[str], list[str]]:
    """The project modules ``module`` imports at its top level, and those it imports inside a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top: set[str] = set()
    hidden: list[str] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True, type_checking)
            elif isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                visit(child, in_function, True)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom):
                    names = _resolve(module, child)
                else:
                    names = [a.name for a in child.names if a.name.startswith("hf_ftbuilder")]
                if in_function:
                    hidden.extend(f"{module}:{child.lineno} imports {n}" for n in names)
                elif not type_checking:
                    top.update(n for n in names if n != module)
            else:
                visit(child, in_function, type_checking)

    visit(tree, False, False)
    return top, hidden


GRAPH = {module: _imports(module) for module in MODULES}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_no_project_module_is_imported_inside_a_function() -> None:
    assert [line for _, hidden in GRAPH.values() for line in hidden] == []


def test_no_stage_imports_another_stage_and_the_ground_floor_imports_none() -> None:
    wrong = []
    for module, (imports, _) in GRAPH.items():
        if module in ORCHESTRATORS:
            continue
        mine = _stage(module)
        for imported in imports:
            theirs = _stage(imported)
            if theirs is not None and theirs != mine:
                wrong.append(f"{module} -> {imported}")
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    # A package imports its own submodules; a submodule importing its package back is a cycle.
    state: dict[str, int] = {}
    cycles = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(GRAPH[module][0]):
            if state.get(imported) == 1:
                cycles.append(" -> ".join(path[path.index(imported):] + [imported]))
            elif imported not in state:
                walk(imported, [*path, imported])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            walk(module, [module])
    assert cycles == []
