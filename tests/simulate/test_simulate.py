"""The embedded scene simulator: determinism, band contracts, physics and the stack writer."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rasterio import features
from shapely.geometry import box
from shapely.ops import unary_union

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.landcover import VOLUME_MODEL_CODES, WATER_CODE
from gee_landslide.core.stackio import is_complete, read_stack
from gee_landslide.earthengine.classes import KG_BY_NAME, kg_name
from gee_landslide.simulate import build_event_stack, simulate_event
from gee_landslide.simulate.climate import KOPPEN_CLASSES

SAR_BANDS = (0, 1, 2, 3, 4, 5)
PHI_I_DEG = 103.0  # sensor azimuth of a descending pass, heading -167 deg


@pytest.fixture(scope="module")
def catalog():
    from pathlib import Path

    return load_catalog(Path(__file__).resolve().parents[2] / "case_studies.yaml")


@pytest.fixture(scope="module")
def scenes(catalog):
    return {e.id: simulate_event(e, catalog.defaults) for e in catalog.events}


def _aspect_deg(z: np.ndarray, res: float = 10.0) -> np.ndarray:
    dzdrow, dzdcol = np.gradient(z.astype(np.float64), res)
    dzdx, dzdy_north = dzdcol, -dzdrow
    return np.degrees(np.arctan2(-dzdx, -dzdy_north)) % 360.0


def test_deterministic_in_id_and_seed(catalog):
    ev = catalog.event("norway-5")
    a = simulate_event(ev, catalog.defaults, seed=3)
    b = simulate_event(ev, catalog.defaults, seed=3)
    c = simulate_event(ev, catalog.defaults, seed=4)
    assert np.array_equal(a.data, b.data, equal_nan=True)
    assert np.array_equal(a.labels, b.labels)
    assert [r["id"] for r in a.inventory] == [r["id"] for r in b.inventory]
    assert not np.allclose(a.data[9], c.data[9])  # another seed, another DEM
    assert not np.array_equal(a.labels, c.labels)


def test_band_contract(scenes):
    for eid, sc in scenes.items():
        d = sc.data
        assert d.shape == (15, 200, 200) and d.dtype == np.float32, eid
        assert sc.labels.shape == (200, 200) and sc.labels.dtype == np.uint8
        masked = (d[6] == 1) | (d[7] == 1)
        assert set(np.unique(d[6])) <= {0.0, 1.0} and set(np.unique(d[7])) <= {0.0, 1.0}
        for b in SAR_BANDS:
            assert np.array_equal(np.isnan(d[b]), masked), (eid, b)
        assert np.isfinite(d[6:]).all(), eid
        assert np.allclose(d[2][~masked], (d[1] - d[0])[~masked], atol=1e-4)
        assert np.allclose(d[5][~masked], (d[4] - d[3])[~masked], atol=1e-4)
        assert len(np.unique(d[11])) == 1  # band 11: the shared class index (earthengine/classes.py)
        assert KG_BY_NAME[kg_name(int(d[11][0, 0]))].kottek in KOPPEN_CLASSES
        assert d[12].min() >= 0 and d[12].max() <= 60
        assert set(np.unique(d[13]).astype(int)) <= set(range(1, 10))
        assert np.all(np.abs(d[14]) <= 2)
        assert d[8].min() >= 0 and d[8].max() <= 180


def test_slope_matches_independent_finite_difference(scenes):
    sc = scenes["norway-5"]
    z = sc.data[9].astype(np.float64)
    dzdrow, dzdcol = np.gradient(z, 10.0)
    slope_fd = np.degrees(np.arctan(np.hypot(dzdrow, dzdcol)))
    inner = (slice(2, -2), slice(2, -2))
    diff = np.abs(slope_fd[inner] - sc.data[10][inner])
    assert np.median(diff) < 1.5
    assert np.corrcoef(slope_fd[inner].ravel(), sc.data[10][inner].ravel())[0, 1] > 0.97
    assert np.mean(sc.data[10] > 20) > 0.3  # a mountain event has real slopes


def test_layover_faces_the_sensor_and_shadow_faces_away(scenes):
    lay_cos, sha_cos = [], []
    for sc in scenes.values():
        asp = _aspect_deg(sc.data[9])
        c = np.cos(np.radians(asp - PHI_I_DEG))
        lay_cos.append(c[sc.data[6] == 1])
        sha_cos.append(c[sc.data[7] == 1])
    lay, sha = np.concatenate(lay_cos), np.concatenate(sha_cos)
    assert lay.size > 500 and sha.size > 20
    assert np.median(lay) > 0.7  # slopes facing ~103 deg (towards the sensor)
    assert np.median(sha) < -0.7  # slopes facing away


def test_every_event_has_realistic_landslides(scenes):
    for eid, sc in scenes.items():
        frac = sc.labels.mean()
        assert sc.labels.sum() >= 300, eid
        assert frac <= 0.16, (eid, frac)
        assert len(sc.inventory) >= 1


def test_scars_lose_ndvi_and_vh(scenes):
    din, dout, vin, vout = [], [], [], []
    for sc in scenes.values():
        d, lab = sc.data, sc.labels == 1
        lc = d[13].astype(int)
        veg = np.isin(lc, VOLUME_MODEL_CODES)
        land = lc != WATER_CODE
        din.append(d[14][lab & veg])
        dout.append(d[14][~lab & land])
        ok = ~np.isnan(d[5])
        vin.append(d[5][lab & veg & ok])
        vout.append(d[5][~lab & land & ok])
    d_in, d_out = np.concatenate(din).mean(), np.concatenate(dout).mean()
    v_in, v_out = np.concatenate(vin).mean(), np.concatenate(vout).mean()
    assert d_in < d_out - 0.25, (d_in, d_out)
    assert v_in < v_out - 0.8, (v_in, v_out)


def test_landslides_start_steep_and_run_downhill(scenes):
    slopes, drops = [], []
    for sc in scenes.values():
        for r in sc.inventory:
            slopes.append(r["source_slope_deg"])
            drops.append(r["source_elevation_m"] - r["toe_elevation_m"])
            assert r["area_m2"] > 0 and r["geometry"].is_valid
    slopes, drops = np.array(slopes), np.array(drops)
    assert np.mean(slopes >= 25) > 0.85, np.percentile(slopes, [5, 50])
    assert np.all(drops > 0), drops.min()
    # the source is also higher than the toe in the stored elevation band
    sc = scenes["norway-5"]
    inv = sc.inventory
    x0, y0, x1, y1 = sc.grid.bounds
    for r in inv:
        (sx, sy), (tx, ty) = r["source_xy"], r["toe_xy"]
        if x0 < min(sx, tx) and max(sx, tx) < x1 and y0 < min(sy, ty) and max(sy, ty) < y1:
            rs, cs = int((y1 - sy) // 10), int((sx - x0) // 10)
            rt, ct = int((y1 - ty) // 10), int((tx - x0) // 10)
            assert sc.data[9][rs, cs] > sc.data[9][rt, ct]
            assert sc.data[10][rs, cs] > 20


def test_labels_equal_rasterised_inventory(scenes):
    for eid in ("norway-5", "iceland-15", "brazil-8", "peru-20"):
        sc = scenes[eid]
        shapes = [(r["geometry"], 1) for r in sc.inventory]
        ras = features.rasterize(shapes, out_shape=sc.grid.shape, transform=sc.grid.transform, dtype="uint8")
        assert np.mean(ras == sc.labels) > 0.995, eid
        clip = box(*sc.grid.bounds)
        poly_area = unary_union([r["geometry"] for r in sc.inventory]).intersection(clip).area
        assert poly_area == pytest.approx(sc.labels.sum() * 100.0, rel=0.03), eid


def test_events_differ(scenes):
    kg = {int(sc.data[11][0, 0]) for sc in scenes.values()}
    assert len(kg) >= 6
    relief = {eid: float(np.ptp(sc.data[9])) for eid, sc in scenes.items()}
    assert max(relief.values()) > 1.8 * min(relief.values())
    steep = {eid: float(np.mean(sc.data[10] > 25)) for eid, sc in scenes.items()}
    assert steep["norway-5"] > steep["brazil-24"] + 0.2
    base = {eid: float(np.median(sc.data[9])) for eid, sc in scenes.items()}
    assert base["peru-20"] > 2000 and base["norway-5"] < 1200
    counts = {eid: len(sc.inventory) for eid, sc in scenes.items()}
    assert counts["norway-5"] > 10 * counts["iceland-15"]  # many small flows vs one large slide


def test_event_scene_meta_records_parameters(scenes):
    m = scenes["norway-5"].meta
    assert m["source"] == "simulated" and m["event_id"] == "norway-5"
    assert set(m["windows"]) == {"pre", "post"}
    for k in ("seed", "climate_class", "relief_m", "cover_fractions", "params", "acquisitions"):
        assert k in m
    # one acquisition per 12 days of the pre window (norway-5: one month, window_rule auto)
    pre_days = (dt.date.fromisoformat(m["windows"]["pre"][1]) - dt.date.fromisoformat(m["windows"]["pre"][0])).days + 1
    assert m["acquisitions"]["pre"] >= pre_days // 12 >= 2


def test_build_event_stack_writes_readable_files_and_skips(tmp_path, catalog):
    import pyogrio

    ev = catalog.event("usa-26")
    out = tmp_path / "stacks" / ev.id
    msgs: list[str] = []
    path = build_event_stack(ev, catalog.defaults, out, progress=msgs.append)
    assert is_complete(path)
    st = read_stack(path)
    assert st.data.shape == (15, 200, 200) and st.labels is not None and st.labels.sum() > 0
    assert st.meta["source"] == "simulated" and st.meta["event_id"] == ev.id
    assert "provenance" in st.meta and "simulator_version" in st.meta
    assert st.meta["windows"]["pre"][0] < st.meta["windows"]["post"][0]
    info = pyogrio.read_info(path / "inventory.gpkg", layer="landslides")
    assert info["crs"].endswith("4326")
    assert {"id", "onset", "area_m2"} <= set(info["fields"])
    assert info["features"] >= 1
    assert not list(out.glob(".*tmp*"))
    stamp = (path / "stack.tif").stat().st_mtime_ns
    msgs.clear()
    build_event_stack(ev, catalog.defaults, out, progress=msgs.append)
    assert (path / "stack.tif").stat().st_mtime_ns == stamp
    assert any("skipped" in m for m in msgs)
