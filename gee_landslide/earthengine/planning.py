"""What ``stacks plan`` says about an event before any server call: windows, collections, risks.

Why: a live build fails or silently degrades on facts that are known offline (a window in the
years when Sentinel-2 L2A is not global, canopy height extrapolated north of GEDI's orbit, a
DEM coarser than the paper's). :func:`event_summary` gathers them per event from the recipe and
the asset registry, so ``stacks plan --all`` can show the whole catalog in one table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine import sentinel2 as s2
from gee_landslide.earthengine.seasons import S1_PAIR_END, S1_PAIR_START, choose_windows

L2A_NOT_GLOBAL = (dt.date(2017, 1, 1), dt.date(2018, 12, 31))  # S2_SR.libsonnet warning
GEDI_MAX_LAT = 52.0  # AGCC page: GEDI samples 52N-52S; beyond, the height model extrapolates
DEM_SHORT = {"USGS/SRTMGL1_003": "SRTM", "COPERNICUS/DEM/GLO30": "GLO30"}
LABELS_SHORT = {"dynamic_world": "DW", "worldcover": "WC"}


def _overlaps(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


RISK_CODES = {
    "L2A17-18": "S2 L2A not global in 2017-2018 (catalog): L1C fallback likely",
    "L1C": "S2 L1C only (top of atmosphere): window before L2A starts",
    "1xS1": "one Sentinel-1 satellite in the windows (12-day repeat)",
    "TH>52": "tree height extrapolated north of GEDI's 52 deg (AGCC)",
    "DEM30": "GLO-30 30 m DEM (the paper used a local 10 m DEM)",
    "future": "post window ends in the future",
    "approx": "event location approximate (catalog)",
}


def risk_codes(recipe: Any, today: dt.date | None = None) -> list[str]:
    """Known-offline reasons (keys of :data:`RISK_CODES`) a live build may fail or differ from the paper."""
    ctx, ev = recipe.ctx, recipe.ctx.event
    today = today or dt.date.today()
    out: list[str] = []
    span = (ctx.pre.start, ctx.post.end)
    if recipe.s2_level == "L2A" and _overlaps(span, L2A_NOT_GLOBAL):
        out.append("L2A17-18")
    if recipe.s2_level == "L1C":
        out.append("L1C")
    if ctx.pre.start < S1_PAIR_START or ctx.post.end >= S1_PAIR_END:
        out.append("1xS1")
    if abs(ev.lat) > GEDI_MAX_LAT:
        out.append("TH>52")
    if recipe.dem_choice.asset == reg.asset("glo30").id and recipe.dem_choice.reason.startswith("auto"):
        out.append("DEM30")
    if ctx.post.end > today:
        out.append("future")
    if ev.approximate:
        out.append("approx")
    return out


def risks(recipe: Any, today: dt.date | None = None) -> list[str]:
    """The risks of :func:`risk_codes`, in words."""
    return [RISK_CODES[c] for c in risk_codes(recipe, today)]


def event_summary(recipe: Any, today: dt.date | None = None) -> dict[str, Any]:
    """One row of ``stacks plan --all`` (also its ``--json``)."""
    ctx, ev = recipe.ctx, recipe.ctx.event
    choice = choose_windows(ev, ctx.defaults)
    fallbacks = []
    if recipe.s2_level == "L2A":
        fallbacks.append(f"S2 L2A -> L1C ({s2.S2_L1C_COLLECTION}) if L2A has < "
                         f"{s2.L2A_MIN_FRACTION:g} x the L1C scenes")
    return {
        "event_id": ev.id,
        "dem": recipe.dem_choice.asset,
        "dem_reason": recipe.dem_choice.reason,
        "windows": {"pre": list(ctx.pre.as_strings()), "post": list(ctx.post.as_strings()),
                    "months": choice.months, "rule": choice.rule, "reason": ctx.window_reason},
        "collections": {"sentinel1": reg.asset("s1").id,
                        "sentinel2": s2.level_entry(recipe.s2_level).id,
                        "cloud_mask": s2.CLOUD_SCORE_PLUS,
                        "landcover_labels": (reg.asset(recipe.label_source).id if recipe.label_source
                                             else recipe.landcover_points)},
        "s2_level": recipe.s2_level,
        "s2_reason": recipe.s2_reason,
        "label_reason": recipe.label_reason,
        "fallbacks": fallbacks,
        "risks": risks(recipe, today),
        "risk_codes": risk_codes(recipe, today),
    }


def table_row(summary: dict[str, Any]) -> tuple[str, ...]:
    """The compact cells of one summary: event, DEM, window, pre start, post end, S2, labels, risks."""
    w = summary["windows"]
    months = f"{w['months']}m" if w["months"] else w["rule"]
    s2_cell = summary["s2_level"] + ("/L1C" if summary["fallbacks"] else "")
    labels = summary["collections"]["landcover_labels"]
    short = next((v for k, v in LABELS_SHORT.items() if reg.asset(k).id == labels), "pts")
    return (summary["event_id"], DEM_SHORT.get(summary["dem"], "own"), months, w["pre"][0],
            w["post"][1], s2_cell, short, " ".join(summary["risk_codes"]) or "-")
