"""True land cover, the noisy CART classification (band 13) and canopy height (band 12).

Cover is a deterministic function of elevation, slope, the valley-floor indicator and a few
world-coordinate noise fields (patchiness), with thresholds taken from the normal quantile of
the wanted fraction (fields are ~N(0, 1)), never from a tile's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gee_landslide.core.landcover import LAND_COVER_BY_NAME
from gee_landslide.simulate import noise
from gee_landslide.simulate.climate import koppen_group
from gee_landslide.simulate.params import SceneParams
from gee_landslide.simulate.terrain_model import Lattice

URBAN = LAND_COVER_BY_NAME["urban"].code
FOREST = LAND_COVER_BY_NAME["forest_trees_scrub"].code
HERB = LAND_COVER_BY_NAME["herbaceous"].code
GRASS = LAND_COVER_BY_NAME["pasture_grass"].code
SPARSE = LAND_COVER_BY_NAME["sparse_vegetation"].code
WATER = LAND_COVER_BY_NAME["water"].code
WETLAND = LAND_COVER_BY_NAME["wetland"].code
ROCK = LAND_COVER_BY_NAME["bare_rock"].code
SNOW = LAND_COVER_BY_NAME["glacier_snow"].code
VEGETATED = (FOREST, HERB, GRASS, WETLAND)

# which classes a per-event CART classifier confuses a class with
CONFUSION: dict[int, tuple[int, ...]] = {
    URBAN: (ROCK, SPARSE),
    FOREST: (HERB, WETLAND),
    HERB: (FOREST, GRASS, SPARSE),
    GRASS: (HERB, WETLAND),
    SPARSE: (ROCK, HERB),
    WATER: (WETLAND,),
    WETLAND: (GRASS, WATER, HERB),
    ROCK: (SPARSE, SNOW),
    SNOW: (ROCK,),
}


def _thr(frac: float) -> float:
    """Threshold on a ~N(0, 1) field that leaves ``frac`` above it."""
    return NormalDist().inv_cdf(1.0 - float(np.clip(frac, 1e-4, 1 - 1e-4)))


@dataclass
class CoverFields:
    nz: np.ndarray  # elevation-line jitter (~N(0,1))
    texture: np.ndarray  # fine texture for NDVI / canopy / backscatter (~N(0,1))


def elevation_jitter(p: SceneParams, lat: Lattice) -> np.ndarray:
    """~N(0, 1) field that makes tree line, snow line and rock limits wavy."""
    return noise.fbm(lat.x, lat.y, noise.stable_key(p.key, "cover-z"), [400.0, 200.0, 100.0], 0.8)


def cover_fields(p: SceneParams, lat: Lattice) -> CoverFields:
    x, y = lat.x, lat.y
    nz = elevation_jitter(p, lat)
    tex = noise.fbm(x, y, noise.stable_key(p.key, "texture"), [160.0, 80.0, 40.0, 20.0], 0.6)
    tex = 0.8 * tex + 0.6 * noise.normal(noise.stable_key(p.key, "tex-pix"), lat.gx[None, :], lat.gy[:, None])
    return CoverFields(nz=nz, texture=tex)


def true_cover(
    p: SceneParams, lat: Lattice, z: np.ndarray, slope: np.ndarray, floor_depth: np.ndarray, nz: np.ndarray
) -> np.ndarray:
    """Pre-event land-cover class codes (1..9) as they are on the ground."""
    x, y = lat.x, lat.y
    k = p.key
    nf = noise.fbm(x, y, noise.stable_key(k, "forest"), [900.0, 450.0, 225.0, 110.0], 0.8)
    na = noise.fbm(x, y, noise.stable_key(k, "pasture"), [1200.0, 600.0, 300.0], 0.8)
    nu = noise.fbm(x, y, noise.stable_key(k, "urban"), [1500.0, 750.0, 375.0, 180.0], 0.8)
    nw = noise.fbm(x, y, noise.stable_key(k, "wetland"), [700.0, 350.0, 175.0], 0.8)
    nr = noise.gradient_noise(x, y, 1400.0, noise.stable_key(k, "river")) / noise.PERLIN_SD
    group = koppen_group(p.koppen)

    cls = np.full(z.shape, HERB, dtype=np.uint8)
    below_tl = z < p.treeline_m + 80.0 * nz
    cls[below_tl & (nf > _thr(p.forest_frac)) & (slope < 55.0)] = FOREST
    gentle = (slope < 14.0 + 3.0 * nz) & (z < p.treeline_m + 150.0)
    cls[gentle & (na > _thr(min(0.95, p.pasture_frac / 0.45)))] = GRASS
    if group == "B":
        cls[(cls == HERB) & (nf < _thr(0.4))] = SPARSE
    cls[z > p.treeline_m + 180.0 + 100.0 * nz] = SPARSE
    rock = (slope > 47.0 + 4.0 * nz) | ((z > p.treeline_m + 450.0 + 100.0 * nz) & (slope > 22.0))
    cls[rock] = ROCK
    cls[(slope < 7.0) & (floor_depth > -0.15) & (nu > _thr(min(0.9, p.urban_frac * 4.0)))] = URBAN
    cls[(slope < 5.0) & (nw > _thr(min(0.9, p.wetland_frac * 2.5)))] = WETLAND
    river = (np.abs(nr) < 0.05) & (floor_depth > 0.05)
    cls[(floor_depth > p.lake_depth) | river] = WATER
    cls[z > p.glacier_m + 60.0 * nz] = SNOW
    return cls


def classify(p: SceneParams, lat: Lattice, observed: np.ndarray) -> np.ndarray:
    """The per-event CART map: the observed pre-event cover with a few % confusion (salt and
    small blobs), each wrong pixel taking a plausible neighbouring class."""
    k = p.key
    h = noise.hash_u64(noise.stable_key(k, "cart"), lat.gx[None, :], lat.gy[:, None])
    u1, u2 = noise.uniform_pair(h)
    blobs = noise.fbm(lat.x, lat.y, noise.stable_key(k, "cart-blob"), [120.0, 60.0, 30.0], 0.7)
    wrong = (u1 < 0.5 * p.misclass_rate) | (blobs > _thr(0.5 * p.misclass_rate))
    out = observed.copy()
    for code, partners in CONFUSION.items():
        sel = wrong & (observed == code)
        if sel.any():
            pick = np.minimum((u2[sel] * len(partners)).astype(np.int64), len(partners) - 1)
            out[sel] = np.asarray(partners, dtype=np.uint8)[pick]
    return out


def tree_height(p: SceneParams, cover: np.ndarray, z: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Canopy height (m), as the GEDI/Landsat map would show it: forests 10-35 m, shrubs 0-2 m."""
    h = np.zeros(cover.shape, dtype=np.float64)
    forest = cover == FOREST
    vigour = np.clip((p.treeline_m - z) / 400.0 + 0.45, 0.4, 1.0)
    h[forest] = (p.tree_hmax_m * (0.72 + 0.12 * texture) * vigour)[forest]
    h[forest] = np.clip(h[forest], 10.0, 38.0)
    shrub = (cover == HERB) | (cover == WETLAND)
    h[shrub] = np.clip(1.0 + 0.5 * texture, 0.0, 2.0)[shrub]
    return h
