"""What one monitoring pass can know: the best any threshold of each piece of evidence could do.

Issue #9 asks one pass of ``monitor/norway`` for object precision and recall of 0.7. On the demo's
pass of 2025-08-01 the candidates the object filters accept reach 0.67 / 0.40 and all candidates
0.04 / 0.80. This asks whether a better threshold, or another score the pass holds, could reach
the target, or whether the evidence itself is missing.

It runs the pass's tiles through the monitoring code (``prepare_pass``, ``process_tile``,
``mosaic_tiles``, ``pass_candidates``) and writes nothing: no pass directory, no alert. For each
score a candidate has, it ranks the candidates (each alert candidate counts once; ``pass.json``
counts the 8-connected objects of their union, so touching candidates make one there) and reports the best precision of any cut-off that
finds at least ``--recall`` of the landslides, the cut-off chosen on the simulator's truth
(:func:`gee_landslide.monitor.evaluate.ranking_ceiling`). That is an upper bound, not a result:
where it stays below the target, no threshold of that score reaches it on this pass.

Sentinel-1 evidence is also read look by look. The S1 ensemble decides on a one-look median, so a
speckle patch in that look is a candidate. The same recipe with the post window ending one and two
repeats earlier gives the looks before it, independent of the latest one; a candidate's median dVH
can then be asked to hold in 2 or 3 looks, which is what persistence over passes asks.

    python benchmarks/bench_pass_ceiling.py --root DEMO [--region norway] [--date 2025-08-01] [--recall 0.7]
    python benchmarks/bench_pass_ceiling.py --root DEMO --date 2025-07-02 --end 2025-10-15 --every 6
    python benchmarks/bench_pass_ceiling.py --root DEMO --date 2025-06-01 --end 2025-10-15 --season-seeds 5,6,7,8,9

The second form runs every pass of a season (one line each) and counts the passes with landslides
in view where the filter's accepted candidates reach the target, and where any threshold of any
score could (one pass is one draw of clouds). The third runs the seasons of
``bench_time_to_alert.py`` (its 3 km square, 8 landslides on each of 5 dates, one simulation per
seed) with the region's own options, and pools them.

Needs a source with truth (the simulator) and the region's ensembles built (``make demo``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.bands import BAND_INDEX
from gee_landslide.core.catalog import Catalog, RegionSimulation, Window, load_catalog
from gee_landslide.core.constellation import s1_repeat_days
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.paths import project_paths
from gee_landslide.monitor.alerts import candidates_mask
from gee_landslide.monitor.decisions import pass_thresholds
from gee_landslide.monitor.evaluate import (
    Ceiling,
    object_scores,
    ranking_ceiling,
    truth_hits,
    truth_objects_mostly_in,
)
from gee_landslide.monitor.pass_context import (
    SENSOR_CODE,
    GateConfig,
    PassContext,
    load_pass_ensembles,
    prepare_pass,
)
from gee_landslide.monitor.runner import mosaic_tiles, pass_candidates, process_tile
from gee_landslide.sources import get_source


def look_dvh(ctx: PassContext, looks: int) -> list[np.ndarray]:
    """dVH of the pass's grid in each of the latest ``looks`` Sentinel-1 looks, one look each (latest
    first): the region's recipe with a one-repeat Sentinel-1 post window ending 0, 1, ... repeats
    before the pass date, against the pass's own pre window."""
    repeat = s1_repeat_days(ctx.run_date)
    region = ctx.region.model_copy(update={"s1_post_days": repeat})
    source = get_source(ctx.source)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for j in range(looks):
            post = Window(start=ctx.post.start, end=ctx.post.end - dt.timedelta(days=j * repeat))
            stack, _ = source.fetch_region_tile(ctx.region_id, region, ctx.pre, post, ctx.grid,
                                                defaults=ctx.defaults, cache_dir=Path(tmp) / f"look-{j}")
            out.append(stack[BAND_INDEX["dVH"]])
    return out


def footprint_stat(raster: np.ndarray, masks: Sequence[np.ndarray], stat: Callable[[np.ndarray], float] = np.median,
                   empty: float = np.nan) -> np.ndarray:
    """Each footprint's ``stat`` of the finite values of ``raster`` (``empty`` where it has none)."""
    out = []
    for m in masks:
        v = raster[m]
        v = v[np.isfinite(v)]
        out.append(float(stat(v)) if v.size else empty)
    return np.asarray(out, np.float64)


