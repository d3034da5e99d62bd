"""Sentinel-2 greenest-pixel NDVI composites.

    NDVI_w = mu_s + sd_s T + phi_w v (1 + 0.3 L) + e_w          (land)
    NDVI_w = mu_water + sd_water (0.6 e'_w + 0.8 C_w)            (water: independent per window)
    NDVI_w <- NDVI_w (1 - 0.7 c_w) + 0.05 c_w - 0.12 s_w          (residual cloud c, shadow s)

mu_s, sd_s: class NDVI (landcover.py) or scar/cut/snow values; T: static texture (~N(0,1), the
same in both windows, so unchanged ground gives dNDVI ~ 0); phi_w: phenology of the window
(max-NDVI composite); v: vegetation weight; L: a large-scale field; e_w: composite noise
(0.025 white + 0.02 correlated: residual BRDF, atmosphere, mis-registration); C_w: per-window
turbidity field. Scars mix with the old state by their severity (and on boundary pixels).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np

from gee_landslide.core.catalog import Window
from gee_landslide.core.landcover import LAND_COVER_BY_CODE
from gee_landslide.simulate import noise
from gee_landslide.simulate.confounders import cloud_residue, phenology
from gee_landslide.simulate.params import SceneParams
from gee_landslide.simulate.sar import (
    CUT_FRESH,
    CUT_REGROWTH,
    DEPOSIT,
    N_SURFACES,
    SCARP,
    SNOW_DRY,
    SNOW_WET,
    TRACK,
)
from gee_landslide.simulate.terrain_model import Lattice

_EXTRA = {
    SCARP: (0.12, 0.04),
    TRACK: (0.15, 0.04),
    DEPOSIT: (0.2, 0.05),
    CUT_FRESH: (0.3, 0.06),
    CUT_REGROWTH: (0.55, 0.07),
    SNOW_WET: (0.0, 0.03),
    SNOW_DRY: (-0.03, 0.03),
}


def vegetation_share(mu: np.ndarray) -> np.ndarray:
    """How much of a surface's typical NDVI ``mu`` follows the season (0 for bare ground at 0.1 or
    less, 1 for full vegetation at 0.7 or more): the phenology term of every composite scales by it."""
    return np.clip((mu - 0.1) / 0.6, 0.0, 1.0)


def ndvi_tables() -> tuple[np.ndarray, np.ndarray]:
    mu = np.zeros(N_SURFACES)
    sd = np.zeros(N_SURFACES)
    for code, c in LAND_COVER_BY_CODE.items():
        mu[code], sd[code] = c.ndvi_mean, c.ndvi_sd
    for code, (a, b) in _EXTRA.items():
        mu[code], sd[code] = a, b
    return mu, sd


def ndvi_composite(
    p: SceneParams,
    lat: Lattice,
    surface: np.ndarray,
    texture: np.ndarray,
    window: Window,
    alt_surface: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    mu_t, sd_t = ndvi_tables()
    key = noise.stable_key(p.key, "s2", window.start.toordinal(), window.end.toordinal())
    tex = np.clip(texture, -3.0, 3.0)
    mu = mu_t[surface]
    base = mu + sd_t[surface] * tex
    if alt_surface is not None and weight is not None:
        mu = weight * mu + (1.0 - weight) * mu_t[alt_surface]
        base = weight * base + (1.0 - weight) * (mu_t[alt_surface] + sd_t[alt_surface] * tex)
    veg = vegetation_share(mu)
    large = noise.fbm(lat.x, lat.y, noise.stable_key(p.key, "phen-field"), [3000.0, 1500.0], 0.8)
    phen = phenology(p, window)
    eps = noise.normal(key, "eps", lat.gx[None, :], lat.gy[:, None])
    resid = noise.fbm(lat.x, lat.y, noise.stable_key(key, "resid"), [400.0, 200.0, 100.0, 50.0], 0.7)
    ndvi = base + phen * veg * (1.0 + 0.3 * large) + 0.025 * eps + 0.02 * resid
    water = surface == 6
    if water.any():
        turb = noise.fbm(lat.x, lat.y, noise.stable_key(key, "turbidity"), [600.0, 300.0, 150.0], 0.7)
        e2 = noise.normal(key, "water", lat.gx[None, :], lat.gy[:, None])
        w = mu_t[6] + p.water_ndvi_sd * (0.6 * e2 + 0.8 * turb)
        ndvi = np.where(water, w, ndvi)
    cloud, shadow = cloud_residue(p, lat, window)
    ndvi = ndvi * (1.0 - 0.7 * cloud) + 0.05 * cloud - 0.12 * shadow
    info = {"phenology": round(phen, 4)}
    return np.clip(ndvi, -1.0, 1.0), info


def phenology_on(p: SceneParams, d: dt.date) -> float:
    """NDVI offset of the seasonal cycle on one date (:func:`confounders.phenology` takes a window's max)."""
    peak = 200 if p.lat >= 0 else 20
    return float(p.phenology_amp * math.cos(2 * math.pi * (d.timetuple().tm_yday - peak) / 365.25))


def ndvi_greenest(
    p: SceneParams,
    lat: Lattice,
    surface: np.ndarray,
    texture: np.ndarray,
    window: Window,
    dated: Sequence[tuple[dt.date, np.ndarray, np.ndarray]],
    alt_surface: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, dict]:
    """Greenest-pixel composite of dated acquisitions, over clear pixels only (region calendar).

    ``dated`` holds (date, scar-exists mask, clear mask) per Sentinel-2 acquisition: where the
    scar exists a date sees ``surface`` (mixed with ``alt_surface`` by ``weight`` as in
    :func:`ndvi_composite`), elsewhere ``alt_surface``; its phenology is the date's. The composite
    keeps, per pixel, the highest NDVI over the dates on which the pixel was clear
    (``qualityMosaic('NDVI')`` of the cloud-masked collection) and is NaN where no date was clear.
    The per-window noise, water draws and residual (unmasked) cloud are those of :func:`ndvi_composite`.
    """
    mu_t, sd_t = ndvi_tables()
    key = noise.stable_key(p.key, "s2", window.start.toordinal(), window.end.toordinal())
    tex = np.clip(texture, -3.0, 3.0)
    large = noise.fbm(lat.x, lat.y, noise.stable_key(p.key, "phen-field"), [3000.0, 1500.0], 0.8)
    eps = noise.normal(key, "eps", lat.gx[None, :], lat.gy[:, None])
    resid = noise.fbm(lat.x, lat.y, noise.stable_key(key, "resid"), [400.0, 200.0, 100.0, 50.0], 0.7)
    shared = 0.025 * eps + 0.02 * resid

    def parts(mu: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        veg = vegetation_share(mu)
        return base + shared, veg * (1.0 + 0.3 * large)

    alt_mu = mu_t[alt_surface]
    alt_base = alt_mu + sd_t[alt_surface] * tex
    mu = weight * mu_t[surface] + (1.0 - weight) * alt_mu
    base = weight * (mu_t[surface] + sd_t[surface] * tex) + (1.0 - weight) * alt_base
    static_scar, veg_scar = parts(mu, base)
    static_alt, veg_alt = parts(alt_mu, alt_base)
    best = np.full(surface.shape, -np.inf)
    n_clear = np.zeros(surface.shape, np.int16)
    for d, exists, clear in dated:
        phen = phenology_on(p, d)
        v = np.where(exists, static_scar + phen * veg_scar, static_alt + phen * veg_alt)
        best = np.where(clear & (v > best), v, best)
        n_clear += clear
    seen = n_clear > 0
    ndvi = np.where(seen, best, np.nan)
    water = surface == 6
    if water.any():
        turb = noise.fbm(lat.x, lat.y, noise.stable_key(key, "turbidity"), [600.0, 300.0, 150.0], 0.7)
        e2 = noise.normal(key, "water", lat.gx[None, :], lat.gy[:, None])
        w = mu_t[6] + p.water_ndvi_sd * (0.6 * e2 + 0.8 * turb)
        ndvi = np.where(water & seen, w, ndvi)
    cloud, shadow = cloud_residue(p, lat, window)
    ndvi = ndvi * (1.0 - 0.7 * cloud) + 0.05 * cloud - 0.12 * shadow
    info = {"dates": len(dated), "clear_frac": round(float(seen.mean()), 4),
            "mean_clear_dates": round(float(n_clear.mean()), 3)}
    return np.clip(ndvi, -1.0, 1.0), info
