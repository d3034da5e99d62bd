"""The CLI guides: --version, JSON for scripts, tables within 80 columns, correct hints,
one error handler, labels that are never overwritten by accident, events sized to inventories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gee_landslide import __version__
from gee_landslide.cli import app
from gee_landslide.core.catalog import load_catalog

INVENTORY = Path(__file__).resolve().parents[3] / "shared/data/inventories/colombia_mesetas_2019.gpkg"
runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"gee-landslide {__version__}"


def test_every_group_help_has_examples() -> None:
    for group in ("events", "stacks", "labels", "auth", "ensemble", "monitor", "feed", "orchestrate"):
        res = runner.invoke(app, [group, "--help"], env={"COLUMNS": "120"})
        assert res.exit_code == 0 and "Examples" in res.output and "gee-landslide" in res.output, group


def test_auth_check_offline_json_without_credentials(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    for var in ("EARTHENGINE_PROJECT", "EE_PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "EARTHENGINE_SERVICE_ACCOUNT_KEY",
                "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    res = runner.invoke(app, ["auth", "check", "--offline", "--json"])
    assert res.exit_code == 2
    out = json.loads(res.stdout)
    assert out["ok"] is False and out["kind"] == "none" and "earthengine authenticate" in out["error"]


def test_events_list_fits_80_columns_and_json_has_everything(catalog_path) -> None:
    res = runner.invoke(app, ["events", "list", "--catalog", str(catalog_path)], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert max(len(line) for line in res.output.splitlines()) <= 80
    cat = load_catalog(catalog_path)
    flat = res.output.replace("│", "").replace(" ", "").replace("\n", "")
    assert all(e.id.replace("-", "") in flat.replace("-", "") for e in cat.events)  # wrapped, never cut
    assert all(e.date.isoformat() in res.output for e in cat.events)
    assert "--wide" in res.output  # says which columns it hid and how to see them
    data = json.loads(runner.invoke(app, ["events", "list", "--json", "--catalog", str(catalog_path)]).stdout)
    assert [e["id"] for e in data] == cat.ids and "rainfall_mm_yr" in data[0]
    wide = runner.invoke(app, ["events", "list", "--wide", "--catalog", str(catalog_path)], env={"COLUMNS": "80"})
    assert "rain mm/yr" in wide.output


def test_one_handler_prints_field_and_value_and_exits_2(catalog_path) -> None:
    res = runner.invoke(app, ["stacks", "build", "--event", "nope", "--catalog", str(catalog_path)])
    assert res.exit_code == 2 and "no event 'nope'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["stacks", "build", "--source", "sentinel-9", "--catalog", str(catalog_path)])
    assert res.exit_code == 2 and "sentinel-9" in res.output and "simulated" in res.output


def test_missing_ensemble_hint_is_a_correct_command(tmp_path, catalog_path) -> None:
    from gee_landslide.monitor.pass_context import ensemble_build_hint

    assert "ensemble build --setting s2`" in ensemble_build_hint("s2")
    assert "train --profile laptop --setting s2`" in ensemble_build_hint("s2")
    assert "train --profile laptop --setting s1`" in ensemble_build_hint("s1")  # laptop's extra S1 grid
    assert "train --profile paper --setting all`" in ensemble_build_hint("all")
    assert "--name s2" not in ensemble_build_hint("s2")
    custom = ensemble_build_hint("norway-k10")
    assert "--setting SETTING --name norway-k10" in custom and "s1s2" in custom and "--profile paper" in custom
    shutil.copy(catalog_path, tmp_path / "case_studies.yaml")
    res = runner.invoke(app, ["monitor", "run", "--region", "norway", "--date", "2025-08-01", "--source",
                              "simulated", "--root", str(tmp_path)], env={"COLUMNS": "200"})
    region = load_catalog(tmp_path / "case_studies.yaml").region("norway")
    name = region.ensembles.optical if region.ensembles else region.ensemble  # SAR-first loads the optical role first
    assert res.exit_code == 2 and f"no ensemble '{name}'" in res.output
    assert "try: " in res.output and "ensemble build --setting" in res.output


@pytest.fixture
def stack_dir(tmp_path):
    import geopandas as gpd

    from gee_landslide.core.grid import grid_around
    from gee_landslide.core.stackio import write_stack

    c = gpd.read_file(INVENTORY).to_crs("EPSG:4326").geometry.iloc[0].centroid
    grid = grid_around(c.y, c.x, 2000.0)
    labels = np.zeros(grid.shape, np.uint8)
    labels[5:9, 5:9] = 1
    write_stack(tmp_path / "ev", np.zeros((15, *grid.shape), np.float32), grid, labels, {"source": "test"})
    return tmp_path / "ev"


def test_rasterize_never_overwrites_labels_without_force(stack_dir) -> None:
    before = (stack_dir / "labels.tif").read_bytes()
    res = runner.invoke(app, ["labels", "rasterize", str(INVENTORY), "--like", str(stack_dir)])
    assert res.exit_code == 2 and "--force" in res.output
    assert (stack_dir / "labels.tif").read_bytes() == before
    res = runner.invoke(app, ["labels", "rasterize", str(INVENTORY), "--like", str(stack_dir), "--force"])
    assert res.exit_code == 0, res.output
    assert (stack_dir / "labels.tif").read_bytes() != before


def test_rasterize_refuses_an_empty_burn(tmp_path) -> None:
    from gee_landslide.core.grid import grid_around
    from gee_landslide.core.stackio import write_stack

    grid = grid_around(61.48, 6.1, 500.0)  # Norway: nowhere near the Colombian inventory
    write_stack(tmp_path / "far", np.zeros((15, *grid.shape), np.float32), grid, None, {"source": "test"})
    res = runner.invoke(app, ["labels", "rasterize", str(INVENTORY), "--like", str(tmp_path / "far"), "--force"])
    assert res.exit_code == 2 and "nothing was written" in res.output
    assert not (tmp_path / "far" / "labels.tif").exists()


def test_events_add_sizes_the_area_to_the_inventory(tmp_path, catalog_path) -> None:
    import geopandas as gpd

    path = tmp_path / "case_studies.yaml"
    shutil.copy(catalog_path, path)
    res = runner.invoke(app, ["events", "add", "--catalog", str(path), "--id", "colombia-mesetas",
                              "--name", "Mesetas", "--country", "Colombia", "--date", "2019-12-24",
                              "--trigger", "E", "--labels", str(INVENTORY)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "ignores this inventory" in " ".join(res.output.split())  # Rich wraps at its console's width
    cat = load_catalog(path)
    ev = cat.event("colombia-mesetas")
    assert ev.aoi_size_m is not None and ev.aoi_m(cat.defaults) > cat.defaults.aoi_size_m
    for v in (ev.lat, ev.lon):
        assert round(v, 5) == v
    # the event's square area holds every polygon of the inventory
    from gee_landslide.core.grid import grid_around

    grid = grid_around(ev.lat, ev.lon, ev.aoi_m(cat.defaults))
    x0, y0, x1, y1 = gpd.read_file(INVENTORY).to_crs(grid.crs).total_bounds
    gx0, gy0, gx1, gy1 = grid.bounds
    assert gx0 <= x0 and gy0 <= y0 and x1 <= gx1 and y1 <= gy1
    text = path.read_text()
    assert "aoi_size_m:" in text and f"lat: {ev.lat}" in text
