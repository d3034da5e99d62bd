"""Monitoring on Earth Engine (earthengine/region.py) and the Sentinel-2 coverage fallback, offline.

Graphs are built by the real client (offline initialisation); exports run the real
``ee.data.computePixels`` request path against a fake transport that answers with arrays of the
requested shape, or with injected 429 / 5xx / request-size errors.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import numpy as np
import pytest
from test_ee_export import FakeServer, expected

from gee_landslide.core.catalog import Window
from gee_landslide.core.grid import grid_for_bbox

RUN_DATE = dt.date(2024, 8, 15)


class SequenceServer(FakeServer):
    """A FakeServer whose value (getInfo) requests answer ``results`` in turn."""

    def __init__(self, results, **kw):
        super().__init__(value_result=results[0], **kw)
        self.results = list(results)

    def request(self, uri, *args, **kw):
        if "computePixels" not in uri and self.results:
            self.value_result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return super().request(uri, *args, **kw)


PREFLIGHT = {"s1_pre": 5, "s1_post": 3, "s2_pre": 12, "s2_post": 6, "s2_pre_clear_px": 400,
             "s2_post_clear_px": 380, "s2_l1c_pre": 12, "s2_l1c_post": 6, "relative_orbit": 37}


def region_setup(catalog):
    region = catalog.region("norway")
    pre, post = region.windows(RUN_DATE)
    grid = grid_for_bbox(*region.bbox)
    sub = grid.window(0, 0, 48, 40)  # one monitoring tile of the region grid
    return region, pre, post, grid, sub


def region_tile(catalog, **update):
    """``region_setup`` with the norway region's fields replaced by ``update``."""
    region, pre, post, grid, sub = region_setup(catalog)
    return region.model_copy(update=update), pre, post, grid, sub


def date_filters(g: dict) -> set[tuple[str, str, str]]:
    """(collection id, start, end) of every ``filterDate`` in a serialized graph.

    Each ``Collection.filter`` by a ``Filter.dateRangeContains`` is followed down its
    ``collection`` argument to the ``ImageCollection.load`` it filters.
    """
    from test_ee_recipes import deref, invocations, value

    out = set()
    for args in invocations(g, "Collection.filter"):
        flt = deref(g, args["filter"]).get("functionInvocationValue", {})
        if flt.get("functionName") != "Filter.dateRangeContains":
            continue
        rng = deref(g, flt["arguments"]["leftValue"])["functionInvocationValue"]["arguments"]
        node = deref(g, args["collection"]).get("functionInvocationValue")
        while node and node["functionName"] != "ImageCollection.load":
            node = deref(g, node["arguments"].get("collection", {})).get("functionInvocationValue")
        if node:
            out.add((value(g, node["arguments"]["id"]), value(g, rng["start"]), value(g, rng["end"])))
    return out


def ee_range(w: Window) -> tuple[str, str]:
    return w.start.isoformat(), (w.end + dt.timedelta(days=1)).isoformat()


def retry():
    from gee_landslide.earthengine.export import RetryPolicy

    sleeps: list[float] = []
    return RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, sleep=sleeps.append,
                       rng=random.Random(1)), sleeps


# ------------------------------------------------------------------ graphs
def test_tile_recipe_is_the_event_recipe_on_the_tile_grid_and_pass_windows(ee_offline, catalog):
    from test_ee_recipes import assert_stack_root, constants

    from gee_landslide.earthengine.graphcheck import check_graph, pre_event_violations
    from gee_landslide.earthengine.region import tile_recipe

    region, pre, post, _grid, sub = region_setup(catalog)
    r = tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)
    g = json.loads(r.serialized())
    assert_stack_root(g, sub)
    consts = constants(g)
    for d in (pre.start.isoformat(), (pre.end + dt.timedelta(days=1)).isoformat(),
              post.start.isoformat(), (post.end + dt.timedelta(days=1)).isoformat()):
        assert d in consts, d
    assert check_graph(r.serialized()) == [] and check_graph(r.preflight().serialize()) == []
    for img in r.pre_event.values():
        assert pre_event_violations(img.serialize(), pre.start, pre.end) == []
    assert r.dem_choice.asset == "COPERNICUS/DEM/GLO30"  # 61.5 N
    assert r.s2_level == "L2A" and r.label_source == "worldcover"  # 2024: WorldCover 2021 predates it


