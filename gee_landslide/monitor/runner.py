"""One monitoring pass over a region: windows, tiles, ensemble, rasters, alerts, feeds.

The pass is three plain functions so that the CLI runs them in a loop and the Prefect flow maps
the middle one over a task runner (local pool or Dask cluster):

1. :func:`prepare_pass` checks the inputs (region, date, ensemble) and plans the tiles;
2. :func:`process_tile` fetches one tile's 15-band stack from the source, optionally skips it
   when the change gate sees no sign of change, and runs the ensemble on it;
3. :func:`finish_pass` mosaics the tiles, writes the probability / uncertainty / agreement
   GeoTIFFs and a quick-look, turns detections into alerts, merges them into the store and
   republishes the feeds.

SAR-first (issue #10; the paper's section 5.1: "a SAR-based detection model, which can be updated
when cloud-free optical images become available"). A region with ``ensembles: {s1, optical}``
decides every pixel with the model its sensors allow: the optical ensemble (Sentinel-2 bands)
where the post and pre windows had a clear Sentinel-2 observation (dNDVI is finite), the S1
ensemble (bands 0-8) elsewhere. The choice is written as ``sensors.tif`` (1 = S1 only, 2 = S1+S2)
and carried by every alert (``sensors``; S1-only detections are ``candidate`` alerts that a
later clear view confirms or cancels, see :mod:`gee_landslide.monitor.store`). Strategies:
``sar-first`` (that), ``s1-only``, ``optical-only`` (no detection where Sentinel-2 saw nothing) and
``single`` (the region's one ``ensemble`` everywhere, as before).

Outputs of a pass are written to ``<run_date>.partial-*`` and renamed into place at the end, and
the alert store writes next to the old files and renames, so a pass killed half-way leaves
everything as it was. Re-running the same pass changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_landslide.core.atomic import remove_stale_temps, write_json_atomic
from gee_landslide.core.bands import BAND_BY_NAME
from gee_landslide.core.catalog import Catalog, Defaults, Region, Window
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid, grid_for_bbox
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.core.values import check_threshold
from gee_landslide.monitor.evaluate import ObjectScores, object_scores, truth_objects_mostly_in
from gee_landslide.monitor.tiling import Tile, plan_tiles
from gee_landslide.sources import UnknownSourceError, get_source, source_names

if TYPE_CHECKING:
    from gee_landslide.monitor.store import SarConfirm

# Sentinel-1A's first IW acquisitions (Oct 2014) and Sentinel-2A's first L2A products (mid 2015):
# a pass whose pre window starts before both has no data to compare.
EARLIEST_S1 = dt.date(2014, 10, 3)
EARLIEST_S2 = dt.date(2015, 6, 27)

_IDX = {name: band.index for name, band in BAND_BY_NAME.items()}


class MonitoringError(GeeLandslideError, ValueError):
    """A pass that cannot run; the message says what to fix."""


STRATEGIES = ("single", "sar-first", "s1-only", "optical-only")
S1_STRATEGIES = ("sar-first", "s1-only")  # the strategies that run the S1 ensemble
SENSOR_CODE = {"s1": 1, "optical": 2}  # the sensors raster (monitor.alerts.SENSORS_CODE_*)


@dataclass(frozen=True)
class GateConfig:
    """The optional change gate: skip a tile that shows no sign of landslide-like change.

    dNDVI, dVV and dVH are median-filtered (``smooth_px``) so speckle and single noisy pixels do not
    count; a pixel shows change when the smoothed dNDVI drops below ``dndvi_drop`` or the smoothed
    SAR change |dVV| or -dVH exceeds ``sar_change_db``, on ground the alert filters would keep
    (not water, slope at least ``min_slope_deg``). The tile runs when one connected patch of such
    pixels reaches ``min_pixels``.
    """

    enabled: bool = False
    dndvi_drop: float = -0.15
    sar_change_db: float = 2.0
    min_slope_deg: float = 10.0
    min_pixels: int = 4
    smooth_px: int = 5


@dataclass(frozen=True)
class PassContext:
    """Everything a tile worker needs (picklable, so it can travel to a Dask worker)."""

    region_id: str
    region: Region
    defaults: Defaults
    run_date: dt.date
    pre: Window
    post: Window
    grid: Grid
    tiles: tuple[Tile, ...]
    source: str
    manifest_path: Path  # the single ensemble, or the optical one of a SAR-first pass
    threshold: float | None
    gate: GateConfig
    cache_dir: Path
    strategy: str = "single"
    s1_manifest_path: Path | None = None  # the S1 ensemble (sar-first, s1-only)

    def manifests(self) -> dict[str, Path]:
        """The ensembles the pass runs, by role: ``single``, or ``s1`` and/or ``optical``."""
        if self.strategy == "single":
            return {"single": self.manifest_path}
        out: dict[str, Path] = {}
        if self.strategy in S1_STRATEGIES and self.s1_manifest_path is not None:
            out["s1"] = self.s1_manifest_path
        if self.strategy in ("sar-first", "optical-only"):
            out["optical"] = self.manifest_path
        return out


@dataclass
class TileResult:
    tile: Tile
    mean: np.ndarray
    std: np.ndarray
    agreement: np.ndarray
    dndvi: np.ndarray
    dvv: np.ndarray
    slope: np.ndarray
    landcover: np.ndarray
    truth: np.ndarray | None
    gated: bool
    fetch_seconds: float
    predict_seconds: float
    elevation: np.ndarray | None = None  # the DEM band, for the web map's hillshade basemap
    sensors: np.ndarray | None = None  # which model decided each pixel (SENSOR_CODE), 0 = none
    score: np.ndarray | None = None  # what the deciding ensemble thresholds: mean or vote share
    dvh: np.ndarray | None = None  # the Sentinel-1 evidence band (train.evidence)
    # dVH of the pass's own stack (its full Sentinel-1 post window), where the S1 ensemble read a
    # shorter one (``s1_ensemble_post_days``): what persistence asks to hold; None: the same as dvh
    dvh_window: np.ndarray | None = None
    tree_height: np.ndarray | None = None  # for the object filter (train.objects)
    objects_score: np.ndarray | None = None  # the deciding ensemble's score after its object filter; NaN: none


@dataclass
class PassResult:
    region_id: str
    run_date: dt.date
    pre: Window
    post: Window
    out_dir: Path
    tiles: int
    gated_tiles: int
    area_km2: float
    seconds: float
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    scores: ObjectScores | None = None
    # with truth: the scores of the candidates by the sensors behind them (pass_scores_by), and how many
    # landslides had half their pixels or more with sensors S1+S2 (a clear, recent enough Sentinel-2 view:
    # no optical model could be expected to find the others in this pass)
    scores_by: dict[str, ObjectScores] = field(default_factory=dict)
    optical_truth_objects: int | None = None
    gate_missed_objects: int | None = None
    feeds: dict[str, Path] = field(default_factory=dict)
    strategy: str = "single"
    optical_share: float | None = None  # share of the region decided with Sentinel-2
    confirmed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)  # alerts whose footprint grew over new ground
    filtered: dict[str, int] = field(default_factory=dict)  # detections dropped, by reason (alerts.Rejected)
    # summed over the tiles: fetching their stacks (Earth Engine, a file, the simulator) and running the
    # ensembles on them; the rest of ``seconds`` is merging, feeds, maps (tiles run side by side in the
    # Prefect flow, where the sums can exceed the wall clock). A cost per km² of the models is the
    # second one, not the wall clock of a pass whose simulator draws the scene first
    fetch_seconds: float = 0.0
    predict_seconds: float = 0.0

    @property
    def seconds_per_km2(self) -> float:
        return self.seconds / self.area_km2 if self.area_km2 else float("nan")

    @property
    def predict_seconds_per_km2(self) -> float:
        return self.predict_seconds / self.area_km2 if self.area_km2 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region_id,
            "run_date": self.run_date.isoformat(),
            "windows": {"pre": list(self.pre.as_strings()), "post": list(self.post.as_strings())},
            "out_dir": str(self.out_dir),
            "tiles": self.tiles,
            "gated_tiles": self.gated_tiles,
            "area_km2": self.area_km2,
            "seconds": self.seconds,
            "seconds_per_km2": self.seconds_per_km2,
            "fetch_seconds": self.fetch_seconds,
            "predict_seconds": self.predict_seconds,
            "alerts": {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                       "confirmed": self.confirmed, "cancelled": self.cancelled, "grown": self.grown},
            "strategy": self.strategy,
            "optical_share": self.optical_share,
            "object_scores": self.scores.to_dict() if self.scores else None,
            "object_scores_by": {k: v.to_dict() for k, v in self.scores_by.items()},
            "truth_objects_optical": self.optical_truth_objects,
            "gate_missed_objects": self.gate_missed_objects,
            "filtered": self.filtered,
            "feeds": {k: str(v) for k, v in self.feeds.items()},
        }


# ----------------------------------------------------------------------------- 1. prepare
def ensemble_build_hint(name: str) -> str:
    """The commands that build the ensemble called ``name``.

    An ensemble named after a band setting (``s1``, ``s2``, ``s1s2``, ``all``) is that setting's
    default; any other name cannot say which setting it should hold, so the hint leaves a
    placeholder instead of guessing (``--name s2`` alone would build an S1+S2 model named s2).
    """
    from gee_landslide.core.bands import SETTINGS
    from gee_landslide.train.profile import load_profile

    if name in SETTINGS:
        # the smallest built-in profile that trains this setting (laptop: s2, s1s2; paper: all four)
        profile = next(p for p in ("laptop", "paper") if name in load_profile(p).all_settings)
        return (f"`gee-landslide train --profile {profile} --setting {name}` then "
                f"`gee-landslide ensemble build --setting {name}`")
    laptop = load_profile("laptop").all_settings
    return ("`gee-landslide train --profile laptop --setting SETTING` then "
            f"`gee-landslide ensemble build --setting SETTING --name {name}` (SETTING: {' or '.join(laptop)}; "
            f"{' or '.join(x for x in SETTINGS if x not in laptop)} need --profile paper)")


def prepare_pass(
    catalog: Catalog,
    paths: ProjectPaths,
    region_id: str,
    run_date: dt.date | None = None,
    source: str = "simulated",
    ensemble: str | None = None,
    gate: GateConfig | None = None,
    threshold: float | None = None,
    halo_px: int = 32,
    grid: Grid | None = None,
    strategy: str | None = None,
) -> PassContext:
    """Check the inputs and plan the tiles. Raises :class:`MonitoringError` with what to fix.

    ``strategy`` (see the module docstring) defaults to ``sar-first`` for a region with
    ``ensembles:`` and to ``single`` otherwise; an explicit ``ensemble`` means ``single``.
    """
    try:
        get_source(source)
    except UnknownSourceError:
        raise MonitoringError(
            f"unknown source {source!r}; choose one of {', '.join(source_names())}", field="source", value=source
        ) from None
    try:
        region = catalog.region(region_id)
    except KeyError as exc:
        raise MonitoringError(exc.args[0]) from None
    run_date = run_date or dt.date.today()
    pre, post = region.windows(run_date)
    if pre.start < EARLIEST_S1 or post.start < EARLIEST_S2:
        raise MonitoringError(
            f"run date {run_date} is too early: its pre window starts {pre.start}, before any "
            f"Sentinel-1 ({EARLIEST_S1}) / Sentinel-2 ({EARLIEST_S2}) data; use a later --date"
        )
    if run_date > dt.date.today() + dt.timedelta(days=1):
        raise MonitoringError(f"run date {run_date} is in the future; no acquisitions exist yet")
    if threshold is not None:
        check_threshold(threshold)
    if strategy is None:
        strategy = "sar-first" if region.ensembles is not None and ensemble is None else "single"
    if strategy not in STRATEGIES:
        raise MonitoringError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}",
                              field="strategy", value=strategy)
    s1_manifest = None
    if strategy == "single":
        manifest = _ensemble_manifest(paths, region_id, ensemble or region.ensemble, "ensemble")
    else:
        if region.ensembles is None and ensemble is None:
            raise MonitoringError(
                f"strategy {strategy!r} needs `ensembles: {{s1: NAME, optical: NAME}}` for region {region_id!r} "
                "in case_studies.yaml", field=f"regions.{region_id}.ensembles", value=None,
                hint="add `ensembles: {s1: s1, optical: s2}` to the region and build the s1 ensemble with "
                     + ensemble_build_hint("s1"),
            )
        names = region.ensembles
        optical = ensemble or (names.optical if names else region.ensemble)
        manifest = _ensemble_manifest(paths, region_id, optical, "ensembles.optical")
        if strategy in S1_STRATEGIES:
            if names is None:
                raise MonitoringError(f"strategy {strategy!r} needs an S1 ensemble: set `ensembles.s1` for "
                                      f"region {region_id!r}", field=f"regions.{region_id}.ensembles.s1", value=None)
            s1_manifest = _ensemble_manifest(paths, region_id, names.s1, "ensembles.s1", want_setting="s1")
    grid = grid or grid_for_bbox(*region.bbox)
    return PassContext(
        region_id=region_id,
        region=region,
        defaults=catalog.defaults,
        run_date=run_date,
        pre=pre,
        post=post,
        grid=grid,
        tiles=tuple(plan_tiles(grid, region.tile_px, halo_px)),
        source=source,
        manifest_path=manifest,
        threshold=threshold if threshold is not None else region.threshold,
        gate=gate or GateConfig(),
        cache_dir=paths.monitor / region_id / ".cache" / run_date.isoformat(),
        strategy=strategy,
        s1_manifest_path=s1_manifest,
    )


def _ensemble_manifest(paths: ProjectPaths, region_id: str, name: str, field_name: str,
                       want_setting: str | None = None) -> Path:
    """The manifest of ensemble ``name``, or a :class:`MonitoringError` saying how to build it."""
    manifest = paths.ensemble_dir(name) / "manifest.json"  # a safe name, inside models/ensembles
    if not manifest.exists():
        hint = ensemble_build_hint(name)
        raise MonitoringError(
            f"no ensemble {name!r} for region {region_id!r} ({field_name}): {manifest} is missing; build it with {hint}",
            file=manifest, field=field_name, value=name, hint=hint,
        )
    if want_setting is not None:
        try:
            setting = json.loads(manifest.read_text()).get("setting")
        except (OSError, ValueError):
            setting = None
        if setting != want_setting:
            raise MonitoringError(
                f"ensemble {name!r} ({field_name} of region {region_id!r}) holds setting {setting!r}, "
                f"not {want_setting!r}: the S1 model must use bands 0-8 only",
                file=manifest, field=field_name, value=name,
            )
    return manifest


# ----------------------------------------------------------------------------- 2. tiles
@functools.lru_cache(maxsize=4)
def _cached_ensemble(manifest_path: str, mtime_ns: int) -> Any:
    from gee_landslide.train.ensemble import load_ensemble

    return load_ensemble(Path(manifest_path))


def load_pass_ensemble(ctx: PassContext) -> Any:
    """The pass's (single or optical) ensemble, loaded (and hash-checked) once per process."""
    return _cached_ensemble(str(ctx.manifest_path), ctx.manifest_path.stat().st_mtime_ns)


