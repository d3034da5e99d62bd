"""The alert store: ``artifacts/alerts/alerts.gpkg`` (layer ``alerts``, EPSG:4326 polygons).

:meth:`AlertStore.merge` compares the candidates of a monitoring pass with the stored alerts and,
under an exclusive file lock (:class:`filelock.FileLock` on ``<store>/.lock``):

- a candidate that overlaps a stored alert of the same region (IoU, overlap of the smaller
  shape, or centroid distance; see :class:`MatchRule`) UPDATES that alert: one landslide seen again
  keeps one alert. Its footprint is the union of what has been detected (it only grows), its
  statistics and windows are those of the latest pass, ``revision`` goes up, ``status`` becomes
  ``updated``. If nothing would change (a pass on the same windows with the same results), the
  alert is left exactly as it was: re-running a pass is idempotent and rewrites no file.
- fragments of one landslide matched to the same alert are absorbed into it;
- the other candidates become NEW alerts, with an id stable across re-runs:
  ``<region>-<geohash-8 of the centroid>-<YYYYMMDD of the post window's end>``.

Lifecycle (issue #10, SAR-first monitoring): every alert also has a ``stage``. A detection made
where the pass saw only Sentinel-1 (``sensors`` = ``S1``: the post window had no clear Sentinel-2
pixel) is a ``candidate``; one made with Sentinel-2 (``S1+S2``) is ``confirmed``, or, with
``confirm_looks=2`` (what regions use by default), also a ``candidate`` until a later pass sees it
again (with two looks, a Sentinel-1 candidate is the first look once two passes have detected it, and
a cancelled alert that Sentinel-2 detects again is reopened as a candidate: :func:`plan_merge`). A
later pass that sees a candidate with Sentinel-2 confirms it, as long as its pre window is old enough
to show the change the candidate reported (:func:`can_confirm`); one whose Sentinel-2 view covers
the candidate's footprint (``optical_coverage``) but detects nothing there retracts it
(``cancelled``), but only while that view can still show the change (:func:`can_judge`). A
detection the object filter held back (``Candidate.confirmable`` False, a region's
``objects_stage: confirm``) updates or creates a candidate but never confirms it. The
alert id never changes with the stage. ``status`` keeps saying whether the latest revision was
the first (``new``) or a change (``updated``).

The store only merges. Publishing (GeoJSON, Atom, CAP) and notifying live in
:mod:`gee_landslide.monitor.feeds` (:func:`~gee_landslide.monitor.feeds.merge_and_publish` runs a
merge and writes the feeds under the same lock); the store never imports them.

Crash safety: the new GeoPackage, quick-looks and feeds are written next to the old ones and
renamed over them (:func:`gee_landslide.core.atomic.atomic_path`), store first. A pass that dies before
the store's rename leaves store, quick-looks and feeds as they were; one that dies after it leaves
the feeds one generation behind, and the next merge or ``feed publish`` regenerates them (feeds
are a pure function of the store and only rewritten when their bytes change).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import shapely
from filelock import FileLock, Timeout
from shapely.geometry import Polygon, mapping
from shapely.strtree import STRtree

from gee_landslide.core.atomic import atomic_path
from gee_landslide.core.errors import UnknownIdError
from gee_landslide.monitor.alerts import (
    LONLAT_DECIMALS,
    Candidate,
    from_lonlat,
    geohash,
    rfc7946_polygon,
    to_lonlat,
)
from gee_landslide.monitor.chips import ChipSource, render_quicklook

log = logging.getLogger(__name__)

STORE_FILE = "alerts.gpkg"
LAYER = "alerts"
LOCK_FILE = ".lock"
QUICKLOOK_DIR = "quicklooks"
GEOHASH_PRECISION = 8
PROB_DECIMALS = 4


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


def _window_strings(w: Any) -> tuple[str, str]:
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
_COLUMN_DEFAULTS = {"stage": "confirmed", "sensors": ""}
_INT_COLUMNS = {"revision", "detections"}
_INT_DEFAULTS = {"detections": 1}  # stores written before the column existed
_NULLABLE_INT = {"landcover"}
_NULLABLE_FLOAT = {"agreement", "spread", "mean_slope_deg", "threshold"}
_FLOAT_COLUMNS = {"area_m2", "mean_prob", "peak_prob", "centroid_lon", "centroid_lat"}


@dataclass
class MergeResult:
    """What a merge did: alerts created, updated, and matched but unchanged."""

    new: list[Alert] = field(default_factory=list)
    updated: list[Alert] = field(default_factory=list)
    unchanged: list[Alert] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # the whole store after the merge
    confirmed: list[str] = field(default_factory=list)  # ids of candidates this merge confirmed
    cancelled: list[str] = field(default_factory=list)  # ids of candidates this merge retracted
    grown: list[str] = field(default_factory=list)  # ids this merge grew over new ground (Alert.grown_on)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)

    @property
    def notable_updates(self) -> list[Alert]:
        """The updated alerts worth a notification: a stage change, or a footprint grown over new ground
        (a landslide beside or over an older alert is news, though it keeps that alert's id)."""
        ids = set(self.confirmed) | set(self.cancelled) | set(self.grown)
        return [a for a in self.updated if a.alert_id in ids]

    def summary(self) -> str:
        return (f"{len(self.new)} new, {len(self.updated)} updated ({len(self.confirmed)} confirmed, "
                f"{len(self.cancelled)} cancelled, {len(self.grown)} grown), {len(self.unchanged)} unchanged")


@dataclass(frozen=True)
class MatchRule:
    """When a candidate is the same landslide as a stored alert (any one criterion suffices)."""

    iou_min: float = 0.2
    overlap_min: float = 0.5  # intersection / area of the smaller shape
    centroid_max_m: float = 30.0
    growth_tol_px: float = 0.5  # footprint growth below this many pixels is not a change
    # a candidate is retracted when a later pass saw at least this share of its footprint with
    # clear Sentinel-2 (pre and post) and detected nothing there
    retract_min_coverage: float = 0.5
    # a detection that adds new ground of at least this share of the alert's area dates the
    # alert's change anew (Alert.grown_on, change_seen): a second landslide beside or over a
    # first detection, not the same one's edges seen again
    regrowth_min_share: float = 0.5


def change_seen(alert: Alert) -> dt.date:
    """The run date of the pass that first saw the change the alert now shows: its first pass, or
    the latest pass that grew it over new ground (``Alert.grown_on``)."""
    return parse_iso(alert.grown_on or alert.first_seen).date()


def _pre_predates(pre: tuple[str, str], post: tuple[str, str], day: dt.date) -> bool:
    """Whether the pre window starts at least one post-window length before ``day``: a change a pass saw
    by ``day`` happened after that, so such a pre window holds the ground as it was before it."""
    post_start, post_end = (dt.date.fromisoformat(x) for x in post)
    return dt.date.fromisoformat(pre[0]) <= day - dt.timedelta(days=(post_end - post_start).days + 1)


def can_confirm(alert: Alert, pre: tuple[str, str], post: tuple[str, str]) -> bool:
    """Whether an optical detection by a pass with windows ``pre``/``post`` can confirm ``alert``.

    The pass's dNDVI compares its post composite with its pre composite, so it shows a change
    that happened after the pre window began. The change the candidate reported happened before
    d = :func:`change_seen` and, as its pass's post window saw it, at most one post-window length
    before d. When the pass's pre window starts later than that, its detection there is some other,
    newer change at the same place (a later slope failure, a clear-cut, a cloud shadow in one
    composite), not a second look at this one. This is :func:`can_judge`'s condition on the pre
    window, for confirming instead of retracting. Why the date moves with growth: a landslide
    that falls beside or over an older false detection grows that alert, and its own optical
    look must still be able to confirm it.
    """
    return _pre_predates(pre, post, change_seen(alert))


def can_judge(alert: Alert, pre: tuple[str, str], post: tuple[str, str]) -> bool:
    """Whether a pass with windows ``pre``/``post`` can retract the candidate ``alert``.

    The landslide happened before the alert's first pass (run date d1 = ``first_seen``) and, as
    SAR saw it in a median composite of that pass's post window, not long before it. A
    greenest-pixel (max NDVI) post composite hides a scar as long as a clear pre-landslide date
    is inside the post window, so "no change" only counts when the post window starts after d1;
    and the pre window must still reach back before d1 minus one post-window length, so that it
    holds the vegetation the landslide removed. In between (and only there) silence is evidence.
    An alert that grew over new ground later (:func:`change_seen`) reported a second change: the
    post window must also start after that one, so that silence speaks for both. One that grew a
    post window or more after its first pass has no such view and stays a candidate: for a hazard
    feed, a landslide wrongly cancelled costs more than a candidate left open.
    """
    d1 = parse_iso(alert.first_seen).date()
    post_start = dt.date.fromisoformat(post[0])
    return post_start > max(d1, change_seen(alert)) and _pre_predates(pre, post, d1)


def confirmed_by_persistence(alert: Alert) -> bool:
    """Whether Sentinel-1's persistence, not Sentinel-2, confirmed ``alert`` (``confirmed_by``; in
    stores written before that field, an alert Sentinel-2 never saw). A later detection that
    Sentinel-2 saw in part makes the sensors S1+S2 but did not confirm the alert."""
    if alert.confirmed_by:
        return alert.confirmed_by == CONFIRMED_BY_PERSISTENCE
    return alert.sensors == SENSORS_S1


def _judged_by_optical(alert: Alert) -> bool:
    """Whether a clear Sentinel-2 view without a detection may cancel ``alert``: a candidate, or an
    alert that Sentinel-1's persistence confirmed. Why the second: persistence tells a lasting
    change from speckle, not a landslide from a clear-cut or a snow line, and the issue's lifecycle
    gives Sentinel-2's view the last word on what SAR alone raised."""
    return alert.stage == "candidate" or (alert.stage == "confirmed" and confirmed_by_persistence(alert))


def _iou(a: shapely.Geometry, b: shapely.Geometry, inter: float | None = None) -> float:
    """Intersection over union of two shapes in one CRS (``inter``: their intersection's area, when
    the caller has it already)."""
    inter = a.intersection(b).area if inter is None else inter
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class SarConfirm(NamedTuple):
    """A region's confirmation by Sentinel-1 persistence (:func:`plan_merge`): ``passes`` detections,
    the latest at least ``span_days`` after the first, on an alert whose land cover is in
    ``landcover`` (None: any class)."""

    passes: int
    span_days: int
    landcover: frozenset[int] | None = None


def _sar_persistent(old: Alert, cands: Sequence[Candidate], seen_with: str, detections: int,
                    post: tuple[str, str], sar_confirm: tuple[int, ...] | None, iou_min: float,
                    sar_holds: Callable[[Sequence[Candidate]], bool] | None = None) -> bool:
    """Does Sentinel-1's persistence confirm ``old`` in this pass (see :func:`plan_merge`)? This
    pass's detections must also cover the alert's footprint by the store's matching IoU (compared
    in degrees: for a ratio of areas a few hundred metres across, the distortion cancels), and,
    where the pass can say (``sar_holds``), show their change in the full Sentinel-1 post window."""
    if sar_confirm is None or seen_with != SENSORS_S1 or old.sensors != SENSORS_S1:
        return False  # where Sentinel-2 has seen the place and not confirmed it, its view counts against
    rule = SarConfirm(*sar_confirm)
    if rule.landcover is not None and old.landcover is not None and int(old.landcover) not in rule.landcover:
        return False  # a class the S1 ensemble saw (almost) no landslide on: its change there is no evidence
    first = parse_iso(old.first_seen).date()
    return (detections >= rule.passes and (dt.date.fromisoformat(post[1]) - first).days >= rule.span_days
            and _iou(old.geometry, shapely.union_all([c.lonlat for c in cands])) >= iou_min
            and (sar_holds is None or sar_holds(cands)))


def _earlier_look(old: Alert) -> bool:
    """With two looks (:func:`plan_merge`): has an earlier pass given ``old`` a look that an optical
    detection now can be the second of? Not a cancellation: that was a clear view that saw nothing, so
    the detection now is one look against one and reopens the alert as a candidate. Nor a candidate
    that one pass alone saw with Sentinel-1 only: that is mostly speckle, until a second pass detects it."""
    if old.stage == "cancelled":
        return False
    return old.sensors != SENSORS_S1 or old.detections >= 2


def _majority_sensors(cands: Sequence[Candidate]) -> str:
    """``S1+S2`` when any part of the detection was made with Sentinel-2, else ``S1``."""
    if any(getattr(c, "sensors", None) == SENSORS_S1S2 for c in cands):
        return SENSORS_S1S2
    if all(getattr(c, "sensors", None) is None for c in cands):
        return SENSORS_S1S2  # a detector that does not say: the optical ensemble of old
    return SENSORS_S1


def _union_sensors(a: str, b: str) -> str:
    return SENSORS_S1S2 if SENSORS_S1S2 in (a, b) else (b or a)


# ----------------------------------------------------------------------------- GeoPackage I/O
def _nan_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating) and math.isnan(v):
        return None
    return v