def test_the_s1_ensembles_own_export_filters_sentinel1_on_its_shorter_window(ee_offline, catalog):
    """s1_ensemble_post_days: the S1 ensemble's stack is the same recipe with the Sentinel-1 post
    collection on its own latest days (a second export of the tile), Sentinel-2 untouched."""
    from gee_landslide.earthengine.graphcheck import check_graph
    from gee_landslide.earthengine.region import tile_recipe
    from gee_landslide.monitor.tile_inputs import s1_ensemble_region

    region, pre, post, _grid, sub = region_tile(catalog, s1_post_days=12, s1_ensemble_post_days=6,
                                                optical_post_days=None)
    assert post.end.year == 2024  # S1A and S1C not yet both flying: a 12-day repeat
    assert s1_ensemble_region(region, post) is None  # 6 days hold no look every other pass: 12, the stack's own
    later = dt.timedelta(days=365)
    pre, post = Window(start=pre.start + later, end=pre.end + later), Window(start=post.start + later,
                                                                             end=post.end + later)
    own = s1_ensemble_region(region, post)
    assert own is not None
    r = tile_recipe(sub, pre, post, region=own, region_id="norway", defaults=catalog.defaults)
    s1_post = Window(start=post.end - dt.timedelta(days=5), end=post.end)
    s1_id, s2_id = "COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S2_SR_HARMONIZED"
    g = json.loads(r.serialized())
    dates = date_filters(g)
    assert {d[1:] for d in dates if d[0] == s1_id} == {ee_range(pre), ee_range(s1_post)}
    assert {d[1:] for d in dates if d[0] == s2_id} == {ee_range(pre), ee_range(post)}
    assert check_graph(r.serialized()) == []


def test_tile_follows_the_regions_sentinel1_pass_orbit_and_short_post_window(ee_offline, catalog):
    from test_ee_recipes import filter_pairs, functions

    from gee_landslide.earthengine.graphcheck import check_graph, pre_event_violations
    from gee_landslide.earthengine.region import tile_recipe

    # (the Sentinel-2 short post window, optical_post_days, has its own test below)
    region, pre, post, _grid, sub = region_tile(catalog, s1_post_days=12, orbit_pass="ASCENDING",
                                                relative_orbit=37, optical_post_days=None)
    r = tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)
    s1_post = Window(start=post.end - dt.timedelta(days=11), end=post.end)
    assert s1_post.days == 12 and region.s1_post_window(post) == s1_post
    s1_id, s2_id = "COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S2_SR_HARMONIZED"
    # the collections the pre-flight counts: S1 post over the 12 days, S2 post over the whole window
    assert date_filters(json.loads(r.collections["s1_post"].serialize())) == {(s1_id, *ee_range(s1_post))}
    assert date_filters(json.loads(r.collections["s2_post"].serialize())) == {(s2_id, *ee_range(post))}
    assert date_filters(json.loads(r.collections["s1_pre"].serialize())) == {(s1_id, *ee_range(pre))}
    # the exported stack: every S1 collection on pre or the short post window, S2 on the full ones
    g = json.loads(r.serialized())
    dates = date_filters(g)
    assert {d[1:] for d in dates if d[0] == s1_id} == {ee_range(pre), ee_range(s1_post)}
    assert {d[1:] for d in dates if d[0] == s2_id} == {ee_range(pre), ee_range(post)}
    # the region's pass and orbit, not the defaults' descending pass and the server-side choice
    pairs = filter_pairs(g)
    assert {v for k, v in pairs if k == "orbitProperties_pass"} == {"ASCENDING"}
    assert {v for k, v in pairs if k == "relativeOrbitNumber_start"} == {37}
    assert "AggregateFeatureCollection.histogram" not in functions(g)
    assert r.ctx.orbit_pass == "ASCENDING"
    assert r.ctx.s1_window("post") == s1_post and r.ctx.window("post") == post
    assert r.windows() == {"pre": list(pre.as_strings()), "post": list(post.as_strings()),
                           "s1_post": list(s1_post.as_strings())}
    assert check_graph(r.serialized()) == [] and check_graph(r.preflight().serialize()) == []
    for img in r.pre_event.values():
        assert pre_event_violations(img.serialize(), pre.start, pre.end) == []


