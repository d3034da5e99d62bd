"""The computePixels exporter through the real earthengine-api HTTP path, with a mocked transport.

ee.data.computePixels builds and sends its real request (googleapiclient + the discovery
document the wheel ships); only the transport (httplib2-like object) is fake. Back-off sleeps
are injected so the tests take milliseconds.
"""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.grid import Grid

GRID = Grid("EPSG:32632", 344550.0, 6820680.0, 40, 40, 10.0)


def npy_tile(grid: Grid, width: int, height: int, tx: float, ty: float, bands=BAND_NAMES) -> bytes:
    """A structured NPY like computePixels returns; value = band*1e6 + row*1000 + col (global)."""
    row0 = round((grid.y_max - ty) / grid.resolution)
    col0 = round((tx - grid.x_min) / grid.resolution)
    rows, cols = np.mgrid[row0 : row0 + height, col0 : col0 + width]
    arr = np.zeros((height, width), dtype=[(b, "<f4") for b in bands])
    for i, b in enumerate(bands):
        arr[b] = i * 1e6 + rows * 1000 + cols
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def expected(grid: Grid) -> np.ndarray:
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    return np.stack([i * 1e6 + rows * 1000 + cols for i in range(len(BAND_NAMES))]).astype(np.float32)


def error(status: int, message: str) -> tuple[dict, str]:
    codes = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    body = {"error": {"code": status, "message": message, "status": codes.get(status, "UNKNOWN")}}
    return {"status": str(status), "content-type": "application/json"}, json.dumps(body)


class FakeServer:
    """An httplib2-like transport answering computePixels with tiles shaped as asked.

    ``script`` is consulted per request in order: a (status, message) tuple answers with that
    error, None answers normally; ``too_large_px`` answers every larger request with the
    server's request-size error. ``value`` requests (getInfo) answer ``value_result``.
    ``nodata_at`` (an index of the request's pixels) answers the sentinel of a masked pixel in
    band ``nodata_band``.
    """

    def __init__(self, grid=GRID, script=(), too_large_px=None, value_result=None, nodata_at=None,
                 nodata_band=BAND_NAMES[0]):
        self.grid = grid
        self.script = list(script)
        self.too_large_px = too_large_px
        self.value_result = value_result
        self.nodata_at = nodata_at
        self.nodata_band = nodata_band
        self.pixel_requests: list[dict] = []
        self.value_requests = 0
        self.follow_redirects = True

    def request(self, uri, method="GET", body=None, headers=None, redirections=1, connection_type=None):
        import httplib2

        if "computePixels" not in uri:
            self.value_requests += 1
            return httplib2.Response({"status": "200", "content-type": "application/json"}), json.dumps(
                {"result": self.value_result}
            ).encode()
        req = json.loads(body)
        self.pixel_requests.append(req)
        step = self.script.pop(0) if self.script else None
        dims = req["grid"]["dimensions"]
        w, h = dims["width"], dims["height"]
        if step is None and self.too_large_px and w * h > self.too_large_px:
            step = (400, f"Total request size ({w * h * 60} bytes) must be less than or equal to "
                         f"{self.too_large_px * 60} bytes.")
        if step is not None:
            hdr, content = error(*step)
            return httplib2.Response(hdr), content.encode()
        at = req["grid"]["affineTransform"]
        data = npy_tile(self.grid, w, h, at["translateX"], at["translateY"])
        if self.nodata_at is not None:
            from gee_landslide.earthengine.export import NODATA_SENTINEL

            arr = np.load(io.BytesIO(data))
            arr[self.nodata_band][self.nodata_at] = NODATA_SENTINEL
            buf = io.BytesIO()
            np.save(buf, arr)
            data = buf.getvalue()
        return httplib2.Response({"status": "200", "content-type": "application/octet-stream"}), data


