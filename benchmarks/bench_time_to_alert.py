"""Time to alert under clouds: S2-only, S1-only and SAR-first monitoring over a simulated season.

A region around the Norway test event is simulated with its acquisition calendar (Sentinel-1
every 6 or 12 days on one relative orbit, Sentinel-2 every 5 days with clouds from the monthly
climatology) and landslides injected on given dates. The season is backfilled with one pass
every ``--every`` days, in order, under three strategies and a reference side by side; each strategy has its own
alert store, and the three share every fetched tile:

- ``S2-only``: the optical ensemble, only where both Sentinel-2 composites had a clear pixel;
- ``S1-only``: the S1 ensemble everywhere;
- ``SAR-first``: the S1 ensemble where Sentinel-2 saw nothing, the optical one elsewhere;
  SAR-only alerts are candidates that a later clear view confirms or cancels;

and, as the reference they must beat, ``dNDVI rule``: S2-only with the one-band rule (dNDVI < t,
t fitted on the train+val stacks) in place of the optical ensemble, through the same pass code,
change-evidence check and alert lifecycle.

Truth: the landslides of the season with at least ``min_area_m2`` of their pixels inside the
region (:func:`slides_in_region`). Printed: for each strategy, time to alert (days from a
landslide's date to the first pass with an alert over it: median and 90th percentile, over the
landslides that got one), object precision
and recall at first alert (every alert as first issued) and after confirmation (the alerts
confirmed by the end of the season; cancelled ones dropped), what confirmed them (a second
Sentinel-2 look or Sentinel-1 persistence, each with how many lie over a landslide), each pass
scored alone against issue #9's single-pass target (object precision and recall 0.7, for every
candidate and for those the object filter accepts), and the inference cost per ensemble in s/km² with its ratio to one bare forward pass of one member over
the same tiles. Each season's alert stores and passes stay under ``<root>/tta-work/seed-N`` (or
``region-NAME``) for a per-landslide look (``gee-landslide monitor history``).

Ensembles: ``--s1`` and ``--optical`` under ``<root>/models/ensembles``. When they are missing the
benchmark builds the 21 simulated stacks and trains a small sweep (``BENCH_PROFILE``: Unet and
FPN, Focal, settings s1 and s2 = 4 runs, the laptop profile's numbers) and top-2 ensembles.

    nice -n 10 python benchmarks/bench_time_to_alert.py --root /tmp/tta
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import Catalog, Region, RegionEnsembles, RegionSimulation, load_catalog
from gee_landslide.core.paths import ProjectPaths, project_paths
from gee_landslide.train.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = {"S2-only": "optical-only", "S1-only": "s1-only", "SAR-first": "sar-first",
              "dNDVI rule": "optical-only"}
RULE = "bench-rule"  # the reference: the one-band rule in place of the optical ensemble (S2-only)
SINGLE_PASS_TARGET = 0.7  # issue #9's object precision and recall for one monitoring pass
# a pass's candidate groups as pass.json scores them: every candidate, and those the object filter accepts
SINGLE_PASS_GROUPS = {"all": "every candidate", "filter accepts": "the object filter accepts"}


@dataclass
class RuleAsEnsemble:
    """``dNDVI < t`` (t fitted on the train+val stacks) dressed as an ensemble, so the monitoring code
    runs it unchanged: same tiles, change-evidence check (the optical ensemble's), lifecycle and
    scoring. The reference every monitoring figure stands beside."""

    threshold_dndvi: float
    evidence: dict[str, Any] | None
    name: str = RULE
    setting: str = "s2"
    aggregation: str = "mean"
    threshold: float = 0.5
    version: str = "dndvi-rule"

    def predict(self, stack: np.ndarray) -> Any:
        from gee_landslide.train.ensemble import EnsemblePrediction

        d = np.asarray(stack[BAND_NAMES.index("dNDVI")], np.float32)
        with np.errstate(invalid="ignore"):
            hit = np.where(np.isfinite(d), (d < self.threshold_dndvi).astype(np.float32), np.nan).astype(np.float32)
        return EnsemblePrediction(hit, np.zeros_like(hit), hit.copy(), self.threshold, self.aggregation)


def install_rule(base: ProjectPaths, optical: str) -> RuleAsEnsemble:
    """Fit the rule on the train+val stacks, write a stub manifest the pass checks for, and make the
    pass's ensemble loader return the rule for it."""
    from gee_landslide.monitor import pass_context
    from gee_landslide.train.baselines import DndviRule
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.ensemble import load_ensemble
    from gee_landslide.train.sweep import Splits

    splits = Splits.from_catalog(load_catalog(base.catalog))
    fitted = DndviRule().fit(load_scenes(base.stacks, [*splits.train, *splits.val]))
    rule = RuleAsEnsemble(fitted.threshold, load_ensemble(base.ensembles / optical / "manifest.json").evidence)
    stub = base.ensembles / RULE / "manifest.json"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text(json.dumps({"name": RULE, "setting": "s2", "note": "bench_time_to_alert.py: " + fitted.describe()}))
    real = pass_context._cached_ensemble

    def cached(manifest_path: str, mtime_ns: int) -> Any:
        return rule if Path(manifest_path).parent.name == RULE else real(manifest_path, mtime_ns)

    pass_context._cached_ensemble = cached
    print(f"reference: {fitted.describe()}", flush=True)
    return rule

def yaml_value(kv: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, lists)."""
    from ruamel.yaml import YAML

    key, sep, value = kv.partition("=")
    if not sep:
        raise SystemExit(f"--profile-set {kv!r}: use KEY=VALUE")
    return key, YAML(typ="safe").load(value)


def bench_profile(overrides: dict[str, Any] | None = None, optical_setting: str = "s2") -> Profile:
    """The laptop profile's training options (whatever they are today) on a 4-run grid:
    Unet and FPN x Focal x the S1 setting and the optical role's setting (S2, or S1+S2 as the
    norway region uses), so the benchmark follows the demo's models.
    ``overrides`` (``--profile-set``) change single options, e.g. to compare crop samplers."""
    laptop = load_profile("laptop")
    # the S1 runs with the options the laptop's own S1 grid sets (e.g. its boundary_weight)
    s1_grid = next((g.model_dump() for g in laptop.extra if "s1" in g.settings), {})
    s1_runs = {**s1_grid, "settings": ["s1"], "architectures": ["Unet", "FPN"], "losses": ["Focal"]}
    update = {
        "name": "bench-tta", "description": "time-to-alert benchmark: the laptop options on 4 runs",
        "architectures": ["Unet", "FPN"], "losses": ["Focal"], "settings": [optical_setting], "extra": [s1_runs],
    }
    return Profile.model_validate({**laptop.model_dump(), **update, **(overrides or {})})


# ----------------------------------------------------------------------------- ensembles
def ensure_ensembles(paths: ProjectPaths, s1: str, optical: str, overrides: dict[str, Any] | None = None,
                     optical_setting: str = "s2") -> None:
    """Build stacks, the small sweep and the two ensembles unless they exist (a run already
    trained is reused, so adding the S1+S2 optical role to a root trains only its two runs)."""
    if (paths.ensembles / s1 / "manifest.json").exists() and (paths.ensembles / optical / "manifest.json").exists():
        return
    from gee_landslide.core.variants import stack_jobs
    from gee_landslide.sources.build import build_one_stack
    from gee_landslide.train.ensemble import build_ensemble
    from gee_landslide.train.sweep import Splits, run_sweep

    if not paths.catalog.exists():
        paths.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "case_studies.yaml", paths.catalog)
    catalog = load_catalog(paths.catalog)
    profile = bench_profile(overrides, optical_setting)
    t0 = time.perf_counter()
    # the events, then their Sentinel-1 post variants when the profile trains on them (core.variants)
    looks = catalog.defaults.s1_post_variant_looks if profile.s1_post_variants else []
    jobs = stack_jobs(catalog.events, looks)
    for event, n in jobs:
        build_one_stack(event, catalog, paths, "simulated", s1_post_looks=n)
    print(f"stacks: {len(jobs)} in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    run_sweep(profile, paths.runs, paths.stacks, Splits.from_catalog(catalog), show_progress=False)
    print(f"sweep: 4 runs in {time.perf_counter() - t0:.0f} s", flush=True)
    if not (paths.ensembles / s1 / "manifest.json").exists():
        build_ensemble(paths.runs, paths.ensembles, "s1", k=2, name=s1, stacks_dir=paths.stacks)
    build_ensemble(paths.runs, paths.ensembles, optical_setting, k=2, name=optical, stacks_dir=paths.stacks)


def skip_quicklooks() -> None:
    """The benchmark measures detection, not PNG rendering: quick-looks become empty files."""
    from gee_landslide.monitor import runner, store

    def empty(*args, **kw) -> None:
        Path(args[2]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[2]).write_bytes(b"")

    store.render_quicklook = empty
    runner.render_pass_quicklook = lambda out, *a, **k: out


# ----------------------------------------------------------------------------- season
def bbox_around(lat: float, lon: float, km: float) -> tuple[float, float, float, float]:
    dlat = km / 2 / 111.32
    dlon = km / 2 / (111.32 * math.cos(math.radians(lat)))
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


@dataclass
class StrategyRun:
    name: str
    paths: ProjectPaths
    first_alert: dict[str, dt.date] = field(default_factory=dict)  # landslide id -> first pass with an alert


def run_season(catalog: Catalog, base: ProjectPaths, work: Path, region_id: str, dates: list[dt.date],
               strategies: list[str] | None = None) -> tuple[dict[str, StrategyRun], float, float, dict[str, float]]:
    """Backfill the season under every strategy, one fetch per tile; returns runs, km², fetch s and
    the seconds each ensemble took on every tile (timed once per tile, outside the passes)."""
    from gee_landslide.monitor.decisions import filters_objects
    from gee_landslide.monitor.pass_context import S1_STRATEGIES, load_pass_ensembles, prepare_pass
    from gee_landslide.monitor.runner import finish_pass, predict_tile
    from gee_landslide.monitor.tile_inputs import (
        fetch_tile_look,
        fetch_tile_s1_stack,
        fetch_tile_stack,
        role_stack,
        wants_look,
    )

    runs: dict[str, StrategyRun] = {}
    for name in strategies or list(STRATEGIES):
        root = work / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "models").symlink_to(base.models.resolve())
        shutil.copy(base.catalog, root / "case_studies.yaml")
        runs[name] = StrategyRun(name, project_paths(root))
    fetch_s = 0.0
    area = 0.0
    predict_s: dict[str, float] = {}
    for day in dates:
        ctxs = {n: prepare_pass(catalog, r.paths, region_id, day, "simulated", strategy=STRATEGIES[n],
                                ensemble=RULE if n == "dNDVI rule" else None)
                for n, r in runs.items()}
        results: dict[str, list] = {n: [] for n in runs}
        any_ctx = next(iter(ctxs.values()))
        area = any_ctx.grid.area_km2
        # the recent-look mask of the region's optical_look_days is fetched once per tile for the strategies that use
        # it (tile_inputs.wants_look: SAR-first decides with it; optical_confirm_look tells a second look by it)
        look_ctx = next((c for c in ctxs.values() if wants_look(c)), None)
        # the S1 ensemble's own stack (s1_ensemble_post_days) is fetched once per tile too, for SAR-first and S1-only
        s1_ctx = next((c for c in ctxs.values() if c.strategy in S1_STRATEGIES), None)
        for tile in any_ctx.tiles:
            t0 = time.perf_counter()
            grid = tile.read_grid(any_ctx.grid)
            stack, truth = fetch_tile_stack(any_ctx, grid, tile.key)
            look = None if look_ctx is None else fetch_tile_look(look_ctx, grid, tile.key)
            s1_stack = None if s1_ctx is None else fetch_tile_s1_stack(s1_ctx, grid, tile.key)
            fetch_s += time.perf_counter() - t0
            timed: set[str] = set()
            for n, ctx in ctxs.items():
                for role, ens in load_pass_ensembles(ctx).items():  # time each ensemble once per tile
                    if role in timed or n == "dNDVI rule":
                        continue
                    timed.add(role)
                    t1 = time.perf_counter()  # what a pass computes: with the region's object filter if it applies
                    x = role_stack(role, stack, s1_stack)
                    ens.predict_with_objects(x) if filters_objects(ctx, ens) else ens.predict(x)
                    predict_s[role] = predict_s.get(role, 0.0) + time.perf_counter() - t1
                own = s1_stack if ctx.strategy in S1_STRATEGIES else None
                results[n].append(predict_tile(ctx, tile, stack, truth, look=look if wants_look(ctx) else None,
                                               s1_stack=own))
        summary = []
        for n, ctx in ctxs.items():
            r = finish_pass(ctx, results[n], runs[n].paths)
            summary.append(f"{n} {len(r.new)}n/{len(r.confirmed)}c/{len(r.cancelled)}x S2 {r.optical_share:.0%}")
        print(f"{day}: " + "; ".join(summary), flush=True)
    return runs, area, fetch_s, predict_s


# ----------------------------------------------------------------------------- scoring
def slides_in_region(slides: list, grid: Any, min_px: int) -> list:
    """The landslides a pass over ``grid`` can see: at least ``min_px`` of their pixels inside it.

    The simulator places each date's landslides in the 1 km cells that touch the region, anywhere
    in the cell, so in a 3 km region about half of them fall outside the grid or only graze it.
    Counting those as missed capped recall near 0.5 whatever the models did."""
    from gee_landslide.simulate.terrain_model import Lattice

    lat = Lattice.of_grid(grid)
    keep = []
    for s in slides:
        mask = np.zeros(grid.shape, bool)
        s.paste(lat, mask)
        if int(mask.sum()) >= min_px:
            keep.append(s)
    return keep


# A scar must lower NDVI by more than one pixel's dNDVI noise to be seen at all: two composites'
# 0.025 and 0.02 draws (simulate/optical.py) give sqrt(2 * (0.025**2 + 0.02**2)) = 0.045.
SCAR_NDVI_DROP = 0.05


def optically_seen(dates: list[dt.date], slides: list, region_id: str, region: Region, grid: Any,
                   share: float = 0.5) -> list | None:
    """The landslides that some pass could have shown in dNDVI. Their scar lowers NDVI by more than
    ``SCAR_NDVI_DROP`` under a clear sky (:func:`region_scar_ndvi_change`; a scar on bare rock does
    not), and, read off the simulator's cloud calendar: on a pass on or after the landslide, at
    least ``share`` of its pixels had a clear Sentinel-2 look before the landslide in the pre
    window (the greenest-pixel pre composite keeps it even if the window also holds later looks)
    and clear looks in the post window only after the landslide (an earlier clear look in the post
    window is greener, so the greenest-pixel composite keeps it); with ``optical_post_days``, in the
    latest days where they saw the pixel clear, as the composite does. Only these can be confirmed
    by Sentinel-2; the rest stay SAR candidates whatever the models do, so recall after
    confirmation is bounded by their share. None when the region has no acquisition calendar."""
    from gee_landslide.simulate.scene import region_acquisitions, region_scar_ndvi_change
    from gee_landslide.simulate.terrain_model import Lattice

    cal = region_acquisitions(region_id, region)
    if cal is None:
        return None
    changes = region_scar_ndvi_change(region_id, region, grid, slides)
    slides = [s for s, c in zip(slides, changes, strict=True) if c < -SCAR_NDVI_DROP]
    lat = Lattice.of_grid(grid)
    clear: dict[dt.date, np.ndarray] = {}

    def is_clear(d: dt.date) -> np.ndarray:
        if d not in clear:
            cloud, shadow = cal.masks(lat, d)
            clear[d] = ~(cloud | shadow)
        return clear[d]

    def any_clear(days: list[dt.date], mask: np.ndarray) -> np.ndarray:
        out = np.zeros(int(mask.sum()), bool)
        for d in days:
            out |= is_clear(d)[mask]
        return out

    def shows(looks: list[dt.date], mask: np.ndarray, onset: dt.date) -> np.ndarray:
        """Where a greenest-pixel composite of ``looks`` shows the change: clear looks after, none before."""
        return any_clear([x for x in looks if x >= onset], mask) & ~any_clear([x for x in looks if x < onset], mask)

    seen = []
    for s in slides:
        mask = np.zeros(grid.shape, bool)
        s.paste(lat, mask)
        if not mask.any():
            continue
        for d in dates:
            pre, post = region.windows(d)
            if d < s.onset:
                continue
            looks = cal.s2_dates(post)
            before = [x for x in cal.s2_dates(pre) if x < s.onset]
            shown = shows(looks, mask, s.onset)
            if (latest := region.s2_post_window(post)) != post:  # optical_post_days: those days where clear
                recent = cal.s2_dates(latest)
                shown = np.where(any_clear(recent, mask), shows(recent, mask, s.onset), shown)
            visible = any_clear(before, mask) & shown
            if visible.mean() >= share:
                seen.append(s)
                break
    return seen


def score(run: StrategyRun, slides: list, season_start: dt.date, grid_crs: str,
          s2_saw: list | None = None, region_id: str = "sim") -> dict[str, float]:
    """Time to alert and object precision / recall, first issue and after confirmation (also among
    ``s2_saw``, the landslides Sentinel-2 could show: :func:`optically_seen`)."""
    from gee_landslide.monitor.alert_gpkg import read_alerts
    from gee_landslide.monitor.alerts import from_lonlat

    alerts = read_alerts(run.paths.alerts / "alerts.gpkg")
    polys = {s.id: s.polygon() for s in slides}
    in_season = [s for s in slides if s.onset >= season_start]
    first_hits: dict[str, float] = {}
    notice_hits: dict[str, float] = {}  # ... or by an older alert that grew over new ground there
    first_pass_of: dict[str, dt.date] = {}
    # the first pass of each alert: read the passes in order and note the first alert over each slide
    passes = sorted((run.paths.monitor / region_id).glob("????-??-??"))
    seen_ids: set[str] = set()
    confirmed_on: dict[str, dt.date] = {}  # alert id -> the pass that confirmed it
    summaries = []
    for pdir in passes:
        day = dt.date.fromisoformat(pdir.name)
        summary = json.loads((pdir / "pass.json").read_text())
        summaries.append(summary)
        new_ids = set(summary["alerts"]["new"]) - seen_ids
        for aid in summary["alerts"]["confirmed"]:
            confirmed_on.setdefault(aid, day)
        for aid in new_ids:  # an alert confirmed but never listed as such was born confirmed (confirm_looks 1)
            first_pass_of[aid] = day
        seen_ids |= new_ids
        grown_ids = set(summary["alerts"].get("grown", ()))
        for a in alerts:
            if a.alert_id not in new_ids and a.alert_id not in grown_ids:
                continue
            geom = from_lonlat(a.geometry, grid_crs)
            for s in in_season:
                if s.onset <= day and geom.intersects(polys[s.id]):
                    notice_hits.setdefault(s.id, (day - s.onset).days)
                    if a.alert_id in new_ids:
                        first_hits.setdefault(s.id, (day - s.onset).days)

    def hits(a) -> bool:  # over a landslide that had happened when the alert was last seen
        geom = from_lonlat(a.geometry, grid_crs)
        seen = dt.date.fromisoformat(a.last_seen[:10])
        return any(geom.intersects(polys[s.id]) for s in slides if s.onset <= seen)

    def covered_each(subset, among: list) -> list[bool]:  # each of ``among``: under an alert seen after it happened?
        geoms = [(from_lonlat(a.geometry, grid_crs), dt.date.fromisoformat(a.last_seen[:10])) for a in subset]
        return [any(seen >= s.onset and g.intersects(polys[s.id]) for g, seen in geoms) for s in among]

    def covered_of(subset, among: list) -> float:  # share of ``among`` under an alert seen after they happened
        return float(np.mean(covered_each(subset, among))) if among else float("nan")

    def share(flags: np.ndarray) -> float:
        return float(flags.mean()) if flags.size else float("nan")

    tta = np.array(sorted(first_hits.values()), float)
    notice = np.array(sorted(notice_hits.values()), float)
    confirmed = [a for a in alerts if a.stage == "confirmed"]
    # per alert and per landslide, once: the shares below and the intervals (season_intervals) use them
    alert_hit = np.array([hits(a) for a in alerts], float)
    confirmed_hit = alert_hit[[a.stage == "confirmed" for a in alerts]] if alerts else np.zeros(0)
    confirmed_route = [a.confirmed_by or "unrecorded" for a in confirmed]  # beside confirmed_hit, alert by alert
    slide_confirmed = np.array(covered_each(confirmed, in_season), float)
    # time to confirmation: days from a landslide to the first pass that confirmed an alert over it
    conf_days: dict[str, int] = {}
    for a in confirmed:
        day = confirmed_on.get(a.alert_id, first_pass_of.get(a.alert_id))
        if day is None:
            continue
        geom = from_lonlat(a.geometry, grid_crs)
        for s in in_season:
            if s.onset <= day and geom.intersects(polys[s.id]):
                d = (day - s.onset).days
                conf_days[s.id] = min(conf_days.get(s.id, d), d)
    ttc = np.array(sorted(conf_days.values()), float)
    out = {
        "confirmed_by": confirmed_by_counts(confirmed_route, confirmed_hit),
        "landslides": len(in_season),
        "alerted": len(first_hits),
        "tta_median": float(np.median(tta)) if tta.size else float("nan"),
        "tta_p90": float(np.percentile(tta, 90)) if tta.size else float("nan"),
        "noticed": len(notice_hits),
        "notice_median": float(np.median(notice)) if notice.size else float("nan"),
        "alerts": len(alerts),
        "precision_first": share(alert_hit),
        "recall_first": len(first_hits) / len(in_season) if in_season else float("nan"),
        "confirmed": len(confirmed),
        "cancelled": sum(a.stage == "cancelled" for a in alerts),
        "precision_confirmed": share(confirmed_hit),
        "recall_confirmed": share(slide_confirmed),
        "seen_by_s2": len(s2_saw) if s2_saw is not None else -1,
        "recall_confirmed_seen": covered_of(confirmed, s2_saw) if s2_saw is not None else float("nan"),
        "ttc_median": float(np.median(ttc)) if ttc.size else float("nan"),
        "single_pass": single_pass_counts(summaries),
        # per landslide and per alert, for the intervals (season_intervals)
        "per_slide": {"tta": np.array([first_hits.get(s.id, np.nan) for s in in_season], float),
                      "confirmed": slide_confirmed},
        "per_alert": {"hit": alert_hit, "confirmed_hit": confirmed_hit, "confirmed_route": confirmed_route},
    }
    return out


def single_pass_counts(summaries: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Each pass scored alone, as ``monitor run`` prints it (``pass.json``'s object scores against the
    simulator's truth), summed over the season's passes: detections and how many are real, landslides
    present and found, and how many passes with a landslide reach :data:`SINGLE_PASS_TARGET` on both.

    Why: issue #9 asks one ``monitor/norway`` pass for object precision and recall of 0.7. The demo's
    pass of 2025-08-01 is one draw of clouds; every pass of a season says how often a single pass
    reaches it, for every candidate and for those the object filter accepts (the ones that may confirm).
    """
    out: dict[str, dict[str, int]] = {}
    for summary in summaries:
        groups = {"all": summary.get("object_scores"), **(summary.get("object_scores_by") or {})}
        for name in SINGLE_PASS_GROUPS:
            s = groups.get(name)
            if not s:
                continue
            c = out.setdefault(name, dict.fromkeys(("passes", "detections", "real", "landslides", "found",
                                                    "passes_with_landslides", "passes_on_target"), 0))
            c["passes"] += 1
            c["detections"] += s["detections"]
            c["real"] += s["true_detections"]
            c["landslides"] += s["truth_objects"]
            c["found"] += s["found_objects"]
            if s["truth_objects"]:
                c["passes_with_landslides"] += 1
                c["passes_on_target"] += bool(s["precision"] >= SINGLE_PASS_TARGET and s["recall"] >= SINGLE_PASS_TARGET)
    return out


