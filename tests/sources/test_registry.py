"""Stack sources are registered plugins: built-ins by name, new ones by one registration."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gee_landslide import sources
from gee_landslide.sources import StackSource, UnknownSourceError, get_source, register_source


def test_builtin_sources_satisfy_the_protocol():
    for name, truth in (("simulated", True), ("gee", False)):
        src = get_source(name)
        assert isinstance(src, StackSource) and src.name == name and src.has_truth is truth
        assert src.version
    assert sources.source_names()[:2] == ("simulated", "gee")


def test_unknown_source_names_the_choices():
    with pytest.raises(UnknownSourceError) as info:
        get_source("landsat")
    assert "landsat" in str(info.value) and "simulated" in str(info.value) and info.value.field == "source"
    with pytest.raises(ValueError):
        sources.resolve_source("landsat")


class ConstantSource:
    name = "constant"
    has_truth = False
    version = "0"

    def build_event_stack(self, event, defaults, out_dir: Path, *, force=False, progress=None) -> Path:
        from gee_landslide.core.grid import grid_around
        from gee_landslide.core.stackio import write_stack

        grid = grid_around(event.lat, event.lon, 200.0)
        return write_stack(out_dir, np.ones((15, *grid.shape), np.float32), grid, None, {"source": self.name})

    def fetch_region_tile(self, region_id, region, pre, post, grid, *, defaults, cache_dir):
        return np.ones((15, *grid.shape), np.float32), None


def test_a_new_source_is_one_registration(tmp_path, catalog_path, monkeypatch):
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.paths import project_paths
    from gee_landslide.core.stackio import read_stack
    from gee_landslide.sources.build import build_one_stack

    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    register_source(ConstantSource())
    assert "constant" in sources.source_names() and sources.resolve_source("constant") == "constant"
    cat = load_catalog(catalog_path)
    result = build_one_stack(cat.event("norway-5"), cat, project_paths(tmp_path), "constant")
    assert result.status == "built" and read_stack(result.path).meta["source"] == "constant"
    with pytest.raises(TypeError):
        register_source(object())  # type: ignore[arg-type]


def test_simulated_source_says_it_ignores_an_inventory(tmp_path, catalog_path, caplog, monkeypatch):
    from gee_landslide.core.catalog import load_catalog

    cat = load_catalog(catalog_path)
    ev = cat.event("norway-5").model_copy(update={"labels": "inventory.gpkg"})
    src = get_source("simulated")
    said: list[str] = []
    monkeypatch.setattr("gee_landslide.simulate.build_event_stack", lambda *a, **k: tmp_path)
    with caplog.at_level(logging.WARNING, logger="gee_landslide"):
        src.build_event_stack(ev, cat.defaults, tmp_path, progress=said.append)
    assert any("ignores the label inventory inventory.gpkg" in m for m in said)
    assert "ignores the label inventory" in caplog.text
