"""Feeds parse with real parsers and carry the same alerts as the store: GeoJSON, Atom + GeoRSS, CAP 1.2."""

from __future__ import annotations

import itertools
import json
import re

import feedparser
import pytest
from helpers_alerts import RUN_2, SLIDES_A, SLIDES_B, run_pass, snapshot
from lxml import etree
from typer.testing import CliRunner

from gee_landslide.monitor.cap import CAP_NS
from gee_landslide.monitor.feeds import ATOM_NS, GEORSS_NS, publish_feeds
from gee_landslide.monitor.store import AlertStore

CAP = f"{{{CAP_NS}}}"
ATOM = f"{{{ATOM_NS}}}"
BASE = "https://alerts.example.org/landslides"

# CAP 1.2 (OASIS), section 3.2: element order of <alert>, <info> and <area> (the schema's sequences)
ALERT_SEQ = ["identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
             "addresses", "code", "note", "references", "incidents", "info"]
INFO_SEQ = ["language", "category", "event", "responseType", "urgency", "severity", "certainty", "audience",
            "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
            "instruction", "web", "contact", "parameter", "resource", "area"]
AREA_SEQ = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("feeds") / "alerts"
    run_pass(d, SLIDES_A)
    run_pass(d, SLIDES_B, RUN_2, seed=1)  # 2 updated + 1 new
    publish_feeds(d, base_url=BASE)
    return d


@pytest.fixture(scope="module")
def alerts(store_dir):
    out = AlertStore(store_dir).load()
    assert {a.status for a in out} == {"new", "updated"}
    return {a.alert_id: a for a in out}


# ----------------------------------------------------------------------------- GeoJSON (RFC 7946)
def _signed_area(ring):
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)) / 2


def _check_position(p):
    assert isinstance(p, list) and len(p) == 2 and all(isinstance(v, float | int) for v in p)
    lon, lat = p
    assert -180 <= lon <= 180 and -90 <= lat <= 90


def test_geojson_is_rfc7946(store_dir, alerts):
    fc = json.loads((store_dir / "alerts.geojson").read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    w, s, e, n = fc["bbox"]
    assert w <= e and s <= n
    ids = []
    for f in fc["features"]:
        assert f["type"] == "Feature" and isinstance(f["id"], str) and "crs" not in f
        g = f["geometry"]
        assert g["type"] == "Polygon" and len(g["coordinates"]) >= 1
        for k, ring in enumerate(g["coordinates"]):
            assert len(ring) >= 4 and ring[0] == ring[-1]  # linear ring: closed, >= 4 positions
            for p in ring:
                _check_position(p)
            area = _signed_area(ring)
            assert (area > 0) if k == 0 else (area < 0)  # right-hand rule: exterior CCW, holes CW
        fw, fs, fe, fn = f["bbox"]
        assert w <= fw <= fe <= e and s <= fs <= fn <= n
        ids.append(f["id"])
        a = alerts[f["id"]]
        p = f["properties"]
        for key in ("region", "status", "first_seen", "last_seen", "area_m2", "mean_prob", "peak_prob",
                    "agreement", "centroid_lon", "centroid_lat", "model_version", "pre_start", "post_end"):
            assert p[key] == getattr(a, key), key
        assert p["cap_url"] == f"{BASE}/cap/{a.alert_id}.xml"
        assert p["quicklook_url"] == f"{BASE}/quicklooks/{a.alert_id}.png"
    assert sorted(ids) == sorted(alerts)


def test_geojson_validates_against_a_schema(store_dir):
    jsonschema = pytest.importorskip("jsonschema")
    position = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
    ring = {"type": "array", "minItems": 4, "items": position}
    schema = {
        "type": "object",
        "required": ["type", "features"],
        "not": {"required": ["crs"]},
        "properties": {
            "type": {"const": "FeatureCollection"},
            "bbox": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
            "features": {"type": "array", "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"const": "Feature"},
                    "id": {"type": ["string", "number"]},
                    "properties": {"type": ["object", "null"]},
                    "geometry": {"type": "object", "required": ["type", "coordinates"], "properties": {
                        "type": {"const": "Polygon"}, "coordinates": {"type": "array", "minItems": 1, "items": ring},
                    }},
                },
            }},
        },
    }
    jsonschema.validate(json.loads((store_dir / "alerts.geojson").read_text()), schema)


# ----------------------------------------------------------------------------- Atom + GeoRSS
def test_atom_parses_with_feedparser_and_matches_store(store_dir, alerts):
    d = feedparser.parse((store_dir / "alerts.atom").read_bytes())
    assert not d.bozo, d.get("bozo_exception")
    assert d.version == "atom10"
    f = d.feed
    assert f.id.startswith("urn:uuid:") and f.title and f.updated_parsed and f.author
    assert any(lk.rel == "self" and lk.href == f"{BASE}/alerts.atom" for lk in f.links)
    assert len(d.entries) == len(alerts)
    seen = set()
    for e in d.entries:
        assert e.id and e.title and e.updated_parsed and e.summary and e.link
        aid = e.link.rsplit("#", 1)[1]
        seen.add(aid)
        a = alerts[aid]
        assert e.updated == a.last_seen and aid in e.title
        assert any(lk.type == "application/cap+xml" and lk.href.endswith(f"/cap/{aid}.xml") for lk in e.links)
        assert any(lk.rel == "enclosure" and lk.href.endswith(f"{aid}.png") for lk in e.links)
        # GeoRSS polygon as feedparser reads it: (lon, lat) pairs of the exterior ring
        where = e.where
        assert where["type"] == "Polygon"
        got = where["coordinates"][0]
        want = list(a.geometry.exterior.coords)
        assert len(got) == len(want)
        assert all(abs(g[0] - w[0]) < 1e-6 and abs(g[1] - w[1]) < 1e-6 for g, w in zip(got, want, strict=True))
    assert seen == set(alerts)
    # entries are newest first
    times = [e.updated for e in d.entries]
    assert times == sorted(times, reverse=True)


