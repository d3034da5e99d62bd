"""Alert logic: thresholding, polygonisation, filters, de-duplication, ids, idempotence, locking, crashes."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import multiprocessing as mp
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import shapely
from helpers_alerts import GRID, RUN_1, RUN_2, SLIDES_A, SLIDES_B, candidates_of, run_pass, snapshot, windows
from shapely.geometry import box
from synthetic_pass import Slide, synthetic_pass

from gee_landslide.core.grid import Grid
from gee_landslide.core.landcover import WATER_CODE
from gee_landslide.monitor import store as store_mod
from gee_landslide.monitor.alert_gpkg import read_alerts
from gee_landslide.monitor.alerts import Rejected, detections_to_candidates, geohash
from gee_landslide.monitor.feeds import merge_and_publish
from gee_landslide.monitor.notify import Notifier, notify_new_alerts
from gee_landslide.monitor.store import AlertStore

SMALL = Grid("EPSG:32632", 400000.0, 6800000.0, 40, 30, 10.0)


def _arrays(shape=(30, 40)):
    mean = np.full(shape, 0.1, np.float32)
    std = np.full(shape, 0.05, np.float32)
    agree = np.zeros(shape, np.float32)
    slope = np.full(shape, 30.0, np.float32)
    lc = np.full(shape, 2.0, np.float32)
    return mean, std, agree, slope, lc


def _cands(mean, std, agree, slope, lc, **kw):
    args = {"threshold": 0.5, "slope": slope, "landcover": lc, "min_area_m2": 400.0, "min_slope_deg": 10.0}
    args.update(kw)
    return detections_to_candidates(mean, std, agree, SMALL, **args)


# ----------------------------------------------------------------------------- candidates
def test_threshold_polygon_geometry_and_area():
    mean, std, agree, slope, lc = _arrays()
    mean[5:13, 10:20] = 0.8  # 8 rows x 10 cols
    mean[6, 11] = 0.95
    agree[5:13, 10:20] = 0.75
    mean[0, 0] = np.nan
    (c,) = _cands(mean, std, agree, slope, lc)
    x0, y1 = SMALL.x_min + 10 * 10, SMALL.y_max - 5 * 10
    assert c.geometry.equals(box(x0, y1 - 80, x0 + 100, y1))
    assert c.area_m2 == 8000.0 == pytest.approx(c.geometry.area)
    assert c.pixel_count == 80 and c.window == (5, 10, 13, 20)
    assert c.peak_prob == pytest.approx(0.95)
    assert c.mean_prob == pytest.approx((79 * 0.8 + 0.95) / 80, abs=1e-6)
    assert c.agreement == pytest.approx(0.75) and c.spread == pytest.approx(0.05)
    assert c.landcover == 2 and c.mean_slope_deg == pytest.approx(30.0)
    # lon/lat polygon: RFC 7946 winding (exterior counter-clockwise), centroid inside
    assert c.lonlat.exterior.is_ccw and c.lonlat.is_valid
    assert c.lonlat.contains(shapely.Point(c.centroid_lon, c.centroid_lat))
    assert 6.0 < c.centroid_lon < 9.0 and 61.0 < c.centroid_lat < 62.0
    # the threshold decides
    assert _cands(mean, std, agree, slope, lc, threshold=0.85) == []
    assert len(_cands(mean, std, agree, slope, lc, threshold=0.8)) == 1


def test_polygon_with_hole_and_separate_components():
    mean, std, agree, slope, lc = _arrays()
    mean[2:12, 2:12] = 0.9
    mean[5:8, 5:8] = 0.1  # a 3x3 hole
    mean[20:25, 30:38] = 0.7  # a second landslide
    cands = _cands(mean, std, agree, slope, lc)
    assert len(cands) == 2
    ring = cands[0]
    assert len(ring.geometry.interiors) == 1
    assert ring.area_m2 == (100 - 9) * 100 == pytest.approx(ring.geometry.area)
    assert not ring.lonlat.interiors[0].is_ccw  # holes clockwise (RFC 7946)
    assert cands[1].area_m2 == 40 * 100


def test_filters_area_slope_water():
    mean, std, agree, slope, lc = _arrays()
    mean[1:3, 1:3] = 0.9  # 400 m2: exactly the minimum -> kept
    mean[1:3, 10:11] = 0.9  # 200 m2 -> too small
    mean[10:15, 1:6] = 0.9
    slope[10:15, 1:6] = 4.0  # flat ground
    mean[10:15, 10:16] = 0.9
    lc[10:15, 10:16] = WATER_CODE
    lc[10, 10] = 2  # majority is still water
    mean[20:26, 20:26] = 0.9  # a good one
    slope[20:26, 20:26] = np.nan  # slope unknown: not a reason to drop it
    rejected: list[Rejected] = []
    cands = _cands(mean, std, agree, slope, lc, rejected=rejected)
    assert sorted(r.reason for r in rejected) == ["area", "slope", "water"]
    assert sorted(c.area_m2 for c in cands) == [400.0, 3600.0]
    # each filter can be switched off
    assert len(_cands(mean, std, agree, None, None, min_area_m2=0)) == 5


def test_input_validation():
    mean, std, agree, slope, lc = _arrays()
    with pytest.raises(ValueError, match="shape"):
        _cands(mean[:-1], std, agree, slope, lc)
    with pytest.raises(ValueError, match="threshold"):
        _cands(mean, std, agree, slope, lc, threshold=1.5)


def test_geohash_reference_value():
    assert geohash(57.64911, 10.40744, 11) == "u4pruydqqvj"  # the classic example
    assert geohash(-33.8688, 151.2093, 6) == "r3gx2f"


# ----------------------------------------------------------------------------- merge
def test_new_alerts_have_stable_ids_and_attributes(tmp_path):
    r1 = run_pass(tmp_path / "a", SLIDES_A)
    r2 = run_pass(tmp_path / "b", SLIDES_A)  # a fresh store, the same pass
    ids = sorted(a.alert_id for a in r1.new)
    assert len(ids) == 2 and ids == sorted(a.alert_id for a in r2.new)
    a = r1.new[0]
    lat, lon = a.centroid_lat, a.centroid_lon
    assert a.alert_id == f"norway-{geohash(lat, lon, 8)}-20240601"
    assert a.status == "new" and a.revision == 1
    assert a.first_seen == a.last_seen == "2024-06-01T06:00:00Z"
    assert (a.post_start, a.post_end) == ("2024-05-03", "2024-06-01")
    assert a.model_version == "ens-test-k10" and a.threshold == 0.5
    assert 0.5 < a.mean_prob <= a.peak_prob <= 1 and a.agreement == pytest.approx(0.8)
    assert a.geometry.exterior.is_ccw and a.area_m2 > 0
    # stored in the GeoPackage as EPSG:4326 polygons, round trip exact
    import pyogrio

    info = pyogrio.read_info(tmp_path / "a" / "alerts.gpkg", layer="alerts")
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Polygon" and info["features"] == 2
    assert read_alerts(tmp_path / "a" / "alerts.gpkg") == r1.alerts
    # the quick-look exists and is a small PNG
    for al in r1.new:
        png = tmp_path / "a" / al.quicklook
        assert al.quicklook == f"quicklooks/{al.alert_id}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000


def test_rerun_is_idempotent_and_update_keeps_one_alert(tmp_path):
    d = tmp_path / "alerts"
    r1 = run_pass(d, SLIDES_A)
    before = snapshot(d)
    mtimes = {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}
    again = run_pass(d, SLIDES_A)  # the same pass (same windows) again
    assert (again.new, again.updated, len(again.unchanged)) == ([], [], 2)
    assert snapshot(d) == before
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()} == mtimes  # nothing rewritten

    r2 = run_pass(d, SLIDES_B, RUN_2, seed=1)  # 12 days later: slide 1 grew, slide 3 is new
    assert len(r2.new) == 1 and len(r2.updated) == 2 and r2.unchanged == []
    assert {a.alert_id for a in r2.updated} == {a.alert_id for a in r1.new}
    first = {a.alert_id: a for a in r1.new}
    grown = next(a for a in r2.updated if a.area_m2 > first[a.alert_id].area_m2 + 100)
    old = first[grown.alert_id]
    assert old.area_m2 == 16 * 10 * 100
    assert grown.status == "updated" and grown.revision == 2
    assert grown.first_seen == old.first_seen and grown.last_seen == "2024-06-13T06:00:00Z"
    assert grown.post_end == "2024-06-13"
    assert grown.area_m2 == pytest.approx(20 * 13 * 100, rel=1e-3)
    assert grown.geometry.covers(old.geometry) and grown.geometry.exterior.is_ccw
    assert len(read_alerts(d / "alerts.gpkg")) == 3
    assert r2.new[0].alert_id.endswith("-20240613")

    # re-running the older pass does not roll anything back
    snap = snapshot(d)
    old_pass = run_pass(d, SLIDES_A)
    assert old_pass.new == [] and old_pass.updated == []
    assert snapshot(d) == snap


def test_shifted_or_fragmented_detection_updates_instead_of_duplicating(tmp_path):
    d = tmp_path / "alerts"
    (a,) = run_pass(d, [Slide(30, 30, 45, 45, 0.9)]).new
    # seen again a little shifted (IoU ~0.7)
    r = run_pass(d, [Slide(32, 31, 47, 46, 0.9)], RUN_2)
    assert r.new == [] and [u.alert_id for u in r.updated] == [a.alert_id]
    # seen as two fragments inside the footprint: both absorbed by the same alert
    r = run_pass(d, [Slide(30, 30, 36, 45, 0.9), Slide(38, 30, 45, 45, 0.9)], RUN_2 + dt.timedelta(days=12))
    assert r.new == [] and [u.alert_id for u in r.updated] == [a.alert_id]
    # a separate landslide 80 m away is a new alert; the same place in another region too
    r = run_pass(d, [Slide(30, 53, 36, 59, 0.9)], RUN_2 + dt.timedelta(days=24))
    assert len(r.new) == 1 and r.updated == []
    r = run_pass(d, [Slide(30, 30, 45, 45, 0.9)], region="iceland")
    assert len(r.new) == 1 and r.new[0].alert_id.startswith("iceland-")
    assert len(AlertStore(d).load()) == 3


def test_centroid_distance_matches_small_shifted_detection(tmp_path):
    d = tmp_path / "alerts"
    assert len(run_pass(d, [Slide(50, 50, 53, 57, 0.9)]).new) == 1  # 3 x 7 px
    r = run_pass(d, [Slide(54, 50, 57, 57, 0.9)], RUN_2)  # no overlap, centroids 40 m apart
    assert len(r.new) == 1
    d2 = tmp_path / "alerts2"
    run_pass(d2, [Slide(50, 50, 53, 57, 0.9)])
    r = run_pass(d2, [Slide(50, 52, 53, 59, 0.9)], RUN_2)  # 20 m shift: same landslide
    assert r.new == [] and len(r.updated) == 1


def _merge_worker(store_dir: str, slides: list[tuple[int, int, int, int]], seed: int, start) -> None:
    start.wait(10)
    run_pass(Path(store_dir), [Slide(*s, prob=0.9) for s in slides], seed=seed, chips=False)


def test_concurrent_merges_from_two_processes(tmp_path):
    d = tmp_path / "alerts"
    # spawn, not fork: a fork of a process whose libraries hold threads (GDAL, torch, Prefect) can
    # deadlock or die in the child, which made this test fail when it ran after in-process flows
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    jobs = [
        ctx.Process(target=_merge_worker, args=(str(d), [(10, 10, 20, 20), (10, 40, 20, 50)], 1, start)),
        ctx.Process(target=_merge_worker, args=(str(d), [(60, 10, 70, 20), (60, 40, 70, 50)], 2, start)),
    ]
    for j in jobs:
        j.start()
    start.set()
    for j in jobs:
        j.join(60)
    assert [j.exitcode for j in jobs] == [0, 0]
    alerts = AlertStore(d).load()
    assert len(alerts) == 4 and len({a.alert_id for a in alerts}) == 4  # nothing lost, nothing doubled
    fc = json.loads((d / "alerts.geojson").read_text())
    assert sorted(f["id"] for f in fc["features"]) == sorted(a.alert_id for a in alerts)
    assert sorted(p.stem for p in (d / "cap").glob("*.xml")) == sorted(a.alert_id for a in alerts)
    assert not [p for p in d.rglob(".*tmp*")]


def test_lock_is_exclusive(tmp_path):
    d = tmp_path / "alerts"
    inside = threading.Event()
    order: list[str] = []

    def other():
        with store_mod.store_lock(d):
            order.append("other")

    with store_mod.store_lock(d):
        t = threading.Thread(target=other)
        t.start()
        inside.wait(0.3)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"]
    with pytest.raises(TimeoutError), store_mod.store_lock(d):
        with store_mod.store_lock(d, timeout_s=0.2):
            pass


def test_crash_before_rename_leaves_store_and_feeds_intact(tmp_path, monkeypatch):
    d = tmp_path / "alerts"
    run_pass(d, SLIDES_A)
    before = snapshot(d)

    def boom() -> None:
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(store_mod, "_before_commit", boom)
    with pytest.raises(RuntimeError, match="half-way"):
        run_pass(d, SLIDES_B, RUN_2, seed=1)
    assert snapshot(d) == before  # store, quick-looks and feeds untouched
    assert not [p for p in d.rglob("*") if ".tmp" in p.name]
    monkeypatch.undo()
    r = run_pass(d, SLIDES_B, RUN_2, seed=1)  # the retry goes through
    assert len(r.new) == 1 and len(r.updated) == 2


def test_stale_temp_files_are_cleaned_and_feeds_repaired(tmp_path):
    d = tmp_path / "alerts"
    run_pass(d, SLIDES_A)
    (d / ".alerts.gpkg.abc123.tmp.gpkg").write_bytes(b"half a file")
    (d / "alerts.geojson").unlink()  # e.g. killed between the store's and the feeds' renames
    r = run_pass(d, SLIDES_A)
    assert not r.changed
    assert not (d / ".alerts.gpkg.abc123.tmp.gpkg").exists()
    assert len(json.loads((d / "alerts.geojson").read_text())["features"]) == 2


# ----------------------------------------------------------------------------- notifications
class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_notifies_new_alerts_only_and_failures_are_not_fatal(tmp_path, caplog):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        d = tmp_path / "alerts"
        p = synthetic_pass(SLIDES_A, grid=GRID)
        pre, post = windows(RUN_1)
        store = AlertStore(d)
        kw = {"region_id": "norway", "pre": pre, "post": post, "run_time": dt.datetime(2024, 6, 1, 6),
              "model_version": "m", "notifier": Notifier(webhook_url=url)}
        r = merge_and_publish(store, candidates_of(p), **kw)
        assert len(_Hook.received) == 2
        assert {f["id"] for f in _Hook.received} == {a.alert_id for a in r.new}
        assert all(f["type"] == "Feature" and f["geometry"]["type"] == "Polygon" for f in _Hook.received)
        merge_and_publish(store, candidates_of(p), **kw)  # nothing new: no notification
        assert len(_Hook.received) == 2
        rep = notify_new_alerts(url, r.new)
        assert rep.sent == 2 and not rep.failed
    finally:
        srv.shutdown()
        srv.server_close()
    # unreachable webhook and a bogus Apprise URL: logged, never raised
    rep = Notifier(webhook_url=url, apprise_urls=("nosuchscheme://x",), timeout_s=1).notify(r.new, base_url="http://x")
    assert rep.sent == 0 and len(rep.failed) >= 2
    assert Notifier().notify(r.new, base_url="http://x").sent == 0  # off by default


def test_notifier_from_env(monkeypatch):
    monkeypatch.delenv("GEE_LANDSLIDE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("GEE_LANDSLIDE_APPRISE_URLS", raising=False)
    assert not Notifier.from_env().enabled
    monkeypatch.setenv("GEE_LANDSLIDE_APPRISE_URLS", "json://localhost:1/a, json://localhost:1/b")
    assert Notifier.from_env().apprise_urls == ("json://localhost:1/a", "json://localhost:1/b")


class _Refuses(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failed_notifications_never_show_the_url_secret(tmp_path, caplog):
    """A webhook's token is in its path (Slack: /services/T0/B0/SECRET): messages show scheme://host only."""
    from gee_landslide.core.urls import redact_url, redact_urls

    assert redact_url("https://user:pw@hooks.example.org:8443/services/T0/B0/SECRET?k=SECRET#SECRET") == \
        "https://hooks.example.org:8443"
    assert redact_url("tgram://SECRETBOTTOKEN/12345") == "tgram://…"
    assert "SECRET" not in redact_urls("Client error '404' for url 'http://h/services/SECRET'\nmore")
    r = run_pass(tmp_path / "alerts", SLIDES_A)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        refused = f"http://127.0.0.1:{port}/services/T0/B0/SECRET"
        closed = "http://127.0.0.1:9/services/T0/B0/SECRET"
        with caplog.at_level("DEBUG"):
            reports = [Notifier(webhook_url=refused, timeout_s=2).notify(r.new, base_url="http://x"),
                       Notifier(webhook_url=closed, timeout_s=2).notify(r.new, base_url="http://x"),
                       Notifier(webhook_url=refused, timeout_s=2).notify_failure("t", "b"),
                       Notifier(apprise_urls=("json://SECRET@127.0.0.1:9/SECRET",), timeout_s=2).notify(
                           r.new, base_url="http://x"),
                       notify_new_alerts(refused, r.new)]
    finally:
        srv.shutdown()
        srv.server_close()
    lines = [line for rep in reports for line in rep.failed]
    assert lines and all(rep.failed for rep in reports)
    assert any(f"http://127.0.0.1:{port}" in line for line in lines)  # still says which target failed
    logged = caplog.text + " ".join(lines) + repr(Notifier(webhook_url=refused))
    assert "SECRET" not in logged and "/services" not in logged