def test_tile_follows_the_regions_short_sentinel2_post_window(ee_offline, catalog):
    """``optical_post_days``: the post composite is the greenest pixel of the latest N days mosaicked
    over that of the whole window (each guarded against a window without scenes); the pre-flight still
    counts the whole window, and Sentinel-1 and the pre window keep theirs."""
    from gee_landslide.earthengine.graphcheck import check_graph, pre_event_violations
    from gee_landslide.earthengine.region import tile_recipe

    region, pre, post, _grid, sub = region_tile(catalog, optical_post_days=12, s1_post_days=None)
    r = tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)
    s2_post = Window(start=post.end - dt.timedelta(days=11), end=post.end)
    assert region.s2_post_window(post) == s2_post and r.ctx.s2_post == s2_post
    s1_id, s2_id = "COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S2_SR_HARMONIZED"
    assert date_filters(json.loads(r.collections["s2_post"].serialize())) == {(s2_id, *ee_range(post))}
    g = json.loads(r.serialized())
    dates = date_filters(g)
    assert {d[1:] for d in dates if d[0] == s2_id} == {ee_range(pre), ee_range(post), ee_range(s2_post)}
    assert {d[1:] for d in dates if d[0] == s1_id} == {ee_range(pre), ee_range(post)}
    assert r.windows()["s2_post"] == list(s2_post.as_strings()) and "s1_post" not in r.windows()
    assert check_graph(r.serialized()) == [] and check_graph(r.preflight().serialize()) == []
    for img in r.pre_event.values():
        assert pre_event_violations(img.serialize(), pre.start, pre.end) == []
    # without the option the graph has no third Sentinel-2 window
    plain = tile_recipe(sub, pre, post, region=region.model_copy(update={"optical_post_days": None}),
                        region_id="norway", defaults=catalog.defaults)
    g0 = json.loads(plain.serialized())
    assert {d[1:] for d in date_filters(g0) if d[0] == s2_id} == {ee_range(pre), ee_range(post)}


@pytest.mark.parametrize("s1_post_days", [None, 30, 45], ids=["unset", "equal", "longer"])
def test_tile_without_the_sentinel1_fields_builds_the_graph_it_always_did(ee_offline, catalog, s1_post_days):
    """No pass, orbit or S1 window of its own (or one as long as the post window): the tile graph
    is the event recipe's on a stand-in event without overrides, as before these fields were read."""
    from gee_landslide.core.catalog import Event
    from gee_landslide.earthengine.context import EventContext
    from gee_landslide.earthengine.recipe import build_recipe
    from gee_landslide.earthengine.region import region_context, tile_recipe

    # ensembles=None: one optical ensemble, not SAR-first (whose post composite may be empty, see below)
    region, pre, post, _grid, sub = region_tile(catalog, s1_post_days=s1_post_days, ensembles=None,
                                                optical_post_days=None)
    assert region.orbit_pass == "DESCENDING" and region.relative_orbit is None
    r = tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)
    stand_in = region_context("norway", region, pre, post, sub, catalog.defaults).event
    before = Event(**stand_in.model_dump(exclude={"orbit_pass", "relative_orbit"}))
    old = build_recipe(before, catalog.defaults, ctx=EventContext(before, catalog.defaults, sub, pre, post))
    assert r.ctx.s1_post is None and set(r.windows()) == {"pre", "post"}
    assert r.serialized() == old.serialized() and r.preflight().serialize() == old.preflight().serialize()
    dates = date_filters(json.loads(r.serialized()))
    assert {d[1:] for d in dates if d[0] == "COPERNICUS/S1_GRD_FLOAT"} == {ee_range(pre), ee_range(post)}