def single_pass_text(counts: dict[str, dict[str, int]]) -> str:
    """:func:`single_pass_counts` in one line per group."""
    lines = []
    for name, c in counts.items():
        p = c["real"] / c["detections"] if c["detections"] else float("nan")
        r = c["found"] / c["landslides"] if c["landslides"] else float("nan")
        lines.append(f"{SINGLE_PASS_GROUPS[name]}: P {p:.2f} ({c['real']} of {c['detections']} real), R {r:.2f} "
                     f"({c['found']} of {c['landslides']} landslide-passes); {c['passes_on_target']} of "
                     f"{c['passes_with_landslides']} passes with a landslide reach {SINGLE_PASS_TARGET} / "
                     f"{SINGLE_PASS_TARGET}")
    return "; ".join(lines) if lines else "no pass scored against truth"


def confirmed_by_counts(routes: list[str], confirmed_hit: np.ndarray) -> dict[str, dict[str, int]]:
    """The confirmed alerts by what confirmed them (``routes``, alert by alert: ``Alert.confirmed_by``,
    Sentinel-2 or Sentinel-1 persistence; "unrecorded" for alerts confirmed before it was kept), each
    with how many lie over a landslide (``confirmed_hit``).

    Why: the two routes are gated by different ensembles, filters and thresholds (the optical one's
    second look, the S1 one's persistence), so an option that moves precision or recall after
    confirmation should say which route it moved; session 36 found a threshold change that removed
    false Sentinel-2 confirmations and real persistence ones in the same season."""
    out: dict[str, dict[str, int]] = {}
    for route, hit in zip(routes, confirmed_hit, strict=True):
        c = out.setdefault(route, {"alerts": 0, "real": 0})
        c["alerts"] += 1
        c["real"] += int(hit)
    return out


