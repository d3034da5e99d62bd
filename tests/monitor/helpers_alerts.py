"""Shared helpers for the alert, feed and web-map tests: synthetic passes merged into a store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from synthetic_pass import Slide, SyntheticPass, synthetic_pass

from gee_landslide.core.grid import Grid, grid_around
from gee_landslide.monitor.alert_merge import MergeResult
from gee_landslide.monitor.alerts import Candidate, detections_to_candidates
from gee_landslide.monitor.chips import ChipSource
from gee_landslide.monitor.feeds import merge_and_publish
from gee_landslide.monitor.store import AlertStore

GRID: Grid = grid_around(61.55, 7.35, size_m=1200.0)  # 120 x 120 px, UTM 32N (Norway)
RUN_1 = dt.date(2024, 6, 1)
RUN_2 = dt.date(2024, 6, 13)


def windows(run_date: dt.date) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    post = (run_date - dt.timedelta(days=29), run_date)
    pre = (run_date - dt.timedelta(days=89), run_date - dt.timedelta(days=30))
    return pre, post


def candidates_of(p: SyntheticPass, *, threshold: float = 0.5, min_area_m2: float = 400.0,
                  min_slope_deg: float = 10.0) -> list[Candidate]:
    return detections_to_candidates(
        p.mean, p.std, p.agreement, p.grid, threshold=threshold, slope=p.slope, landcover=p.landcover,
        min_area_m2=min_area_m2, min_slope_deg=min_slope_deg,
    )


def run_pass(
    store_dir: Path,
    slides: list[Slide],
    run_date: dt.date = RUN_1,
    *,
    region: str = "norway",
    seed: int = 0,
    chips: bool = True,
    model_version: str = "ens-test-k10",
    **store_kw: object,
) -> MergeResult:
    """A whole pass: synthetic arrays -> candidates -> merge into the store at ``store_dir``."""
    p = synthetic_pass(slides, grid=GRID, seed=seed)
    cands = candidates_of(p)
    pre, post = windows(run_date)
    store = AlertStore(store_dir, **store_kw)  # type: ignore[arg-type]
    return merge_and_publish(
        store, cands, region_id=region, pre=pre, post=post,
        run_time=dt.datetime(run_date.year, run_date.month, run_date.day, 6, 0),
        model_version=model_version, threshold=0.5,
        chips_source=ChipSource(p.dndvi, p.dvv, p.grid) if chips else None,
    )


def snapshot(store_dir: Path) -> dict[str, bytes]:
    """Every non-hidden file under the store directory, by relative path (to compare states)."""
    out: dict[str, bytes] = {}
    for p in sorted(store_dir.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            out[str(p.relative_to(store_dir))] = p.read_bytes()
    return out


SLIDES_A = [Slide(20, 20, 36, 30, 0.92), Slide(70, 60, 84, 90, 0.8, ellipse=True)]
SLIDES_B = [Slide(20, 20, 40, 33, 0.94), Slide(70, 60, 84, 90, 0.8, ellipse=True), Slide(95, 10, 105, 22, 0.7)]


def merge(store_dir: Path, run_date: dt.date, sensors: str | None, *, slides=SLIDES_A, coverage=None,
          notifier=None, confirm_looks: int = 1, confirmable: bool = True,
          sar_confirm: tuple[int, int] | None = None, sar_holds=None, optical_look=None) -> MergeResult:
    """One pass of the SAR-first lifecycle over the synthetic slides whose detections were made with
    ``sensors`` (or none: a pass that detected nothing); ``confirmable`` False = the object filter
    held them back (``objects_stage: confirm``)."""
    p = synthetic_pass(slides if sensors else [], grid=GRID, seed=0)
    cands = [dataclasses.replace(c, sensors=sensors, confirmable=confirmable) for c in candidates_of(p)]
    pre, post = windows(run_date)
    return merge_and_publish(
        AlertStore(store_dir), cands, region_id="norway", pre=pre, post=post,
        run_time=dt.datetime(run_date.year, run_date.month, run_date.day, 6, 0), model_version="ens-k2",
        threshold=0.5, optical_coverage=coverage, notifier=notifier, confirm_looks=confirm_looks,
        sar_confirm=sar_confirm, sar_holds=sar_holds, optical_look=optical_look,
    )
