"""One landslide alert as the store keeps it: the :class:`Alert` record, its columns and stages,
and the ISO-time helpers its fields are written with.

Kept apart from the store (:mod:`gee_landslide.monitor.store`) and the merge rules
(:mod:`gee_landslide.monitor.alert_merge`) because the feeds, the web map, the CLI and the
benchmarks read alerts without merging them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from shapely.geometry import Polygon, mapping

from gee_landslide.monitor.alerts import LONLAT_DECIMALS, rfc7946_polygon


# ----------------------------------------------------------------------------- time helpers
def iso_utc(t: dt.datetime | dt.date | str) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC). Naive datetimes are taken as UTC; dates as midnight UTC."""
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if not isinstance(t, dt.datetime):
        t = dt.datetime(t.year, t.month, t.day)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def window_strings(w: Any) -> tuple[str, str]:
    """A ``catalog.Window``, a (start, end) pair of dates or ISO strings -> ISO date strings."""
    if hasattr(w, "start") and hasattr(w, "end"):
        start, end = w.start, w.end
    else:
        start, end = w
    def _d(x: Any) -> str:
        return x.isoformat() if isinstance(x, dt.date) else dt.date.fromisoformat(str(x)).isoformat()
    return _d(start), _d(end)


# ----------------------------------------------------------------------------- the alert record
@dataclass(frozen=True)
class Alert:
    """One landslide alert as stored (one row of the ``alerts`` layer)."""

    alert_id: str
    region: str
    status: str  # "new" | "updated"
    stage: str  # "candidate" (seen by SAR only) | "confirmed" (seen with Sentinel-2) | "cancelled"
    sensors: str  # what the detections were made with: "S1", "S1+S2" ("" for alerts before issue #10)
    revision: int  # 1 when created, +1 at every update
    first_seen: str  # ISO UTC, run time of the pass that created it
    last_seen: str  # ISO UTC, run time of the latest pass that changed it
    pre_start: str  # windows of the latest pass that changed it (ISO dates)
    pre_end: str
    post_start: str
    post_end: str
    area_m2: float
    mean_prob: float
    peak_prob: float
    agreement: float | None  # mean share of ensemble members above threshold
    spread: float | None  # mean ensemble standard deviation
    mean_slope_deg: float | None
    landcover: int | None  # majority land-cover code
    centroid_lon: float
    centroid_lat: float
    model_version: str
    threshold: float | None
    quicklook: str  # path relative to the store directory ("" when none)
    geometry: Polygon = field(compare=True)
    detections: int = 1  # passes that detected it (a re-run of a pass counts once)
    # ISO UTC run time of the latest pass whose detection grew the footprint over new ground by at
    # least MatchRule.regrowth_min_share of its area ("" = none since first_seen): see change_seen
    grown_on: str = ""
    # what confirmed it: CONFIRMED_BY_S2 (an optical detection), CONFIRMED_BY_PERSISTENCE (Sentinel-1
    # over several passes); "" while a candidate, and for alerts stored before the field existed; a
    # cancelled alert keeps what had confirmed it
    confirmed_by: str = ""
    # ISO UTC run time of the latest pass that reopened it after a cancellation (an optical detection
    # over an alert a clear view had cancelled, confirm_looks 2: plan_merge); "" = never cancelled or
    # never reopened. Subscribers who saw the Cancel need to be told why the alert is back
    reopened_on: str = ""
    # ISO UTC run time of the pass whose Sentinel-2 detection the next optical confirmation must be
    # independent of (its first Sentinel-2 detection, or the one that reopened it); "" = none yet, and for
    # stores written before the field existed (then first_seen stands in: alert_merge.optical_look_date)
    optical_look_on: str = ""

    def properties(self) -> dict[str, Any]:
        """All attributes but the geometry (JSON-ready: None for missing values)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "geometry"}
        return d

    def to_feature(self, base_url: str | None = None) -> dict[str, Any]:
        """An RFC 7946 Feature (lon/lat, exterior ring counter-clockwise)."""
        props = self.properties()
        if base_url is not None:
            base = base_url.rstrip("/")
            props["quicklook_url"] = f"{base}/{self.quicklook}" if self.quicklook else None
            props["cap_url"] = f"{base}/cap/{self.alert_id}.xml"
            props["map_url"] = f"{base}/#{self.alert_id}"
        geom = mapping(rfc7946_polygon(self.geometry))
        return {
            "type": "Feature",
            "id": self.alert_id,
            "bbox": [round(v, LONLAT_DECIMALS) for v in self.geometry.bounds],
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in geom["coordinates"]]},
            "properties": props,
        }

    @property
    def id(self) -> str:
        """Alias of ``alert_id``."""
        return self.alert_id

    @property
    def updated(self) -> str:
        """When this record last changed (the run time of the pass that changed it)."""
        return self.last_seen


ALERT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Alert) if f.name != "geometry")
STAGES = ("candidate", "confirmed", "cancelled")
SENSORS_S1, SENSORS_S1S2 = "S1", "S1+S2"
CONFIRMED_BY_S2, CONFIRMED_BY_PERSISTENCE = "Sentinel-2", "Sentinel-1 persistence"
# stores written before the lifecycle existed hold optical detections: read them as confirmed
COLUMN_DEFAULTS = {"stage": "confirmed", "sensors": ""}
INT_COLUMNS = {"revision", "detections"}
INT_DEFAULTS = {"detections": 1}  # stores written before the column existed
NULLABLE_INT = {"landcover"}
NULLABLE_FLOAT = {"agreement", "spread", "mean_slope_deg", "threshold"}
FLOAT_COLUMNS = {"area_m2", "mean_prob", "peak_prob", "centroid_lon", "centroid_lat"}