def _alert_from_row(row: dict[str, Any], geom: Polygon) -> Alert:
    kw: dict[str, Any] = {}
    for col in ALERT_COLUMNS:
        v = _nan_to_none(row.get(col))
        if col in _INT_COLUMNS:
            v = int(v) if v is not None else _INT_DEFAULTS[col]
        elif col in _NULLABLE_INT:
            v = None if v is None else int(v)
        elif col in _FLOAT_COLUMNS:
            v = float(v)
        elif col in _NULLABLE_FLOAT:
            v = None if v is None else float(v)
        else:
            v = _COLUMN_DEFAULTS.get(col, "") if v in (None, "") else str(v)
        kw[col] = v
    return Alert(**kw, geometry=geom)


def read_alerts(path: str | os.PathLike[str]) -> list[Alert]:
    """All alerts of a GeoPackage store, sorted by (first_seen, alert_id)."""
    import pyogrio

    path = Path(path)
    if not path.exists():
        return []
    df = pyogrio.read_dataframe(path, layer=LAYER)
    out: list[Alert] = []
    records = df.drop(columns="geometry").to_dict("records")
    for rec, geom in zip(records, df.geometry, strict=True):
        out.append(_alert_from_row(rec, geom))
    out.sort(key=lambda a: (a.first_seen, a.alert_id))
    return out