def confirmed_by_text(counts: dict[str, dict[str, int]]) -> str:
    """``Sentinel-2 19 (19 real), Sentinel-1 persistence 7 (6 real)``, or ``none``."""
    return ", ".join(f"{how} {c['alerts']} ({c['real']} real)" for how, c in sorted(counts.items())) or "none"


def _nanmedian(d: np.ndarray) -> float:
    return float(np.nanmedian(d)) if np.isfinite(d).any() else float("nan")


def season_intervals(s: dict[str, Any]) -> dict[str, Any]:
    """95 % bootstrap intervals of a strategy's figures (``gee_landslide.train.uncertainty``): time to
    alert and recall over the season's landslides drawn again, precision over its alerts drawn again.

    Why: a season holds 10-27 landslides, so one landslide more or less moves recall by 0.04-0.10
    and the median time to alert by a pass; a target met or missed by less than that is not decided.
    """
    from gee_landslide.train.uncertainty import bootstrap_interval

    tta, conf = s["per_slide"]["tta"], s["per_slide"]["confirmed"]
    return {
        "tta_median": bootstrap_interval(tta, _nanmedian),
        "recall_first": bootstrap_interval(np.isfinite(tta).astype(float), np.mean),
        "precision_first": bootstrap_interval(s["per_alert"]["hit"], np.mean),
        "precision_confirmed": bootstrap_interval(s["per_alert"]["confirmed_hit"], np.mean),
        "recall_confirmed": bootstrap_interval(conf, np.mean),
    }