def exporter(ee, tmp_path, sleeps, **kw):
    from gee_landslide.earthengine.export import RetryPolicy, StackExporter

    img = ee.Image.constant(list(range(len(BAND_NAMES)))).rename(list(BAND_NAMES))
    retry = RetryPolicy(max_attempts=kw.pop("max_attempts", 4), base_delay=1.0, max_delay=8.0,
                        sleep=sleeps.append, rng=random.Random(0))
    return StackExporter(img, kw.pop("grid", GRID), BAND_NAMES, tmp_path / ".tiles", graph_sha256="abc",
                         retry=retry, max_workers=kw.pop("max_workers", 1), **kw)


def run_with(ee, server, exp):
    from ee import apitestcase

    with apitestcase.UsingCloudApi(mock_http=server):
        return exp.run()


def test_request_grid_matches_the_grid_exactly(ee_offline, tmp_path):
    server = FakeServer()
    data = run_with(ee_offline, server, exporter(ee_offline, tmp_path, [], tile_px=20))
    assert len(server.pixel_requests) == 4
    req = server.pixel_requests[0]
    assert req["fileFormat"] == "NPY"
    assert req["grid"] == {
        "dimensions": {"width": 20, "height": 20},
        "affineTransform": {"scaleX": 10.0, "shearX": 0.0, "translateX": 344550.0,
                            "shearY": 0.0, "scaleY": -10.0, "translateY": 6820680.0},
        "crsCode": "EPSG:32632",
    }
    assert "values" in req["expression"]  # the serialized graph travels in the request
    np.testing.assert_array_equal(data, expected(GRID))


def test_429_then_success_is_retried_with_backoff(ee_offline, tmp_path):
    from googleapiclient.http import HttpMockSequence

    sleeps: list[float] = []
    ok = npy_tile(GRID, 40, 40, GRID.x_min, GRID.y_max)
    http = HttpMockSequence([error(429, "Request was throttled."),
                             error(429, "Too many concurrent aggregations."),
                             ({"status": "200"}, ok)])
    exp = exporter(ee_offline, tmp_path, sleeps)
    data = run_with(ee_offline, http, exp)
    np.testing.assert_array_equal(data, expected(GRID))
    assert len(http.request_sequence) == 3
    assert exp.stats.retries == 2 and len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # base*2**n with jitter in [0.5, 1]


def test_size_error_splits_the_tile_in_four(ee_offline, tmp_path):
    server = FakeServer(too_large_px=400)
    exp = exporter(ee_offline, tmp_path, [])
    data = run_with(ee_offline, server, exp)
    sizes = [(r["grid"]["dimensions"]["width"], r["grid"]["dimensions"]["height"]) for r in server.pixel_requests]
    assert sizes == [(40, 40), (20, 20), (20, 20), (20, 20), (20, 20)]
    assert exp.stats.splits == 1
    np.testing.assert_array_equal(data, expected(GRID))
    # a rerun finds the four quarters and asks for nothing
    again = FakeServer(too_large_px=400)
    exp2 = exporter(ee_offline, tmp_path, [])
    np.testing.assert_array_equal(run_with(ee_offline, again, exp2), expected(GRID))
    assert again.pixel_requests == []


def test_transient_error_exhausts_retries_with_a_clear_message(ee_offline, tmp_path):
    from gee_landslide.earthengine.export import ExportError

    sleeps: list[float] = []
    server = FakeServer(script=[(503, "The service is currently unavailable.")] * 10)
    exp = exporter(ee_offline, tmp_path, sleeps, max_attempts=3)
    with pytest.raises(ExportError) as info:
        run_with(ee_offline, server, exp)
    msg = str(info.value)
    assert "gave up after attempt 3 of 3" in msg and "currently unavailable" in msg
    assert "r0_c0_40x40" in msg and "rerun to resume" in msg
    assert len(server.pixel_requests) == 3 and len(sleeps) == 2


def test_fatal_error_is_not_retried(ee_offline, tmp_path):
    from gee_landslide.earthengine.export import ExportError

    sleeps: list[float] = []
    server = FakeServer(script=[(400, "Image.select: Pattern 'preVVV' did not match any bands.")])
    with pytest.raises(ExportError, match="did not match any bands"):
        run_with(ee_offline, server, exporter(ee_offline, tmp_path, sleeps))
    assert len(server.pixel_requests) == 1 and sleeps == []


