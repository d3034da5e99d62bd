"""The published alert feeds, regenerated from the store.

In the store directory (``artifacts/alerts``):

- ``alerts.geojson``: RFC 7946 FeatureCollection, lon/lat WGS 84, exterior rings
  counter-clockwise, no ``crs`` member; one Feature per alert (``id`` = alert id), newest first;
- ``alerts.atom``: Atom (RFC 4287) feed with GeoRSS Simple ``georss:point`` and
  ``georss:polygon`` per entry, links to the map, the CAP message and the quick-look;
- ``cap/<alert_id>.xml``: one CAP 1.2 message per alert (:mod:`gee_landslide.monitor.cap`);
- ``regions/<region>.geojson`` and ``regions/<region>.atom``: the same feeds for one region, so a
  subscriber can follow only the region they care about with any static file server.

The feed server also answers ``/alerts.geojson?region=norway&since=P7D&stage=confirmed`` (any region,
any ISO 8601 duration or date, any of the alert stages) from the store; :func:`select_alerts` is that
filter.

The feeds are a pure function of the stored alerts and the base URL: nothing depends on the
clock, so publishing twice yields the same bytes, and a file is only rewritten (atomically) when
its bytes change. ``publish_feeds`` takes the store lock; ``write_feeds`` is the unlocked core the
store calls while it already holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gee_landslide.core.atomic import atomic_path, write_json_atomic
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.settings import get_settings
from gee_landslide.core.urls import check_http_url
from gee_landslide.monitor.alert_gpkg import read_alerts
from gee_landslide.monitor.alert_merge import MergeResult
from gee_landslide.monitor.alert_record import Alert, parse_iso
from gee_landslide.monitor.alerts import LONLAT_DECIMALS
from gee_landslide.monitor.cap import cap_message
from gee_landslide.monitor.store import AlertStore, public_mode, store_lock

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
BASE_URL_ENV = "GEE_LANDSLIDE_FEED_BASE_URL"

REGION_DIR = "regions"
REGION_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)S)?)?)$"
)
GEOJSON_FILE = "alerts.geojson"
ATOM_FILE = "alerts.atom"
CAP_DIR = "cap"
FEED_CONFIG = "feed.json"
ATOM_NS = "http://www.w3.org/2005/Atom"
GEORSS_NS = "http://www.georss.org/georss"
EPOCH = "1970-01-01T00:00:00Z"
FEED_TITLE = "gee-landslide: landslide alerts"

def resolve_base_url(store_dir: str | os.PathLike[str], explicit: str | None = None) -> str:
    """The feeds' base URL: ``explicit``, else ``$GEE_LANDSLIDE_FEED_BASE_URL``, else the one the
    last ``publish_feeds(..., base_url=...)`` saved in ``feed.json``, else ``http://127.0.0.1:8080``."""
    if explicit:
        return explicit.rstrip("/")
    return configured_base_url(store_dir) or DEFAULT_BASE_URL


def configured_base_url(store_dir: str | os.PathLike[str]) -> str | None:
    """The base URL someone chose (``$GEE_LANDSLIDE_FEED_BASE_URL`` or the one saved by
    ``feed publish --base-url``), or None: then the feed server links to the URL it is served at."""
    env_url = get_settings().feed_base_url
    if env_url:
        return check_http_url(env_url, "$GEE_LANDSLIDE_FEED_BASE_URL").rstrip("/")
    cfg = Path(store_dir) / FEED_CONFIG
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads(cfg.read_text(encoding="utf-8"))["base_url"]).rstrip("/")
    return None


def _newest_first(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.updated, a.alert_id), reverse=True)


def _feed_updated(alerts: Sequence[Alert]) -> str:
    return max((a.updated for a in alerts), default=EPOCH)


def entry_uuid(alert_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'gee-landslide:alert:' + alert_id)}"


# ----------------------------------------------------------------------------- GeoJSON
def _self_paths(region: str | None) -> tuple[str, str]:
    if region is None:
        return GEOJSON_FILE, ATOM_FILE
    return f"{REGION_DIR}/{region}.geojson", f"{REGION_DIR}/{region}.atom"