def pooled_scores(per_season: list[dict[str, dict]]) -> dict[str, dict[str, Any]]:
    """Each strategy's figures over several seasons pooled: counts summed, the per-landslide and
    per-alert arrays concatenated (so recall is over all landslides, precision over all alerts, the
    median time to alert over all alerted landslides), with two-stage intervals that draw the seasons
    too (:func:`gee_landslide.train.uncertainty.clustered_bootstrap_interval`).

    Why: one season holds 10-27 landslides, and an option chosen while watching one season may
    only fit that season's clouds and clear-cuts; the pooled figure, and how wide the seasons make
    its interval, is what a target should be read against.
    """
    from gee_landslide.train.uncertainty import clustered_bootstrap_interval

    out: dict[str, dict[str, Any]] = {}
    for name in per_season[0]:
        seasons = [s[name] for s in per_season if name in s]
        tta = [s["per_slide"]["tta"] for s in seasons]
        conf = [s["per_slide"]["confirmed"] for s in seasons]
        hit = [s["per_alert"]["hit"] for s in seasons]
        chit = [s["per_alert"]["confirmed_hit"] for s in seasons]
        found = [np.isfinite(t).astype(float) for t in tta]
        out[name] = {
            "seasons": len(seasons),
            **{k: sum(s[k] for s in seasons) for k in ("landslides", "alerted", "alerts", "confirmed", "cancelled")},
            "tta_median": clustered_bootstrap_interval(tta, _nanmedian),
            "recall_first": clustered_bootstrap_interval(found, np.mean),
            "precision_first": clustered_bootstrap_interval(hit, np.mean),
            "precision_confirmed": clustered_bootstrap_interval(chit, np.mean),
            "recall_confirmed": clustered_bootstrap_interval(conf, np.mean),
            "confirmed_by": confirmed_by_counts([r for s in seasons for r in s["per_alert"]["confirmed_route"]],
                                                np.concatenate(chit)),
            "single_pass": pooled_single_pass([s.get("single_pass", {}) for s in seasons]),
            "per_season": {k: [s[k] for s in seasons] for k in
                           ("tta_median", "precision_confirmed", "recall_confirmed")},
        }
    return out