def test_interrupted_export_resumes_without_refetching(ee_offline, tmp_path):
    from gee_landslide.earthengine.export import ExportError

    first = FakeServer(script=[None, None, (400, "Computation failed: internal assertion.")])
    with pytest.raises(ExportError):
        run_with(ee_offline, first, exporter(ee_offline, tmp_path, [], tile_px=20))
    assert len(first.pixel_requests) == 3
    saved = sorted(p.name for p in (tmp_path / ".tiles").glob("*.npy"))
    assert saved == ["r0_c0_20x20.npy", "r0_c20_20x20.npy"]
    second = FakeServer()
    exp = exporter(ee_offline, tmp_path, [], tile_px=20)
    data = run_with(ee_offline, second, exp)
    assert len(second.pixel_requests) == 2  # only the two missing tiles
    assert exp.stats.tiles_reused == 2 and exp.stats.tiles_fetched == 2
    np.testing.assert_array_equal(data, expected(GRID))


def test_changed_graph_discards_old_tiles(ee_offline, tmp_path):
    run_with(ee_offline, FakeServer(), exporter(ee_offline, tmp_path, [], tile_px=20))
    exp = exporter(ee_offline, tmp_path, [], tile_px=20)
    exp.graph_sha256 = "another-recipe"
    server = FakeServer()
    run_with(ee_offline, server, exp)
    assert len(server.pixel_requests) == 4


def test_concurrent_tiles_and_nodata_sentinel(ee_offline, tmp_path):
    server = FakeServer(nodata_at=(0, 0))
    data = run_with(ee_offline, server, exporter(ee_offline, tmp_path, [], tile_px=10, max_workers=3))
    assert len(server.pixel_requests) == 16
    exp_data = expected(GRID)
    nan = np.isnan(data[0])
    assert nan.sum() == 16 and nan[0, 0] and nan[10, 30]  # the top-left pixel of each tile
    np.testing.assert_array_equal(data[:, ~nan], exp_data[:, ~nan])


def test_tile_plan_respects_request_limits():
    from gee_landslide.earthengine.export import MAX_REQUEST_BYTES, max_tile_px, plan_tiles

    side = max_tile_px(15)
    assert side * side * 15 * 4 <= MAX_REQUEST_BYTES and side <= 32768
    big = Grid("EPSG:32632", 0.0, 0.0, 5000, 3000, 10.0)
    tiles = plan_tiles(big, 15)
    assert all(t.width * t.height * 15 * 4 <= MAX_REQUEST_BYTES for t in tiles)
    assert sum(t.width * t.height for t in tiles) == 5000 * 3000


def test_classify_error_messages():
    from ee.ee_exception import EEException

    from gee_landslide.earthengine.export import classify_error

    assert classify_error(EEException("Total request size (60000000 bytes) must be less than or equal to "
                                      "50331648 bytes.")) == "too_large"
    assert classify_error(EEException("User memory limit exceeded.")) == "too_large"
    assert classify_error(EEException("Too many concurrent aggregations.")) == "transient"
    assert classify_error(EEException("Computation timed out.")) == "transient"
    assert classify_error(TimeoutError("read timed out")) == "transient"
    assert classify_error(EEException("Image.load: Image asset 'x' not found.")) == "fatal"


# --------------------------------------------------------------- the gee source end to end
PREFLIGHT_OK = {"s1_pre": 5, "s1_post": 4, "s2_pre": 12, "s2_post": 11, "s2_pre_clear_px": 400,
                "s2_post_clear_px": 380, "relative_orbit": 66}