def test_empty_short_sentinel1_window_is_named_by_the_preflight(ee_offline, catalog, tmp_path):
    from ee import apitestcase

    from gee_landslide.earthengine.export import EmptyCollectionError
    from gee_landslide.earthengine.region import fetch_grid_stack

    region, pre, post, _grid, sub = region_tile(catalog, s1_post_days=12, orbit_pass="ASCENDING",
                                                relative_orbit=37)
    server = SequenceServer([{**PREFLIGHT, "s1_post": 0}], grid=sub)
    with apitestcase.UsingCloudApi(mock_http=server), pytest.raises(EmptyCollectionError) as info:
        fetch_grid_stack(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults,
                         cache_dir=tmp_path / "tile", retry=retry()[0])
    msg = str(info.value)
    s1_post = region.s1_post_window(post)
    assert (f"no Sentinel-1 ascending IW VV+VH scene of relative orbit 37 in the Sentinel-1 post window "
            f"{s1_post.start}..{s1_post.end} (the latest 12 days of the post window {post.start}..{post.end}"
            in msg), msg
    assert "s1_post_days" in msg and "pre window" not in msg
    # the hints name the region's own fields, not those of the stand-in event
    assert "raise `post_days` of region norway in case_studies.yaml (now 30 days)" in msg, msg
    assert "set `relative_orbit:` on region norway" in msg and "window_rule" not in msg
    assert server.pixel_requests == []


def test_tile_windows_before_sentinel1_give_a_clear_error(ee_offline, catalog):
    from gee_landslide.earthengine.assets import AssetError
    from gee_landslide.earthengine.region import tile_recipe

    region, _pre, _post, _grid, sub = region_setup(catalog)
    pre = Window(start=dt.date(2014, 6, 1), end=dt.date(2014, 7, 31))
    post = Window(start=dt.date(2014, 8, 1), end=dt.date(2014, 8, 30))
    with pytest.raises(AssetError, match=r"COPERNICUS/S1_GRD_FLOAT \(2014-10-03\.\.today"):
        tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)


# ------------------------------------------------------------------ exporter
@pytest.mark.parametrize(
    ("script", "too_large_px", "retries", "splits"),
    [
        ((), None, 0, 0),
        (((429, "Quota exceeded"), (503, "Service unavailable"), (500, "Internal error")), None, 3, 0),
        ((), 40 * 40, 0, 1),
    ],
    ids=["clean", "429-503-500", "request-size"],
)
def test_fetch_grid_stack_with_injected_errors(ee_offline, catalog, tmp_path, monkeypatch,
                                               script, too_large_px, retries, splits):
    from ee import apitestcase

    from gee_landslide.earthengine.region import fetch_grid_stack

    region, pre, post, grid, sub = region_setup(catalog)
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "1")
    monkeypatch.setenv("GEE_LANDSLIDE_EE_TILE_PX", "64")
    server = SequenceServer([PREFLIGHT], grid=sub, script=script, too_large_px=too_large_px)
    policy, sleeps = retry()
    msgs: list[str] = []
    with apitestcase.UsingCloudApi(mock_http=server):
        data = fetch_grid_stack(sub, pre, post, region=region, region_id="norway",
                                defaults=catalog.defaults, cache_dir=tmp_path / "tile",
                                retry=policy, progress=msgs.append)
    assert data.shape == (15, sub.height, sub.width) and data.dtype == np.float32
    np.testing.assert_array_equal(data, expected(sub))
    assert server.value_requests == 1  # one pre-flight, L2A kept
    assert len(sleeps) == retries and all(0 < s <= 8.0 for s in sleeps)
    assert sum("splitting into 4" in m for m in msgs) == splits
    widths = [r["grid"]["dimensions"]["width"] for r in server.pixel_requests]
    assert (min(widths) < sub.width) == bool(splits)
    assert not (tmp_path / "tile" / ".tiles").exists()  # cleaned up once assembled
    assert grid.width > sub.width  # the region really is cut into tiles