def load_pass_ensembles(ctx: PassContext) -> dict[str, Any]:
    """Every ensemble the pass runs, by role (``single``, ``s1``, ``optical``), loaded once per process."""
    return {role: _cached_ensemble(str(p), p.stat().st_mtime_ns) for role, p in ctx.manifests().items()}


def _score(pred: Any, ensemble: Any) -> np.ndarray:
    """What an ensemble's threshold applies to: its mean probability, or its vote share."""
    return np.asarray(pred.agreement if ensemble.aggregation == "vote" else pred.mean, np.float32)


def observed_sensors(stack: np.ndarray, look: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, what the sensors saw: 2 where both Sentinel-2 composites had a clear pixel
    (dNDVI finite) and, when a ``look`` mask is given (the region's ``optical_look_days``), a
    clear Sentinel-2 look was recent enough; else 1 (Sentinel-1 only)."""
    optical = np.isfinite(stack[_IDX["dNDVI"]])
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
    detection still counts (the composite shows a change, so it may confirm an alert), but its
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


def pass_model_version(ctx: PassContext) -> str:
    ens = load_pass_ensembles(ctx)
    if ctx.strategy == "single":
        return str(ens["single"].version)
    return "+".join(f"{role}:{e.version}" for role, e in sorted(ens.items()))


def fetch_tile_stack(ctx: PassContext, grid: Grid, key: str = "tile") -> tuple[np.ndarray, np.ndarray | None]:
    """The (15, H, W) stack of one tile from the pass's source, and the truth mask if known."""
    return get_source(ctx.source).fetch_region_tile(
        ctx.region_id, ctx.region, ctx.pre, ctx.post, grid, defaults=ctx.defaults, cache_dir=ctx.cache_dir / key
    )


def s1_ensemble_region(region: Region, post: Window) -> Region | None:
    """The region as the S1 ensemble's stack is fetched: its Sentinel-1 post window set to the S1
    ensemble's own (any source builds that stack with its usual recipe); None when it has none."""
    window = region.s1_ensemble_post_window(post)
    return None if window is None else region.model_copy(update={"s1_post_days": window.days})


def role_stack(role: str, stack: np.ndarray, s1_stack: np.ndarray | None) -> np.ndarray:
    """The stack an ensemble of ``role`` reads: the S1 ensemble's own where the region gives it one."""
    return s1_stack if role == "s1" and s1_stack is not None else stack


def fetch_tile_s1_stack(ctx: PassContext, grid: Grid, key: str = "tile") -> np.ndarray | None:
    """The S1 ensemble's own stack of one tile (``s1_ensemble_post_days``): the same recipe with a
    shorter Sentinel-1 post median; None when the region has none or the strategy runs no S1 ensemble.

    Why a second stack: a 12-day median of two looks shows a landslide at half its change until both
    looks follow it, so the S1 ensemble, which decides where clouds hide the ground, fires a repeat
    late. The S1+S2 ensemble of the optical role sees the ground through Sentinel-2 and keeps the
    quieter median: a one-look median under it lowered precision after confirmation on the deployment
    (README, time to alert). For Earth Engine this is a second export of the tile."""
    region = s1_ensemble_region(ctx.region, ctx.post)
    if region is None or ctx.strategy not in S1_STRATEGIES:
        return None
    stack, _ = get_source(ctx.source).fetch_region_tile(ctx.region_id, region, ctx.pre, ctx.post, grid,
                                                        defaults=ctx.defaults, cache_dir=ctx.cache_dir / f"{key}-s1")
    return stack


def fetch_tile_look(ctx: PassContext, grid: Grid, key: str = "tile") -> np.ndarray | None:
    """SAR-first with ``optical_look_days``: the pixels of one tile that Sentinel-2 saw clear in the
    latest days of the post window (:meth:`Region.optical_look_window`); None otherwise.

    Why: a greenest-pixel composite keeps the greenest, pre-landslide look of its window, so where
    a pixel's clear looks all predate a landslide the optical ensemble sees no change there, while
    Sentinel-1, which has looked within its own short window, does. A source with a cheap answer
    (``fetch_clear_look``: the simulator reads its cloud calendar) gives it directly; any other
    source is asked for the tile over that window, whose dNDVI is finite exactly where both
    windows had a clear look (for Earth Engine: a second export of the tile, same recipe).
    """
    window = ctx.region.optical_look_window(ctx.post)
    if ctx.strategy != "sar-first" or window is None:
        return None
    source = get_source(ctx.source)
    cheap = getattr(source, "fetch_clear_look", None)
    if cheap is not None:
        return cheap(ctx.region_id, ctx.region, ctx.pre, window, grid, defaults=ctx.defaults,
                     cache_dir=ctx.cache_dir / f"{key}-look")
    stack, _ = source.fetch_region_tile(ctx.region_id, ctx.region, ctx.pre, window, grid, defaults=ctx.defaults,
                                        cache_dir=ctx.cache_dir / f"{key}-look")
    return np.isfinite(stack[_IDX["dNDVI"]])


def change_mask(stack: np.ndarray, gate: GateConfig) -> np.ndarray:
    """Pixels of a (15, H, W) stack that show landslide-like change by the gate's rules."""
    from scipy import ndimage

    from gee_landslide.core.landcover import WATER_CODE

    def smooth(name: str) -> np.ndarray:
        return ndimage.median_filter(np.nan_to_num(stack[_IDX[name]], nan=0.0), size=gate.smooth_px)

    change = (smooth("dNDVI") < gate.dndvi_drop) | (-smooth("dVH") > gate.sar_change_db)
    change |= np.abs(smooth("dVV")) > gate.sar_change_db
    with np.errstate(invalid="ignore"):
        keep = (stack[_IDX["CART_LC_classified"]] != WATER_CODE) & (stack[_IDX["slope"]] >= gate.min_slope_deg)
    return change & keep


def shows_change(stack: np.ndarray, gate: GateConfig) -> bool:
    """The change gate's test: does one connected patch of the tile show enough change?"""
    from scipy import ndimage

    labels, n = ndimage.label(change_mask(stack, gate))
    return n > 0 and int(np.bincount(labels.ravel())[1:].max()) >= gate.min_pixels


def process_tile(ctx: PassContext, tile: Tile) -> TileResult:
    """Fetch one tile, gate it, run the ensemble(s) on it, and keep its core."""
    t0 = time.perf_counter()
    grid = tile.read_grid(ctx.grid)
    stack, truth = fetch_tile_stack(ctx, grid, tile.key)
    look = fetch_tile_look(ctx, grid, tile.key)
    s1_stack = fetch_tile_s1_stack(ctx, grid, tile.key)
    return predict_tile(ctx, tile, stack, truth, time.perf_counter() - t0, look=look, s1_stack=s1_stack)


def predict_tile(ctx: PassContext, tile: Tile, stack: np.ndarray, truth: np.ndarray | None,
                 fetch_seconds: float = 0.0, look: np.ndarray | None = None,
                 s1_stack: np.ndarray | None = None) -> TileResult:
    """The second half of :func:`process_tile` for a stack already fetched (benchmarks run several
    strategies on one fetch); ``look`` and ``s1_stack`` as in :func:`predict_by_sensors`. Where the S1
    ensemble decides, the SAR change the alerts and the change-evidence check read is its stack's."""
    t1 = time.perf_counter()
    core = tile.core_slices()
    gated = ctx.gate.enabled and not shows_change(stack, ctx.gate) and (
        s1_stack is None or not shows_change(s1_stack, ctx.gate))
    seen = observed_sensors(stack, look if ctx.strategy == "sar-first" else None)[core]
    if gated:
        zeros = np.zeros((tile.height, tile.width), np.float32)
        mean, std, agreement, score, sensors, objects = zeros, zeros, zeros, zeros, seen, zeros
    else:
        mean, std, agreement, score, sensors, objects = (a[core] for a in predict_by_sensors(ctx, stack, look, s1_stack))

    def sar(band: str) -> np.ndarray:
        own = stack[_IDX[band]][core]
        return own if s1_stack is None else np.where(sensors == SENSOR_CODE["s1"], s1_stack[_IDX[band]][core], own)

    return TileResult(
        tile=tile,
        mean=mean,
        std=std,
        agreement=agreement,
        dndvi=stack[_IDX["dNDVI"]][core],
        dvv=sar("dVV"),
        slope=stack[_IDX["slope"]][core],
        landcover=stack[_IDX["CART_LC_classified"]][core],
        truth=None if truth is None else truth[core],
        gated=gated,
        fetch_seconds=fetch_seconds,
        predict_seconds=time.perf_counter() - t1,
        elevation=stack[_IDX["elevation"]][core],
        sensors=sensors,
        score=score,
        dvh=sar("dVH"),
        dvh_window=None if s1_stack is None else stack[_IDX["dVH"]][core],
        tree_height=stack[_IDX["tree_height"]][core],
        objects_score=objects,
    )


# ----------------------------------------------------------------------------- 3. finish
def _mosaic(ctx: PassContext, results: Iterable[TileResult]) -> dict[str, np.ndarray]:
    h, w = ctx.grid.shape
    keys = ("mean", "std", "agreement", "dndvi", "dvv", "dvh", "dvh_window", "slope", "landcover", "elevation",
            "score", "tree_height", "objects_score")
    out = {k: np.full((h, w), np.nan, np.float32) for k in keys}
    sensors = np.zeros((h, w), np.uint8)
    truth = np.zeros((h, w), np.uint8)
    gated_mask = np.zeros((h, w), bool)
    seen = 0
    for r in results:
        t = r.tile
        sl = (slice(t.row, t.row + t.height), slice(t.col, t.col + t.width))
        for k in out:
            value = getattr(r, k)
            if value is not None:
                out[k][sl] = value
        if r.truth is not None:
            truth[sl] = r.truth
        if r.sensors is not None:
            sensors[sl] = r.sensors
        gated_mask[sl] = r.gated
        seen += 1
    if seen != len(ctx.tiles):
        raise MonitoringError(f"{seen} of {len(ctx.tiles)} tiles were processed; the pass is incomplete")
    out["truth"] = truth
    out["gated"] = gated_mask
    out["sensors"] = sensors
    return out


def finish_pass(
    ctx: PassContext,
    results: list[TileResult],
    paths: ProjectPaths,
    started: float | None = None,
    notify_url: str | None = None,
) -> PassResult:
    """Write the pass's rasters, turn detections into alerts, merge them, republish the feeds."""
    from gee_landslide.core.stackio import write_geotiff
    from gee_landslide.monitor.alerts import detections_to_candidates
    from gee_landslide.monitor.basemap import install_basemap, write_basemap
    from gee_landslide.monitor.chips import ChipSource
    from gee_landslide.monitor.feeds import feed_paths, merge_and_publish
    from gee_landslide.monitor.notify import Notifier, notifier_for_url
    from gee_landslide.monitor.store import AlertStore

    started = started if started is not None else time.perf_counter()
    m = _mosaic(ctx, results)
    threshold = pass_thresholds(ctx, m["sensors"])

    final_dir = paths.monitor / ctx.region_id / ctx.run_date.isoformat()
    remove_stale_temps(final_dir.parent)  # .partial-/.old- directories of passes that were killed
    remove_stale_temps(final_dir)
    partial = final_dir.with_name(f"{final_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        write_geotiff(partial / "probability.tif", m["mean"], ctx.grid, ("probability",))
        write_geotiff(partial / "uncertainty.tif", m["std"], ctx.grid, ("member_std",))
        write_geotiff(partial / "agreement.tif", m["agreement"], ctx.grid, ("member_agreement",))
        write_geotiff(partial / "sensors.tif", m["sensors"], ctx.grid, ("sensors",), nodata=0,
                      tags={"sensors": "1 = Sentinel-1 only (S1 ensemble), 2 = Sentinel-1 and Sentinel-2 "
                                       "(optical ensemble), 0 = not decided", "strategy": ctx.strategy})
        write_basemap(partial, ctx.region_id, ctx.grid, m["elevation"], m["landcover"], ctx.region.bbox,
                      ctx.run_date.isoformat())

        # each ensemble's threshold applies to its own score (mean probability, or the vote share)
        evidence = pass_evidence(ctx, m)
        rejected: list[Any] = []
        score, detect_threshold, object_rejects, objects_dropped = pass_object_stage(ctx, m, threshold)
        candidates = detections_to_candidates(
            score, m["std"], m["agreement"], ctx.grid, threshold=detect_threshold, slope=m["slope"],
            landcover=m["landcover"], min_area_m2=ctx.region.min_area_m2, min_slope_deg=ctx.region.min_slope_deg,
            sensors=m["sensors"], change=None if evidence is None else evidence[0],
            change_limit=None if evidence is None else evidence[1], rejected=rejected,
            contrast_limit=None if evidence is None else pass_contrast_limit(ctx, m),
            object_rejects=object_rejects,
            objects_hold=ctx.region.objects_stage == "confirm",
        )
        shown_threshold = float(np.nanmedian(threshold)) if np.ndim(threshold) else float(threshold)
        render_pass_quicklook(partial / "quicklook.png", m, candidates, ctx, shown_threshold)

        scores = gate_missed = optical_truth = None
        scores_by: dict[str, ObjectScores] = {}
        if get_source(ctx.source).has_truth:
            min_px = int(ctx.region.min_area_m2 / ctx.grid.resolution**2)
            detected = _candidate_mask(candidates, ctx.grid)
            scores = object_scores(detected, m["truth"], min_truth_px=min_px)
            gate_missed = object_scores(m["gated"], m["truth"]).found_objects if ctx.gate.enabled else 0
            scores_by = pass_scores_by(candidates, ctx.grid, m["truth"], min_px,
                                       filtered=object_rejects is not None)
            optical_truth = truth_objects_mostly_in(m["truth"], m["sensors"] == SENSOR_CODE["optical"], min_px)

        # the pass's own files are complete: move them into place, then update the alert store
        if final_dir.exists():
            old = final_dir.with_name(f"{final_dir.name}.old-{os.getpid()}")
            final_dir.rename(old)
            partial.rename(final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(final_dir)
    except BaseException:
        # a failed or interrupted pass leaves no half-written directory that looks like a result
        shutil.rmtree(partial, ignore_errors=True)
        raise

    store = AlertStore(paths.alerts)
    s1_evidence = pass_s1_evidence(ctx)  # what persistence reads: the land-cover counts and the dVH limit
    merged = merge_and_publish(
        store,
        candidates,
        region_id=ctx.region_id,
        pre=ctx.pre,
        post=ctx.post,
        run_time=dt.datetime.combine(ctx.run_date, dt.time(12, 0), tzinfo=dt.timezone.utc),
        model_version=pass_model_version(ctx),
        threshold=shown_threshold,
        chips_source=ChipSource(m["dndvi"], m["dvv"], ctx.grid),
        notifier=notifier_for_url(notify_url) if notify_url else Notifier.from_env(),
        optical_coverage=None if ctx.strategy == "s1-only" else optical_coverage_of(retraction_view(ctx, m), ctx.grid),
        confirm_looks=ctx.region.confirm_looks,
        sar_confirm=sar_confirm_rule(ctx.region, ctx.run_date, s1_evidence),
        sar_holds=sar_holds_of(m["dvh_window"], ctx.grid, s1_evidence),
    )
    feeds = feed_paths(paths.alerts)  # merge_and_publish() has already republished them
    install_basemap(final_dir, paths.alerts, ctx.region_id)

    result = PassResult(
        region_id=ctx.region_id,
        run_date=ctx.run_date,
        pre=ctx.pre,
        post=ctx.post,
        out_dir=final_dir,
        tiles=len(ctx.tiles),
        gated_tiles=sum(r.gated for r in results),
        area_km2=ctx.grid.area_km2,
        seconds=time.perf_counter() - started,
        fetch_seconds=sum(r.fetch_seconds for r in results),
        predict_seconds=sum(r.predict_seconds for r in results),
        new=[a.id for a in merged.new],
        updated=[a.id for a in merged.updated],
        unchanged=[a.id for a in merged.unchanged],
        scores=scores,
        scores_by=scores_by,
        optical_truth_objects=optical_truth,
        gate_missed_objects=gate_missed,
        feeds=feeds,
        strategy=ctx.strategy,
        optical_share=round(float((m["sensors"] == SENSOR_CODE["optical"]).mean()), 4),
        confirmed=list(merged.confirmed),
        cancelled=list(merged.cancelled),
        grown=list(merged.grown),
        filtered=dict(sorted((Counter(r.reason for r in rejected) + Counter(objects=objects_dropped)).items())),
    )
    write_json_atomic(final_dir / "pass.json", result.to_dict())
    return result


def pass_scores_by(candidates: Sequence[Any], grid: Grid, truth: np.ndarray, min_truth_px: int,
                   filtered: bool) -> dict[str, ObjectScores]:
    """Object scores of a pass's candidates by the evidence behind them, against the simulator's truth:
    by their ``sensors`` (``S1``: Sentinel-1 alone, in a SAR-first pass the S1 ensemble decided them;
    ``S1+S2``: a clear Sentinel-2 view) and, where the object filter judged the pass's detections and
    kept its rejects as candidates (``filtered``), those it accepts (``filter accepts``, the candidates
    that may confirm an alert).

    Why: a SAR-first pass under clouds raises mostly one-look Sentinel-1 candidates, so its overall
    precision says little about the evidence behind each kind; this says which kind finds what."""
    groups = {name: [c for c in candidates if c.sensors == name] for name in ("S1", "S1+S2")}
    if filtered:
        groups["filter accepts"] = [c for c in candidates if c.confirmable]
    return {name: object_scores(_candidate_mask(list(group), grid), truth, min_truth_px=min_truth_px)
            for name, group in groups.items()}


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
    from gee_landslide.monitor.store import SarConfirm

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
        values = dvh_window[_candidate_mask(list(cands), grid).astype(bool)]
        values = values[np.isfinite(values)]
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
    candidates the store lets a pass retract (:func:`gee_landslide.monitor.store.can_judge`)."""
    sensors = m["sensors"]
    if ctx.strategy != "sar-first" or ctx.region.optical_look_window(ctx.post) is None:
        return sensors
    clear = np.isfinite(m["dndvi"]) & (sensors > 0)
    return np.where(clear, SENSOR_CODE["optical"], sensors).astype(np.uint8)


def optical_coverage_of(sensors: np.ndarray, grid: Grid) -> Callable[[Any], float]:
    """For the alert store: the share of an alert's footprint this pass decided with Sentinel-2."""
    from rasterio import features

    from gee_landslide.monitor.alerts import from_lonlat

    def coverage(alert: Any) -> float:
        poly = from_lonlat(alert.geometry, grid.crs)
        x0, y0, x1, y1 = grid.bounds
        if not poly.intersects(_box(x0, y0, x1, y1)):
            return 0.0
        inside = features.geometry_mask([poly], out_shape=grid.shape, transform=grid.transform, invert=True,
                                        all_touched=False)
        if not inside.any():
            return 0.0
        return float((sensors[inside] == SENSOR_CODE["optical"]).mean())

    return coverage


def _box(x0: float, y0: float, x1: float, y1: float) -> Any:
    from shapely.geometry import box

    return box(x0, y0, x1, y1)


def _candidate_mask(candidates: list[Any], grid: Grid) -> np.ndarray:
    from rasterio import features

    if not candidates:
        return np.zeros(grid.shape, np.uint8)
    return features.rasterize(((c.geometry, 1) for c in candidates), out_shape=grid.shape,
                              transform=grid.transform, dtype="uint8")


def render_pass_quicklook(out: Path, m: dict[str, np.ndarray], candidates: list[Any], ctx: PassContext,
                          threshold: float) -> Path:
    """Probability (with alert outlines), uncertainty and dNDVI side by side."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.6), constrained_layout=True)
    axes = fig.subplots(1, 3)
    x0, y0, x1, y1 = ctx.grid.bounds
    extent = (0, (x1 - x0) / 1000, 0, (y1 - y0) / 1000)
    panels = [(m["mean"], "ensemble probability", "viridis", 0, 1), (m["std"], "member spread (std)", "magma", 0, 0.5),
              (m["dndvi"], "dNDVI", "BrBG", -0.6, 0.6)]
    for ax, (arr, title, cmap, lo, hi) in zip(axes, panels, strict=True):
        im = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title)
        ax.set_xlabel("km")
        for c in candidates:
            xs, ys = c.geometry.exterior.xy
            ax.plot((np.asarray(xs) - x0) / 1000, (np.asarray(ys) - y0) / 1000, color="red", lw=0.8)
    fig.suptitle(f"{ctx.region_id} {ctx.run_date}: pre {ctx.pre.start}..{ctx.pre.end}, post {ctx.post.start}.."
                 f"{ctx.post.end}; {len(candidates)} detection(s) at p >= {threshold:.2f}")
    fig.savefig(out, dpi=80)
    return out


# ----------------------------------------------------------------------------- all in one
def run_pass(
    catalog: Catalog,
    paths: ProjectPaths,
    region_id: str,
    run_date: dt.date | None = None,
    source: str = "simulated",
    ensemble: str | None = None,
    gate: GateConfig | None = None,
    threshold: float | None = None,
    notify_url: str | None = None,
    map_tiles: Callable[[Callable[[Tile], TileResult], list[Tile]], Iterable[TileResult]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    grid: Grid | None = None,
    strategy: str | None = None,
) -> PassResult:
    """Run one monitoring pass end to end (the CLI's ``monitor run``)."""
    started = time.perf_counter()
    ctx = prepare_pass(catalog, paths, region_id, run_date, source, ensemble, gate, threshold, grid=grid,
                       strategy=strategy)
    load_pass_ensembles(ctx)  # fail early on a tampered or missing member

    def work(tile: Tile) -> TileResult:
        return process_tile(ctx, tile)

    results: list[TileResult] = []
    mapped = map_tiles(work, list(ctx.tiles)) if map_tiles else map(work, ctx.tiles)
    for i, r in enumerate(mapped, 1):
        results.append(r)
        if progress:
            progress(i, len(ctx.tiles))
    return finish_pass(ctx, results, paths, started, notify_url)


def load_pass_summary(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "pass.json").read_text())