def test_build_event_stack_writes_the_stack_files(ee_offline, tmp_path, request, monkeypatch):
    from ee import apitestcase

    from gee_landslide.core.grid import grid_around
    from gee_landslide.core.stackio import read_meta, read_stack
    from gee_landslide.earthengine.event_stack import build_event_stack
    from gee_landslide.earthengine.export import RetryPolicy

    cat = load_catalog(request.config.rootpath / "case_studies.yaml")
    ev = cat.event("norway-5")
    grid = grid_around(ev.lat, ev.lon, 2000, 10)
    server = FakeServer(grid=grid, value_result=PREFLIGHT_OK)
    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "2")
    monkeypatch.setenv("GEE_LANDSLIDE_EE_TILE_PX", "100")
    out = tmp_path / "norway-5"
    msgs: list[str] = []
    with apitestcase.UsingCloudApi(mock_http=server):
        build_event_stack(ev, cat.defaults, out, progress=msgs.append,
                          retry=RetryPolicy(sleep=lambda s: None))
    assert server.value_requests == 1 and len(server.pixel_requests) == 4
    stack = read_stack(out)
    assert stack.grid.same_as(grid)
    np.testing.assert_array_equal(stack.data, expected(grid))
    assert stack.labels is not None and not stack.labels.any()
    meta = read_meta(out)
    assert meta["source"] == "gee" and meta["event_id"] == "norway-5"
    assert meta["labels"] == "none" and meta["relative_orbit"] == 66
    assert meta["windows"] == {"pre": ["2019-06-30", "2019-07-29"], "post": ["2019-07-31", "2019-08-30"]}
    assert len(meta["graph_sha256"]) == 64 and meta["recipe_version"]
    assert meta["assets"]["dem"] == "COPERNICUS/DEM/GLO30"
    assert not (out / ".tiles").exists()
    assert any("all-zero" in m for m in msgs)
    # complete: a second call skips without any request
    with apitestcase.UsingCloudApi(mock_http=FakeServer(grid=grid)):
        build_event_stack(ev, cat.defaults, out)


def test_empty_window_is_reported_before_fetching_pixels(ee_offline, tmp_path, request):
    from ee import apitestcase

    from gee_landslide.earthengine.event_stack import build_event_stack
    from gee_landslide.earthengine.export import EmptyCollectionError

    cat = load_catalog(request.config.rootpath / "case_studies.yaml")
    ev = cat.event("india-19")
    server = FakeServer(value_result={**PREFLIGHT_OK, "s2_post_clear_px": 0, "s1_pre": 0})
    with apitestcase.UsingCloudApi(mock_http=server), pytest.raises(EmptyCollectionError) as info:
        build_event_stack(ev, cat.defaults, tmp_path / "india-19")
    msg = str(info.value)
    assert "no cloud-free Sentinel-2 pixel" in msg and "post window 2020-08-07..2020-09-06" in msg
    assert "widen it" in msg and "window_rule: {mode: months, months: 2}" in msg
    assert "no Sentinel-1 descending IW VV+VH scene of relative orbit 66 in the pre window" in msg
    assert server.pixel_requests == []


def test_labels_are_rasterised_onto_the_stack_grid(ee_offline, tmp_path, request):
    import geopandas as gpd
    from ee import apitestcase
    from shapely.geometry import box

    from gee_landslide.core.grid import grid_around
    from gee_landslide.core.stackio import read_meta, read_stack
    from gee_landslide.earthengine.event_stack import build_event_stack

    cat = load_catalog(request.config.rootpath / "case_studies.yaml")
    ev0 = cat.event("norway-5")
    grid = grid_around(ev0.lat, ev0.lon, 2000, 10)
    # a 200 m x 100 m landslide polygon in the grid's UTM zone, given in EPSG:4326
    x0, y0 = grid.x_min + 500, grid.y_max - 800
    poly = gpd.GeoSeries([box(x0, y0, x0 + 200, y0 + 100)], crs=grid.crs).to_crs("EPSG:4326")
    path = tmp_path / "slides.geojson"
    gpd.GeoDataFrame({"id": [1]}, geometry=poly).to_file(path, driver="GeoJSON")
    ev = ev0.model_copy(update={"labels": str(path)})
    with apitestcase.UsingCloudApi(mock_http=FakeServer(grid=grid, value_result=PREFLIGHT_OK)):
        out = build_event_stack(ev, cat.defaults, tmp_path / "norway-5")
    stack = read_stack(out)
    assert 150 <= int(stack.labels.sum()) <= 250  # about 20 x 10 pixels
    rows, cols = np.nonzero(stack.labels)
    assert abs(rows.min() - 70) <= 1 and abs(cols.min() - 50) <= 1
    assert read_meta(out)["labels"] == str(path)