def test_settings_error_never_shows_a_url(monkeypatch):
    from gee_landslide.core.settings import SettingsError, get_settings

    monkeypatch.setenv("GEE_LANDSLIDE_EE_WORKERS", "0")
    with pytest.raises(SettingsError, match="EE_WORKERS"):
        get_settings()


# ----------------------------------------------------------------------------- change evidence
def test_a_detection_without_the_change_a_landslide_makes_is_dropped_for_change():
    """Two equally confident components: one where NDVI fell (kept), one where it did not (dropped,
    reason "change"); a component whose pixels have no limit (NaN) cannot be judged and stays."""
    mean, std, agree, slope, lc = _arrays()
    mean[2:8, 2:8] = 0.9  # NDVI fell
    mean[2:8, 20:26] = 0.9  # steep rock, nothing changed
    mean[20:26, 20:26] = 0.9  # no limit there
    change = np.zeros(mean.shape, np.float32)
    change[2:8, 2:8] = -0.3
    change[2:8, 20:26] = -0.02
    change[20:26, 20:26] = 0.1
    limit = np.full(mean.shape, -0.05)
    limit[20:26, 20:26] = np.nan
    rejected: list[Rejected] = []
    kept = _cands(mean, std, agree, slope, lc, change=change, change_limit=limit, rejected=rejected)
    assert sorted(c.window for c in kept) == [(2, 2, 8, 8), (20, 20, 26, 26)]
    assert [(r.reason, r.window) for r in rejected] == [("change", (2, 20, 8, 26))]
    # without the evidence all three stay
    assert len(_cands(mean, std, agree, slope, lc)) == 3
    # the limit is on the object's median: a few changed pixels do not carry an unchanged object
    change[2:3, 20:26] = -0.5
    assert len(_cands(mean, std, agree, slope, lc, change=change, change_limit=-0.05)) == 1


