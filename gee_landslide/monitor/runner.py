"""One monitoring pass over a region: windows, tiles, ensemble, rasters, alerts, feeds.

The pass is three plain functions so that the CLI runs them in a loop and the Prefect flow maps
the middle one over a task runner (local pool or Dask cluster):

1. :func:`prepare_pass` checks the inputs (region, date, ensemble) and plans the tiles;
2. :func:`process_tile` fetches one tile's 15-band stack from the source, optionally skips it
   when the change gate sees no sign of change, and runs the ensemble on it;
3. :func:`finish_pass` mosaics the tiles, writes the probability / uncertainty / agreement
   GeoTIFFs and a quick-look, turns detections into alerts, merges them into the store and
   republishes the feeds.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.atomic import remove_stale_temps, write_json_atomic
from gee_landslide.core.bands import BAND_BY_NAME
from gee_landslide.core.catalog import Catalog, Defaults, Region, Window
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid, grid_for_bbox
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.core.values import check_threshold
from gee_landslide.monitor.evaluate import ObjectScores, object_scores
from gee_landslide.monitor.tiling import Tile, plan_tiles
from gee_landslide.sources import UnknownSourceError, get_source, source_names

# Sentinel-1A's first IW acquisitions (Oct 2014) and Sentinel-2A's first L2A products (mid 2015):
# a pass whose pre window starts before both has no data to compare.
EARLIEST_S1 = dt.date(2014, 10, 3)
EARLIEST_S2 = dt.date(2015, 6, 27)

_IDX = {name: band.index for name, band in BAND_BY_NAME.items()}


class MonitoringError(GeeLandslideError, ValueError):
    """A pass that cannot run; the message says what to fix."""


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
    manifest_path: Path
    threshold: float | None
    gate: GateConfig
    cache_dir: Path


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
    gate_missed_objects: int | None = None
    feeds: dict[str, Path] = field(default_factory=dict)

    @property
    def seconds_per_km2(self) -> float:
        return self.seconds / self.area_km2 if self.area_km2 else float("nan")

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
            "alerts": {"new": self.new, "updated": self.updated, "unchanged": self.unchanged},
            "object_scores": self.scores.to_dict() if self.scores else None,
            "gate_missed_objects": self.gate_missed_objects,
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
        profile = next(p for p in ("laptop", "paper") if name in load_profile(p).settings)
        return (f"`gee-landslide train --profile {profile} --setting {name}` then "
                f"`gee-landslide ensemble build --setting {name}`")
    laptop = load_profile("laptop").settings
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
) -> PassContext:
    """Check the inputs and plan the tiles. Raises :class:`MonitoringError` with what to fix."""
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
    name = ensemble or region.ensemble
    manifest = paths.ensemble_dir(name) / "manifest.json"
    if not manifest.exists():
        hint = ensemble_build_hint(name)
        raise MonitoringError(
            f"no ensemble {name!r} for region {region_id!r}: {manifest} is missing; build it with {hint}",
            file=manifest, field="ensemble", value=name, hint=hint,
        )
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
    )


# ----------------------------------------------------------------------------- 2. tiles
@functools.lru_cache(maxsize=4)
def _cached_ensemble(manifest_path: str, mtime_ns: int) -> Any:
    from gee_landslide.train.ensemble import load_ensemble

    return load_ensemble(Path(manifest_path))


def load_pass_ensemble(ctx: PassContext) -> Any:
    """The pass's ensemble, loaded (and hash-checked) once per process."""
    return _cached_ensemble(str(ctx.manifest_path), ctx.manifest_path.stat().st_mtime_ns)


