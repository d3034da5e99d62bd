"""What a monitoring pass is before any tile runs: its inputs checked, its tiles planned, its
ensembles loaded.

:func:`prepare_pass` turns a region, a date and the region's ensembles into a :class:`PassContext`
(picklable, so tile workers on a Dask cluster get everything in one object), or raises a
:class:`MonitoringError` that says what to fix. :class:`TileResult` and :class:`PassResult` are what
the tile workers and the finished pass hand back (:mod:`gee_landslide.monitor.runner`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.catalog import Catalog, Defaults, Region, Window
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid, grid_for_bbox
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.core.values import check_threshold
from gee_landslide.monitor.evaluate import ObjectScores
from gee_landslide.monitor.tiling import Tile, plan_tiles
from gee_landslide.sources import UnknownSourceError, get_source, source_names

# Sentinel-1A's first IW acquisitions (Oct 2014) and Sentinel-2A's first L2A products (mid 2015):
# a pass whose pre window starts before both has no data to compare.
EARLIEST_S1 = dt.date(2014, 10, 3)
EARLIEST_S2 = dt.date(2015, 6, 27)


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
    """One tile's core after the ensembles ran on it: the maps the pass mosaics, and what it cost."""

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
    # 1 where Sentinel-2 saw the pixel clear in the latest optical_look_days of the post window, else 0;
    # None where the pass did not ask (tile_inputs.fetch_tile_look): what makes an optical look new
    look: np.ndarray | None = None


@dataclass
class PassResult:
    """What a finished pass did (``pass.json``): its windows, its alerts by fate, scores against truth, costs."""

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


def pass_model_version(ctx: PassContext) -> str:
    """The alerts' ``model_version``: the ensemble's version, or each role's joined (``optical:…+s1:…``)."""
    ens = load_pass_ensembles(ctx)
    if ctx.strategy == "single":
        return str(ens["single"].version)
    return "+".join(f"{role}:{e.version}" for role, e in sorted(ens.items()))
