"""Pre/post windows the way the paper picks them: 1, 2 or 12 months, by seasonality and revisit.

Paper (section 3.1): "Periods of one, two, or 12 months before or after the event date were
used, ensuring comparison between temporally homogenous periods, depending on the local image
acquisition frequency and seasonality." The ``auto`` rule (``window_rule`` in the catalog's
``defaults:`` or per event, :class:`gee_landslide.core.catalog.WindowRule`) turns that sentence into
a decision every source shares (the Earth Engine recipe, the simulator and ``stacks plan`` all
call :func:`choose_windows`, or :func:`event_windows` for just the two windows; the catalog
itself, in :mod:`gee_landslide.core`, imports nothing above it, so it cannot pick them):

1. Minimum length from acquisition frequency: 2 months when only one Sentinel-1 satellite
   flew (12-day repeat: before :data:`S1_PAIR_START` and from :data:`S1_PAIR_END`), or when the
   site is tropical (Köppen group A), where cloud-free Sentinel-2 days are scarce; else 1 month.
2. Seasonality: a window is *dormant* on days whose mean air temperature at the site is below
   :data:`DORMANT_C` (snow or leaf-off), from the same climate model the simulator uses
   (:mod:`gee_landslide.simulate.climate`, at the site's mid-slope elevation). N months either
   side are homogeneous when the dormant fractions of the two windows differ by at most
   :data:`MAX_DORMANT_DIFF` and neither window is mostly dormant (a greenest-pixel composite of
   a snowy window shows snow, not vegetation).
3. The first of 1 or 2 months (not shorter than step 1) that is homogeneous; otherwise 12
   months either side, so each window holds the same green months, a year apart, and the
   greenest-pixel composite picks them in both.

Facts not from the catalog: the Sentinel-1B period (launch 2016-04-25, end of mission after
its failure on 2021-12-23) is from ESA mission announcements, not checked offline; the
catalog only says the revisit is "6 days in the best case when two S1 satellites are up"
(google/earthengine-catalog catalog/COPERNICUS/COPERNICUS_S1_GRD.jsonnet, gee:interval).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gee_landslide.core.catalog import Defaults, Event, Window

S1_PAIR_START = dt.date(2016, 9, 26)  # Sentinel-1B in routine operations (ESA; not checked offline)
S1_PAIR_END = dt.date(2021, 12, 23)  # Sentinel-1B failure (ESA; not checked offline)
DORMANT_C = 5.0  # growing-season base temperature: below it, leaf-off or snow
MAX_DORMANT_DIFF = 0.25
MAX_DORMANT = 0.5


@dataclass(frozen=True)
class WindowChoice:
    """The windows of an event and why they were chosen."""

    pre: Window
    post: Window
    rule: str  # "explicit" | "days" | "months" | "auto"
    months: int | None
    reason: str
    dormant: tuple[float, float] | None = None  # dormant fraction of the pre and post windows


def add_months(date: dt.date, months: int) -> dt.date:
    """``date`` moved by whole months, the day clamped to the target month's length."""
    y, m = divmod(date.month - 1 + months, 12)
    year, month = date.year + y, m + 1
    return date.replace(year=year, month=month, day=min(date.day, calendar.monthrange(year, month)[1]))


def month_windows(date: dt.date, months: int) -> tuple[Window, Window]:
    """``months`` before the event (to the day before) and after it (from the day after)."""
    from gee_landslide.core.catalog import Window

    one = dt.timedelta(days=1)
    return (Window(start=add_months(date, -months), end=date - one),
            Window(start=date + one, end=add_months(date, months)))


def site_climate(event: Event):  # -> tuple[ClimateModel, float, str]
    """The simulator's climate model of the site, its mid-slope elevation (m) and Köppen group."""
    from gee_landslide.simulate.climate import climate_model, koppen_group, physiography_at

    phys = physiography_at(event.lat, event.lon)
    rain = float(event.rainfall_mm_yr) if event.rainfall_mm_yr else (1800.0 if phys and phys.steep else 1100.0)
    clim = climate_model(event.lat, rain, phys)
    # the simulator's base + relief without its per-seed jitter (simulate/params.derive_params)
    base = (phys.base_m + 20.0) if phys else 275.0
    relief = max(0.65 * (phys.relief_m if phys else 370.0), 300.0)
    z = base + 0.5 * relief
    return clim, z, koppen_group(clim.koppen(base + 0.25 * relief))


