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
    veg = np.clip((mu - 0.1) / 0.6, 0.0, 1.0)
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
