"""The region simulator's acquisition calendar: S1 repeat, S2 dates, clouds, dated composites."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pytest

from gee_landslide.core.catalog import Region, Window, load_catalog
from gee_landslide.simulate import simulate_region, simulate_region_tile
from gee_landslide.simulate.acquisitions import NORWAY_WEST_COAST, cloud_climatology
from gee_landslide.simulate.scene import (
    region_acquisitions,
    region_params,
    region_scar_ndvi_change,
    region_slides_near,
)
from gee_landslide.simulate.terrain_model import Lattice


@pytest.fixture(scope="module")
def region() -> Region:
    return load_catalog(Path(__file__).resolve().parents[2] / "case_studies.yaml").region("norway")


def _with(region: Region, **sim: object) -> Region:
    return region.model_copy(update={"simulation": region.simulation.model_copy(update=sim)})


@pytest.fixture(scope="module")
def sub_grid(region):
    """160 x 240 px around the first simulated landslide."""
    _, full = region_params("norway", region)
    first = sorted(region.simulation.landslide_dates)[0]
    slide = next(s for s in region_slides_near("norway", region, full) if s.onset == first)
    x, y = slide.source_xy
    row = int(np.clip((full.y_max - y) // 10 - 60, 0, full.height - 160))
    col = int(np.clip((x - full.x_min) // 10 - 100, 0, full.width - 240))
    return full.window(row, col, 160, 240)


def test_sentinel1_repeat_follows_the_constellation(region):
    cal = region_acquisitions("norway", region)
    assert cal is not None and 1 <= cal.relative_orbit <= 175 and cal.orbit_pass == "DESCENDING"

    def gaps(start: dt.date, days: int = 90) -> set[int]:
        ds = cal.s1_dates(Window(start=start, end=start + dt.timedelta(days=days)))
        return {(b - a).days for a, b in itertools.pairwise(ds)}

    assert gaps(dt.date(2019, 6, 1)) == {6}  # S1A + S1B
    assert gaps(dt.date(2023, 6, 1)) == {12}  # S1A alone after S1B failed
    assert gaps(dt.date(2025, 7, 1)) == {6}  # S1A + S1C
    # one relative orbit: every date on the same 12-day lattice (or half-way for the second satellite)
    ds = cal.s1_dates(Window(start=dt.date(2019, 1, 1), end=dt.date(2024, 1, 1)))
    assert len({(d - ds[0]).days % 6 for d in ds}) == 1
    assert cal.s1_dates(Window(start=dt.date(2014, 4, 3), end=dt.date(2014, 10, 2))) == []  # before S1A
    s2 = cal.s2_dates(Window(start=dt.date(2025, 7, 1), end=dt.date(2025, 7, 31)))
    assert {(b - a).days for a, b in itertools.pairwise(s2)} == {5} and len(s2) in (6, 7)
    assert region_acquisitions("norway", region.model_copy(update={"relative_orbit": 37})).relative_orbit == 37


def test_cloud_fraction_follows_the_monthly_climatology(region):
    cal = region_acquisitions("norway", region)
    assert cal.cloud_frequency == NORWAY_WEST_COAST == cloud_climatology(61.5, 6.1)
    lat = Lattice.block(60_000, 690_000, 100, 100, 100.0)  # 10 km x 10 km at 100 m: cheap
    for month in (1, 6):
        dates = [d for y in range(2016, 2026)
                 for d in cal.s2_dates(Window(start=dt.date(y, month, 1), end=dt.date(y, month, 28)))]
        cloud = np.array([cal.masks(lat, d)[0].mean() for d in dates])
        clear = np.array([(~(m[0] | m[1])).mean() for m in (cal.masks(lat, d) for d in dates)])
        want = NORWAY_WEST_COAST[month - 1]
        assert len(dates) > 40
        assert abs(cloud.mean() - want) < 0.08, (month, cloud.mean(), want)
        assert np.all(clear <= 1 - cloud + 1e-9) and clear.mean() > 0.5 * (1 - want)
        # most dates overcast, a few (in summer) mostly clear: what makes optical monitoring wait
        assert (cloud > 0.8).mean() > 0.4
        if month == 6:
            assert (cloud < 0.5).mean() > 0.05


def test_same_tile_same_bits_and_tiles_mosaic(region, sub_grid):
    pre, post = region.windows(dt.date(2019, 8, 20))
    a = simulate_region_tile("norway", region, pre, post, sub_grid)
    b = simulate_region_tile("norway", region, pre, post, sub_grid)
    assert np.array_equal(a.data, b.data, equal_nan=True) and np.array_equal(a.labels, b.labels)
    left = simulate_region_tile("norway", region, pre, post, sub_grid.window(0, 0, 160, 101))
    right = simulate_region_tile("norway", region, pre, post, sub_grid.window(0, 101, 160, 139))
    np.testing.assert_allclose(np.concatenate([left.data, right.data], axis=2), a.data, rtol=0, atol=1e-5,
                               equal_nan=True)
    assert a.meta["calendar"]["s2"]["post"]["dates"] == 6


def test_fully_cloudy_window_has_no_dndvi_but_sar(region, sub_grid):
    overcast = _with(region, cloud_frequency=[1.0] * 12)
    sc = simulate_region("norway", overcast, dt.date(2019, 8, 20), sub_grid)
    assert np.isnan(sc.data[14]).all()
    assert np.isfinite(sc.data[2]).mean() > 0.5 and sc.labels.sum() > 20  # SAR still sees, truth unchanged
    clear = simulate_region("norway", _with(region, cloud_frequency=[0.0] * 12), dt.date(2019, 8, 20), sub_grid)
    assert np.isfinite(clear.data[14]).all()


def test_dated_composites_show_a_landslide_as_the_acquisitions_do(region, sub_grid):
    """Clear sky: SAR's median flips once most post dates follow the landslide; the greenest
    Sentinel-2 pixel hides the scar while a clear date before it is still in the post window."""
    clear = _with(region, cloud_frequency=[0.0] * 12)
    onset = sorted(region.simulation.landslide_dates)[0]
    scar = simulate_region("norway", clear, onset + dt.timedelta(days=5), sub_grid).labels == 1
    assert scar.sum() > 20

    def on_scar(days: int) -> tuple[float, float]:
        sc = simulate_region("norway", clear, onset + dt.timedelta(days=days), sub_grid)
        return float(np.nanmean(sc.data[14][scar])), float(np.nanmean(sc.data[5][scar]))

    ndvi_5, vh_5 = on_scar(5)
    ndvi_35, vh_35 = on_scar(35)
    assert abs(ndvi_5) < 0.05 and ndvi_35 < -0.2  # hidden by the greenest pixel, then visible
    assert vh_35 < vh_5 - 0.5  # VH drops once the post median is made of post-landslide dates
    # the whole-window simulator (events) is unchanged: the scar is in the whole post window at once
    legacy = simulate_region("norway", _with(region, acquisitions=False), onset + dt.timedelta(days=5), sub_grid)
    assert float(np.nanmean(legacy.data[14][scar])) < -0.15


def test_a_short_sentinel1_post_window(region, sub_grid):
    short = region.model_copy(update={"s1_post_days": 12})
    run = dt.date(2019, 8, 20)
    sc = simulate_region("norway", short, run, sub_grid)
    post = [dt.date.fromisoformat(d) for d in sc.meta["calendar"]["s1_dates"]["post"]]
    assert len(post) == 2 and all(run - dt.timedelta(days=11) <= d <= run for d in post)
    full = simulate_region("norway", region.model_copy(update={"s1_post_days": None}), run, sub_grid)
    np.testing.assert_array_equal(sc.data[14], full.data[14])  # the optical windows are unchanged
    np.testing.assert_array_equal(sc.data[0], full.data[0])  # and so is the SAR pre composite
    assert not np.array_equal(sc.data[1], full.data[1], equal_nan=True)


def test_a_short_sentinel2_post_window_shows_a_landslide_the_whole_window_hides(region, sub_grid):
    """Clear sky, 14 days after a landslide: the greenest pixel of the 30-day post window still keeps
    the clear dates before it (no change), that of the latest 12 days (``optical_post_days``) holds
    only later dates and shows the scar. Sentinel-1, the pre composite and the truth do not change."""
    region = region.model_copy(update={"optical_post_days": None})  # the whole window, as without the option
    clear = _with(region, cloud_frequency=[0.0] * 12)
    onset = sorted(region.simulation.landslide_dates)[0]
    run = onset + dt.timedelta(days=14)
    full = simulate_region("norway", clear, run, sub_grid)
    short = simulate_region("norway", clear.model_copy(update={"optical_post_days": 12}), run, sub_grid)
    scar = full.labels == 1
    assert scar.sum() > 20 and np.array_equal(short.labels, full.labels)
    hidden, shown = float(np.nanmean(full.data[14][scar])), float(np.nanmean(short.data[14][scar]))
    assert hidden > -0.05 and shown < -0.2 and shown < hidden - 0.25
    for b in range(14):  # every band but dNDVI is the same
        np.testing.assert_array_equal(short.data[b], full.data[b])
    # with the region's clouds: where the latest 12 days saw a pixel clear it takes their greenest
    # look, elsewhere the whole window's; no pixel loses its view
    from gee_landslide.simulate.scene import region_clear_look

    cloudy = region.model_copy(update={"optical_post_days": 12})
    day = dt.date(2025, 8, 1)
    a, b = simulate_region("norway", region, day, sub_grid), simulate_region("norway", cloudy, day, sub_grid)
    recent = region_clear_look("norway", region, cloudy.s2_post_window(region.windows(day)[1]), sub_grid)
    assert 0.05 < recent.mean() < 0.95
    np.testing.assert_array_equal(np.isfinite(a.data[14]), np.isfinite(b.data[14]))
    np.testing.assert_array_equal(a.data[14][~recent], b.data[14][~recent])
    assert not np.array_equal(a.data[14][recent], b.data[14][recent])
    assert clear.s2_post_window(clear.windows(run)[1]) == clear.windows(run)[1]  # unset: the whole window
    w = clear.model_copy(update={"optical_post_days": 12})
    assert w.s2_post_window(w.windows(run)[1]) == Window(start=run - dt.timedelta(days=11), end=run)


def test_a_scars_expected_ndvi_change_is_what_a_clear_sky_shows(region):
    """``region_scar_ndvi_change`` (what the time-to-alert benchmark counts as visible to Sentinel-2)
    agrees with the clear-sky composite slide by slide: strongly negative on vegetation, about zero
    on the bare-rock scars of the same date."""
    _, full = region_params("norway", region)
    onset = dt.date(2025, 7, 20)
    slides = [s for s in region_slides_near("norway", region, full) if s.onset == onset]
    expected = region_scar_ndvi_change("norway", region, full, slides)
    sc = simulate_region("norway", _with(region, cloud_frequency=[0.0] * 12), onset + dt.timedelta(days=35), full)
    lat = Lattice.of_grid(full)
    pairs = []
    for s, e in zip(slides, expected, strict=True):
        m = np.zeros(full.shape, bool)
        if s.paste(lat, m):
            pairs.append((e, float(np.nanmedian(sc.data[14][m]))))
        else:
            assert np.isnan(e)
    exp, seen = np.array(pairs).T
    assert (exp < -0.3).sum() >= 3 and (exp > -0.05).sum() >= 1  # both kinds are on this date
    np.testing.assert_allclose(seen, exp, atol=0.08)
