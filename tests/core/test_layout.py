"""The package's shape: no import cycles, one error base, settings read in one place."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "gee_landslide"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != mod and not mod.startswith(t + "."):
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    """Lazy (function-level) imports count too: the store <-> feeds circle was one of those."""
    graph = _import_graph()
    # a package's __init__ re-exporting its own modules is not a cycle of the design
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_imports_nothing_above_it() -> None:
    upper = ("gee_landslide.sources", "gee_landslide.train", "gee_landslide.monitor", "gee_landslide.ops",
             "gee_landslide.cli", "gee_landslide.simulate", "gee_landslide.earthengine")
    for mod, targets in _import_graph().items():
        if mod.startswith("gee_landslide.core"):
            assert not [t for t in targets if t.startswith(upper)], mod


def test_environment_is_read_only_in_settings() -> None:
    readers = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[", text) and path.name != "settings.py":
            readers.append(str(path.relative_to(PKG)))
    assert readers == []


@pytest.mark.parametrize(
    "qualname",
    [
        "gee_landslide.earthengine.init:AuthError",
        "gee_landslide.earthengine.export:ExportError",
        "gee_landslide.earthengine.export:EmptyCollectionError",
        "gee_landslide.earthengine.landcover:LandcoverPointsError",
        "gee_landslide.earthengine.assets:AssetError",
        "gee_landslide.train.ensemble:EnsembleError",
        "gee_landslide.train.ensemble:TamperedWeightsError",
        "gee_landslide.train.data:MissingStacksError",
        "gee_landslide.train.trainer:RunClaimedError",
        "gee_landslide.train.profile:ProfileError",
        "gee_landslide.monitor.runner:MonitoringError",
        "gee_landslide.core.stackio:StackCheckError",
        "gee_landslide.core.catalog:CatalogError",
        "gee_landslide.core.labels:InventoryError",
        "gee_landslide.core.settings:SettingsError",
        "gee_landslide.sources:UnknownSourceError",
    ],
)
def test_every_project_error_has_one_base(qualname: str) -> None:
    from gee_landslide.core.errors import GeeLandslideError

    module, name = qualname.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, GeeLandslideError)


def test_errors_keep_their_builtin_bases() -> None:
    from gee_landslide.core.catalog import CatalogError
    from gee_landslide.earthengine.init import AuthError
    from gee_landslide.train.data import MissingStacksError

    assert issubclass(CatalogError, ValueError) and issubclass(AuthError, RuntimeError)
    assert issubclass(MissingStacksError, FileNotFoundError)


def test_settings_read_the_prefixed_environment(monkeypatch, tmp_path) -> None:
    from gee_landslide.core.errors import GeeLandslideError
    from gee_landslide.core.paths import project_paths
    from gee_landslide.core.settings import get_settings

    monkeypatch.setenv("GEE_LANDSLIDE_ROOT", str(tmp_path))
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "7")
    monkeypatch.setenv("EE_PROJECT_ID", "p-from-env")
    monkeypatch.delenv("EARTHENGINE_PROJECT", raising=False)
    s = get_settings()
    assert s.ee_workers == 7 and s.earthengine_project == "p-from-env"
    assert s.earthengine_project_source == "$EE_PROJECT_ID"
    assert project_paths().root == tmp_path.resolve()
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "many")
    with pytest.raises(GeeLandslideError) as info:
        get_settings()
    assert info.value.field == "GEE_LANDSLIDE_EE_WORKERS" and info.value.value == "many"