def candidate_scores(cands: Sequence[Any], masks: Sequence[np.ndarray], m: dict[str, np.ndarray],
                     dvh_looks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Every score the pass holds per candidate, oriented so that higher means more likely a landslide
    (a footprint without the band's values ranks last)."""
    low = -1e9
    scores: dict[str, np.ndarray] = {
        "ensemble score (mean over footprint)": np.array([c.mean_prob for c in cands], np.float64),
        "ensemble score (peak)": np.array([c.peak_prob for c in cands], np.float64),
        "member agreement": np.array([c.agreement or 0.0 for c in cands], np.float64),
        "area": np.array([c.area_m2 for c in cands], np.float64),
        "object filter (mean over footprint)": np.nan_to_num(footprint_stat(m["objects_score"], masks, np.mean), nan=low),
        "dNDVI drop (median of clear pixels)": np.nan_to_num(-footprint_stat(m["dndvi"], masks), nan=low),
    }
    per_look = [-footprint_stat(d, masks) for d in dvh_looks]
    for k in range(1, len(per_look) + 1):
        held = np.min(np.stack(per_look[:k]), axis=0)  # the weakest drop of the latest k looks
        name = "dVH drop (median), latest look" if k == 1 else f"dVH drop held in each of the latest {k} looks"
        scores[name] = np.nan_to_num(held, nan=low)
    return scores


def season_catalog(catalog: Catalog, region_id: str, seed: int, km: float, landslide_dates: list[dt.date],
                   per_date: int) -> tuple[Catalog, str]:
    """The catalog with one region, ``sim``: ``region_id``'s options on the square and the simulated
    season of ``bench_time_to_alert.py`` (a ``km`` square around norway-5, ``per_date`` landslides on
    each date, the simulation drawn with ``seed``). With the norway region's options these are the
    passes that benchmark's five pooled seasons ran (same region id, so the same draw)."""
    from bench_time_to_alert import bbox_around  # that benchmark's square, not a copy of it

    event = catalog.event("norway-5")
    region = catalog.regions[region_id].model_copy(update={
        "bbox": bbox_around(event.lat, event.lon, km), "tile_px": 320,
        "simulation": RegionSimulation(seed=seed, landslide_dates=landslide_dates, landslides_per_date=per_date)})
    return catalog.model_copy(update={"regions": {"sim": region}}), "sim"


def pass_ceilings(root: Path, region_id: str, date: dt.date, min_recall: float, looks: int,
                  say: Callable[[str], None] = print,
                  catalog: Catalog | None = None) -> tuple[dict[str, Any], dict[str, Ceiling]]:
    """Run the pass without writing it and return its counts and every score's ceiling (``catalog``:
    the root's unless given)."""
    paths = project_paths(root)
    catalog = catalog or load_catalog(paths.catalog)
    ctx = prepare_pass(catalog, paths, region_id, date, "simulated", None, GateConfig(enabled=False), None)
    if not get_source(ctx.source).has_truth:
        raise GeeLandslideError(f"source {ctx.source!r} has no truth to score a pass against")
    load_pass_ensembles(ctx)
    say(f"{region_id} {date}: {len(ctx.tiles)} tile(s), {ctx.grid.area_km2:.1f} km², strategy {ctx.strategy}")
    m = mosaic_tiles(ctx, [process_tile(ctx, t) for t in ctx.tiles])
    found = pass_candidates(ctx, m, pass_thresholds(ctx, m["sensors"]))
    cands = found.candidates
    masks = [candidates_mask([c], ctx.grid).astype(bool) for c in cands]
    min_px = int(ctx.region.min_area_m2 / ctx.grid.resolution**2)
    hits = truth_hits(masks, m["truth"], min_px)
    n_truth = object_scores(candidates_mask(cands, ctx.grid), m["truth"], min_px).truth_objects
    say(f"reading {looks} single Sentinel-1 looks")
    scores = candidate_scores(cands, masks, m, look_dvh(ctx, looks))
    accepted = [h for c, h in zip(cands, hits, strict=True) if c.confirmable]
    counts = {
        "candidates": len(cands), "real": sum(bool(h) for h in hits), "landslides": n_truth,
        "found": len(set().union(*hits)) if hits else 0,
        "optical_view": truth_objects_mostly_in(m["truth"], m["sensors"] == SENSOR_CODE["optical"], min_px),
        "by_sensors": {s: sum(c.sensors == s for c in cands) for s in ("S1", "S1+S2")},
        # what the pass itself marks: the candidates the object filter accepts (they may confirm an alert)
        "accepted": len(accepted), "accepted_real": sum(bool(h) for h in accepted),
        "accepted_found": len(set().union(*accepted)) if accepted else 0,
    }
    return counts, {name: ranking_ceiling(s, hits, n_truth, min_recall) for name, s in scores.items()}


def season_rows(root: Path, region_id: str, dates: list[dt.date], min_recall: float, looks: int,
                say: Callable[[str], None] = print,
                catalog: Catalog | None = None) -> list[tuple[dt.date, dict[str, Any], dict[str, Ceiling]]]:
    """:func:`pass_ceilings` for every date (passes with no landslide in view included: they show how
    many false candidates a pass raises)."""
    return [(d, *pass_ceilings(root, region_id, d, min_recall, looks, say, catalog)) for d in dates]


def best_ceiling(ceilings: dict[str, Ceiling]) -> tuple[str, Ceiling]:
    """The score whose ceiling is highest (NaN: none reaches the recall)."""
    reached = {k: c for k, c in ceilings.items() if not np.isnan(c.precision)}
    if not reached:
        return "", Ceiling(float("nan"), float("nan"), 0)
    name = max(reached, key=lambda k: reached[k].precision)
    return name, reached[name]


def season_report(rows: list[tuple[dt.date, dict[str, Any], dict[str, Ceiling]]], min_recall: float,
                  min_precision: float) -> str:
    """One line per pass: what it found, what its filter accepted, and the best ceiling of any score;
    then how many passes with landslides in view could reach the target at all."""
    lines = [f"| pass | landslides (S2 clear view) | candidates, real | filter accepts: n, P / R | best ceiling "
             f"at recall >= {min_recall:g} (score) |", "|---|---|---|---|---|"]
    with_slides = reach_any = reach_filter = 0
    for d, c, ceilings in rows:
        n = c["landslides"]
        ap = c["accepted_real"] / c["accepted"] if c["accepted"] else float("nan")
        ar = c["accepted_found"] / n if n else float("nan")
        name, best = best_ceiling(ceilings)
        cell = "-" if not n else ("never reaches the recall" if np.isnan(best.precision) else f"{best.precision:.2f} ({name})")
        lines.append(f"| {d} | {n} ({c['optical_view']}) | {c['candidates']}, {c['real']} | {c['accepted']}, {ap:.2f} / {ar:.2f} | {cell} |")
        if n:
            with_slides += 1
            reach_any += bool(best.precision >= min_precision)
            reach_filter += bool(ap >= min_precision and ar >= min_recall)
    lines += ["", f"{with_slides} passes with landslides in view: the filter's accepted candidates reach "
                  f"{min_precision:g} / {min_recall:g} in {reach_filter}; some threshold of some score could in "
                  f"{reach_any} (cut-offs chosen on the truth: an upper bound)."]
    return "\n".join(lines)


def report(counts: dict[str, Any], ceilings: dict[str, Ceiling], min_recall: float) -> str:
    lines = [f"{counts['candidates']} candidates ({counts['by_sensors']['S1']} decided by Sentinel-1 alone, "
             f"{counts['by_sensors']['S1+S2']} with a clear Sentinel-2 view), {counts['real']} real; "
             f"{counts['found']} of {counts['landslides']} landslides found; Sentinel-2 had a clear recent view "
             f"of {counts['optical_view']}",
             "", f"| ranked by | best precision at recall >= {min_recall:g} | its recall | candidates kept |",
             "|---|---|---|---|"]
    for name, c in ceilings.items():
        if np.isnan(c.precision):
            lines.append(f"| {name} | never reaches the recall | | |")
        else:
            lines.append(f"| {name} | {c.precision:.2f} | {c.recall:.2f} | {c.kept} |")
    lines += ["", "Each cut-off is chosen on the simulator's truth: an upper bound on any threshold of that score."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--region", default="norway")
    ap.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2025, 8, 1))
    ap.add_argument("--recall", type=float, default=0.7, help="the recall floor (issue #9: 0.7)")
    ap.add_argument("--looks", type=int, default=3, help="single Sentinel-1 looks to read (latest first)")
    ap.add_argument("--end", type=dt.date.fromisoformat, default=None,
                    help="run every pass from --date to this date (a season), one line each")
    ap.add_argument("--every", type=int, default=6, help="days between the passes of a season")
    ap.add_argument("--precision", type=float, default=0.7, help="the precision target of a season's summary")
    ap.add_argument("--season-seeds", default=None, metavar="N,N,...",
                    help="instead of the region itself, bench_time_to_alert.py's seasons with the region's options "
                         "(its pooled seeds: 5,6,7,8,9); with --date/--end/--every as there (2025-06-01, 2025-10-15, 6)")
    ap.add_argument("--km", type=float, default=3.0, help="side of a season's square (bench_time_to_alert.py's)")
    ap.add_argument("--landslide-dates", default="2025-06-10,2025-07-04,2025-07-29,2025-08-22,2025-09-15",
                    help="a season's landslide dates (bench_time_to_alert.py's default)")
    ap.add_argument("--per-date", type=int, default=8, help="landslides on each date of a season")
    a = ap.parse_args()
    if a.end is None:
        counts, ceilings = pass_ceilings(a.root, a.region, a.date, a.recall, a.looks)
        print(report(counts, ceilings, a.recall))
        return
    dates = [a.date + dt.timedelta(days=i) for i in range(0, (a.end - a.date).days + 1, a.every)]
    if a.season_seeds is None:
        print(season_report(season_rows(a.root, a.region, dates, a.recall, a.looks), a.recall, a.precision))
        return
    base = load_catalog(project_paths(a.root).catalog)
    slide_dates = [dt.date.fromisoformat(d) for d in a.landslide_dates.split(",")]
    pooled: list[tuple[dt.date, dict[str, Any], dict[str, Ceiling]]] = []
    for seed in (int(v) for v in a.season_seeds.split(",")):
        catalog, region_id = season_catalog(base, a.region, seed, a.km, slide_dates, a.per_date)
        rows = season_rows(a.root, region_id, dates, a.recall, a.looks, catalog=catalog)
        print(f"\nseason seed {seed}\n" + season_report(rows, a.recall, a.precision), flush=True)
        pooled += rows
    print("\nall seasons\n" + season_report(pooled, a.recall, a.precision).rsplit("\n\n", 1)[-1])


if __name__ == "__main__":
    main()
