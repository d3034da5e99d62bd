"""How a pass's candidates merge into the stored alerts: matching, growth, and the lifecycle rules
(confirm, retract, reopen, confirmation by Sentinel-1 persistence).

:func:`plan_merge` is a pure function from (stored alerts, candidates, the pass's windows and
rules) to the alerts after the merge and what changed; :class:`gee_landslide.monitor.store.AlertStore`
runs it under the store's lock and writes the result. The module docstring of
:mod:`gee_landslide.monitor.store` tells the lifecycle in prose.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import shapely
from shapely.geometry import Polygon
from shapely.strtree import STRtree

from gee_landslide.monitor.alert_record import (
    CONFIRMED_BY_PERSISTENCE,
    CONFIRMED_BY_S2,
    SENSORS_S1,
    SENSORS_S1S2,
    Alert,
    parse_iso,
)
from gee_landslide.monitor.alerts import (
    LONLAT_DECIMALS,
    Candidate,
    from_lonlat,
    geohash,
    rfc7946_polygon,
    to_lonlat,
)

log = logging.getLogger(__name__)

GEOHASH_PRECISION = 8
PROB_DECIMALS = 4



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


class OpticalLook(NamedTuple):
    """What makes a pass's Sentinel-2 detection a look of its own (:func:`plan_merge`, ``optical_look``).

    ``span_days``: how many days after an alert's earlier Sentinel-2 detection the confirming pass must
    run (0: any later pass); ``fresh(cands)``: whether this pass saw the detections' pixels clear
    recently (within the region's ``optical_look_days``). ``fresh`` alone (``optical_confirm_look:
    recent``) refuses composites that fell back to older images; with ``span_days`` equal to those
    days (``new``) a clear image lies between the two detections, so that their composites do not hold
    the same images (:func:`gee_landslide.monitor.confirm_rules.optical_look_of`)."""

    span_days: int
    fresh: Callable[[Sequence[Candidate]], bool]


def _optical_look_iso(alert: Alert) -> str:
    """``Alert.optical_look_on``, or for a store written before that field, the alert's first pass where
    Sentinel-2 has seen it (most such alerts were raised by an optical detection); "" when it has none."""
    return alert.optical_look_on or (alert.first_seen if alert.sensors == SENSORS_S1S2 else "")


def optical_look_date(alert: Alert) -> dt.date | None:
    """The run date of the Sentinel-2 detection a confirmation of ``alert`` must be independent of
    (:func:`_optical_look_iso`); None when it has none."""
    iso = _optical_look_iso(alert)
    return parse_iso(iso).date() if iso else None


def _new_optical_look(old: Alert, cands: Sequence[Candidate], post: tuple[str, str],
                      optical_look: OpticalLook | None) -> bool:
    """Is this pass's Sentinel-2 detection of ``old`` a second look by the region's rule (:class:`OpticalLook`)?

    Why: a greenest-pixel composite keeps a pixel's greenest clear image of the window, so two passes a
    few days apart mostly re-read the same images: what one composite shows (an unmasked cloud, a
    shadow) the next shows too. On the deployment's simulated season (laptop ensembles, session 39) all
    five false Sentinel-2 confirmations lay under residual cloud in both post composites, whose pixels
    had no clear image in the latest 12 days of either (their dNDVI -0.30 to -0.62 fell to -0.05 to 0.00
    without the residual cloud). True when no rule is given, or no earlier Sentinel-2 detection."""
    if optical_look is None:
        return True
    earlier = optical_look_date(old)
    if earlier is None:
        return True
    gap = (dt.date.fromisoformat(post[1]) - earlier).days
    return gap >= optical_look.span_days and optical_look.fresh(cands)


def _optical_look_on(old: Alert, seen_with: str, run_iso: str) -> str:
    """``Alert.optical_look_on`` after this pass: this pass's run time when it is the alert's first
    Sentinel-2 detection or reopens it after a cancellation, else what it was (:func:`_optical_look_iso`)."""
    before = _optical_look_iso(old)
    if seen_with == SENSORS_S1S2 and (old.stage == "cancelled" or not before):
        return run_iso
    return before


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
class MergePlan:
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
    optical_look: OpticalLook | None = None,
) -> MergePlan:
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

    ``optical_look`` (:class:`OpticalLook`; None: any later pass's detection is a second look): with two
    looks, an optical detection confirms an alert that Sentinel-2 has detected before
    (:func:`optical_look_date`) only when it is a look of its own: this pass runs ``span_days`` or more
    after that detection (0 for ``recent``) and saw the pixels clear recently. Detections that are not keep the
    alert a candidate (see :func:`_new_optical_look`). ``optical_look_on`` records the detection the next
    confirmation must be independent of: an alert's first Sentinel-2 detection, or the one that reopened it.
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
        optical_confirms = (seen_with == SENSORS_S1S2 and another_look and confirmable and can_confirm(old, pre, post)
                            and (confirm_looks == 1 or _new_optical_look(old, cands, post, optical_look)))
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
            optical_look_on=_optical_look_on(old, seen_with, run_iso),
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
            optical_look_on=run_iso if seen_with == SENSORS_S1S2 else "",
        )
        out[aid] = alert
        groups[aid] = [c]
        result.new.append(alert)

    alerts = sorted(out.values(), key=lambda a: (a.first_seen, a.alert_id))
    result.alerts = alerts
    return MergePlan(alerts=alerts, result=result, groups=groups)


