"""Stack files: round trip, every contract check, atomic writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from gee_landslide.core.bands import BAND_NAMES, SETTINGS
from gee_landslide.core.grid import Grid, grid_around, grid_for_bbox, utm_epsg
from gee_landslide.core.stackio import (
    StackCheckError,
    is_complete,
    open_stack_dataarray,
    read_stack,
    write_geotiff,
    write_stack,
)

GRID = grid_around(61.48, 6.10, 2000.0)


def _data(grid: Grid = GRID) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(15, *grid.shape)).astype(np.float32)
    data[0, :5, :5] = np.nan
    return data


def _labels(grid: Grid = GRID) -> np.ndarray:
    labels = np.zeros(grid.shape, np.uint8)
    labels[50:60, 70:90] = 1
    return labels


def test_grid_rules() -> None:
    assert utm_epsg(61.48, 6.10) == 32632 and utm_epsg(-38.4, 178.1) == 32760
    assert GRID.shape == (200, 200) and GRID.resolution == 10.0
    assert GRID.x_min % 10 == 0 and GRID.y_max % 10 == 0  # snapped to the 10 m lattice
    lon, lat = GRID.centre_lonlat()
    assert lat == pytest.approx(61.48, abs=1e-3) and lon == pytest.approx(6.10, abs=1e-3)
    region = grid_for_bbox(6.055, 61.458, 6.145, 61.502)
    assert 20 < region.area_km2 < 30
    tiles = list(region.tiles(256))
    assert sum(t.width * t.height for _, _, t in tiles) == region.width * region.height
    assert Grid.from_dict(GRID.to_dict()) == GRID


def test_round_trip(tmp_path: Path) -> None:
    data, labels = _data(), _labels()
    write_stack(tmp_path, data, GRID, labels, {"source": "test", "event_id": "x"})
    assert is_complete(tmp_path)
    stack = read_stack(tmp_path)
    assert stack.band_names == BAND_NAMES
    np.testing.assert_array_equal(stack.data, data)
    np.testing.assert_array_equal(stack.labels, labels)
    assert stack.grid.same_as(GRID) and stack.meta["source"] == "test"
    sub = read_stack(tmp_path, SETTINGS["s2"])
    np.testing.assert_array_equal(sub.data, data[[13, 14]])
    win = read_stack(tmp_path, ("dNDVI",), window=(40, 60, 30, 50))
    np.testing.assert_array_equal(win.data[0], data[14, 40:70, 60:110])
    assert win.labels.shape == (30, 50) and win.grid.x_min == GRID.x_min + 600
    with rasterio.open(tmp_path / "stack.tif") as ds:
        assert math.isnan(ds.nodata) and ds.dtypes[0] == "float32"
    da = open_stack_dataarray(tmp_path)
    assert list(da.band.values) == list(BAND_NAMES) and da.rio.crs.to_epsg() == 32632


def _rewrite(tmp_path: Path, **overrides) -> None:
    """Rewrite stack.tif breaking one rule, keeping the rest valid."""
    data = overrides.pop("data", _data())
    names = overrides.pop("names", BAND_NAMES)
    with rasterio.open(tmp_path / "stack.tif") as ds:
        profile = ds.profile
    profile.update(count=data.shape[0], **overrides)
    with rasterio.open(tmp_path / "stack.tif", "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]))
        for i, n in enumerate(names[: data.shape[0]]):
            dst.set_band_description(i + 1, n)


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        ({"data": _data()[:14]}, "band_count"),
        ({"names": ("postVV", "preVV", *BAND_NAMES[2:])}, "band_names"),
        ({"dtype": "float64"}, "dtype"),
        ({"nodata": -9999.0}, "nodata"),
        ({"crs": "EPSG:3035"}, "crs"),
        ({"transform": Affine(20.0, 0, GRID.x_min, 0, -20.0, GRID.y_max)}, "resolution"),
        ({"transform": Affine(10.0, 0, GRID.x_min + 10, 0, -10.0, GRID.y_max)}, "meta_grid"),
    ],
)
def test_each_broken_rule_names_its_check(tmp_path: Path, breakage: dict, check: str) -> None:
    write_stack(tmp_path, _data(), GRID, _labels(), {"source": "test"})
    _rewrite(tmp_path, **breakage)
    with pytest.raises(StackCheckError) as info:
        read_stack(tmp_path)
    assert info.value.check == check
    assert f"'{check}'" in str(info.value) and "stack.tif" in str(info.value)


def test_label_checks(tmp_path: Path) -> None:
    write_stack(tmp_path, _data(), GRID, _labels(), {"source": "test"})
    shifted = Grid(GRID.crs, GRID.x_min + 10, GRID.y_max, GRID.width, GRID.height)
    write_geotiff(tmp_path / "labels.tif", _labels(), shifted, ("landslide",), None)
    with pytest.raises(StackCheckError, match="label_alignment"):
        read_stack(tmp_path)
    write_geotiff(tmp_path / "labels.tif", _labels() * 2, GRID, ("landslide",), None)
    with pytest.raises(StackCheckError, match="label_values"):
        read_stack(tmp_path)


def test_incomplete_stack_is_reported(tmp_path: Path) -> None:
    write_stack(tmp_path, _data(), GRID, _labels(), {"source": "test"})
    (tmp_path / "meta.json").unlink()
    assert not is_complete(tmp_path)
    with pytest.raises(StackCheckError, match="complete"):
        read_stack(tmp_path)


def test_failed_write_keeps_the_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_stack(tmp_path, _data(), GRID, _labels(), {"source": "old"})
    before = (tmp_path / "stack.tif").read_bytes()

    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "write", boom)
    with pytest.raises(OSError, match="disk full"):
        write_stack(tmp_path, _data() + 1, GRID, _labels(), {"source": "new"})
    assert (tmp_path / "stack.tif").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif", "stack.tif"]  # no temp files left
    assert not is_complete(tmp_path)  # meta.json removed first: the half-done rebuild is visible
    monkeypatch.undo()
    write_stack(tmp_path, _data(), GRID, _labels(), {"source": "again"})
    assert json.loads((tmp_path / "meta.json").read_text())["source"] == "again"


def test_atomic_writes_get_normal_permissions(tmp_path: Path) -> None:
    import os

    from gee_landslide.core.atomic import write_text_atomic

    write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_killed_atomic_write_leaves_a_temp_the_next_run_removes(tmp_path) -> None:
    """SIGKILL mid-write cannot clean up; the temp names its writer's pid, so the next run can."""
    import subprocess
    import sys
    import time

    from gee_landslide.core.atomic import STALE_AFTER_S, remove_stale_temps

    target = tmp_path / "stack.tif"
    code = ("import os, signal, sys\nfrom gee_landslide.core.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'half a GeoTIFF')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert proc.returncode == -9
    (temp,) = list(tmp_path.iterdir())
    assert temp.name.startswith(".stack.tif.") and ".tmp" in temp.name and not target.exists()
    assert remove_stale_temps(tmp_path) == []  # seconds old: its writer might still be renaming it
    assert remove_stale_temps(tmp_path, now=time.time() + STALE_AFTER_S + 5) == [temp]
    assert list(tmp_path.iterdir()) == []