def geojson_feed(alerts: Sequence[Alert], base_url: str, *, region: str | None = None) -> dict[str, Any]:
    geojson_path, atom_path = _self_paths(region)
    feats = [a.to_feature(base_url) for a in _newest_first(alerts)]
    fc: dict[str, Any] = {"type": "FeatureCollection"}
    if alerts:
        xs0, ys0, xs1, ys1 = zip(*(a.geometry.bounds for a in alerts), strict=True)
        fc["bbox"] = [round(v, LONLAT_DECIMALS) for v in (min(xs0), min(ys0), max(xs1), max(ys1))]
    # foreign members (allowed by RFC 7946 section 6.1)
    fc["title"] = FEED_TITLE if region is None else f"{FEED_TITLE} ({region})"
    fc["updated"] = _feed_updated(alerts)
    fc["links"] = {
        "self": f"{base_url}/{geojson_path}",
        "atom": f"{base_url}/{atom_path}",
        "map": f"{base_url}/",
    }
    fc["features"] = feats
    return fc


def geojson_bytes(alerts: Sequence[Alert], base_url: str, *, region: str | None = None) -> bytes:
    fc = geojson_feed(alerts, base_url, region=region)
    return (json.dumps(fc, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- Atom + GeoRSS
def _a(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Atom is the default namespace (declared on the root), so elements are written unprefixed
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def georss_polygon(alert: Alert) -> str:
    """GeoRSS Simple polygon: "lat lon lat lon ...", exterior ring, closed."""
    coords = list(alert.geometry.exterior.coords)
    if coords[0] != coords[-1]:
        coords.append(coords[0])
    return " ".join(f"{lat:.7f} {lon:.7f}" for lon, lat in coords)


def _entry_html(alert: Alert, base_url: str) -> str:
    rows = [
        ("Region", alert.region),
        ("Status", f"{alert.stage}, {alert.status} (revision {alert.revision})"),
        ("Sensors", alert.sensors or "n/a"),
        ("Area", f"{alert.area_m2:,.0f} m²"),
        ("Probability", f"mean {alert.mean_prob:.2f}, peak {alert.peak_prob:.2f}"),
        ("Ensemble agreement", "n/a" if alert.agreement is None else f"{alert.agreement:.0%}"),
        ("Windows", f"pre {alert.pre_start}/{alert.pre_end}, post {alert.post_start}/{alert.post_end}"),
        ("First / last seen", f"{alert.first_seen} / {alert.last_seen}"),
        ("Model", alert.model_version),
    ]
    import html

    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    img = (
        f'<p><img src="{html.escape(base_url)}/{html.escape(alert.quicklook)}" '
        f'alt="dNDVI and dVV quick-look of {html.escape(alert.alert_id)}"/></p>'
        if alert.quicklook else ""
    )
    return f"{img}<table>{cells}</table>"


def atom_bytes(alerts: Sequence[Alert], base_url: str, *, max_entries: int = 1000,
               region: str | None = None) -> bytes:
    geojson_path, atom_path = _self_paths(region)
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xmlns:georss": GEORSS_NS})
    _a(root, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, base_url + '/' + atom_path)}")
    _a(root, "title", FEED_TITLE if region is None else f"{FEED_TITLE} ({region})")
    _a(root, "subtitle", "Possible new landslides detected from Sentinel-1/2 change by the gee-landslide ensemble")
    _a(root, "updated", _feed_updated(alerts))
    author = _a(root, "author")
    _a(author, "name", "gee-landslide monitoring")
    _a(root, "generator", "gee-landslide")
    _a(root, "link", rel="self", type="application/atom+xml", href=f"{base_url}/{atom_path}")
    _a(root, "link", rel="alternate", type="text/html", href=f"{base_url}/")
    _a(root, "link", rel="alternate", type="application/geo+json", href=f"{base_url}/{geojson_path}")
    from gee_landslide.monitor.cap import CAP_MIME, alert_description, alert_headline

    for alert in _newest_first(alerts)[:max_entries]:
        e = _a(root, "entry")
        _a(e, "id", entry_uuid(alert.alert_id))
        _a(e, "title", f"{alert_headline(alert)}: {alert.alert_id} (p {alert.mean_prob:.2f})")
        _a(e, "updated", alert.updated)
        _a(e, "published", alert.first_seen)
        _a(e, "category", term=alert.status, label=f"{alert.status} alert")
        _a(e, "category", term=alert.stage, label=f"{alert.stage} alert",
           scheme="https://gee-landslide.invalid/stage")
        if alert.sensors:
            _a(e, "category", term=alert.sensors, label=f"seen by {alert.sensors}",
               scheme="https://gee-landslide.invalid/sensors")
        _a(e, "category", term=alert.region, label=f"region {alert.region}")
        _a(e, "link", rel="alternate", type="text/html", href=f"{base_url}/#{alert.alert_id}")
        _a(e, "link", rel="alternate", type=CAP_MIME, href=f"{base_url}/{CAP_DIR}/{alert.alert_id}.xml")
        if alert.quicklook:
            _a(e, "link", rel="enclosure", type="image/png", href=f"{base_url}/{alert.quicklook}")
        _a(e, "summary", alert_description(alert), type="text")
        _a(e, "content", _entry_html(alert, base_url), type="html")
        ET.SubElement(e, "georss:point").text = f"{alert.centroid_lat:.7f} {alert.centroid_lon:.7f}"
        ET.SubElement(e, "georss:polygon").text = georss_polygon(alert)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# ----------------------------------------------------------------------------- writing
def _write_if_changed(path: Path, data: bytes) -> bool:
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, public_mode())
    return True


class FeedQueryError(GeeLandslideError, ValueError):
    """A feed query parameter that cannot be used (the server answers 400 with this message)."""


def parse_since(value: str, now: dt.datetime | None = None) -> dt.datetime:
    """The start of a time window: an ISO 8601 duration back from ``now`` (``P7D``, ``PT12H``,
    ``P2W``) or an ISO date/time (``2025-08-01``, ``2025-08-01T06:00:00Z``); UTC."""
    now = now or dt.datetime.now(dt.timezone.utc)
    m = DURATION_RE.match(value.strip().upper())
    if m and any(m.groupdict().values()):
        parts = {k: int(v) for k, v in m.groupdict().items() if v}
        return now - dt.timedelta(**parts)
    try:
        t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FeedQueryError(
            f"since={value!r} is neither an ISO 8601 duration (P7D, PT12H, P2W) nor a date (2025-08-01)",
            field="since", value=value,
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


FEED_STAGES = ("candidate", "confirmed", "cancelled")


def parse_stages(value: str) -> frozenset[str]:
    """The stages a feed query asks for: a comma-separated list of ``candidate``, ``confirmed``
    and ``cancelled`` (``?stage=confirmed``); anything else is a :class:`FeedQueryError`."""
    asked = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in asked if v not in FEED_STAGES]
    if not asked or bad:
        raise FeedQueryError(
            f"stage={value!r}: use one or more of {', '.join(FEED_STAGES)}, comma-separated (stage=confirmed)",
            field="stage", value=value,
        )
    return frozenset(asked)


def stage_matches(alert: Alert, stages: frozenset[str]) -> bool:
    """Whether ``alert`` belongs in a feed of ``stages``.

    Why a cancellation can belong to a ``confirmed`` feed: a subscriber who follows confirmed
    alerts only was told of the confirmation, so they must also get its retraction (the CAP
    ``Cancel``). A cancelled alert that had been confirmed (it keeps ``confirmed_by``) is therefore
    in the ``confirmed`` feed; a cancelled candidate, which that subscriber never saw, is not.
    """
    if alert.stage in stages:
        return True
    return alert.stage == "cancelled" and "confirmed" in stages and bool(alert.confirmed_by)


def select_alerts(
    alerts: Sequence[Alert], region: str | None = None, since: str | None = None,
    now: dt.datetime | None = None, stage: str | None = None,
) -> list[Alert]:
    """The alerts of one ``region`` (all when None) last seen at or after ``since``, in the stages
    ``stage`` names (:func:`parse_stages`, :func:`stage_matches`; all when None).

    Why a stage filter: a SAR-first region raises a Sentinel-1 candidate for nearly every speckle
    cluster a pass leaves (hundreds per pass over a cloudy month), most of them retracted later;
    an agency that acts on alerts follows ``stage=confirmed``, which is the set the time-to-alert
    benchmark scores "after confirmation".
    """
    out = [a for a in alerts if region is None or a.region == region]
    if since:
        start = parse_since(since, now)
        out = [a for a in out if parse_iso(a.updated) >= start]
    if stage is not None:
        stages = parse_stages(stage)
        out = [a for a in out if stage_matches(a, stages)]
    return out


def feed_paths(store_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Where the feeds of the store in ``store_dir`` are published (no I/O)."""
    store_dir = Path(store_dir)
    return {"geojson": store_dir / GEOJSON_FILE, "atom": store_dir / ATOM_FILE, "cap": store_dir / CAP_DIR}


def write_feeds(alerts: Sequence[Alert], store_dir: str | os.PathLike[str], *, base_url: str) -> dict[str, Path]:
    """Write GeoJSON, Atom and CAP files for ``alerts`` (no lock: the caller holds it)."""
    store_dir = Path(store_dir)
    base_url = base_url.rstrip("/")
    cap_dir = store_dir / CAP_DIR
    cap_dir.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for a in alerts:
        name = f"{a.alert_id}.xml"
        wanted.add(name)
        _write_if_changed(cap_dir / name, cap_message(a, base_url=base_url))
    for p in cap_dir.glob("*.xml"):  # alerts deleted from the store by hand
        if p.name not in wanted:
            p.unlink(missing_ok=True)
    out = feed_paths(store_dir)
    _write_if_changed(out["geojson"], geojson_bytes(alerts, base_url))
    _write_if_changed(out["atom"], atom_bytes(alerts, base_url))
    _write_region_feeds(alerts, store_dir, base_url)
    return out


def _write_region_feeds(alerts: Sequence[Alert], store_dir: Path, base_url: str) -> None:
    """``regions/<region>.geojson|atom`` for every region with alerts; stale ones removed."""
    region_dir = store_dir / REGION_DIR
    regions = sorted({a.region for a in alerts if REGION_NAME_RE.match(a.region)})
    if regions:
        region_dir.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    for region in regions:
        mine = [a for a in alerts if a.region == region]
        for ext, data in (("geojson", geojson_bytes(mine, base_url, region=region)),
                          ("atom", atom_bytes(mine, base_url, region=region))):
            wanted.add(f"{region}.{ext}")
            _write_if_changed(region_dir / f"{region}.{ext}", data)
    if region_dir.is_dir():
        for p in region_dir.iterdir():
            if p.suffix in (".geojson", ".atom") and p.name not in wanted:
                p.unlink(missing_ok=True)


def publish_feeds(store_dir: str | os.PathLike[str], base_url: str | None = None) -> dict[str, Path]:
    """Regenerate the feeds of the store in ``store_dir`` (under the store lock).

    An explicit ``base_url`` is remembered (``feed.json``) so later merges publish the same URLs.
    Returns ``{"geojson": ..., "atom": ..., "cap": <directory>}``.
    """
    store_dir = Path(store_dir)
    if base_url:
        check_http_url(base_url, "base_url")  # feed links are followed by browsers: never javascript:
    with store_lock(store_dir):
        url = resolve_base_url(store_dir, base_url)
        if base_url:
            cfg = store_dir / FEED_CONFIG
            with contextlib.suppress(OSError, ValueError):
                if json.loads(cfg.read_text(encoding="utf-8")).get("base_url") == url:
                    base_url = None
            if base_url:
                write_json_atomic(cfg, {"base_url": url})
        alerts = read_alerts(store_dir / "alerts.gpkg")
        return write_feeds(alerts, store_dir, base_url=url)


def merge_and_publish(
    store: AlertStore,
    candidates: Iterable[Any],
    *,
    notifier: Any = None,
    publish: bool = True,
    **merge_kw: Any,
) -> MergeResult:
    """Merge one pass's candidates into ``store`` and publish the feeds of the result.

    The feeds are written under the store's lock, right after the merge commits, so they always
    show the state just committed. ``notifier`` (:class:`~gee_landslide.monitor.notify.Notifier`)
    is told about new alerts, about candidates that were confirmed or cancelled, and about alerts
    that grew over new ground, after the lock is released; its failures are only logged.
    """
    base_url = resolve_base_url(store.dir, store.base_url)

    def write(result: MergeResult) -> None:
        if publish:
            write_feeds(result.alerts, store.dir, base_url=base_url)

    result = store.merge(candidates, on_commit=write, **merge_kw)
    news = [*result.new, *result.notable_updates]  # new alerts; confirmed, cancelled or grown ones
    if notifier is not None and news:
        try:
            notifier.notify(news, base_url=base_url)
        except Exception:  # notifications are never fatal
            log.exception("notification of %d alert(s) failed", len(news))
    return result
