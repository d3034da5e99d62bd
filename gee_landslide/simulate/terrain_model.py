"""The fractal DEM, its Horn slope/aspect, and the Sentinel-1 viewing geometry over it.

All fields are evaluated at pixel centres of the global lattice of the grid CRS, so any
sub-grid gets exactly the values of the corresponding pixels of a larger grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gee_landslide.core import terrain
from gee_landslide.core.grid import Grid
from gee_landslide.simulate import noise
from gee_landslide.simulate.params import SceneParams


@dataclass(frozen=True)
class Lattice:
    """Global lattice indices of a block of pixels: column ``gx`` (west edge / res) and row
    ``gy`` (north edge / res, decreasing downwards)."""

    gx: np.ndarray  # (W,) int64
    gy: np.ndarray  # (H,) int64
    res: float

    @property
    def x(self) -> np.ndarray:
        return (self.gx.astype(np.float64) + 0.5) * self.res

    @property
    def y(self) -> np.ndarray:
        return (self.gy.astype(np.float64) - 0.5) * self.res

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.gy), len(self.gx))

    @classmethod
    def of_grid(cls, grid: Grid, pad: int = 0) -> Lattice:
        gx0 = round(grid.x_min / grid.resolution)
        gy0 = round(grid.y_max / grid.resolution)
        gx = np.arange(gx0 - pad, gx0 + grid.width + pad, dtype=np.int64)
        gy = np.arange(gy0 + pad, gy0 - grid.height - pad, -1, dtype=np.int64)
        return cls(gx, gy, float(grid.resolution))

    @classmethod
    def block(cls, gx0: int, gy0: int, width: int, height: int, res: float) -> Lattice:
        gx = np.arange(gx0, gx0 + width, dtype=np.int64)
        gy = np.arange(gy0, gy0 - height, -1, dtype=np.int64)
        return cls(gx, gy, res)


@dataclass
class TerrainFields:
    elevation: np.ndarray  # m
    mountain: np.ndarray  # the large-scale "mountain index" m (valley floors where m < floor)
    floor_depth: np.ndarray  # how far below the floor threshold (>0 on valley floors)


def _softplus(v: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, v)


def terrain_fields(p: SceneParams, lat: Lattice) -> TerrainFields:
    """Elevation (m) from multi-octave gradient noise with ridges and flat valley floors.

    m   = 0.65 fBm_large(x, y) + 0.55 (1 - 0.9 sqrt(n_ridge^2 + 0.04))  (mountain index, ridged)
    h   = softplus(k (m - m_floor)) / k                              (flat floors below m_floor)
    z   = z_base + R h + A_d fBm_detail(x, y) (0.25 + 0.75 min(h, 1))
    """
    x = lat.x + p.shift_x
    y = lat.y + p.shift_y
    lam0 = p.lambda0_m
    large = noise.fbm(x, y, noise.stable_key(p.key, "dem-large"), [lam0, lam0 / 2, lam0 / 4], p.hurst)
    ridge = noise.gradient_noise(x, y, lam0 * 0.7, noise.stable_key(p.key, "dem-ridge")) / noise.PERLIN_SD
    ridge_term = 1.0 - 0.9 * np.sqrt(ridge * ridge + 0.04)  # softened crease: ridges, not cusps
    m = 0.65 * large + 0.55 * ridge_term
    k = 4.0
    h = _softplus(k * (m - p.floor_level)) / k
    detail = noise.fbm(
        x, y, noise.stable_key(p.key, "dem-detail"), noise.octaves(lam0 / 8, 4.0 * lat.res), 1.0
    )
    z = p.base_m + p.relief_m * h + p.detail_m * detail * (0.25 + 0.75 * np.minimum(h, 1.0))
    floor_depth = p.floor_level - m
    # lakes are flat water surfaces at the local floor level
    lake = floor_depth > p.lake_depth
    if lake.any():
        shore = p.base_m + p.relief_m * float(_softplus(np.asarray(-k * p.lake_depth))) / k
        z = np.where(lake, shore - 1.0, z)
    return TerrainFields(elevation=z, mountain=m, floor_depth=floor_depth)


def horn_slope_aspect(z_padded: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (deg) and aspect (deg clockwise from north, the direction the slope faces) with the
    3x3 Horn (1981) kernel; ``z_padded`` has one pixel of margin on every side (rows north->south).
    """
    a = z_padded[:-2, :-2]
    b = z_padded[:-2, 1:-1]
    c = z_padded[:-2, 2:]
    d = z_padded[1:-1, :-2]
    f = z_padded[1:-1, 2:]
    g = z_padded[2:, :-2]
    h = z_padded[2:, 1:-1]
    i = z_padded[2:, 2:]
    dzdx = ((c + 2.0 * f + i) - (a + 2.0 * d + g)) / (8.0 * res)
    dzdy = ((a + 2.0 * b + c) - (g + 2.0 * h + i)) / (8.0 * res)  # towards north
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    aspect = np.degrees(np.arctan2(-dzdx, -dzdy)) % 360.0
    return slope, aspect


