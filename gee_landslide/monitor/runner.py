"""One monitoring pass over a region: windows, tiles, ensemble, rasters, alerts, feeds.

The pass is three plain functions so that the CLI runs them in a loop and the Prefect flow maps
the middle one over a task runner (local pool or Dask cluster):

1. :func:`~gee_landslide.monitor.pass_context.prepare_pass` checks the inputs (region, date,
   ensemble) and plans the tiles;
2. :func:`process_tile` fetches one tile's 15-band stack from the source
   (:mod:`~gee_landslide.monitor.tile_inputs`), optionally skips it when the change gate sees no
   sign of change, and runs the ensemble(s) on it (:mod:`~gee_landslide.monitor.decisions`);
3. :func:`finish_pass` mosaics the tiles, writes the probability / uncertainty / agreement
   GeoTIFFs and a quick-look, turns detections into alerts, merges them into the store and
   republishes the feeds, with the confirmation rules of :mod:`~gee_landslide.monitor.confirm_rules`.

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
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.atomic import remove_stale_temps, write_json_atomic
from gee_landslide.core.bands import BAND_INDEX
from gee_landslide.core.catalog import Catalog
from gee_landslide.core.grid import Grid
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.monitor.alerts import candidates_mask, detections_to_candidates
from gee_landslide.monitor.confirm_rules import (
    optical_coverage_of,
    optical_look_of,
    retraction_view,
    sar_confirm_rule,
    sar_holds_of,
)
from gee_landslide.monitor.decisions import (
    observed_sensors,
    pass_contrast_limit,
    pass_evidence,
    pass_object_stage,
    pass_s1_evidence,
    pass_thresholds,
    predict_by_sensors,
)
from gee_landslide.monitor.evaluate import ObjectScores, object_scores, truth_objects_mostly_in
from gee_landslide.monitor.pass_context import (
    SENSOR_CODE,
    GateConfig,
    MonitoringError,
    PassContext,
    PassResult,
    TileResult,
    load_pass_ensembles,
    pass_model_version,
    prepare_pass,
)
from gee_landslide.monitor.tile_inputs import (
    fetch_tile_look,
    fetch_tile_s1_stack,
    fetch_tile_stack,
    shows_change,
)
from gee_landslide.monitor.tiling import Tile
from gee_landslide.sources import get_source


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
        own = stack[BAND_INDEX[band]][core]
        return own if s1_stack is None else np.where(sensors == SENSOR_CODE["s1"], s1_stack[BAND_INDEX[band]][core], own)

    return TileResult(
        tile=tile,
        mean=mean,
        std=std,
        agreement=agreement,
        dndvi=stack[BAND_INDEX["dNDVI"]][core],
        dvv=sar("dVV"),
        slope=stack[BAND_INDEX["slope"]][core],
        landcover=stack[BAND_INDEX["CART_LC_classified"]][core],
        truth=None if truth is None else truth[core],
        gated=gated,
        fetch_seconds=fetch_seconds,
        predict_seconds=time.perf_counter() - t1,
        elevation=stack[BAND_INDEX["elevation"]][core],
        sensors=sensors,
        score=score,
        dvh=sar("dVH"),
        dvh_window=None if s1_stack is None else stack[BAND_INDEX["dVH"]][core],
        tree_height=stack[BAND_INDEX["tree_height"]][core],
        objects_score=objects,
        look=None if look is None else look[core].astype(np.float32),
    )


# ----------------------------------------------------------------------------- 3. finish
def mosaic_tiles(ctx: PassContext, results: Iterable[TileResult]) -> dict[str, np.ndarray]:
    h, w = ctx.grid.shape
    keys = ("mean", "std", "agreement", "dndvi", "dvv", "dvh", "dvh_window", "slope", "landcover", "elevation",
            "score", "tree_height", "objects_score", "look")
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


@dataclass
class PassCandidates:
    """What a pass's detections became: candidates, and what the rules rejected."""

    candidates: list[Any]
    rejected: list[Any]  # alerts.Rejected: too small, flat, water, too little change or contrast
    object_rejects: Any  # the object filter's rejects where the region keeps them as candidates, else None
    objects_dropped: int  # detections the object filter removed outright


def pass_candidates(ctx: PassContext, m: dict[str, np.ndarray], threshold: Any) -> PassCandidates:
    """Turn a pass's mosaic (:func:`mosaic_tiles`) into alert candidates: each ensemble's threshold on its
    own score (mean probability, or the vote share), the object filter, and the area, slope, water,
    change and contrast rules. Pure: it writes nothing, so benchmarks read the same candidates the
    alert store receives."""
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
    return PassCandidates(candidates, rejected, object_rejects, objects_dropped)


def finish_pass(
    ctx: PassContext,
    results: list[TileResult],
    paths: ProjectPaths,
    started: float | None = None,
    notify_url: str | None = None,
) -> PassResult:
    """Write the pass's rasters, turn detections into alerts, merge them, republish the feeds."""
    from gee_landslide.core.stackio import write_geotiff
    from gee_landslide.monitor.basemap import install_basemap, write_basemap
    from gee_landslide.monitor.chips import ChipSource
    from gee_landslide.monitor.feeds import feed_paths, merge_and_publish
    from gee_landslide.monitor.notify import Notifier, notifier_for_url
    from gee_landslide.monitor.store import AlertStore

    started = started if started is not None else time.perf_counter()
    m = mosaic_tiles(ctx, results)
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

        found = pass_candidates(ctx, m, threshold)
        candidates, rejected, object_rejects = found.candidates, found.rejected, found.object_rejects
        shown_threshold = float(np.nanmedian(threshold)) if np.ndim(threshold) else float(threshold)
        render_pass_quicklook(partial / "quicklook.png", m, candidates, ctx, shown_threshold)

        scores = gate_missed = optical_truth = None
        scores_by: dict[str, ObjectScores] = {}
        if get_source(ctx.source).has_truth:
            min_px = int(ctx.region.min_area_m2 / ctx.grid.resolution**2)
            detected = candidates_mask(candidates, ctx.grid)
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
        optical_look=optical_look_of(ctx, m),
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
        filtered=dict(sorted((Counter(r.reason for r in rejected) + Counter(objects=found.objects_dropped)).items())),
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
    return {name: object_scores(candidates_mask(list(group), grid), truth, min_truth_px=min_truth_px)
            for name, group in groups.items()}


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
