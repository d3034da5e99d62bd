"""Changes that are not landslides, which a detector must learn to reject.

- clear-cuts: rotated rectangles (60-260 m) in forest, dated by a Poisson process per 1 km cell
  and 30-day period; fresh (< 180 days: slash, bare soil) then regrowing (< 2 years);
- seasonal snow: the 0 C isotherm of the window's mid date (climate model) with weather
  jitter, lowered on shaded slopes; wet within 350 m of the snow line;
- residual cloud and cloud shadow in the Sentinel-2 greenest-pixel composites;
- phenology: the seasonal NDVI cycle seen by a max-NDVI composite over the window.

All are pure functions of world coordinates and dates, so tiles agree with their union.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gee_landslide.core.catalog import Window
from gee_landslide.simulate import noise
from gee_landslide.simulate.params import SceneParams
from gee_landslide.simulate.terrain_model import Lattice

EPOCH = dt.date(2014, 4, 3)  # Sentinel-1A launch: the lattice of 30-day periods and 12-day repeats
PERIOD_DAYS = 30
CELL_M = 1000.0
FRESH_CUT_DAYS = 180
REGROWTH_DAYS = 730


@dataclass(frozen=True)
class Cut:
    date: dt.date
    x: float
    y: float
    half_a: float
    half_b: float
    angle: float


def _period(d: dt.date) -> int:
    return (d - EPOCH).days // PERIOD_DAYS


def cuts_between(p: SceneParams, lat: Lattice, t0: dt.date, t1: dt.date) -> list[Cut]:
    """Clear-cuts dated in (t0, t1] whose rectangle may touch the lattice block."""
    margin = 200.0
    x0, x1 = lat.x.min() - margin, lat.x.max() + margin
    y0, y1 = lat.y.min() - margin, lat.y.max() + margin
    cxs = np.arange(math.floor(x0 / CELL_M), math.floor(x1 / CELL_M) + 1, dtype=np.int64)
    cys = np.arange(math.floor(y0 / CELL_M), math.floor(y1 / CELL_M) + 1, dtype=np.int64)
    ps = np.arange(_period(t0), _period(t1) + 1, dtype=np.int64)
    lam = p.cut_rate_km2_30d * (CELL_M / 1000.0) ** 2
    if lam <= 0:
        return []
    u = noise.uniform(noise.stable_key(p.key, "cut-n"), cxs[:, None, None], cys[None, :, None], ps[None, None, :])
    counts = noise.poisson_from_uniform(u, lam)
    out: list[Cut] = []
    for i, j, k in zip(*np.nonzero(counts), strict=True):
        cx, cy, per = int(cxs[i]), int(cys[j]), int(ps[k])
        for n in range(int(counts[i, j, k])):

            def uu(tag: str, cx=cx, cy=cy, per=per, n=n) -> float:
                return noise.scalar_uniform(noise.stable_key(p.key, "cut", tag), cx, cy, per, n)

            date = EPOCH + dt.timedelta(days=per * PERIOD_DAYS + int(uu("day") * PERIOD_DAYS))
            if not (t0 < date <= t1):
                continue
            out.append(
                Cut(
                    date=date,
                    x=(cx + uu("x")) * CELL_M,
                    y=(cy + uu("y")) * CELL_M,
                    half_a=30.0 + 100.0 * uu("a"),
                    half_b=20.0 + 70.0 * uu("b"),
                    angle=math.pi * uu("ang"),
                )
            )
    return out


def rasterise_cuts(cuts: list[Cut], lat: Lattice, value_of: dict[dt.date, int] | None = None) -> np.ndarray:
    """Rasterise cut rectangles; pixel value = 1 (or ``value_of[date]``), later cuts on top."""
    out = np.zeros(lat.shape, dtype=np.uint8)
    x, y = lat.x, lat.y
    for c in sorted(cuts, key=lambda c: c.date):
        r = math.hypot(c.half_a, c.half_b)
        cs = np.flatnonzero((x >= c.x - r) & (x <= c.x + r))
        rs = np.flatnonzero((y >= c.y - r) & (y <= c.y + r))
        if len(cs) == 0 or len(rs) == 0:
            continue
        dx = x[cs][None, :] - c.x
        dy = y[rs][:, None] - c.y
        ca, sa = math.cos(c.angle), math.sin(c.angle)
        along = dx * ca + dy * sa
        across = -dx * sa + dy * ca
        inside = (np.abs(along) <= c.half_a) & (np.abs(across) <= c.half_b)
        val = 1 if value_of is None else value_of[c.date]
        sub = out[rs[0] : rs[-1] + 1, cs[0] : cs[-1] + 1]
        sub[inside] = val
    return out


def cut_state(p: SceneParams, lat: Lattice, window: Window, cuts: list[Cut]) -> tuple[np.ndarray, np.ndarray]:
    """(fresh, regrowing) masks of the clear-cuts as a composite over ``window`` sees them."""
    vis = [c for c in cuts if c.date <= window.end and (window.end - c.date).days < REGROWTH_DAYS]
    val = {c.date: (1 if (window.end - c.date).days < FRESH_CUT_DAYS else 2) for c in vis}
    r = rasterise_cuts(vis, lat, val)
    return r == 1, r == 2


def _mid(window: Window) -> dt.date:
    return window.start + (window.end - window.start) // 2


def snow_state(
    p: SceneParams,
    lat: Lattice,
    z: np.ndarray,
    aspect_deg: np.ndarray,
    nz: np.ndarray,
    window: Window,
    greenest: bool = False,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Seasonal snow (bool), wet snow (bool) and the snow line (m) of a window composite.

    A median (SAR) composite sees the snow of the window's mid date; a greenest-pixel (S2)
    composite picks the least snowy date of the window (the highest snow line).
    """
    mid = _mid(window)
    jitter = 120.0 * noise.scalar_normal(noise.stable_key(p.key, "snowline"), mid.toordinal())
    if greenest:
        days = [window.start + dt.timedelta(days=d) for d in range(0, window.days, 3)]
        line = max(p.climate.snowline_on(d) for d in days) + jitter
    else:
        line = p.climate.snowline_on(mid) + jitter
    shade = 70.0 * np.cos(np.radians(aspect_deg)) * (1.0 if p.lat >= 0 else -1.0)
    z_eff = z + 90.0 * nz + shade
    snow = z_eff > line
    wet = snow & (z_eff < line + 350.0)
    return snow, wet, float(line)