def test_fetch_grid_stack_gives_up_with_the_tile_named(ee_offline, catalog, tmp_path, monkeypatch):
    from ee import apitestcase

    from gee_landslide.earthengine.export import ExportError
    from gee_landslide.earthengine.region import fetch_grid_stack

    region, pre, post, _grid, sub = region_setup(catalog)
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "1")
    server = SequenceServer([PREFLIGHT], grid=sub, script=[(429, "Quota exceeded")] * 10)
    policy, _ = retry()
    with apitestcase.UsingCloudApi(mock_http=server), pytest.raises(ExportError, match="gave up after attempt 4"):
        fetch_grid_stack(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults,
                         cache_dir=tmp_path / "tile", retry=policy)


# ------------------------------------------------------------------ SAR-first: no clear Sentinel-2 view
@pytest.mark.parametrize(
    ("clear_px", "cloudy"),
    [(0, (slice(None), slice(None))), (380, (slice(0, 20), slice(0, 24)))],
    ids=["whole-tile", "part-of-tile"],
)
def test_tile_without_a_clear_post_view_exports_nan_dndvi_and_is_s1_only(
        ee_offline, catalog, tmp_path, monkeypatch, clear_px, cloudy):
    """Where the post window saw no clear Sentinel-2 pixel the graph leaves dNDVI masked (no
    ``unmask`` but the exporter's own), the server answers the no-data sentinel, the exported
    stack holds NaN there and the pass decides those pixels with Sentinel-1 only. A wholly
    cloudy tile passes the pre-flight (said, not raised), unlike an event's stack."""
    from ee import apitestcase
    from test_ee_recipes import constants, deref, functions, invocations

    from gee_landslide.core.bands import BAND_NAMES
    from gee_landslide.earthengine.export import NODATA_SENTINEL
    from gee_landslide.earthengine.region import fetch_grid_stack
    from gee_landslide.monitor.decisions import observed_sensors
    from gee_landslide.monitor.pass_context import SENSOR_CODE

    region, pre, post, _grid, sub = region_setup(catalog)
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "1")
    monkeypatch.setenv("GEE_LANDSLIDE_EE_TILE_PX", "64")  # one request for the 48 x 40 tile
    server = SequenceServer([{**PREFLIGHT, "s2_post_clear_px": clear_px}], grid=sub,
                            nodata_at=cloudy, nodata_band="dNDVI")
    msgs: list[str] = []
    with apitestcase.UsingCloudApi(mock_http=server):
        data = fetch_grid_stack(sub, pre, post, region=region, region_id="norway",
                                defaults=catalog.defaults, cache_dir=tmp_path / "tile",
                                retry=retry()[0], progress=msgs.append)
    # the graph sent: masked pixels become the sentinel in the one unmask, at the root
    (req,) = server.pixel_requests
    expr = req["expression"]
    (unmask,) = invocations(expr, "Image.unmask")
    root = deref(expr, expr["values"][expr["result"]])["functionInvocationValue"]
    assert root["functionName"] == "Image.unmask"
    assert constants(deref(expr, unmask["value"])) == [NODATA_SENTINEL]
    assert {"ImageCollection.qualityMosaic", "Image.updateMask"} <= functions(expr)
    # the stack: NaN dNDVI where the post window was cloudy, every other band as answered
    dndvi = BAND_NAMES.index("dNDVI")
    want = expected(sub)
    want[dndvi][cloudy] = np.nan
    np.testing.assert_array_equal(data, want)
    sensors = observed_sensors(data)
    assert (sensors[cloudy] == SENSOR_CODE["s1"]).all()
    clear = np.ones(sensors.shape, bool)
    clear[cloudy] = False
    assert (sensors[clear] == SENSOR_CODE["optical"]).all()
    assert any("Sentinel-1 only" in m for m in msgs) == (clear_px == 0)