def test_atom_structure_and_georss_point_with_lxml(store_dir, alerts):
    root = etree.parse(str(store_dir / "alerts.atom")).getroot()
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None, tag
    for entry in root.iter(f"{ATOM}entry"):
        for tag in ("id", "title", "updated", "summary", "link"):
            assert entry.find(f"{ATOM}{tag}") is not None, tag
        aid = entry.find(f"{ATOM}link[@type='text/html']").get("href").rsplit("#", 1)[1]
        lat, lon = map(float, entry.find(f"{{{GEORSS_NS}}}point").text.split())
        assert (lat, lon) == pytest.approx((alerts[aid].centroid_lat, alerts[aid].centroid_lon), abs=1e-7)
        poly = list(map(float, entry.find(f"{{{GEORSS_NS}}}polygon").text.split()))
        assert len(poly) % 2 == 0 and len(poly) >= 8 and poly[:2] == poly[-2:]


# ----------------------------------------------------------------------------- CAP 1.2
def _children(el):
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def _in_order(names, seq):
    idx = [seq.index(n) for n in names]  # ValueError: an element CAP does not define here
    return idx == sorted(idx)


def test_cap_messages_have_required_elements(store_dir, alerts):
    files = sorted((store_dir / "cap").glob("*.xml"))
    assert [p.stem for p in files] == sorted(alerts)
    for path in files:
        root = etree.parse(str(path)).getroot()
        a = alerts[path.stem]
        assert root.tag == f"{CAP}alert"
        names = _children(root)
        assert _in_order(names, ALERT_SEQ), names
        for req in ("identifier", "sender", "sent", "status", "msgType", "scope", "info"):
            assert req in names, req
        ident = root.findtext(f"{CAP}identifier")
        assert not re.search(r"[\s,<&]", ident) and a.alert_id in ident
        assert not re.search(r"[\s,<&]", root.findtext(f"{CAP}sender"))
        assert CAP_TIME.match(root.findtext(f"{CAP}sent"))
        assert root.findtext(f"{CAP}status") == "Actual"
        assert root.findtext(f"{CAP}scope") == "Public"
        msg_type = root.findtext(f"{CAP}msgType")
        if a.revision == 1:
            assert msg_type == "Alert" and root.find(f"{CAP}references") is None
        else:
            assert msg_type == "Update"
            _sender, ref_id, ref_sent = root.findtext(f"{CAP}references").split(",")
            assert ref_id.endswith(".r1") and CAP_TIME.match(ref_sent)
        info = root.find(f"{CAP}info")
        inames = _children(info)
        assert _in_order(inames, INFO_SEQ), inames
        assert info.findtext(f"{CAP}category") == "Geo"
        assert info.findtext(f"{CAP}event") == "Landslide"
        assert info.findtext(f"{CAP}urgency") in {"Immediate", "Expected", "Future", "Past", "Unknown"}
        assert info.findtext(f"{CAP}severity") in {"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
        assert info.findtext(f"{CAP}certainty") in {"Observed", "Likely", "Possible", "Unlikely", "Unknown"}
        area = info.find(f"{CAP}area")
        assert _in_order(_children(area), AREA_SEQ)
        assert area.findtext(f"{CAP}areaDesc")
        pairs = area.findtext(f"{CAP}polygon").split()
        assert len(pairs) >= 4 and pairs[0] == pairs[-1]  # closed, at least 4 points
        latlon = [v for p in pairs for v in map(float, p.split(","))]
        want = [v for lon, lat in a.geometry.exterior.coords for v in (lat, lon)]
        assert latlon == pytest.approx(want, abs=1e-7)  # "lat,lon" order, WGS 84
        res = info.find(f"{CAP}resource")
        assert res.findtext(f"{CAP}uri") == f"{BASE}/{a.quicklook}"


# ----------------------------------------------------------------------------- publishing
def test_publish_is_deterministic_and_remembers_the_base_url(store_dir):
    before = snapshot(store_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.xml")}
    publish_feeds(store_dir)  # no base URL given: the remembered one
    publish_feeds(store_dir, base_url=BASE + "/")
    assert snapshot(store_dir) == before
    assert {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.xml")} == mtimes


def test_empty_store_publishes_valid_empty_feeds(tmp_path):
    out = publish_feeds(tmp_path / "alerts")
    fc = json.loads(out["geojson"].read_text())
    assert fc["type"] == "FeatureCollection" and fc["features"] == []
    d = feedparser.parse(out["atom"].read_bytes())
    assert not d.bozo and d.entries == []


def test_cli_feed_publish_and_list(tmp_path):
    from gee_landslide.cli import app

    run_pass(tmp_path / "artifacts" / "alerts", SLIDES_A)
    (tmp_path / "artifacts" / "alerts" / "alerts.geojson").unlink()
    runner = CliRunner()
    r = runner.invoke(app, ["feed", "publish", "--root", str(tmp_path), "--base-url", BASE])
    assert r.exit_code == 0, r.output
    assert "published 2 alert(s)" in r.output
    fc = json.loads((tmp_path / "artifacts" / "alerts" / "alerts.geojson").read_text())
    assert fc["links"]["self"] == f"{BASE}/alerts.geojson"
    r = runner.invoke(app, ["feed", "list", "--root", str(tmp_path)])
    assert r.exit_code == 0 and "norway-" in r.output
    r = runner.invoke(app, ["feed", "--help"])
    assert r.exit_code == 0 and "serve" in r.output and "publish" in r.output
