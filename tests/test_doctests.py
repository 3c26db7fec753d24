"""Every docstring example of the package runs: ``doctest`` over each module of panning.

Modules are found by walking the package, so a new module's examples are covered without listing
it here. A module whose optional dependency is not installed (torch, Ray, the UI or integration
extras) is skipped with the missing package named; ``__main__`` modules are left out (importing
them runs a command).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import panning

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(panning.__path__, prefix="panning.")
    if not info.name.endswith("__main__")
)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
# Modules whose examples are part of their documentation: each must keep at least one (a module
# that loses them all would otherwise pass with nothing run).
WITH_EXAMPLES = {
    "panning",
    "panning.datasets",
    "panning.distributed.sharded_index",
    "panning.frontier",
    "panning.labeling",
    "panning.cli.seals",
    "panning.models",
    "panning.neighbors",
    "panning.scoring",
    "panning.seals",
    "panning.stopping",
    "panning.strategies",
}


def test_every_module_is_listed() -> None:
    assert {"panning.knn", "panning.hnsw", "panning.hnsw_build", "panning.scoring"} <= set(MODULES)
    assert WITH_EXAMPLES - {"panning"} <= set(MODULES)


@pytest.mark.parametrize("name", ["panning", *MODULES])
def test_docstring_examples(name: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and not e.name.startswith("panning"):
            pytest.skip(f"{name} needs {e.name}, which is not installed")
        raise
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"