def test_sar_first_tile_without_any_post_scene_is_decided_by_sentinel1(ee_offline, catalog, tmp_path, monkeypatch):
    """A SAR-first tile whose post window holds no Sentinel-2 scene at all (not even L1C) exports
    with NaN dNDVI and goes to its S1 ensemble, like a wholly cloudy one: the post composite is
    guarded by ``Algorithms.If`` on the collection size, with a wholly masked placeholder. A region
    with one optical ensemble still stops at the pre-flight, naming the window and the field."""
    from ee import apitestcase
    from test_ee_recipes import deref, functions, invocations

    from gee_landslide.core.bands import BAND_NAMES
    from gee_landslide.earthengine.export import EmptyCollectionError
    from gee_landslide.earthengine.graphcheck import check_graph
    from gee_landslide.earthengine.region import fetch_grid_stack, tile_recipe
    from gee_landslide.monitor.decisions import observed_sensors
    from gee_landslide.monitor.pass_context import SENSOR_CODE

    # one Sentinel-2 post composite (optical_post_days adds a guarded short one: its own test above)
    region, pre, post, _grid, sub = region_tile(catalog, optical_post_days=None)
    assert region.ensembles is not None  # norway is SAR-first
    r = tile_recipe(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults)
    g = json.loads(r.serialized())
    assert check_graph(r.serialized()) == [] and check_graph(r.preflight().serialize()) == []
    plain = tile_recipe(sub, pre, post, region=region.model_copy(update={"ensembles": None}),
                        region_id="norway", defaults=catalog.defaults)
    # one ee.Algorithms.If more than the optical-only tile: the post composite's guard, whose
    # false case (no scene) is the wholly masked placeholder
    guards = [a for a in invocations(g, "If")
              if deref(g, a["falseCase"]).get("functionInvocationValue", {}).get("functionName") == "Image.updateMask"]
    assert len(guards) == 1
    assert len(invocations(g, "If")) == len(invocations(json.loads(plain.serialized()), "If")) + 1
    assert "ImageCollection.qualityMosaic" in functions(g) and "Collection.size" in functions(g)

    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "1")
    monkeypatch.setenv("GEE_LANDSLIDE_EE_TILE_PX", "64")
    none_after = {**PREFLIGHT, "s2_post": 0, "s2_l1c_post": 0, "s2_post_clear_px": 0}
    everywhere = (slice(None), slice(None))
    server = SequenceServer([none_after], grid=sub, nodata_at=everywhere, nodata_band="dNDVI")
    msgs: list[str] = []
    with apitestcase.UsingCloudApi(mock_http=server):
        data = fetch_grid_stack(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults,
                                cache_dir=tmp_path / "tile", retry=retry()[0], progress=msgs.append)
    assert np.isnan(data[BAND_NAMES.index("dNDVI")]).all()
    assert (observed_sensors(data) == SENSOR_CODE["s1"]).all()
    assert any("no Sentinel-2 scene in the post window" in m and "Sentinel-1 only" in m for m in msgs)

    optical_only = region.model_copy(update={"ensembles": None})
    server = SequenceServer([none_after], grid=sub)
    with apitestcase.UsingCloudApi(mock_http=server), pytest.raises(EmptyCollectionError) as info:
        fetch_grid_stack(sub, pre, post, region=optical_only, region_id="norway", defaults=catalog.defaults,
                         cache_dir=tmp_path / "tile2", retry=retry()[0])
    assert f"no Sentinel-2 L2A scene in the post window {post.start}" in str(info.value)
    assert "raise `post_days` of region norway" in str(info.value)
    assert server.pixel_requests == []


def test_cloudy_pre_window_still_stops_a_tile(ee_offline, catalog, tmp_path):
    """Only the post window may lack a clear view: the land cover (and so the S1 flattening)
    needs the pre-event Sentinel-2 reflectance."""
    from ee import apitestcase

    from gee_landslide.earthengine.export import EmptyCollectionError
    from gee_landslide.earthengine.region import fetch_grid_stack

    region, pre, post, _grid, sub = region_setup(catalog)
    server = SequenceServer([{**PREFLIGHT, "s2_pre_clear_px": 0}], grid=sub)
    with apitestcase.UsingCloudApi(mock_http=server), pytest.raises(EmptyCollectionError) as info:
        fetch_grid_stack(sub, pre, post, region=region, region_id="norway", defaults=catalog.defaults,
                         cache_dir=tmp_path / "tile", retry=retry()[0])
    assert f"no cloud-free Sentinel-2 pixel (Cloud Score+ cs_cdf >= 0.6) in the pre window {pre.start}" \
        in str(info.value)
    assert server.pixel_requests == []