def dormant_fraction(clim, z: float, window: Window) -> float:  # clim: ClimateModel
    """Share of the window's days colder than :data:`DORMANT_C` at elevation ``z``."""
    days = [window.start + dt.timedelta(days=d) for d in range(0, window.days, 3)]
    return sum(clim.t_on(d, z) < DORMANT_C for d in days) / len(days)


def single_s1(window_start: dt.date, window_end: dt.date) -> bool:
    """True when the window falls (partly) in a one-satellite Sentinel-1 period (12-day repeat)."""
    return window_start < S1_PAIR_START or window_end >= S1_PAIR_END


def choose_windows(event: Event, defaults: Defaults) -> WindowChoice:
    """The event's windows and the reason, by its ``window_rule`` (else the defaults')."""
    from gee_landslide.core.catalog import Window

    rule = event.window_rule or defaults.window_rule
    if event.pre is not None and event.post is not None:
        return WindowChoice(event.pre, event.post, "explicit", None, "pre:/post: given by the event")
    if rule.mode == "days":
        one = dt.timedelta(days=1)
        pre = Window(start=event.date - dt.timedelta(days=defaults.pre_days), end=event.date - one)
        post = Window(start=event.date + one, end=event.date + dt.timedelta(days=defaults.post_days))
        choice = WindowChoice(pre, post, "days", None,
                              f"fixed {defaults.pre_days}/{defaults.post_days} days (window_rule mode: days)")
    elif rule.mode == "months":
        assert rule.months is not None
        pre, post = month_windows(event.date, rule.months)
        choice = WindowChoice(pre, post, "months", rule.months, f"{rule.months} month(s) set by window_rule")
    else:
        choice = _auto(event)
    # an explicit pre: or post: still wins over the rule for its own window
    return WindowChoice(event.pre or choice.pre, event.post or choice.post, choice.rule,
                        choice.months, choice.reason, choice.dormant)


def event_windows(event: Event, defaults: Defaults) -> tuple[Window, Window]:
    """The pre and post windows of an event: its own, or those its window rule picks.

    One function for every consumer (Earth Engine recipe, simulator, plan), so the sources
    always compare the same periods; :func:`choose_windows` also says why.
    """
    choice = choose_windows(event, defaults)
    return choice.pre, choice.post


def _auto(event: Event) -> WindowChoice:
    clim, z, group = site_climate(event)
    pre1, post1 = month_windows(event.date, 1)
    why_min = []
    if single_s1(pre1.start, post1.end):
        why_min.append("one Sentinel-1 satellite (12-day repeat)")
    if group == "A":
        why_min.append("tropical climate (few cloud-free Sentinel-2 days)")
    min_months = 2 if why_min else 1
    tried = []
    for months in (1, 2):
        pre, post = month_windows(event.date, months)
        d_pre, d_post = dormant_fraction(clim, z, pre), dormant_fraction(clim, z, post)
        tried.append((months, d_pre, d_post))
        if months < min_months:
            continue
        if abs(d_pre - d_post) <= MAX_DORMANT_DIFF and max(d_pre, d_post) <= MAX_DORMANT:
            base = "; ".join(why_min) + ": " if why_min else ""
            season = (f"no day below {DORMANT_C:g} C in either window" if d_pre == d_post == 0
                      else f"cold days {d_pre:.0%} pre vs {d_post:.0%} post")
            return WindowChoice(pre, post, "auto", months,
                                f"{base}{months} month(s) either side, homogeneous ({season})",
                                (round(d_pre, 2), round(d_post, 2)))
    pre, post = month_windows(event.date, 12)
    months, d_pre, d_post = tried[-1]
    return WindowChoice(
        pre, post, "auto", 12,
        f"±{months} months would cross a snow/leaf-off season (cold days {d_pre:.0%} pre vs "
        f"{d_post:.0%} post at {z:.0f} m): 12 months either side, the same green months a year apart",
        (round(d_pre, 2), round(d_post, 2)),
    )
