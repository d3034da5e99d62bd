"""The rules by which later passes confirm or retract a pass's alerts, built for the alert store.

:mod:`gee_landslide.monitor.store` merges a pass's candidates into the alerts it holds; what counts
as confirmation by Sentinel-1 persistence (:func:`sar_confirm_rule`, :func:`sar_holds_of`,
:func:`persistence_landcover`) and which pixels' silence may retract a candidate
(:func:`retraction_view`, :func:`optical_coverage_of`) depend on the region and on the pass's maps,
so they are made here and handed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_landslide.core.catalog import Region
from gee_landslide.core.grid import Grid
from gee_landslide.monitor.alerts import candidates_mask
from gee_landslide.monitor.pass_context import SENSOR_CODE, PassContext

if TYPE_CHECKING:
    from gee_landslide.monitor.alert_merge import OpticalLook, SarConfirm


def _finite_under(raster: np.ndarray, cands: Sequence[Any], grid: Grid,
                  within: np.ndarray | None = None) -> np.ndarray:
    """The finite values of ``raster`` under the candidates' footprints (and ``within``, where given):
    what the store's per-alert rules (:func:`sar_holds_of`, :func:`optical_look_of`) aggregate."""
    inside = candidates_mask(list(cands), grid).astype(bool)
    if within is not None:
        inside &= within
    values = raster[inside]
    return values[np.isfinite(values)]


def sar_confirm_rule(region: Region, run_date: dt.date, s1_evidence: dict[str, Any] | None = None) -> SarConfirm | None:
    """The store's confirmation by Sentinel-1 persistence, or None when the region does not ask for
    it: its ``sar_confirm_passes`` N, and between the first and the confirming detection at least
    one Sentinel-1 post window of the S1 ensemble (``s1_ensemble_post_days``, else ``s1_post_days``,
    else ``post_days``) and N - 1 Sentinel-1 repeats on the date (6 or 12 days,
    :mod:`gee_landslide.core.constellation`); with the S1 ensemble's ``evidence`` (its manifest),
    only on the land-cover classes :func:`persistence_landcover` allows.

    Why the repeats: N was chosen on passes every 6 days, one per new Sentinel-1 scene. The
    deployment runs daily, and passes between two scenes re-detect the same median, so N passes
    are N looks only if they span N - 1 repeats."""
    if region.sar_confirm_passes is None:
        return None
    from gee_landslide.core.constellation import s1_repeat_days
    from gee_landslide.monitor.alert_merge import SarConfirm

    n = region.sar_confirm_passes
    s1_days = region.s1_ensemble_post_days or region.s1_post_days or region.post_days
    span = max(s1_days, (n - 1) * s1_repeat_days(run_date))
    return SarConfirm(n, span, persistence_landcover(s1_evidence))


def sar_holds_of(dvh_window: np.ndarray, grid: Grid,
                 s1_evidence: dict[str, Any] | None) -> Callable[[Sequence[Any]], bool] | None:
    """The store's ``sar_holds``: whether the median dVH of a pass's detections (their pixels on the
    grid), read in the pass's own stack over the region's full Sentinel-1 post window, meets the S1
    ensemble's evidence limit (``max_object_median``, fitted on its training landslides). None where
    that stack is the one the S1 ensemble read (no ``s1_ensemble_post_days``: every S1 detection
    passed the limit on it already) or the ensemble has no dVH evidence.

    Why: with a one-look post median the S1 ensemble alerts a repeat earlier, but on the deployment
    season two of its persistence confirmations were speckle under a grown candidate: their
    footprint's dVH swung from -1.2 to +0.4 dB between single looks, while the 12-day median stayed
    within 0.5 dB of zero. A landslide's change stays in both medians."""
    evidence = s1_evidence or {}
    if evidence.get("band") != "dVH" or not np.isfinite(dvh_window).any():
        return None
    limit = float(evidence["max_object_median"])

    def holds(cands: Sequence[Any]) -> bool:
        values = _finite_under(dvh_window, cands, grid)
        return values.size > 0 and float(np.median(values)) <= limit

    return holds


# a class needs this many training and validation landslide objects before Sentinel-1 persistence alone
# may confirm an alert on it (train.evidence.objects_by_landcover)
MIN_PERSISTENCE_OBJECTS = 5