# ------------------------------------------------------------------ coverage: L2A -> L1C
def test_sparse_l2a_falls_back_to_l1c_and_meta_records_it(ee_offline, catalog, tmp_path):
    from ee import apitestcase

    from gee_landslide.core.grid import grid_around
    from gee_landslide.core.stackio import read_meta
    from gee_landslide.earthengine.event_stack import build_event_stack
    from gee_landslide.earthengine.graphcheck import check_graph

    ev = catalog.event("indonesia-29")  # 2018: L2A "not yet global" (catalog)
    grid = grid_around(ev.lat, ev.lon, 2000, 10)
    first = {**PREFLIGHT, "s2_pre": 0, "s2_post": 1, "s2_l1c_pre": 9, "s2_l1c_post": 10}
    second = {**PREFLIGHT, "s2_pre": 9, "s2_post": 10}
    server = SequenceServer([first, second], grid=grid)
    msgs: list[str] = []
    with apitestcase.UsingCloudApi(mock_http=server):
        out = build_event_stack(ev, catalog.defaults, tmp_path / ev.id, progress=msgs.append)
    meta = read_meta(out)
    assert meta["sentinel2"]["level"] == "L1C" and "tropical" in meta["window_reason"]
    assert meta["sentinel2"]["collection"] == "COPERNICUS/S2_HARMONIZED"
    assert "0 L2A scenes against 9 L1C" in meta["sentinel2"]["reason"]
    assert meta["assets"]["sentinel2"] == "COPERNICUS/S2_HARMONIZED"
    assert meta["scene_counts"]["s2_l2a_pre"] == 0 and meta["scene_counts"]["s2_pre"] == 9
    assert server.value_requests == 2 and any("L1C" in m for m in msgs)
    # the exported graph is the L1C one, and it passes the registry (no SCL on L1C)
    from gee_landslide.earthengine.recipe import build_recipe

    r = build_recipe(ev, catalog.defaults, s2_level="L1C")
    consts = json.dumps(json.loads(r.serialized()))
    assert "COPERNICUS/S2_HARMONIZED" in consts and "COPERNICUS/S2_SR_HARMONIZED" not in consts
    assert check_graph(r.serialized()) == [] and meta["graph_sha256"] == r.graph_sha256()


def test_dense_l2a_is_kept(ee_offline, catalog):
    from gee_landslide.earthengine.sentinel2 import choose_level

    assert choose_level(PREFLIGHT)[0] == "L2A"
    assert choose_level({**PREFLIGHT, "s2_post": 2, "s2_l1c_post": 6})[0] == "L1C"  # sparse: 2 < 3
    assert choose_level({**PREFLIGHT, "s2_post": 3, "s2_l1c_post": 6})[0] == "L2A"


def test_window_before_l2a_uses_l1c_offline_and_before_l1c_fails(ee_offline, catalog):
    from gee_landslide.earthengine.assets import AssetError
    from gee_landslide.earthengine.recipe import build_recipe, plan

    ev = catalog.event("italy-22").model_copy(update={
        "date": dt.date(2016, 11, 1),
        "pre": Window(start=dt.date(2016, 9, 1), end=dt.date(2016, 10, 31)),
        "post": Window(start=dt.date(2016, 11, 2), end=dt.date(2016, 12, 31)),
    })
    r = build_recipe(ev, catalog.defaults)
    assert r.s2_level == "L1C" and "before L2A starts (2017-03-28)" in r.s2_reason
    assert plan(r)["sentinel2"]["collection"] == "COPERNICUS/S2_HARMONIZED"
    early = ev.model_copy(update={
        "date": dt.date(2015, 5, 1),
        "pre": Window(start=dt.date(2015, 3, 1), end=dt.date(2015, 4, 30)),
        "post": Window(start=dt.date(2015, 5, 2), end=dt.date(2015, 6, 20)),
    })
    with pytest.raises(AssetError, match=r"Sentinel-2 pre window: window 2015-03-01\.\.2015-04-30 is outside"):
        build_recipe(early, catalog.defaults)


