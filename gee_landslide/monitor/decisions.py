"""Which ensemble decides each pixel of a pass, and what its detections must meet.

Under SAR-first (issue #10) a pixel with a clear, recent Sentinel-2 view is decided by the optical
ensemble and any other by the S1 ensemble (``sensors``: 2 or 1); ``single`` runs the region's one
ensemble everywhere. Each deciding ensemble brings its own threshold, its change evidence
(:mod:`gee_landslide.train.evidence`) and its object filter (:mod:`gee_landslide.train.objects`),
and the functions here lay those out per pixel for :func:`gee_landslide.monitor.runner.finish_pass`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gee_landslide.core.bands import BAND_INDEX
from gee_landslide.monitor.pass_context import SENSOR_CODE, PassContext, load_pass_ensembles
from gee_landslide.monitor.tile_inputs import role_stack


def _score(pred: Any, ensemble: Any) -> np.ndarray:
    """What an ensemble's threshold applies to: its mean probability, or its vote share."""
    return np.asarray(pred.agreement if ensemble.aggregation == "vote" else pred.mean, np.float32)


def observed_sensors(stack: np.ndarray, look: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, what the sensors saw: 2 where both Sentinel-2 composites had a clear pixel
    (dNDVI finite) and, when a ``look`` mask is given (the region's ``optical_look_days``), a
    clear Sentinel-2 look was recent enough; else 1 (Sentinel-1 only)."""
    optical = np.isfinite(stack[BAND_INDEX["dNDVI"]])
    if look is not None:
        optical &= look
    return np.where(optical, SENSOR_CODE["optical"], SENSOR_CODE["s1"]).astype(np.uint8)


def filters_objects(ctx: PassContext, ensemble: Any) -> bool:
    """Does this ensemble's object filter judge the pixels it decides in this pass? Only where the
    region asks for it (``require_objects``), the ensemble has a filter and the filtered ensemble's
    threshold, and ``objects_sensors: optical`` does not leave its (Sentinel-1) decisions alone."""
    flt = getattr(ensemble, "object_filter", None)  # a stand-in decider (e.g. a rule) may have none
    return bool(ctx.region.require_objects and flt is not None
                and getattr(ensemble, "filtered_threshold", None) is not None
                and not (ctx.region.objects_sensors == "optical" and flt.setting == "s1"))


def _predict(ctx: PassContext, ensemble: Any, stack: np.ndarray) -> tuple[Any, np.ndarray | None]:
    """The ensemble's prediction and, where its filter applies, its object-filtered score."""
    if filters_objects(ctx, ensemble):
        return ensemble.predict_with_objects(stack)
    return ensemble.predict(stack), None


def predict_by_sensors(ctx: PassContext, stack: np.ndarray, look: np.ndarray | None = None,
                       s1_stack: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(mean, std, agreement, score, sensors, objects score) of a (15, H, W) stack under the pass's strategy.

    Each pixel takes the outputs of the ensemble that decides it; a pixel no ensemble may decide
    (``optical-only`` where Sentinel-2 saw nothing) is NaN with sensors 0. An ensemble runs on a
    tile only when it decides some pixel of it. The objects score (NaN where no filter judges) is
    the deciding ensemble's score after its object filter judged each member's objects
    (``Ensemble.predict_with_objects``), computed per tile where the members' maps are at hand.

    ``look`` (SAR-first only, :func:`fetch_tile_look`): the pixels Sentinel-2 saw clear recently
    enough. Where the composite is clear but the look is older (stale), the optical ensemble's
    detection still counts (the composite shows a change: it raises or keeps an alert, and confirms one
    unless the region's ``optical_confirm_look`` asks a second look for recent images), but its
    silence does not: a landslide younger than the pixel's last clear look cannot be in a
    greenest-pixel composite, so there the S1 ensemble decides.

    ``s1_stack`` (:func:`fetch_tile_s1_stack`): the stack the S1 ensemble reads, when the region
    gives it a shorter Sentinel-1 window than the optical ensemble's.
    """
    ens = load_pass_ensembles(ctx)
    seen = observed_sensors(stack)
    if ctx.strategy == "single":
        e = ens["single"]
        pred, kept = _predict(ctx, e, stack)
        sensors = np.full(seen.shape, SENSOR_CODE["s1"], np.uint8) if e.setting == "s1" else seen
        objects = np.full(seen.shape, np.nan, np.float32) if kept is None else np.asarray(kept, np.float32)
        return (np.asarray(pred.mean, np.float32), np.asarray(pred.std, np.float32),
                np.asarray(pred.agreement, np.float32), _score(pred, e), sensors, objects)
    optical, s1 = SENSOR_CODE["optical"], SENSOR_CODE["s1"]
    stale = np.zeros(seen.shape, bool)
    if ctx.strategy == "s1-only":
        decide = np.full(seen.shape, s1, np.uint8)
    elif ctx.strategy == "optical-only":
        decide = np.where(seen == optical, seen, 0).astype(np.uint8)
    else:
        decide = seen
        if look is not None and "s1" in ens:
            stale = (seen == optical) & ~look
    outs = [np.full(seen.shape, np.nan, np.float32) for _ in range(5)]
    role_out: dict[str, tuple[np.ndarray, ...]] = {}
    for role, code in SENSOR_CODE.items():
        where = (decide == code) | (stale if role == "s1" else False)
        if role not in ens or not where.any():
            continue
        pred, kept = _predict(ctx, ens[role], role_stack(role, stack, s1_stack))
        role_out[role] = tuple(np.asarray(v, np.float32) for v in (
            pred.mean, pred.std, pred.agreement, _score(pred, ens[role]),
            np.full(seen.shape, np.nan) if kept is None else kept))
    if stale.any() and "optical" in role_out:  # stale pixels: the optical ensemble where it detects, else the S1 one
        thr = ctx.threshold if ctx.threshold is not None else float(ens["optical"].threshold)
        with np.errstate(invalid="ignore"):
            to_s1 = stale & ~(role_out["optical"][3] >= thr)
        decide = np.where(to_s1, s1, decide).astype(np.uint8)
    for role, code in SENSOR_CODE.items():
        if role in role_out:
            where = decide == code
            for out, value in zip(outs, role_out[role], strict=True):
                out[where] = value[where]
    return (*outs[:4], decide, outs[4])


def pass_thresholds(ctx: PassContext, sensors: np.ndarray) -> float | np.ndarray:
    """The detection threshold per pixel: the pass's override, else each deciding ensemble's own."""
    ens = load_pass_ensembles(ctx)
    if ctx.threshold is not None:
        return ctx.threshold
    if ctx.strategy == "single":
        return float(ens["single"].threshold)
    thr = np.full(sensors.shape, 0.5, np.float64)
    for role, code in SENSOR_CODE.items():
        if role in ens:
            thr[sensors == code] = float(ens[role].threshold)
    return thr


def _deciders(ctx: PassContext, sensors: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """(ensemble, the pixels it decided) of a pass: the region's one ensemble everywhere, or each
    SAR-first role where the sensors code says it ran."""
    ens = load_pass_ensembles(ctx)
    if ctx.strategy == "single":
        return [(ens["single"], np.ones(sensors.shape, bool))]
    return [(ens[role], sensors == code) for role, code in SENSOR_CODE.items() if role in ens]


def pass_s1_evidence(ctx: PassContext) -> dict[str, Any] | None:
    """The S1 ensemble's ``evidence`` block (its training landslides), or None when the pass runs none."""
    return getattr(load_pass_ensembles(ctx).get("s1"), "evidence", None)


def pass_evidence(ctx: PassContext, m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per pixel, the change band of the ensemble that decided it and the limit a landslide's
    object median meets (:mod:`gee_landslide.train.evidence`); NaN limit where the deciding
    ensemble has none (manifests built before it, or without stacks). None when the region
    turned the check off or no ensemble has evidence."""
    if not ctx.region.require_change:
        return None
    bands = {"dNDVI": m["dndvi"], "dVH": m["dvh"]}
    change = np.full(m["sensors"].shape, np.nan, np.float32)
    limit = np.full(m["sensors"].shape, np.nan, np.float64)
    for e, where in _deciders(ctx, m["sensors"]):
        if e.evidence is None:
            continue
        change[where] = bands[e.evidence["band"]][where]
        limit[where] = float(e.evidence["max_object_median"])
    return (change, limit) if np.isfinite(limit).any() else None


def pass_contrast_limit(ctx: PassContext, m: dict[str, np.ndarray]) -> np.ndarray | None:
    """Per pixel, the most a landslide's median change may be above its surroundings' for the
    ensemble that decided it (``max_object_contrast``, :mod:`gee_landslide.train.evidence`); NaN
    where that ensemble has none. None unless the region asks for it (``require_contrast``, with
    ``require_change``) and an ensemble has it."""
    if not (ctx.region.require_change and ctx.region.require_contrast):
        return None
    limit = np.full(m["sensors"].shape, np.nan, np.float64)
    for e, where in _deciders(ctx, m["sensors"]):
        c = (e.evidence or {}).get("max_object_contrast")
        if c is not None:
            limit[where] = float(c)
    return limit if np.isfinite(limit).any() else None


def pass_object_stage(ctx: PassContext, m: dict[str, np.ndarray], threshold: float | np.ndarray
                      ) -> tuple[np.ndarray, float | np.ndarray, np.ndarray | None, int]:
    """(score, threshold, object rejects, objects dropped) for turning a pass's map into candidates.

    Unless the region asks for the object filter (``require_objects``) and a deciding ensemble
    has one (:func:`filters_objects`), the score and threshold are the pass's own. Where a filter
    judges, the filtered ensemble keeps the pixels whose objects score (each member's objects judged,
    members combined) reaches the ensemble's ``filtered_threshold``, the threshold the skill
    report's "+ objects" rows use (``ensemble.objects_threshold``).
    - ``objects_stage: detect``: that filtered map is the detection map there; the count of the
      unfiltered objects it dropped is returned for the pass summary.
    - ``objects_stage: confirm``: detection stays unfiltered (first alerts as fast as without the
      filter); the detected pixels it did not keep are returned as rejects, so their objects
      alert as candidates that cannot confirm (``alerts.detections_to_candidates``).
    """
    score = m["score"]
    if not ctx.region.require_objects:
        return score, threshold, None, 0
    applies = np.zeros(m["sensors"].shape, bool)
    filtered_thr = np.full(m["sensors"].shape, np.nan, np.float64)
    for e, where in _deciders(ctx, m["sensors"]):
        if filters_objects(ctx, e):
            applies |= where
            filtered_thr[where] = float(e.filtered_threshold)
    if not applies.any():
        return score, threshold, None, 0
    objects = m["objects_score"]
    with np.errstate(invalid="ignore"):
        detected = np.isfinite(score) & (score >= threshold)
        kept = applies & np.isfinite(objects) & (objects >= filtered_thr)
    rejects = detected & applies & ~kept
    if ctx.region.objects_stage == "confirm":
        return score, threshold, rejects, 0
    from scipy import ndimage

    from gee_landslide.train.objects import label_objects

    lab, n = label_objects(detected)  # the unfiltered objects mostly not kept: what the filter dropped
    dropped = int(np.count_nonzero(ndimage.mean(rejects.astype(np.float64), lab, np.arange(1, n + 1)) > 0.5)) if n else 0
    return (np.where(applies, objects, score).astype(np.float32),
            np.where(applies, filtered_thr, np.broadcast_to(np.asarray(threshold, np.float64), applies.shape)),
            None, dropped)