def write_alerts(path: str | os.PathLike[str], alerts: Sequence[Alert]) -> None:
    """Write ``alerts`` as a GeoPackage (layer ``alerts``, EPSG:4326 Polygon) at ``path``."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    cols: dict[str, Any] = {}
    for col in ALERT_COLUMNS:
        vals = [getattr(a, col) for a in alerts]
        if col in _INT_COLUMNS:
            cols[col] = pd.array(vals, dtype="int64")
        elif col in _NULLABLE_INT:
            cols[col] = pd.array(vals, dtype="Int64")
        elif col in _FLOAT_COLUMNS or col in _NULLABLE_FLOAT:
            cols[col] = pd.array([np.nan if v is None else v for v in vals], dtype="float64")
        else:
            cols[col] = pd.array(vals, dtype=object)
    gdf = gpd.GeoDataFrame(
        pd.DataFrame(cols), geometry=gpd.GeoSeries([a.geometry for a in alerts], crs="EPSG:4326")
    )
    pyogrio.write_dataframe(gdf, path, layer=LAYER, driver="GPKG", geometry_type="Polygon")


# ----------------------------------------------------------------------------- locking
@contextlib.contextmanager
def store_lock(store_dir: str | os.PathLike[str], timeout_s: float = 900.0) -> Iterator[None]:
    """Exclusive lock on ``<store_dir>/.lock`` (blocks other processes and threads).

    A :class:`filelock.FileLock` per call: ``flock`` on a fresh descriptor, so a second holder in
    the same process (another thread, or a nested call) waits like another process would.
    ``filelock.Timeout`` is a ``TimeoutError``.
    """
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(store_dir / LOCK_FILE, timeout=timeout_s, mode=0o644)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(f"could not lock {store_dir / LOCK_FILE} within {timeout_s} s") from None
    try:
        yield
    finally:
        lock.release()


def public_mode() -> int:
    """rw-r--r-- minus the umask (temp files are created 0600; published files should be readable)."""
    umask = 0o022
    with contextlib.suppress(OSError, ValueError):  # read it without os.umask's global set-and-restore
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    return 0o644 & ~umask


def _before_commit() -> None:
    """Called after every new file is written and before the first rename (a test hook)."""


def _remove_stale_temps(store_dir: Path) -> None:
    """Temp files left by a killed writer (only called under the lock)."""
    for d in (store_dir, store_dir / QUICKLOOK_DIR, store_dir / "cap"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith(".") and ".tmp" in p.name and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()


# ----------------------------------------------------------------------------- matching
def _round(v: float | None, nd: int) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), nd)


def _weighted(cands: Sequence[Candidate], attr: str) -> float | None:
    pairs = [(getattr(c, attr), c.pixel_count) for c in cands if getattr(c, attr) is not None]
    if not pairs:
        return None
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)


def _as_polygon(geom: shapely.Geometry) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    if not parts:
        raise ValueError(f"not a polygonal geometry: {geom.geom_type}")
    return max(parts, key=lambda g: g.area)


def _deg2_to_m2(area_deg2: float, lat: float) -> float:
    return area_deg2 * (111_320.0**2) * math.cos(math.radians(lat))


def _new_alert_id(region_id: str, c: Candidate, post_end: str, taken: set[str]) -> str:
    base = f"{region_id}-{geohash(c.centroid_lat, c.centroid_lon, GEOHASH_PRECISION)}-{post_end.replace('-', '')}"
    aid, k = base, 2
    while aid in taken:
        aid, k = f"{base}-{k}", k + 1
    return aid


@dataclass
class _Plan:
    alerts: list[Alert]
    result: MergeResult
    groups: dict[str, list[Candidate]]


def plan_merge(
    existing: Sequence[Alert],
    candidates: Sequence[Candidate],
    *,
    region_id: str,
    pre: tuple[str, str],
    post: tuple[str, str],
    run_iso: str,
    model_version: str,
    threshold: float | None,
    rule: MatchRule = MatchRule(),
    optical_coverage: Callable[[Alert], float] | None = None,
    confirm_looks: int = 1,
    sar_confirm: tuple[int, ...] | None = None,
    sar_holds: Callable[[Sequence[Candidate]], bool] | None = None,
) -> _Plan:
    """The pure part of a merge: which candidate updates which alert, which are new (no I/O).

    ``optical_coverage(alert)`` is the share (0-1) of a stored alert's footprint that this pass
    saw with clear Sentinel-2 in both windows (0 outside the pass's grid); None = the pass cannot
    say, and then no candidate is retracted.

    ``confirm_looks``: 1 = one detection with Sentinel-2 confirms; 2 = it takes two passes (two
    post windows), the later one with Sentinel-2. Why two: a landslide scar stays in the dNDVI of
    pass after pass, most false detections do not. In a simulated season (SAR-first, laptop
    ensembles) 77 % of the false confirmed alerts were seen by one pass only, against 14 % of the
    true ones (``benchmarks/bench_time_to_alert.py``).

    With two looks a cancellation is a look too, one that saw nothing: a cancelled alert that an optical
    detection sees again is reopened as a candidate (one clear view for it, one against), and a later
    pass's optical detection confirms it. In six simulated seasons (seeds 5-9 and the deployment's,
    norway's options with ``optical_look_days: 12``), 7 of the 33 false confirmed alerts had been
    cancelled before an optical detection confirmed them; reopening removed those 7, and every
    landslide confirmed before was confirmed still.

    An alert that only Sentinel-1 has seen counts as the earlier look once two passes have detected
    it; until then an optical detection makes it ``S1+S2`` and the next pass's optical detection
    confirms it. Why: a season's Sentinel-1 candidates are many and mostly speckle seen once (2,492
    alerts in the deployment's season above, 1 % of them over a landslide at first issue), so a one-off
    false optical detection often falls on one. There, with reopening, 4 of the 5 false confirmed
    alerts were one-pass Sentinel-1 candidates confirmed by their first optical detection, against 2
    of the 10 true ones, which a later optical look confirmed all the same (precision after
    confirmation 0.67 -> 0.91, recall 0.80 both).

    An optical detection confirms a candidate only when :func:`can_confirm` says its pass can show the
    candidate's change: in a simulated season with ``optical_post_days: 12`` (the deployment), two
    false confirmations came from late-September detections of candidates raised in early July. A
    detection that grows an alert over new ground by ``rule.regrowth_min_share`` of its area or more
    dates its change anew (``grown_on``), so that a landslide falling beside an older false detection
    can still be confirmed by its own optical look.

    ``sar_confirm`` (opt-in, a region's ``sar_confirm_passes``): (N, D) = a candidate that N passes
    have detected, this one with Sentinel-1, this pass at least D days (the Sentinel-1 post window)
    after its first, is confirmed without Sentinel-2. Why: a landslide's backscatter change stays in
    every Sentinel-1 median whose pre window is older than it, pass after pass, while most false SAR
    detections (speckle) are seen once; D days apart the two post medians share no acquisition, so the
    first and the latest detections are independent looks. Only a candidate that Sentinel-2 has never
    seen (``sensors`` ``S1``) confirms so: where a clear view saw the place and did not confirm it,
    that view counts against it. A cancelled alert stays cancelled. Where the region's object filter
    judges Sentinel-1 decisions at confirmation (``objects_sensors: all``, ``objects_stage: confirm``),
    the confirming detection must be one it accepted, as an optical confirmation must: persistence
    tells a lasting change from speckle, the filter a landslide's shape from a clear-cut's. A third
    element (:class:`SarConfirm` ``landcover``) names the land-cover classes where persistence may
    confirm: where the S1 ensemble saw (almost) no training landslide, a lasting change is more likely
    something else (on steep bare rock a snow line; a scar there barely changes VH).

    ``sar_holds(cands)``: whether this pass's detections of an alert show their change in the
    region's full Sentinel-1 post window too, asked of a persistence confirmation where the S1
    ensemble reads a shorter one (``s1_ensemble_post_days``; None: no such check). Why: a one-look
    median puts a speckle detection under a grown candidate often enough to count N times; a
    median over two or more looks does not show it (see :func:`gee_landslide.monitor.confirm_rules.sar_holds_of`).
    """
    if confirm_looks not in (1, 2):
        raise ValueError(f"confirm_looks {confirm_looks!r}: use 1 or 2")
    by_id = {a.alert_id: a for a in existing}
    region_alerts = [a for a in existing if a.region == region_id]

    # candidate -> alert pairs that satisfy the rule, scored
    pairs: list[tuple[tuple[float, float, float], int, str]] = []
    by_crs: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        by_crs.setdefault(c.crs, []).append(i)
    for crs, idx in by_crs.items():
        if not region_alerts:
            break
        projected = [from_lonlat(a.geometry, crs) for a in region_alerts]
        tree = STRtree(projected)
        for i in idx:
            c = candidates[i]
            near = tree.query(c.geometry.buffer(rule.centroid_max_m))
            for j in near:
                a, ag = region_alerts[int(j)], projected[int(j)]
                inter = c.geometry.intersection(ag).area
                iou = _iou(c.geometry, ag, inter)
                overlap = inter / max(min(c.geometry.area, ag.area), 1e-9)
                dist = c.geometry.centroid.distance(ag.centroid)
                if iou >= rule.iou_min or overlap >= rule.overlap_min or dist <= rule.centroid_max_m:
                    pairs.append(((iou, overlap, -dist), i, a.alert_id))

    # greedy one-to-one assignment by score, then absorb leftover fragments
    pairs.sort(key=lambda p: (p[0], -p[1]), reverse=True)
    groups: dict[str, list[Candidate]] = {}
    assigned: dict[int, str] = {}
    for _score, i, aid in pairs:
        if i in assigned or aid in groups:
            continue
        assigned[i] = aid
        groups[aid] = [candidates[i]]
    for _score, i, aid in pairs:  # best-scoring already-matched alert first
        if i not in assigned and aid in groups:
            assigned[i] = aid
            groups[aid].append(candidates[i])

    result = MergeResult()
    out: dict[str, Alert] = dict(by_id)
    for aid, cands in groups.items():
        cands.sort(key=lambda c: c.window)
        old = by_id[aid]
        if post[1] < old.post_end:  # an older pass (re-run or backfill) never rolls an alert back
            result.unchanged.append(old)
            continue
        seen_with = _majority_sensors(cands)
        if old.stage == "cancelled" and seen_with != SENSORS_S1S2:
            result.unchanged.append(old)  # Sentinel-2's verdict outranks SAR seeing it again
            continue
        later_pass = post[1] > old.post_end  # not a re-run of the pass that last changed it
        another_look = confirm_looks == 1 or (later_pass and _earlier_look(old))
        confirmable = any(c.confirmable for c in cands)  # an object the filter accepted (objects_stage)
        detections = old.detections + int(later_pass)
        px_area = cands[0].resolution**2
        grown = sum(_deg2_to_m2(c.lonlat.difference(old.geometry).area, c.centroid_lat) for c in cands)
        grew = grown > rule.growth_tol_px * px_area  # below the tolerance the footprint stays as it is
        regrown = later_pass and grew and grown >= rule.regrowth_min_share * old.area_m2
        optical_confirms = seen_with == SENSORS_S1S2 and another_look and confirmable and can_confirm(old, pre, post)
        persistent = (old.stage != "confirmed" and confirmable
                      and _sar_persistent(old, cands, seen_with, detections, post, sar_confirm, rule.iou_min,
                                          sar_holds))
        stage = "confirmed" if old.stage == "confirmed" or optical_confirms or persistent else "candidate"
        # a Sentinel-2 confirmation outranks one by persistence, never the other way round
        confirmed_by = ("" if stage != "confirmed" else CONFIRMED_BY_S2 if optical_confirms else
                        old.confirmed_by or (CONFIRMED_BY_PERSISTENCE if persistent else ""))
        new_geom = old.geometry
        area = old.area_m2
        if grew:
            union = shapely.union_all([old.geometry, *(c.lonlat for c in cands)])
            # drop the near-collinear vertices that rounding to 1e-7 degrees leaves along shared edges
            union = shapely.simplify(shapely.set_precision(union, 10.0**-LONLAT_DECIMALS), 2e-7)
            new_geom = rfc7946_polygon(_as_polygon(union))
            area = round(float(from_lonlat(new_geom, cands[0].crs).area), 1)
        cen = from_lonlat(new_geom, cands[0].crs).centroid if new_geom is not old.geometry else None
        clon, clat = old.centroid_lon, old.centroid_lat
        if cen is not None:
            p = to_lonlat(cen, cands[0].crs)
            clon, clat = round(p.x, LONLAT_DECIMALS), round(p.y, LONLAT_DECIMALS)
        biggest = max(cands, key=lambda c: c.pixel_count)
        proposal = replace(
            old,
            pre_start=pre[0], pre_end=pre[1], post_start=post[0], post_end=post[1],
            area_m2=area,
            mean_prob=_round(_weighted(cands, "mean_prob"), PROB_DECIMALS),
            peak_prob=_round(max(c.peak_prob for c in cands), PROB_DECIMALS),
            agreement=_round(_weighted(cands, "agreement"), PROB_DECIMALS),
            spread=_round(_weighted(cands, "spread"), PROB_DECIMALS),
            mean_slope_deg=_round(_weighted(cands, "mean_slope_deg"), 2),
            landcover=biggest.landcover,
            centroid_lon=clon, centroid_lat=clat,
            model_version=model_version,
            threshold=_round(threshold, PROB_DECIMALS),
            stage=stage,
            sensors=_union_sensors(old.sensors, seen_with),
            geometry=new_geom,
            detections=detections,
            grown_on=run_iso if regrown else old.grown_on,
            confirmed_by=confirmed_by,
            reopened_on=run_iso if old.stage == "cancelled" else old.reopened_on,
        )
        if proposal == old:
            result.unchanged.append(old)
            continue
        updated = replace(
            proposal,
            status="updated",
            revision=old.revision + 1,
            first_seen=min(old.first_seen, run_iso),
            last_seen=max(old.last_seen, run_iso),
        )
        out[aid] = updated
        result.updated.append(updated)
        if old.stage != "confirmed" and stage == "confirmed":
            result.confirmed.append(aid)
        if regrown:
            result.grown.append(aid)

    # candidates the pass saw with Sentinel-2, at a time that could show the change, without a detection
    if optical_coverage is not None:
        for old in region_alerts:
            if old.alert_id in groups or not _judged_by_optical(old) or post[1] <= old.post_end:
                continue
            if not can_judge(old, pre, post) or optical_coverage(old) < rule.retract_min_coverage:
                continue
            cancelled = replace(
                old, status="updated", stage="cancelled", revision=old.revision + 1,
                last_seen=max(old.last_seen, run_iso),
                pre_start=pre[0], pre_end=pre[1], post_start=post[0], post_end=post[1],
                model_version=model_version,
            )
            out[old.alert_id] = cancelled
            result.updated.append(cancelled)
            result.cancelled.append(old.alert_id)

    taken = set(by_id)
    for i, c in enumerate(candidates):
        if i in assigned:
            continue
        aid = _new_alert_id(region_id, c, post[1], taken)
        taken.add(aid)
        seen_with = _majority_sensors([c])
        confirmed_now = seen_with == SENSORS_S1S2 and confirm_looks == 1 and c.confirmable
        alert = Alert(
            alert_id=aid, region=region_id, status="new", revision=1,
            stage="confirmed" if confirmed_now else "candidate",
            confirmed_by=CONFIRMED_BY_S2 if confirmed_now else "",
            sensors=seen_with,
            first_seen=run_iso, last_seen=run_iso,
            pre_start=pre[0], pre_end=pre[1], post_start=post[0], post_end=post[1],
            area_m2=round(c.area_m2, 1),
            mean_prob=_round(c.mean_prob, PROB_DECIMALS),
            peak_prob=_round(c.peak_prob, PROB_DECIMALS),
            agreement=_round(c.agreement, PROB_DECIMALS),
            spread=_round(c.spread, PROB_DECIMALS),
            mean_slope_deg=_round(c.mean_slope_deg, 2),
            landcover=c.landcover,
            centroid_lon=c.centroid_lon, centroid_lat=c.centroid_lat,
            model_version=model_version,
            threshold=_round(threshold, PROB_DECIMALS),
            quicklook="",
            geometry=c.lonlat,
        )
        out[aid] = alert
        groups[aid] = [c]
        result.new.append(alert)

    alerts = sorted(out.values(), key=lambda a: (a.first_seen, a.alert_id))
    result.alerts = alerts
    return _Plan(alerts=alerts, result=result, groups=groups)


# ----------------------------------------------------------------------------- the store
class AlertStore:
    """The alert store directory (``artifacts/alerts``): GeoPackage, quick-looks and feeds."""

    def __init__(
        self,
        path_dir: str | os.PathLike[str],
        *,
        base_url: str | None = None,
        rule: MatchRule | None = None,
        lock_timeout_s: float = 900.0,
    ) -> None:
        self.dir = Path(path_dir)
        self.base_url = base_url
        self.rule = rule or MatchRule()
        self.lock_timeout_s = lock_timeout_s

    @property
    def gpkg(self) -> Path:
        return self.dir / STORE_FILE

    @property
    def quicklook_dir(self) -> Path:
        return self.dir / QUICKLOOK_DIR

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return store_lock(self.dir, self.lock_timeout_s)

    def load(self) -> list[Alert]:
        """All stored alerts (no lock needed: the store file is only ever replaced by rename)."""
        return read_alerts(self.gpkg)

    def get(self, alert_id: str) -> Alert:
        """The stored alert ``alert_id``, or an error naming the store and the id."""
        for a in self.load():
            if a.alert_id == alert_id:
                return a
        raise UnknownIdError(f"no alert {alert_id!r} in {self.gpkg}", file=self.gpkg, value=alert_id,
                             hint="gee-landslide feed list")

    def merge(
        self,
        candidates: Iterable[Candidate],
        *,
        region_id: str,
        pre: Any,
        post: Any,
        run_time: dt.datetime | dt.date | str,
        model_version: str,
        chips_source: ChipSource | None = None,
        threshold: float | None = None,
        on_commit: Callable[[MergeResult], None] | None = None,
        optical_coverage: Callable[[Alert], float] | None = None,
        confirm_looks: int = 1,
        sar_confirm: tuple[int, ...] | None = None,
        sar_holds: Callable[[Sequence[Candidate]], bool] | None = None,
    ) -> MergeResult:
        """Merge one pass's candidates into the store (locked, atomic, idempotent).

        ``pre``/``post`` are the pass's windows (``catalog.Window`` or (start, end) dates),
        ``run_time`` its time (UTC if naive). With ``chips_source`` a quick-look PNG is rendered
        for every new or updated alert. ``on_commit`` is called with the result while the lock
        is still held (the feeds use it to publish exactly the state just committed).
        ``optical_coverage`` lets the merge retract candidates, ``confirm_looks`` sets how many
        passes confirm an optical detection, ``sar_confirm`` lets Sentinel-1's persistence confirm a
        candidate and ``sar_holds`` asks its detections to hold over the full window (see
        :func:`plan_merge`).
        """
        cands = list(candidates)
        pre_s, post_s = _window_strings(pre), _window_strings(post)
        run_iso = iso_utc(run_time)
        with self.lock():
            _remove_stale_temps(self.dir)
            existing = self.load()
            plan = plan_merge(
                existing, cands, region_id=region_id, pre=pre_s, post=post_s, run_iso=run_iso,
                model_version=model_version, threshold=threshold, rule=self.rule,
                optical_coverage=optical_coverage, confirm_looks=confirm_looks, sar_confirm=sar_confirm,
                sar_holds=sar_holds,
            )
            result = plan.result
            if result.changed or not self.gpkg.exists():  # (an empty store is written too, for QGIS)
                self._commit(plan, chips_source)
                result = plan.result
            if on_commit is not None:
                on_commit(result)
        log.info("alerts %s: %s", region_id, result.summary())
        return result

    # -- internals
    def _commit(self, plan: _Plan, chips_source: ChipSource | None) -> None:
        changed = {a.alert_id for a in (*plan.result.new, *plan.result.updated)}
        staged: list[tuple[Path, Path]] = []  # (tmp, final) quick-looks
        try:
            if chips_source is not None:
                with_ql: dict[str, str] = {}
                for aid in sorted(changed):
                    alert = next(a for a in plan.alerts if a.alert_id == aid)
                    final = self.quicklook_dir / f"{aid}.png"
                    tmp = self.quicklook_dir / f".{aid}.png.{os.getpid()}.tmp"
                    try:
                        render_quicklook(
                            chips_source,
                            from_lonlat(alert.geometry, chips_source.grid.crs),
                            tmp,
                            title=f"{aid} ({alert.stage}, {alert.sensors or 'optical'})",
                            subtitle=(
                                f"{alert.area_m2:,.0f} m²  ·  p̄ {alert.mean_prob:.2f}  ·  peak {alert.peak_prob:.2f}"
                                f"  ·  post {alert.post_start} → {alert.post_end}"
                            ),
                        )
                    except Exception:
                        log.exception("quick-look of %s failed; the alert keeps its previous one", aid)
                        with contextlib.suppress(FileNotFoundError):
                            tmp.unlink()
                        continue
                    staged.append((tmp, final))
                    with_ql[aid] = f"{QUICKLOOK_DIR}/{aid}.png"
                self._apply_quicklooks(plan, with_ql)
            with atomic_path(self.gpkg) as tmp_gpkg:
                write_alerts(tmp_gpkg, plan.alerts)
                os.chmod(tmp_gpkg, public_mode())
                _before_commit()
        except BaseException:
            for tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            raise
        for tmp, final in staged:
            os.replace(tmp, final)

    @staticmethod
    def _apply_quicklooks(plan: _Plan, with_ql: dict[str, str]) -> None:
        if not with_ql:
            return
        def fix(a: Alert) -> Alert:
            return replace(a, quicklook=with_ql[a.alert_id]) if a.alert_id in with_ql else a
        plan.alerts[:] = [fix(a) for a in plan.alerts]
        r = plan.result
        r.new[:] = [fix(a) for a in r.new]
        r.updated[:] = [fix(a) for a in r.updated]
        r.alerts = plan.alerts