def incidence_angle_deg(p: SceneParams, lat: Lattice) -> np.ndarray:
    """Ellipsoid incidence angle: grows by ~16 deg over the 250 km IW swath, away from the sensor."""
    look = np.radians(terrain.look_azimuth_deg(p.heading_deg))
    dx = (lat.x - p.ref_x)[None, :]
    dy = (lat.y - p.ref_y)[:, None]
    d_km = (dx * np.sin(look) + dy * np.cos(look)) / 1000.0
    return np.clip(p.theta_centre_deg + p.theta_per_km * d_km, 29.0, 47.0)


@dataclass
class SarGeometry:
    theta: np.ndarray  # rad
    lia_deg: np.ndarray
    layover: np.ndarray  # bool
    shadow: np.ndarray  # bool
    k_volume: np.ndarray
    k_surface: np.ndarray


def sar_geometry(p: SceneParams, lat: Lattice, slope_deg: np.ndarray, aspect_deg: np.ndarray) -> SarGeometry:
    """Vollrath geometry through :mod:`gee_landslide.core.terrain` (the code the GEE recipe ships)."""
    NI = terrain.NumpyImage
    theta = NI(np.radians(incidence_angle_deg(p, lat)))
    phi_i = NI(np.full(slope_deg.shape, np.radians(terrain.sensor_azimuth_deg(p.heading_deg))))
    alpha_s = NI(np.radians(slope_deg))
    phi_s = NI(np.radians(aspect_deg))
    geom = terrain.slope_geometry(theta, phi_i, alpha_s, phi_s)
    lay = terrain.layover_mask(theta, geom.alpha_r).array.astype(bool)
    sha = terrain.shadow_mask(theta, geom.alpha_r).array.astype(bool)
    k_vol = terrain.flattening_factor(theta, geom).array
    k_surf = terrain.flattening_factor(theta, geom, np.ones(slope_deg.shape)).array
    return SarGeometry(
        theta=theta.array,
        lia_deg=np.degrees(geom.lia.array),
        layover=lay,
        shadow=sha,
        k_volume=k_vol,
        k_surface=k_surf,
    )


def choose_event_shift(p: SceneParams, grid: Grid, n_candidates: int = 16) -> tuple[float, float, dict]:
    """Pick the world offset of the noise so the event AOI looks like the event's terrain.

    Real event points sit on hillslopes, so among ``n_candidates`` hashed offsets the one whose
    coarse (40 m) slope field has a steep fraction (> 25 deg) closest to the target (0.45 for
    mountain belts, 0.3 otherwise) and a valley-floor fraction within 5-35 % is kept.
    """
    target = 0.45 if p.steep else 0.3
    coarse = 4.0 * grid.resolution
    n = int(grid.width * grid.resolution / coarse) + 2
    gx0 = grid.x_min / coarse - 1
    gy0 = grid.y_max / coarse + 1
    lat = Lattice.block(int(np.floor(gx0)), int(np.ceil(gy0)), n, n, coarse)
    best: tuple[float, float, float, dict] | None = None
    for c in range(n_candidates):
        sx = 2.0e5 * noise.scalar_uniform(p.key, noise.stable_key("shift-x", c)) - 1.0e5
        sy = 2.0e5 * noise.scalar_uniform(p.key, noise.stable_key("shift-y", c)) - 1.0e5
        q = replace(p, shift_x=sx, shift_y=sy)
        tf = terrain_fields(q, lat)
        dzdy, dzdx = np.gradient(tf.elevation, coarse)
        slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
        steep = float(np.mean(slope > 25.0))
        floor = float(np.mean(tf.floor_depth > 0))
        score = abs(steep - target) + 2.0 * max(0.0, 0.05 - floor) + 2.0 * max(0.0, floor - 0.35)
        if best is None or score < best[0]:
            best = (score, sx, sy, {"candidate": c, "steep_frac": round(steep, 3), "floor_frac": round(floor, 3)})
    assert best is not None
    return best[1], best[2], best[3]