def pooled_single_pass(per_season: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """:func:`single_pass_counts` of several seasons, summed group by group."""
    out: dict[str, dict[str, int]] = {}
    for counts in per_season:
        for name, c in counts.items():
            acc = out.setdefault(name, dict.fromkeys(c, 0))
            for k, v in c.items():
                acc[k] += v
    return out


def print_pooled(per_season: list[dict[str, dict]], seeds: list[int]) -> None:
    """The pooled table of :func:`pooled_scores`, with each season's figures beside it."""
    pooled = pooled_scores(per_season)
    print(f"\n{'=' * 20} pooled over {len(seeds)} seasons (seeds {', '.join(map(str, seeds))}) {'=' * 20}")
    print("95 % intervals draw the seasons, then the landslides or alerts within them")
    for name, p in pooled.items():
        line = (f"  {name:<10} {p['landslides']} landslides, {p['alerted']} alerted; {p['alerts']} alerts; "
                f"TTA median {p['tta_median'].value:.1f} d ({p['tta_median'].lo:.1f}-{p['tta_median'].hi:.1f}); "
                f"P first {p['precision_first'].value:.2f}; R first {p['recall_first'].value:.2f} "
                f"({p['recall_first'].lo:.2f}-{p['recall_first'].hi:.2f})")
        if name != "S1-only":
            line += (f"; {p['confirmed']} confirmed, {p['cancelled']} cancelled; "
                     + "; ".join(f"{lab} {p[k].value:.2f} ({p[k].lo:.2f}-{p[k].hi:.2f})"
                                 for lab, k in (("P conf", "precision_confirmed"), ("R conf", "recall_confirmed"))))
            line += f"; confirmed by {confirmed_by_text(p['confirmed_by'])}"
        print(line)
        per = p["per_season"]
        cells = [f"{seed}: {t:.1f} d" + (f", {pc:.2f} / {rc:.2f}" if name != "S1-only" else "")
                 for seed, t, pc, rc in zip(seeds, per["tta_median"], per["precision_confirmed"],
                                            per["recall_confirmed"], strict=True)]
        print(f"  {'':<10} by season (TTA median" + (", P / R conf" if name != "S1-only" else "") + "): "
              + "; ".join(cells))
        print(f"  {'':<10} single passes: {single_pass_text(p['single_pass'])}")


def bare_forward_s(paths: ProjectPaths, name: str, stack: np.ndarray) -> float:
    """Seconds of one forward pass of the ensemble's first member on the normalised tile."""
    import torch

    from gee_landslide.train.data import Normalisation
    from gee_landslide.train.ensemble import load_ensemble

    ens = load_ensemble(paths.ensembles / name / "manifest.json")
    norm = Normalisation.from_dict(ens.members[0].normalisation)
    x = norm.apply(norm.select(stack))
    h, w = x.shape[1:]
    ph, pw = -h % 32, -w % 32
    t = torch.from_numpy(np.pad(x, ((0, 0), (0, ph), (0, pw)))[None]).float()
    model = ens.models[0]
    with torch.inference_mode():
        model(t)  # warm-up
        t0 = time.perf_counter()
        model(t)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/gee-landslide-tta", help="project with (or for) the two ensembles")
    ap.add_argument("--s1", default="bench-s1", help="S1 ensemble name")
    ap.add_argument("--optical", default=None, help="optical ensemble name (default bench-<optical setting>)")
    ap.add_argument("--optical-setting", choices=["s2", "s1s2"], default="s2",
                    help="setting of the optical role's runs (the norway region uses s1s2)")
    ap.add_argument("--start", default="2025-06-01", help="first pass")
    ap.add_argument("--end", default="2025-10-15", help="last pass")
    ap.add_argument("--every", type=int, default=6, help="days between passes")
    ap.add_argument("--km", type=float, default=3.0, help="side of the square region")
    ap.add_argument("--landslide-dates", default="2025-06-10,2025-07-04,2025-07-29,2025-08-22,2025-09-15")
    ap.add_argument("--per-date", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5, help="the region simulation's seed (terrain, cover, landslides, "
                    "clouds): another seed is another season to check an option chosen on the default one")
    ap.add_argument("--seeds", default=None, metavar="N,N,...",
                    help="several seasons in one run (each seed's tables, then the figures pooled over them with "
                    "intervals that draw the seasons too); replaces --seed")
    ap.add_argument("--s1-post-days", type=int, default=12, help="Sentinel-1 post window (0 = the 30-day one)")
    ap.add_argument("--s1-ensemble-post-days", type=int, default=0,
                    help="the regions' s1_ensemble_post_days: the S1 ensemble's own, shorter Sentinel-1 post window "
                    "(0 = the stack's)")
    ap.add_argument("--optical-look-days", type=int, default=0,
                    help="the regions' optical_look_days: SAR-first lets the optical ensemble's silence decide a pixel "
                    "only where Sentinel-2 saw it clear in the latest N days (0 = any clear look in the post window)")
    ap.add_argument("--optical-confirm-look", choices=["any", "recent", "new"], default=None,
                    help="the regions' optical_confirm_look: which later Sentinel-2 detection confirms one Sentinel-2 "
                    "made before (default: the catalog region's with --region, else any)")
    ap.add_argument("--profile-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="laptop profile options for the benchmark's 4 runs, e.g. crop_object_share=0")
    ap.add_argument("--contrast", action="store_true",
                    help="the regions' require_contrast: detections must change more than their surroundings")
    ap.add_argument("--optical-post-days", type=int, default=0,
                    help="the regions' optical_post_days: the Sentinel-2 post composite of the latest N days where they "
                    "saw a pixel clear, of the whole post window elsewhere (0 = the whole window everywhere)")
    ap.add_argument("--objects", nargs="?", const="all", choices=["all", "optical"], default=None,
                    help="the regions' require_objects: the ensembles' object filters drop detections unlike a "
                    "landslide; 'optical' leaves Sentinel-1 decisions alone (objects_sensors)")
    ap.add_argument("--objects-stage", choices=["detect", "confirm"], default="detect",
                    help="with --objects: drop the objects the filter rejects (detect), or alert them as candidates "
                    "that cannot be confirmed (confirm; the regions' objects_stage)")
    ap.add_argument("--sar-confirm-passes", type=int, default=0,
                    help="the regions' sar_confirm_passes: a candidate this many passes detected, the latest with "
                    "Sentinel-1 at least one S1 post window after the first, is confirmed without Sentinel-2 (0 = off)")
    ap.add_argument("--region", default=None,
                    help="a region of the root's case_studies.yaml instead of the synthetic square: its bbox, options, "
                    "simulation (landslide dates) and ensembles, e.g. `--root DEMO --region norway` is the "
                    "monitor/norway deployment over a season with the demo's ensembles")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset of " + ", ".join(STRATEGIES))
    ap.add_argument("--prepare-only", action="store_true", help="build the ensembles and stop")
    a = ap.parse_args()
    strategies = [n.strip() for n in a.strategies.split(",") if n.strip()]
    seeds = [int(x) for x in a.seeds.split(",") if x.strip()] if a.seeds else [a.seed]
    if a.region and a.seeds:
        raise SystemExit("--seeds: a --region season has its own simulation seed (case_studies.yaml); drop one")
    if unknown := set(strategies) - set(STRATEGIES):
        raise SystemExit(f"--strategies: unknown {sorted(unknown)}; use some of {', '.join(STRATEGIES)}")

    base = project_paths(a.root)
    overrides = dict(yaml_value(kv) for kv in a.profile_set)
    if a.region:  # the region names its own ensembles
        catalog = load_catalog(base.catalog)
        if a.region not in catalog.regions or catalog.regions[a.region].ensembles is None:
            raise SystemExit(f"--region {a.region}: no such SAR-first region (with `ensembles:`) in {base.catalog}")
        a.s1, a.optical = catalog.regions[a.region].ensembles.s1, catalog.regions[a.region].ensembles.optical
    a.optical = a.optical or f"bench-{a.optical_setting}"
    ensure_ensembles(base, a.s1, a.optical, overrides, a.optical_setting)
    if a.prepare_only:
        return
    skip_quicklooks()
    install_rule(base, a.optical)
    per_season = []
    for n, seed in enumerate(seeds):
        if n:
            print(f"\n{'=' * 30} season {n + 1} of {len(seeds)} {'=' * 30}")
        per_season.append(one_season(a, base, seed, strategies))
    if len(per_season) > 1:
        print_pooled(per_season, seeds)


def one_season(a: argparse.Namespace, base: ProjectPaths, seed: int, strategies: list[str]) -> dict[str, dict]:
    """Backfill and score one simulated season (the region's simulation drawn with ``seed``) and
    print its tables; returns each strategy's :func:`score`."""
    from gee_landslide.simulate.scene import region_params, region_slides_near

    catalog = load_catalog(base.catalog)
    norway = catalog.event("norway-5")
    slide_dates = [dt.date.fromisoformat(d) for d in a.landslide_dates.split(",")]
    region_id = a.region or "sim"
    region = catalog.regions[a.region] if a.region else Region(name="time-to-alert season", bbox=bbox_around(norway.lat, norway.lon, a.km), tile_px=320,
                    post_days=30, pre_days=60, min_area_m2=400, min_slope_deg=10, s1_post_days=a.s1_post_days or None,
                    s1_ensemble_post_days=a.s1_ensemble_post_days or None,
                    optical_look_days=a.optical_look_days or None, sar_confirm_passes=a.sar_confirm_passes or None,
                    require_contrast=a.contrast, require_objects=a.objects is not None,
                    optical_post_days=a.optical_post_days or None,
                    objects_sensors=a.objects or "all", objects_stage=a.objects_stage,
                    ensembles=RegionEnsembles(s1=a.s1, optical=a.optical),
                    simulation=RegionSimulation(seed=seed, landslide_dates=slide_dates, landslides_per_date=a.per_date))
    if a.region:
        slide_dates = list(region.simulation.landslide_dates)
    if a.optical_confirm_look is not None:
        region = region.model_copy(update={"optical_confirm_look": a.optical_confirm_look})
    catalog = catalog.model_copy(update={"regions": {region_id: region}})
    start, end = dt.date.fromisoformat(a.start), dt.date.fromisoformat(a.end)
    dates = [start + dt.timedelta(days=i) for i in range(0, (end - start).days + 1, a.every)]
    # one work dir per season, kept after the run: its alert store and passes are what a per-landslide
    # diagnosis reads (`gee-landslide monitor history`, the alerts' confirmed_by)
    work = Path(a.root) / "tta-work" / (f"region-{a.region}" if a.region else f"seed-{seed}")
    shutil.rmtree(work, ignore_errors=True)
    where = (f"region {a.region} of the catalog, its own options and simulation" if a.region else
             f"region {a.km} km square around norway-5; S1 post window {a.s1_post_days or 30} d"
             f"{f' (S1 ensemble {a.s1_ensemble_post_days} d)' if a.s1_ensemble_post_days else ''}; landslides "
             f"{a.per_date} on each of {', '.join(d.isoformat() for d in slide_dates)}; seed {seed}")
    where += f"; optical_confirm_look {region.optical_confirm_look}"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {where}; {len(dates)} "
          f"passes {start}..{end} every {a.every} d; ensembles {a.s1} + {a.optical}", flush=True)
    t0 = time.perf_counter()
    runs, area, fetch_s, predict_s = run_season(catalog, base, work, region_id, dates, strategies)
    wall = time.perf_counter() - t0

    _, full = region_params(region_id, region)
    near = [s for s in region_slides_near(region_id, region, full) if start - dt.timedelta(days=90) <= s.onset <= end]
    slides = slides_in_region(near, full, max(1, round(region.min_area_m2 / full.resolution**2)))
    from gee_landslide.monitor.pass_context import prepare_pass
    from gee_landslide.monitor.tile_inputs import fetch_tile_stack

    ctx = prepare_pass(catalog, next(iter(runs.values())).paths, region_id, dates[-1], "simulated")
    stack, _ = fetch_tile_stack(ctx, ctx.tiles[0].read_grid(ctx.grid), "bare")
    tile_km2 = stack.shape[1] * stack.shape[2] * 1e-4
    bare = {role: bare_forward_s(base, n, stack) / tile_km2 for role, n in (("s1", a.s1), ("optical", a.optical))}

    s2_saw = optically_seen(dates, [s for s in slides if s.onset >= start], region_id, region, full)
    print(f"\n{len(dates)} passes x {len(runs)} strategies over {area:.1f} km2 in {wall:.0f} s (simulator {fetch_s:.0f} s)")
    head = (f"{'strategy':<10} {'slides':>6} {'alerted':>7} {'TTA med':>7} {'TTA p90':>7} {'alerts':>6} "
            f"{'P first':>7} {'R first':>7} {'conf':>5} {'canc':>5} {'P conf':>6} {'R conf':>6} {'TTC med':>7} "
            f"{'S2 saw':>6} {'R conf of seen':>14}")
    print(head)
    scores = {}
    for name, run in runs.items():
        s = scores[name] = score(run, slides, start, full.crs, s2_saw, region_id)
        if name == "dNDVI rule":
            print("reference (S2-only with the one-band rule in place of the optical ensemble):")
        conf = (f"{s['precision_confirmed']:6.2f} {s['recall_confirmed']:6.2f} {s['ttc_median']:7.1f} "
                f"{s['seen_by_s2']:6d} {s['recall_confirmed_seen']:14.2f}"
                if name != "S1-only" else f"{'n/a':>6} {'n/a':>6} {'n/a':>7} {'n/a':>6} {'n/a':>14}")
        print(f"{name:<10} {s['landslides']:6d} {s['alerted']:7d} {s['tta_median']:7.1f} {s['tta_p90']:7.1f} "
              f"{s['alerts']:6d} {s['precision_first']:7.2f} {s['recall_first']:7.2f} {s['confirmed']:5d} "
              f"{s['cancelled']:5d} {conf}")
    print("\nconfirmed by (alerts over a landslide in brackets)")
    for name, s in scores.items():
        if name != "S1-only":
            print(f"  {name:<10} {confirmed_by_text(s['confirmed_by'])}")
    print("\nfirst notice: a new alert over the landslide, or an older alert that grew over new ground there "
          "(both notify; footprints as at the season's end)")
    for name, s in scores.items():
        print(f"  {name:<10} {s['noticed']} of {s['landslides']} landslides, median {s['notice_median']:.1f} days "
              f"(first new alert: {s['alerted']}, median {s['tta_median']:.1f})")
    print("\neach pass alone (issue #9's single-pass target; pass.json's object scores, summed over the passes)")
    for name, s in scores.items():
        print(f"  {name:<10} {single_pass_text(s['single_pass'])}")
    print("\n95 % intervals (landslides, or alerts for precision, drawn again: benchmarks' season_intervals)")
    for name, s in scores.items():
        iv = season_intervals(s)
        cells = [f"{k} {iv[k].value:.2f} ({iv[k].lo:.2f}-{iv[k].hi:.2f})" if k != "tta_median" else
                 f"TTA median {iv[k].value:.1f} d ({iv[k].lo:.1f}-{iv[k].hi:.1f})" for k in iv
                 if name != "S1-only" or "confirmed" not in k]
        print(f"  {name:<10} " + "; ".join(cells))
    print("\ninference cost (s/km2 per ensemble, with its object filter where the region applies it, over every "
          "pass and tile incl. the tiles' halo; ratio to one bare forward pass of one member on one tile)")
    ens_sizes = {}
    from gee_landslide.train.ensemble import load_ensemble

    for role, n in (("s1", a.s1), ("optical", a.optical)):
        ens_sizes[role] = len(load_ensemble(base.ensembles / n / "manifest.json").members)
    for role, sec in sorted(predict_s.items()):
        per = sec / (area * len(dates))
        print(f"  {role:<8} K={ens_sizes[role]}: {per:.3f} s/km2 = {per / bare[role]:.1f} x one bare forward "
              f"({bare[role]:.4f} s/km2)")
    return scores


if __name__ == "__main__":
    main()