def test_a_sar_first_pass_asks_earth_engine_for_the_recent_look_as_the_tile_over_that_window(
        ee_offline, catalog, monkeypatch, tmp_path):
    """optical_look_days on the live source: Earth Engine has no cheap answer, so the pass asks for
    the tile over the latest days (same pre window); its dNDVI is finite exactly where Sentinel-2
    had a clear look in them. The graph of that request filters the S2 post scenes to those days."""
    from types import SimpleNamespace

    from gee_landslide.earthengine.region import tile_recipe
    from gee_landslide.monitor.tile_inputs import fetch_tile_look
    from gee_landslide.sources import get_source

    region, pre, post, _grid, sub = region_tile(catalog, s1_post_days=12, optical_look_days=12)
    source = get_source("gee")
    assert getattr(source, "fetch_clear_look", None) is None  # no shortcut: the tile over the look window
    asked = []

    def fake_fetch(region_id, region_, pre_, post_, grid, **where):
        asked.append((pre_, post_))
        stack = np.zeros((15, *grid.shape), np.float32)
        stack[14, :, : grid.shape[1] // 2] = np.nan  # the left half had no clear look in the window
        return stack, None

    monkeypatch.setattr(type(source), "fetch_region_tile", staticmethod(fake_fetch))
    ctx = SimpleNamespace(region=region, region_id="norway", pre=pre, post=post, strategy="sar-first",
                          source="gee", defaults=catalog.defaults, cache_dir=tmp_path)
    look = fetch_tile_look(ctx, sub, "t0")
    window = Window(start=post.end - dt.timedelta(days=11), end=post.end)
    assert asked == [(pre, window)] and region.optical_look_window(post) == window
    assert not look[:, : sub.shape[1] // 2].any() and look[:, sub.shape[1] // 2:].all()
    # the request's graph: S2 post scenes of the look window only, S2 pre scenes of the pass's pre window
    r = tile_recipe(sub, pre, window, region=region, region_id="norway", defaults=catalog.defaults)
    s2_id = "COPERNICUS/S2_SR_HARMONIZED"
    assert date_filters(json.loads(r.collections["s2_post"].serialize())) == {(s2_id, *ee_range(window))}
    assert {d[1:] for d in date_filters(json.loads(r.serialized())) if d[0] == s2_id} == {ee_range(pre), ee_range(window)}
    assert r.ctx.s2_post_optional  # a look window without any scene is no error: NaN, left to Sentinel-1


def test_an_event_variant_takes_its_first_sentinel1_scenes_after_the_event(ee_offline, catalog):
    """The training variant of an event (core.variants): its Sentinel-1 post median takes the first
    2 scenes of the chosen orbit in time (sort, limit); windows and every other band stay the event's."""
    from test_ee_recipes import invocations, value

    from gee_landslide.earthengine.context import EventContext
    from gee_landslide.earthengine.event_stack import variant_context
    from gee_landslide.earthengine.graphcheck import check_graph
    from gee_landslide.earthengine.recipe import build_recipe

    event = catalog.event("italy-22")
    own = EventContext.of(event, catalog.defaults)
    assert variant_context(event, catalog.defaults, None) is None
    ctx = variant_context(event, catalog.defaults, 2)
    assert (ctx.pre, ctx.post, ctx.s1_post, ctx.s1_post_looks) == (own.pre, own.post, None, 2)
    g = json.loads(build_recipe(event, catalog.defaults, ctx=ctx).serialized())
    base = json.loads(build_recipe(event, catalog.defaults).serialized())
    assert date_filters(g) == date_filters(base)
    assert invocations(base, "Collection.limit") == []
    calls = invocations(g, "Collection.limit")  # ee's sort(key) and limit(n) both serialize to it
    assert {value(g, a["key"]) for a in calls if "key" in a} == {"system:time_start"}
    assert {value(g, a["limit"]) for a in calls if "limit" in a} == {2}
    assert check_graph(json.dumps(g)) == []
