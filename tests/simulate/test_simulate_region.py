"""Region monitoring scenes: tile consistency and the onset logic of simulated landslides."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from gee_landslide.core.catalog import load_catalog
from gee_landslide.simulate import simulate_region, simulate_region_tile
from gee_landslide.simulate.scene import region_params, region_slides_near


@pytest.fixture(scope="module")
def region():
    cat = load_catalog(Path(__file__).resolve().parents[2] / "case_studies.yaml")
    return cat.region("norway")


@pytest.fixture(scope="module")
def first_date(region):
    return sorted(region.simulation.landslide_dates)[0]


@pytest.fixture(scope="module")
def sub_grid(region, first_date):
    """A 160 x 240 px window of the region around its first simulated landslide."""
    _, full = region_params("norway", region)
    slides = [s for s in region_slides_near("norway", region, full) if s.onset == first_date]
    assert slides, "the region simulation placed no landslide"
    x, y = slides[0].source_xy
    row = int(np.clip((full.y_max - y) // 10 - 60, 0, full.height - 160))
    col = int(np.clip((x - full.x_min) // 10 - 100, 0, full.width - 240))
    return full.window(row, col, 160, 240)


def test_adjacent_tiles_mosaic_to_the_union(region, first_date, sub_grid):
    pre, post = region.windows(first_date + dt.timedelta(days=10))
    union = simulate_region_tile("norway", region, pre, post, sub_grid)
    left = simulate_region_tile("norway", region, pre, post, sub_grid.window(0, 0, 160, 117))
    right = simulate_region_tile("norway", region, pre, post, sub_grid.window(0, 117, 160, 123))
    top = simulate_region_tile("norway", region, pre, post, sub_grid.window(0, 0, 71, 240))
    bottom = simulate_region_tile("norway", region, pre, post, sub_grid.window(71, 0, 89, 240))
    assert union.labels.sum() > 20
    for a, b, axis in ((left, right, 2), (top, bottom, 1)):
        mosaic = np.concatenate([a.data, b.data], axis=axis)
        np.testing.assert_allclose(mosaic, union.data, rtol=0, atol=1e-5, equal_nan=True)
        assert np.array_equal(np.concatenate([a.labels, b.labels], axis=axis - 1), union.labels)
    ids = {r["id"] for r in left.inventory} | {r["id"] for r in right.inventory}
    assert ids == {r["id"] for r in union.inventory}


def test_onset_logic(region, first_date, sub_grid):
    """Whole-window composites (``acquisitions: false``); the dated ones: tests/simulate/test_acquisitions.py."""
    region = region.model_copy(update={"simulation": region.simulation.model_copy(update={"acquisitions": False})})
    after = simulate_region("norway", region, first_date + dt.timedelta(days=10), sub_grid)
    later = simulate_region("norway", region, first_date + dt.timedelta(days=150), sub_grid)
    before = simulate_region("norway", region, first_date - dt.timedelta(days=5), sub_grid)
    scar = after.labels == 1
    assert scar.sum() > 20 and after.inventory
    assert all(r["onset"] == first_date for r in after.inventory)
    # after the pre window: a change, labelled
    assert after.data[14][scar].mean() < -0.15
    # long before the run: an old scar, in both composites, so no change and no label
    assert later.labels[scar].sum() == 0
    assert abs(later.data[14][scar].mean()) < 0.06
    assert later.meta["old_landslides"] >= 1
    # before the onset: nothing there yet
    assert before.labels.sum() == 0
    assert abs(before.data[14][scar].mean()) < 0.06
    # the static layers do not depend on the run date
    for b in (9, 10, 11):
        assert np.array_equal(after.data[b], before.data[b])


def test_region_scene_defaults_to_the_bbox_grid(region, first_date):
    sc = simulate_region("norway", region, first_date + dt.timedelta(days=10))
    assert sc.data.shape[0] == 15 and sc.grid.width > 400 and sc.grid.height > 400
    assert sc.meta["region_id"] == "norway" and sc.meta["new_landslides"] >= 8
    assert sc.labels.sum() > 200
