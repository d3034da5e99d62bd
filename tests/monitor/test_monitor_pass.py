"""A monitoring pass end to end on simulated scenes: outputs, idempotence, crashes, bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers_project import copy_project
from typer.testing import CliRunner

from gee_landslide.cli import app
from gee_landslide.core.catalog import load_catalog
from gee_landslide.monitor import runner
from gee_landslide.monitor.pass_context import GateConfig, MonitoringError
from gee_landslide.monitor.runner import run_pass
from gee_landslide.monitor.tile_inputs import shows_change

RUN_DATE = dt.date(2025, 8, 1)  # the simulated Norway region has landslides injected on 2025-07-20
LOW_THRESHOLD = 0.05  # the test ensemble is barely trained: a low threshold guarantees detections


@pytest.fixture
def project(small_project, tmp_path):
    return copy_project(small_project, tmp_path / "p")


def _snapshot(alerts_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(alerts_dir)): p.read_bytes() for p in sorted(alerts_dir.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_pass_writes_rasters_alerts_and_feeds(project) -> None:
    cat = load_catalog(project.catalog)
    result = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    assert result.out_dir == project.monitor / "norway" / "2025-08-01"
    assert (result.pre.end < result.post.start) and result.post.end == RUN_DATE
    with rasterio.open(result.out_dir / "probability.tif") as ds:
        prob = ds.read(1)
        assert ds.crs.to_string() == "EPSG:32632" and ds.res == (10.0, 10.0)
    with rasterio.open(result.out_dir / "uncertainty.tif") as ds:
        spread = ds.read(1)
    assert prob.shape == spread.shape and np.nanmin(prob) >= 0 and np.nanmax(prob) <= 1
    assert np.nanmax(spread) > 0  # two different members disagree somewhere
    assert (result.out_dir / "quicklook.png").stat().st_size > 10_000
    assert result.tiles > 1 and result.new, "a low threshold must give at least one alert"
    feed = json.loads((project.alerts / "alerts.geojson").read_text())
    assert {f["id"] for f in feed["features"]} == set(result.new)
    summary = json.loads((result.out_dir / "pass.json").read_text())
    assert summary["alerts"]["new"] == result.new and summary["object_scores"]["truth_objects"] >= 1
    # the models' share of the pass's time, apart from fetching (here the simulator) and the rest
    assert summary["predict_seconds"] > 0 and summary["fetch_seconds"] > 0
    assert summary["predict_seconds"] + summary["fetch_seconds"] <= summary["seconds"]
    assert result.predict_seconds_per_km2 == pytest.approx(result.predict_seconds / result.area_km2)
    # the pass as one labelled Dataset, and the web map's offline basemap from its DEM band
    from gee_landslide.monitor.passes import open_pass

    ds = open_pass(result.out_dir)
    assert set(ds.data_vars) >= {"probability", "uncertainty", "agreement", "hillshade"}
    np.testing.assert_array_equal(ds["probability"].values, prob)
    assert ds.rio.crs.to_epsg() == 32632 and ds.attrs["pass"]["region"] == "norway"
    assert ds["hillshade"].values.std() > 0  # relief, not a flat grey
    entry = json.loads((project.alerts / "basemaps" / "norway.json").read_text())
    w, s_, e, n = entry["bounds"]
    assert w < e and s_ < n and entry["image"] == "basemaps/norway.png"
    assert (project.alerts / "basemaps" / "norway.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_pass_twice_changes_nothing(project) -> None:
    cat = load_catalog(project.catalog)
    first = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    before = _snapshot(project.alerts)
    second = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    assert second.new == [] and second.updated == [] and sorted(second.unchanged) == sorted(first.new)
    assert _snapshot(project.alerts) == before


def test_crash_half_way_leaves_store_and_feeds_as_they_were(project, monkeypatch) -> None:
    cat = load_catalog(project.catalog)
    run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    before = _snapshot(project.alerts)
    calls = {"n": 0}
    real = runner.process_tile

    def dies_on_third_tile(ctx, tile):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(ctx, tile)

    monkeypatch.setattr(runner, "process_tile", dies_on_third_tile)
    with pytest.raises(KeyboardInterrupt):
        run_pass(cat, project, "norway", RUN_DATE + dt.timedelta(days=12), "simulated", threshold=LOW_THRESHOLD)
    assert _snapshot(project.alerts) == before
    assert not (project.monitor / "norway" / "2025-08-13").exists()

    monkeypatch.setattr(runner, "process_tile", real)
    from gee_landslide.monitor.store import AlertStore

    def merge_dies(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(AlertStore, "merge", merge_dies)
    with pytest.raises(OSError):
        run_pass(cat, project, "norway", RUN_DATE + dt.timedelta(days=12), "simulated", threshold=LOW_THRESHOLD)
    assert _snapshot(project.alerts) == before


def test_change_gate_rules() -> None:
    from gee_landslide.core.bands import BAND_NAMES

    rng = np.random.default_rng(1)
    stack = np.zeros((15, 64, 64), np.float32)
    idx = {n: i for i, n in enumerate(BAND_NAMES)}
    stack[idx["slope"]] = 25.0
    stack[idx["CART_LC_classified"]] = 2
    stack[idx["dVV"]] = rng.normal(0, 1.5, (64, 64))  # speckle-like SAR noise only
    stack[idx["dNDVI"]] = rng.normal(0, 0.05, (64, 64))
    gate = GateConfig(enabled=True)
    assert not shows_change(stack, gate)
    stack[idx["dNDVI"], 20:30, 20:26] = -0.4  # a 10 x 6 px vegetation loss
    assert shows_change(stack, gate)
    stack[idx["CART_LC_classified"], 20:30, 20:26] = 6  # ... on water: not a landslide sign
    assert not shows_change(stack, gate)


def test_change_gate_in_a_pass(project) -> None:
    cat = load_catalog(project.catalog)
    ungated = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    # a gate too permissive to skip anything changes nothing
    loose = GateConfig(enabled=True, dndvi_drop=10.0, min_slope_deg=0.0)
    same = run_pass(cat, project, "norway", RUN_DATE, "simulated", gate=loose, threshold=LOW_THRESHOLD)
    assert same.gated_tiles == 0 and same.new == [] and sorted(same.unchanged) == sorted(ungated.new)
    # a gate that sees no change anywhere skips every tile, raises nothing, and counts what it missed
    blind = GateConfig(enabled=True, dndvi_drop=-10.0, sar_change_db=1e9)
    skipped = run_pass(cat, project, "norway", RUN_DATE, "simulated", gate=blind, threshold=LOW_THRESHOLD)
    assert skipped.gated_tiles == skipped.tiles and skipped.new == []
    assert skipped.gate_missed_objects == skipped.scores.truth_objects >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region_id": "atlantis"}, "no region 'atlantis'"),
        ({"run_date": dt.date(2014, 3, 1)}, "too early"),
        ({"ensemble": "missing"}, "ensemble build"),
        ({"source": "landsat"}, "unknown source"),
    ],
)
def test_bad_input_gives_clear_errors(project, kwargs, message) -> None:
    cat = load_catalog(project.catalog)
    args = {"region_id": "norway", "run_date": RUN_DATE, "source": "simulated", **kwargs}
    with pytest.raises(MonitoringError, match=message):
        run_pass(cat, project, args.pop("region_id"), **args)
    assert not project.alerts.exists() or not any(project.alerts.iterdir())


def test_cli_monitor_run(project) -> None:
    res = CliRunner().invoke(app, ["monitor", "run", "--region", "norway", "--date", "2025-08-01",
                                   "--source", "simulated", "--threshold", str(LOW_THRESHOLD),
                                   "--root", str(project.root)])
    assert res.exit_code == 0, res.output
    assert "new" in res.output and "object precision" in res.output
    flat = " ".join(res.output.split())
    assert "candidates with sensors S1+S2:" in flat and "Sentinel-2 had a clear view of" in flat
    assert "None" not in res.output and "tiles" in res.output  # the progress never says "0/None tiles"
    as_json = CliRunner().invoke(app, ["monitor", "run", "--region", "norway", "--date", "2025-08-01",
                                       "--source", "simulated", "--threshold", str(LOW_THRESHOLD),
                                       "--root", str(project.root), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["region"] == "norway"
    bad = CliRunner().invoke(app, ["monitor", "run", "--region", "nowhere", "--root", str(project.root)])
    assert bad.exit_code == 2 and "no region 'nowhere'" in bad.output


# ----------------------------------------------------------------------------- issue #12: bad input
def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_temps_of_a_killed_pass_or_stack_build_are_removed_by_the_next_run(project) -> None:
    import os
    import time

    from gee_landslide.core.atomic import remove_stale_temps
    from gee_landslide.sources.build import build_one_stack

    cat = load_catalog(project.catalog)
    pid, old = _dead_pid(), 1_000_000_000  # 2001: long stale
    region_dir = project.monitor / "norway"
    killed = [region_dir / f"2025-08-01.partial-{pid}", region_dir / f"2025-07-01.old-{pid}"]
    for d in killed:
        d.mkdir(parents=True)
        (d / "probability.tif").write_bytes(b"half")
        os.utime(d, (old, old))
    stack_dir = project.stack_dir("norway-5")
    temps = [stack_dir / f".stack.tif.{pid}-abcd1234.tmp.tif", stack_dir / ".meta.json.k2j4h5g6.tmp.json"]
    live = stack_dir / f".labels.tif.{os.getpid()}-zzzz9999.tmp.tif"  # this process: still writing
    fresh = stack_dir / f".labels.tif.{pid}-yyyy8888.tmp.tif"  # a dead writer, but seconds ago
    for t in [*temps, live, fresh]:
        t.write_bytes(b"half a GeoTIFF")
    for t in temps:
        os.utime(t, (1.7e9, 1.7e9))
    ten_minutes_ago = time.time() - 600  # over a minute, but its writer is alive
    os.utime(live, (ten_minutes_ago, ten_minutes_ago))
    mine = stack_dir / "notes.tmp"  # not a name the project's writers produce: never touched
    mine.write_text("keep")
    os.utime(mine, (old, old))

    assert build_one_stack(cat.event("norway-5"), cat, project, "simulated").status == "skipped"
    assert not any(t.exists() for t in temps) and live.exists() and fresh.exists() and mine.exists()
    run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    assert not any(d.exists() for d in killed)
    assert [p.name for p in region_dir.iterdir() if p.name != ".cache"] == ["2025-08-01"]
    assert remove_stale_temps(project.root / "nowhere") == []


def test_tampered_weights_before_or_during_a_pass_give_a_clear_error(project, monkeypatch) -> None:
    import os

    man_path = project.ensembles / "s1s2" / "manifest.json"
    member = json.loads(man_path.read_text())["members"][0]
    weights = (man_path.parent / member["weights"]).resolve()
    good = weights.read_bytes()
    args = ["monitor", "run", "--region", "norway", "--date", "2025-08-01", "--source", "simulated",
            "--root", str(project.root)]

    # before the pass: refused up front, nothing written
    weights.write_bytes(good[:-8] + b"tampered")
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 2 and "does not match the manifest" in res.output, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    assert not project.monitor.exists() or not list(project.monitor.rglob("*.tif"))
    weights.write_bytes(good)

    # during the pass: the file changes after the first tile, and the manifest is touched so the
    # cached ensemble is reloaded; the pass stops with the same clear error, leaving nothing
    real = runner.process_tile
    calls = {"n": 0}

    def tamper_after_first_tile(ctx, tile):
        calls["n"] += 1
        if calls["n"] == 2:
            weights.write_bytes(good[:-8] + b"tampered")
            st = man_path.stat()
            os.utime(man_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return real(ctx, tile)

    monkeypatch.setattr(runner, "process_tile", tamper_after_first_tile)
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert calls["n"] >= 2
    assert res.exit_code == 2 and "does not match the manifest" in res.output, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    region_dir = project.monitor / "norway"
    assert not region_dir.exists() or [p.name for p in region_dir.iterdir() if p.name != ".cache"] == []
    assert not project.alerts.exists() or not (project.alerts / "alerts.gpkg").exists()


def test_cli_notify_failure_never_prints_the_url_secret(project) -> None:
    res = CliRunner().invoke(app, ["monitor", "run", "--region", "norway", "--date", "2025-08-01", "--source",
                                   "simulated", "--threshold", str(LOW_THRESHOLD), "--notify-url",
                                   "http://127.0.0.1:9/services/T0/B0/SECRET", "--root", str(project.root)])
    assert res.exit_code == 0, res.output  # a notification failure never fails a pass
    assert "new" in res.output
    assert "SECRET" not in res.output and "/services/" not in res.output


def test_rerun_after_a_later_date_changes_nothing(project) -> None:
    """Issue #12: `monitor run --date 2025-09-10` after a complete first run must give 0 new / 0 updated."""
    cat = load_catalog(project.catalog)
    run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    later = dt.date(2025, 9, 10)
    first = run_pass(cat, project, "norway", later, "simulated", threshold=LOW_THRESHOLD)
    before = _snapshot(project.alerts)
    again = run_pass(cat, project, "norway", later, "simulated", threshold=LOW_THRESHOLD)
    assert (again.new, again.updated) == ([], [])
    assert sorted(again.unchanged) == sorted(first.new + first.updated + first.unchanged)
    assert _snapshot(project.alerts) == before
