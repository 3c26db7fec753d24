"""The package's import graph: no cycles, and every public name importable where it was.

The graph is read from the sources (``ast``), so a cycle is caught even when Python's import order
happens to hide it: module-level imports must form no cycle at all, and imports deferred into
functions none beyond the few listed in ``DEFERRED``, each with its reason.
"""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

import panning

ROOT = pathlib.Path(panning.__file__).parent

# Deferred imports that close a cycle on purpose (module, imported module): why.
DEFERRED = {
    ("panning.knn", "panning.hnsw"): "knn_graph(exact=False) builds an HNSW index, "
    "while the HNSW build takes its exact candidates from panning.knn",
    ("panning.neighbors", "panning"): "SEALS calls panning.knn_graph through the package, "
    "where tests replace it",
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, *, deferred: bool) -> set[str]:
    """The panning modules ``name`` imports (at module level, or anywhere with ``deferred``),
    leaving out imports under ``if TYPE_CHECKING``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and (top or deferred):
                base = package
                for _ in range(child.level - 1):
                    base = base.rsplit(".", 1)[0]
                if child.level:
                    module = f"{base}.{child.module}" if child.module else base
                else:
                    module = child.module or ""
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    if sub in MODULES:
                        found.add(sub)
                    elif child.module is not None:
                        found.add(module)
            elif isinstance(child, ast.Import) and (top or deferred):
                found.update(alias.name for alias in child.names)
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, top and not inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return {m for m in found if m in MODULES and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state and (found := walk(w)):
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := walk(v)):
            return found
    return None


def test_no_module_level_import_cycle() -> None:
    graph = {m: _imports(m, deferred=False) for m in MODULES}
    assert _cycle(graph) is None


def test_no_import_cycle_beyond_the_listed_deferred_imports() -> None:
    graph = {m: _imports(m, deferred=True) - {w for v, w in DEFERRED if v == m} for m in MODULES}
    assert _cycle(graph) is None
    for v, w in DEFERRED:  # each listed import still exists (else drop it from the list)
        assert w in _imports(v, deferred=True), (v, w)


def test_the_nearest_neighbour_modules_import_in_layers() -> None:
    # _device <- knn <- hnsw_build <- hnsw: each layer imports only those below it
    order = ["panning._device", "panning._native_index", "panning.knn", "panning.hnsw_build"]
    order += ["panning.hnsw"]
    for i, name in enumerate(order):
        above = set(order[i + 1 :])
        assert not (_imports(name, deferred=False) & above), name


# Every name these modules offered before the nearest-neighbour split, and its new home.
MOVED = {
    "panning.index": {
        "FlatIndex": "panning.knn",
        "knn_graph": "panning.knn",
        "HNSWIndex": "panning.hnsw",
        "DEFAULT_EF": "panning.hnsw",
        "Storage": "panning.hnsw",
        "Metric": "panning._native_index",
    },
    "panning.graph_build": {
        "beam_search": "panning.hnsw",
        "GpuGraph": "panning.hnsw",
        "build_levels": "panning.hnsw_build",
        "gpu_knn_graph": "panning.knn",
        "unit_rows": "panning.knn",
        "NONE": "panning.knn",
    },
    "panning._arrays": {
        "is_torch": "panning._device",
        "is_cupy": "panning._device",
        "on_cuda": "panning._device",
        "device_ptr": "panning._device",
    },
    "panning": {
        "FlatIndex": "panning.knn",
        "knn_graph": "panning.knn",
        "HNSWIndex": "panning.hnsw",
    },
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_public_names_stay_importable_where_they_were(old: str) -> None:
    module = importlib.import_module(old)
    for name, home in MOVED[old].items():
        new = importlib.import_module(home)
        new_name = "pointer" if name == "device_ptr" else name
        assert getattr(module, name) is getattr(new, new_name), (old, name)
    if hasattr(module, "__all__"):
        for name in module.__all__:
            assert hasattr(module, name), (old, name)
