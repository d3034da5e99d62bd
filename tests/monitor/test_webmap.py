"""The read-only feed server (caching, 304, 405, traversal) and the web map in headless Chromium."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from helpers_alerts import RUN_2, SLIDES_A, SLIDES_B, run_pass

from gee_landslide.monitor.server import make_server
from gee_landslide.monitor.store import AlertStore

CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").exists() and "/usr/bin/chromium") or None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("web") / "alerts"
    run_pass(d, SLIDES_A)
    run_pass(d, SLIDES_B, RUN_2, seed=1)
    server = make_server(d, "127.0.0.1", 0)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield d, server.server_address[1]
    server.shutdown()
    server.server_close()


def _req(port, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})  # http.client keeps the path raw
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_files_are_served_with_caching_headers(served):
    d, port = served
    for path, ctype in [
        ("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css"),
        ("/alerts.geojson", "application/geo+json"), ("/alerts.atom", "application/atom+xml"),
        ("/alerts.gpkg", "application/geopackage+sqlite3"),
    ]:
        status, h, body = _req(port, "GET", path)
        assert status == 200, path
        assert h["content-type"].startswith(ctype), path
        assert h["etag"].startswith('"') and h["last-modified"].endswith("GMT") and h["cache-control"]
        assert int(h["content-length"]) == len(body)
    alert = AlertStore(d).load()[0]
    for path in (f"/cap/{alert.alert_id}.xml", f"/{alert.quicklook}"):
        status, h, body = _req(port, "GET", path)
        assert status == 200 and body == (d / path[1:]).read_bytes()
    status, h, body = _req(port, "GET", "/")
    assert "default-src 'self'" in h["content-security-policy"]


def test_conditional_requests_and_head(served):
    _, port = served
    status, h, body = _req(port, "GET", "/alerts.geojson")
    assert status == 200 and json.loads(body)["type"] == "FeatureCollection"
    etag, last_mod = h["etag"], h["last-modified"]
    status, h2, body2 = _req(port, "GET", "/alerts.geojson", {"If-None-Match": etag})
    assert status == 304 and body2 == b"" and h2["etag"] == etag and "cache-control" in h2
    status, _, _ = _req(port, "GET", "/alerts.geojson", {"If-None-Match": f'"nope", W/{etag}'})
    assert status == 304
    status, _, _ = _req(port, "GET", "/alerts.geojson", {"If-None-Match": '"other"'})
    assert status == 200
    status, _, _ = _req(port, "GET", "/alerts.geojson", {"If-Modified-Since": last_mod})
    assert status == 304
    status, _, _ = _req(port, "GET", "/alerts.geojson", {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert status == 200
    status, h3, body3 = _req(port, "HEAD", "/alerts.geojson")
    assert status == 200 and body3 == b"" and h3["etag"] == etag and int(h3["content-length"]) == len(body)


def test_read_only_methods(served):
    _, port = served
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"):
        status, h, _ = _req(port, method, "/alerts.geojson", body=b"{}")
        assert status == 405, method
        assert h["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/../alerts.gpkg",
        "/../../../../etc/passwd",
        "/cap/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/quicklooks/..%2f..%2f..%2fetc%2fpasswd",
        "/quicklooks/%2e%2e%2f.lock",
        "/.lock",
        "/feed.json",
        "/cap/",
        "/cap/%2e%2e",
        "/quicklooks/.x.png.1.tmp",
        "/etc/passwd",
        "//etc/passwd",
        "/app.js/../../server.py",
        "/alerts.geojson%00.png",
        "/..\\..\\etc\\passwd",
    ],
)
def test_path_traversal_and_unlisted_files_are_refused(served, path):
    _, port = served
    status, _, body = _req(port, "GET", path)
    assert status in (403, 404), (path, status)
    assert b"root:" not in body and not body.startswith(b"SQLite")


def _chromium(args, tmp_path):
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,850",
        "--virtual-time-budget=8000", *args,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=90, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_web_map_renders_the_alerts_in_headless_chromium(served, tmp_path):
    from lxml import html

    d, port = served
    alerts = AlertStore(d).load()
    selected = alerts[0].alert_id
    url = f"http://127.0.0.1:{port}/#{selected}"
    r = _chromium(["--dump-dom", url], tmp_path)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    doc = html.fromstring(r.stdout)
    assert doc.body.get("data-state") == "ready"
    rows = doc.xpath("//table[@id='alerts']/tbody/tr")
    assert sorted(tr.get("data-alert-id") for tr in rows) == sorted(a.alert_id for a in alerts)
    assert all(tr.get("data-alert-id") in tr.text_content() for tr in rows)
    # every alert is drawn on the SVG map, and the one in the URL is selected with its quick-look
    drawn = doc.xpath("//*[local-name()='svg'][@id='map']//*[local-name()='g'][@data-alert-id]")
    assert sorted(g.get("data-alert-id") for g in drawn) == sorted(a.alert_id for a in alerts)
    assert doc.get_element_by_id("detail-title").text_content() == selected
    assert doc.get_element_by_id("detail-img").get("src") == f"quicklooks/{selected}.png"
    # and a screenshot comes out (look at it when changing the page)
    shot = tmp_path / "map.png"
    r = _chromium([f"--screenshot={shot}", url], tmp_path)
    assert r.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_web_map_without_published_alerts_says_so(tmp_path):
    from lxml import html

    server = make_server(tmp_path / "empty", "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = _chromium(["--dump-dom", f"http://127.0.0.1:{server.server_address[1]}/"], tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    doc = html.fromstring(r.stdout)
    assert doc.body.get("data-state") == "error"
    assert "No alerts have been published yet" in doc.get_element_by_id("message").text_content()
