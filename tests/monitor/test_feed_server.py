"""The feed server under load and abuse: concurrency, symlinks, request framing, served URLs,
region/time-window feeds, the basemap config."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading

import httpx
import pytest
from helpers_alerts import RUN_2, SLIDES_A, SLIDES_B, run_pass

from gee_landslide.monitor.server import make_server


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("srv") / "alerts"
    run_pass(d, SLIDES_A)
    run_pass(d, SLIDES_B, RUN_2, seed=1, region="iceland")
    return d


def _start(d, **kw):
    server = make_server(d, port=0, **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def served(store):
    server = _start(store)
    yield store, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_binds_loopback_by_default(store):
    server = make_server(store, port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_200_concurrent_requests_without_errors(served):
    _, url = served
    paths = ["/alerts.geojson", "/alerts.atom", "/", "/app.js", "/alerts.gpkg"]

    async def fire() -> list[object]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(client.get(paths[i % len(paths)]) for i in range(200)), return_exceptions=True
            )

    results = asyncio.run(fire())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert [r.status_code for r in results if not isinstance(r, BaseException)] == [200] * 200


def test_in_root_symlinks_to_non_feed_files_are_refused(store, served):
    _, url = served
    (store / "feed.json").write_text('{"secret": true}')
    (store / "cap" / "zz-link.xml").symlink_to(store / "feed.json")
    (store / "quicklooks" / "zz-link.png").symlink_to(store / ".lock")
    outside = store.parent / "outside.png"
    outside.write_bytes(b"not yours")
    (store / "quicklooks" / "zz-out.png").symlink_to(outside)
    try:
        for path in ("/cap/zz-link.xml", "/quicklooks/zz-link.png", "/quicklooks/zz-out.png"):
            r = httpx.get(url + path)
            assert r.status_code == 403, path
            assert b"secret" not in r.content and b"not yours" not in r.content
    finally:
        for p in ("cap/zz-link.xml", "quicklooks/zz-link.png", "quicklooks/zz-out.png", "feed.json"):
            os.unlink(store / p)


def test_refused_post_does_not_desync_the_connection(served):
    _, url = served
    port = int(url.rsplit(":", 1)[1])
    smuggled = b"GET /feed.json HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = (
        b"POST /alerts.geojson HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled
        + b"GET /alerts.geojson HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    reply = b"".join(chunks)
    statuses = [line.split()[1] for line in reply.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert statuses[0] == b"405"
    # the body of the refused POST was never taken for a request of its own
    assert b"404" not in statuses and b"403" not in statuses
    assert statuses in ([b"405"], [b"405", b"200"])


def test_feed_links_use_the_url_served(served):
    _, url = served
    fc = httpx.get(url + "/alerts.geojson").json()
    assert fc["links"]["self"] == f"{url}/alerts.geojson"
    assert all(f["properties"]["cap_url"].startswith(url + "/cap/") for f in fc["features"])
    atom = httpx.get(url + "/alerts.atom").text
    assert f'href="{url}/alerts.atom"' in atom


def test_region_and_time_window_feeds(served):
    store, url = served
    every = httpx.get(url + "/alerts.geojson").json()["features"]
    assert {f["properties"]["region"] for f in every} == {"norway", "iceland"}
    norway = httpx.get(url + "/alerts.geojson", params={"region": "norway"}).json()
    assert norway["features"] and {f["properties"]["region"] for f in norway["features"]} == {"norway"}
    assert httpx.get(url + "/alerts.geojson", params={"since": "P36500D"}).json()["features"] == every
    assert httpx.get(url + "/alerts.geojson", params={"since": "2999-01-01"}).json()["features"] == []
    recent = httpx.get(url + "/alerts.geojson", params={"region": "iceland", "since": RUN_2.isoformat()}).json()
    assert recent["features"] and all(f["properties"]["last_seen"] >= RUN_2.isoformat() for f in recent["features"])
    bad = httpx.get(url + "/alerts.geojson", params={"since": "last week"})
    assert bad.status_code == 400 and "since" in bad.text
    assert httpx.get(url + "/alerts.geojson", params={"colour": "red"}).status_code == 400
    # the static per-region files, for any plain file server
    static = json.loads((store / "regions" / "norway.geojson").read_text())
    assert {f["id"] for f in static["features"]} == {f["id"] for f in norway["features"]}
    served_region = httpx.get(url + "/regions/iceland.atom")
    assert served_region.status_code == 200 and "iceland" in served_region.text


def test_map_config_offers_basemaps_or_tiles(store):
    from gee_landslide.core.atomic import write_bytes_atomic, write_json_atomic

    entry = {"region": "norway", "image": "basemaps/norway.png", "bounds": [6.0, 61.0, 6.2, 61.1],
             "outline": [[6, 61], [6.2, 61], [6.2, 61.1], [6, 61.1], [6, 61]]}
    write_json_atomic(store / "basemaps" / "norway.json", entry)
    write_bytes_atomic(store / "basemaps" / "norway.png", b"\x89PNG\r\n\x1a\n")
    offline = _start(store, tile_url="")
    osm = _start(store, tile_url="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    try:
        cfg = httpx.get(f"http://127.0.0.1:{offline.server_address[1]}/map.json").json()
        assert cfg["tile_url"] is None or cfg["tile_url"] == ""
        assert cfg["basemaps"][0]["bounds"] == entry["bounds"]
        assert httpx.get(f"http://127.0.0.1:{offline.server_address[1]}/basemaps/norway.png").status_code == 200
        base = f"http://127.0.0.1:{osm.server_address[1]}"
        assert httpx.get(base + "/map.json").json()["tile_url"].startswith("https://tile.openstreetmap.org/")
        csp = httpx.get(base + "/").headers["content-security-policy"]
        assert "https://tile.openstreetmap.org" in csp
    finally:
        for s in (offline, osm):
            s.shutdown()
            s.server_close()


def test_idle_keep_alive_connections_are_closed(store, monkeypatch):
    import time

    from gee_landslide.monitor import server as server_mod

    monkeypatch.setattr(server_mod, "KEEP_ALIVE_S", 1)
    server = _start(store)
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
            s.sendall(b"GET /map.json HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(2.5)
            t0 = time.monotonic()
            data = b""
            while chunk := s.recv(65536):  # ends only when the server hangs up (else: timeout error)
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and data.count(b"HTTP/1.1 ") == 1
            assert time.monotonic() - t0 < 5
    finally:
        server.shutdown()
        server.server_close()