def cloud_residue(p: SceneParams, lat: Lattice, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Residual cloud and cloud-shadow intensity (0-1) left in a greenest-pixel composite."""
    key = noise.stable_key(p.key, "cloud", window.start.toordinal(), window.end.toordinal())
    frac = p.cloud_frac * (0.4 + 1.2 * noise.scalar_uniform(key, "amount"))
    thr = NormalDist().inv_cdf(1.0 - float(np.clip(frac, 1e-4, 0.5)))
    wl = [1600.0, 800.0, 400.0, 200.0, 100.0]
    c = noise.fbm(lat.x, lat.y, key, wl, 0.6)
    cloud = np.clip((c - thr) / 0.5, 0.0, 1.0)
    # the shadow falls polewards of the cloud (sun towards the equator), 400-1200 m away
    off = 400.0 + 800.0 * noise.scalar_uniform(key, "offset")
    dy = off if p.lat >= 0 else -off
    dx = (noise.scalar_uniform(key, "dx") - 0.5) * off
    cs = noise.fbm(lat.x - dx, lat.y - dy, key, wl, 0.6)
    shadow = np.clip((cs - thr) / 0.5, 0.0, 1.0) * (1.0 - cloud)
    return cloud, shadow


def phenology(p: SceneParams, window: Window) -> float:
    """NDVI offset of the window's greenest-pixel composite from the seasonal cycle."""
    peak = 200 if p.lat >= 0 else 20
    days = np.arange(window.days)
    doy = np.array([(window.start + dt.timedelta(days=int(d))).timetuple().tm_yday for d in days[::3]])
    return float(p.phenology_amp * np.max(np.cos(2 * np.pi * (doy - peak) / 365.25)))