def test_a_detection_that_changed_no_more_than_its_surroundings_is_dropped_for_contrast():
    """Both components dropped by 0.3 in NDVI, but around the second everything dropped by 0.25 (a
    snow line, a slope browning): it is dropped ("contrast"); one with no finite ring stays."""
    mean, std, agree, slope, lc = _arrays()
    mean[2:8, 2:8] = 0.9
    mean[2:8, 20:26] = 0.9
    mean[18:24, 32:38] = 0.9
    change = np.zeros(mean.shape, np.float32)
    change[2:8, 2:8] = -0.3
    change[:14, 14:32] = -0.25  # the slope around the second component
    change[2:8, 20:26] = -0.3
    change[14:, 28:] = np.nan  # the third: no view around it
    change[18:24, 32:38] = -0.3
    rejected: list[Rejected] = []
    kept = _cands(mean, std, agree, slope, lc, change=change, change_limit=-0.1, contrast_limit=-0.2,
                  rejected=rejected)
    assert sorted(c.window for c in kept) == [(2, 2, 8, 8), (18, 32, 24, 38)]
    assert [(r.reason, r.window) for r in rejected] == [("contrast", (2, 20, 8, 26))]
    # without a contrast limit the change check alone keeps all three
    assert len(_cands(mean, std, agree, slope, lc, change=change, change_limit=-0.1)) == 3