def persistence_landcover(evidence: dict[str, Any] | None,
                          min_objects: int = MIN_PERSISTENCE_OBJECTS) -> frozenset[int] | None:
    """The land-cover classes on which the S1 ensemble's training and validation events hold at least
    ``min_objects`` landslide objects (None: no evidence, or a manifest built before the counts were
    recorded, which then restricts nothing; ``ensemble build`` adds them).

    Why: a lasting backscatter drop where the networks never saw a landslide is weak evidence of
    one. The benchmark region is 20 % steep bare rock, against 1 training landslide of 167 there; in
    the simulator a scar on bare rock barely changes VH, so a drop that persists there is more likely
    the snow line, and on one season all six false alerts persistence confirmed lay on it."""
    counts = (evidence or {}).get("objects_by_landcover")
    if not isinstance(counts, dict):
        return None
    return frozenset(int(k) for k, v in counts.items() if int(v) >= min_objects)


def retraction_view(ctx: PassContext, m: dict[str, np.ndarray]) -> np.ndarray:
    """The sensors code by which the alert store judges whether this pass could retract a candidate.

    The pixels the optical ensemble decided, and under ``optical_look_days`` also the clear
    composite pixels left to Sentinel-1 because their last clear look was not recent: their
    silence says nothing of a landslide younger than that look, which is why they do not decide
    new detections, but it does of a candidate first seen before the post window began, the only
    candidates the store lets a pass retract (:func:`gee_landslide.monitor.alert_merge.can_judge`)."""
    sensors = m["sensors"]
    if ctx.strategy != "sar-first" or ctx.region.optical_look_window(ctx.post) is None:
        return sensors
    clear = np.isfinite(m["dndvi"]) & (sensors > 0)
    return np.where(clear, SENSOR_CODE["optical"], sensors).astype(np.uint8)


def optical_coverage_of(sensors: np.ndarray, grid: Grid) -> Callable[[Any], float]:
    """For the alert store: the share of an alert's footprint this pass decided with Sentinel-2."""
    from rasterio import features
    from shapely.geometry import box

    from gee_landslide.monitor.alerts import from_lonlat

    def coverage(alert: Any) -> float:
        poly = from_lonlat(alert.geometry, grid.crs)
        if not poly.intersects(box(*grid.bounds)):
            return 0.0
        inside = features.geometry_mask([poly], out_shape=grid.shape, transform=grid.transform, invert=True,
                                        all_touched=False)
        if not inside.any():
            return 0.0
        return float((sensors[inside] == SENSOR_CODE["optical"]).mean())

    return coverage


# a detection is a fresh Sentinel-2 look when at least this share of the pixels the optical ensemble
# decided in it had a clear image in the latest optical_look_days
FRESH_LOOK_MIN_SHARE = 0.5


def optical_look_of(ctx: PassContext, m: dict[str, np.ndarray]) -> OpticalLook | None:
    """The store's ``optical_look``: when this pass's Sentinel-2 detection of an alert that Sentinel-2
    has detected before is a second look (:func:`gee_landslide.monitor.alert_merge.plan_merge`), by the
    region's ``optical_confirm_look``; None (any later pass's detection) for ``any`` and S1-only passes.

    ``recent``: most of the detection's optical pixels had a clear image in the latest
    ``optical_look_days`` (the pass's ``look`` raster, :func:`gee_landslide.monitor.tile_inputs.fetch_tile_look`;
    without one every detection is recent). ``new``: that, from a pass ``optical_look_days`` or more after
    the earlier detection, so the image is later than it; without a look raster, a whole Sentinel-2 post
    window (``optical_post_days``, else ``post_days``) after it, so that the two composites' windows do
    not overlap (where the latest ``optical_post_days`` held no clear image the composite falls back to
    the whole window, which this cannot see).

    Why: greenest-pixel composites of passes a few days apart mostly hold the same images, so a residual
    cloud or shadow in one is in the next; on the deployment's simulated season (session 39) the five false
    Sentinel-2 confirmations were one such cloud, detected by passes 6 days apart whose pixels had no
    clear image in the latest 12 days of either."""
    rule = ctx.region.optical_confirm_look
    if ctx.strategy == "s1-only" or rule == "any":
        return None
    from gee_landslide.monitor.alert_merge import OpticalLook

    window = ctx.region.optical_look_window(ctx.post)
    look = m.get("look")
    if window is None or look is None or not np.isfinite(look).any():
        return OpticalLook(ctx.region.s2_post_window(ctx.post).days if rule == "new" else 0, lambda cands: True)
    optical = m["sensors"] == SENSOR_CODE["optical"]
    grid = ctx.grid

    def fresh(cands: Sequence[Any]) -> bool:
        values = _finite_under(look, cands, grid, within=optical)
        return values.size == 0 or float(values.mean()) >= FRESH_LOOK_MIN_SHARE

    return OpticalLook(window.days if rule == "new" else 0, fresh)