def fetch_tile_stack(ctx: PassContext, grid: Grid, key: str = "tile") -> tuple[np.ndarray, np.ndarray | None]:
    """The (15, H, W) stack of one tile from the pass's source, and the truth mask if known."""
    return get_source(ctx.source).fetch_region_tile(
        ctx.region_id, ctx.region, ctx.pre, ctx.post, grid, defaults=ctx.defaults, cache_dir=ctx.cache_dir / key
    )


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
    """Fetch one tile, gate it, run the ensemble on it, and keep its core."""
    t0 = time.perf_counter()
    stack, truth = fetch_tile_stack(ctx, tile.read_grid(ctx.grid), tile.key)
    t1 = time.perf_counter()
    core = tile.core_slices()
    gated = ctx.gate.enabled and not shows_change(stack, ctx.gate)
    if gated:
        zeros = np.zeros((tile.height, tile.width), np.float32)
        mean, std, agreement = zeros, zeros, zeros
    else:
        pred = load_pass_ensemble(ctx).predict(stack)
        mean, std, agreement = (np.asarray(a, np.float32)[core] for a in (pred.mean, pred.std, pred.agreement))
    return TileResult(
        tile=tile,
        mean=mean,
        std=std,
        agreement=agreement,
        dndvi=stack[_IDX["dNDVI"]][core],
        dvv=stack[_IDX["dVV"]][core],
        slope=stack[_IDX["slope"]][core],
        landcover=stack[_IDX["CART_LC_classified"]][core],
        truth=None if truth is None else truth[core],
        gated=gated,
        fetch_seconds=t1 - t0,
        predict_seconds=time.perf_counter() - t1,
        elevation=stack[_IDX["elevation"]][core],
    )


# ----------------------------------------------------------------------------- 3. finish
def _mosaic(ctx: PassContext, results: Iterable[TileResult]) -> dict[str, np.ndarray]:
    h, w = ctx.grid.shape
    keys = ("mean", "std", "agreement", "dndvi", "dvv", "slope", "landcover", "elevation")
    out = {k: np.full((h, w), np.nan, np.float32) for k in keys}
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
        gated_mask[sl] = r.gated
        seen += 1
    if seen != len(ctx.tiles):
        raise MonitoringError(f"{seen} of {len(ctx.tiles)} tiles were processed; the pass is incomplete")
    out["truth"] = truth
    out["gated"] = gated_mask
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
    ensemble = load_pass_ensemble(ctx)
    threshold = ctx.threshold if ctx.threshold is not None else float(ensemble.threshold)

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
        write_basemap(partial, ctx.region_id, ctx.grid, m["elevation"], m["landcover"], ctx.region.bbox,
                      ctx.run_date.isoformat())

        # the ensemble's threshold applies to its own score: mean probability, or the vote share
        score = m["agreement"] if ensemble.aggregation == "vote" else m["mean"]
        candidates = detections_to_candidates(
            score, m["std"], m["agreement"], ctx.grid, threshold=threshold, slope=m["slope"],
            landcover=m["landcover"], min_area_m2=ctx.region.min_area_m2, min_slope_deg=ctx.region.min_slope_deg,
        )
        render_pass_quicklook(partial / "quicklook.png", m, candidates, ctx, threshold)

        scores = gate_missed = None
        if get_source(ctx.source).has_truth:
            detected = _candidate_mask(candidates, ctx.grid)
            scores = object_scores(detected, m["truth"], min_truth_px=int(ctx.region.min_area_m2 / ctx.grid.resolution**2))
            gate_missed = object_scores(m["gated"], m["truth"]).found_objects if ctx.gate.enabled else 0

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
    merged = merge_and_publish(
        store,
        candidates,
        region_id=ctx.region_id,
        pre=ctx.pre,
        post=ctx.post,
        run_time=dt.datetime.combine(ctx.run_date, dt.time(12, 0), tzinfo=dt.timezone.utc),
        model_version=ensemble.version,
        chips_source=ChipSource(m["dndvi"], m["dvv"], ctx.grid),
        notifier=notifier_for_url(notify_url) if notify_url else Notifier.from_env(),
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
        new=[a.id for a in merged.new],
        updated=[a.id for a in merged.updated],
        unchanged=[a.id for a in merged.unchanged],
        scores=scores,
        gate_missed_objects=gate_missed,
        feeds=feeds,
    )
    write_json_atomic(final_dir / "pass.json", result.to_dict())
    return result


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
) -> PassResult:
    """Run one monitoring pass end to end (the CLI's ``monitor run``)."""
    started = time.perf_counter()
    ctx = prepare_pass(catalog, paths, region_id, run_date, source, ensemble, gate, threshold, grid=grid)
    load_pass_ensemble(ctx)  # fail early on a tampered or missing member

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