def test_a_detection_the_object_filter_rejects_is_dropped_for_objects():
    """A component mostly made of pixels the object filter rejected is dropped ("objects"); one with
    a few rejected pixels stays."""
    mean, std, agree, slope, lc = _arrays()
    mean[2:8, 2:8] = 0.9
    mean[2:8, 20:26] = 0.9
    rejects = np.zeros(mean.shape, bool)
    rejects[2:8, 20:26] = True  # the filter found this one unlike a landslide
    rejects[2:4, 2:8] = True  # a third of the first: not enough to drop it
    rejected: list[Rejected] = []
    kept = _cands(mean, std, agree, slope, lc, object_rejects=rejects, rejected=rejected)
    assert [c.window for c in kept] == [(2, 2, 8, 8)]
    assert [(r.reason, r.window) for r in rejected] == [("objects", (2, 20, 8, 26))]
    assert len(_cands(mean, std, agree, slope, lc)) == 2
    with pytest.raises(ValueError, match="object_rejects has shape"):
        _cands(mean, std, agree, slope, lc, object_rejects=rejects[:5])
    # objects_hold: the rejected component stays a candidate, marked as unable to confirm an alert
    held: list[Rejected] = []
    both = _cands(mean, std, agree, slope, lc, object_rejects=rejects, objects_hold=True, rejected=held)
    assert [(c.window, c.confirmable) for c in both] == [((2, 2, 8, 8), True), ((2, 20, 8, 26), False)]
    assert held == []
