"""Sentinel-1 backscatter: intrinsic gamma0 per surface, forward model, speckle, composites.

Per pixel and acquisition k of a window:

    gamma0_true = g_s (cos theta_lia / cos theta_i)^m_s 10^((o_s + T + M_w + A_k)/10)
    sigma0_k    = gamma0_true cos(theta_i) K_true S_k,           S_k ~ Gamma(ENL, 1/ENL)
    composite   = median_k sigma0_k
    gamma0_flat = composite / cos(theta_i) / K_flat               (terrain.gamma0_flat)

g_s, m_s: the surface's gamma0 and its local-incidence sensitivity (surface scatterers only);
o_s: per-scene class offset; T: static texture; M_w: soil-moisture offset of the window;
(VH uses 0.6 m_s and 0.6 M_w: cross-pol is less sensitive to incidence and moisture);
A_k: per-acquisition calibration/weather jitter (and wind over water); thermal noise
NESZ = -24 dB (VV), -25 dB (VH) is added before speckle. K_true follows the true surface (volume model
for vegetation, surface model for bare ground, scars, snow), K_flat the CART map of the
pre-event scene, as the GEE recipe does; so the flattened residual is speckle plus real change
(including the model switch when vegetation becomes bare ground on a slope).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from gee_landslide.core import terrain
from gee_landslide.core.catalog import Window
from gee_landslide.core.landcover import VOLUME_MODEL_CODES
from gee_landslide.simulate import noise
from gee_landslide.simulate.confounders import EPOCH
from gee_landslide.simulate.params import SceneParams
from gee_landslide.simulate.terrain_model import Lattice, SarGeometry

# surface codes beyond the 9 land-cover classes
SCARP, TRACK, DEPOSIT, CUT_FRESH, CUT_REGROWTH, SNOW_WET, SNOW_DRY = 10, 11, 12, 13, 14, 15, 16
N_SURFACES = 17

# code: (name for class offsets, VV dB, VH dB, LIA exponent m, volume scatterer)
SURFACES: dict[int, tuple[str, float, float, float, bool]] = {
    1: ("urban", -3.0, -10.5, 0.0, False),
    2: ("forest", -7.5, -13.5, 0.0, True),
    3: ("herb", -9.0, -15.5, 0.3, True),
    4: ("grass", -10.5, -17.0, 0.5, True),
    5: ("sparse", -11.5, -19.0, 1.0, False),
    6: ("water", -20.0, -27.0, 0.0, False),
    7: ("wetland", -9.5, -16.5, 0.3, True),
    8: ("rock", -10.5, -19.0, 1.2, False),
    9: ("snow", -12.0, -20.0, 0.8, False),
    SCARP: ("scar", -8.5, -19.0, 1.8, False),
    TRACK: ("scar", -9.5, -19.5, 1.5, False),
    DEPOSIT: ("scar", -7.0, -17.5, 1.0, False),
    CUT_FRESH: ("forest", -9.8, -17.0, 0.6, False),
    CUT_REGROWTH: ("herb", -9.0, -15.5, 0.3, True),
    SNOW_WET: ("snow", -17.0, -25.0, 0.5, False),
    SNOW_DRY: ("snow", -10.5, -18.5, 0.8, False),
}
TEXTURE_DB = {1: 3.0, 6: 0.5}
NESZ_DB = -24.0  # noise-equivalent sigma0 of IW GRD (VH 1 dB lower)


def _tables(p: SceneParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    vv = np.zeros(N_SURFACES)
    vh = np.zeros(N_SURFACES)
    m = np.zeros(N_SURFACES)
    vol = np.zeros(N_SURFACES, dtype=bool)
    tex = np.full(N_SURFACES, 0.8)
    for code, (name, a, b, mm, v) in SURFACES.items():
        off = p.class_offsets_db.get(name, 0.0)
        vv[code], vh[code], m[code], vol[code] = a + off, b + off, mm, v
        tex[code] = TEXTURE_DB.get(code, 0.8)
    return vv, vh, m, vol, tex


def acquisitions(p: SceneParams, window: Window) -> list[int]:
    """Global 12-day repeat numbers of the descending acquisitions inside ``window``."""
    phase = int(noise.scalar_uniform(p.key, "s1-phase") * p.revisit_days)
    first = (window.start - EPOCH).days - phase
    k0 = -(-first // p.revisit_days)
    k1 = ((window.end - EPOCH).days - phase) // p.revisit_days
    ks = list(range(k0, k1 + 1))
    return ks or [k0]


def acquisition_date(p: SceneParams, k: int) -> dt.date:
    phase = int(noise.scalar_uniform(p.key, "s1-phase") * p.revisit_days)
    return EPOCH + dt.timedelta(days=k * p.revisit_days + phase)


def _gamma_speckle(h: np.ndarray, enl: float) -> np.ndarray:
    """Gamma(ENL, 1/ENL) variates (Wilson-Hilferty) from hashed normals."""
    z = noise.normal_from_hash(h)
    c = 1.0 / (9.0 * enl)
    return np.maximum(1.0 - c + z * np.sqrt(c), 0.05) ** 3


def composite_db(
    p: SceneParams,
    lat: Lattice,
    geom: SarGeometry,
    surface: np.ndarray,
    flat_volume: np.ndarray,
    window: Window,
    texture: np.ndarray,
    moisture_db: float,
    alt_surface: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    dated: Sequence[tuple[int, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Terrain-flattened median VV and VH composites (dB) of a window; NaN in layover/shadow.

    With ``alt_surface`` and ``weight``, a pixel is the mixture ``weight`` x surface +
    (1 - weight) x alt_surface in linear power (partly stripped scars, boundary pixels).
    ``dated`` (the region calendar) lists the acquisitions as (acquisition number, mask of the
    pixels whose scar exists on that date): elsewhere the acquisition sees ``alt_surface``. A
    window without acquisitions gives NaN, as an empty Earth Engine collection would.
    """
    NI = terrain.NumpyImage
    vv_t, vh_t, m_t, vol_t, tex_t = _tables(p)
    valid = ~(geom.layover | geom.shadow)
    cos_l = np.clip(np.cos(np.radians(geom.lia_deg)), 0.02, 1.0)
    lia_ratio = np.log10(cos_l / np.cos(geom.theta))
    k_vol = np.where(valid, np.clip(geom.k_volume, 0.02, 50.0), 1.0)
    k_surf = np.where(valid, np.clip(geom.k_surface, 0.02, 50.0), 1.0)
    k_flat = np.where(flat_volume, k_vol, k_surf)

    def sigma_true(surf: np.ndarray, table: np.ndarray, mscale: float) -> np.ndarray:
        moist = np.where(surf == 2, 0.3, 1.0) * moisture_db * mscale
        g0_db = table[surf] + 10.0 * mscale * m_t[surf] * lia_ratio + tex_t[surf] * texture + moist
        k_true = np.where(vol_t[surf], k_vol, k_surf)
        return terrain.sigma0_from_gamma0(NI(10.0 ** (g0_db / 10.0)), NI(geom.theta), NI(k_true)).array

    water = surface == 6
    hp = noise.hash_u64(noise.stable_key(p.key, "speckle"), lat.gx[None, :], lat.gy[:, None])
    present: list[np.ndarray | None]
    if dated is None:
        ks = acquisitions(p, window)
        present = [None] * len(ks)
    else:
        ks, present = [k for k, _ in dated], [m for _, m in dated]
        if not ks:
            empty = np.full(surface.shape, np.nan)
            return empty, empty.copy(), 0
    out = []
    for pol, table, mscale, nesz_db in (("VV", vv_t, 1.0, NESZ_DB), ("VH", vh_t, 0.6, NESZ_DB - 1.0)):
        sig = sigma_true(surface, table, mscale)
        sig_alt = None
        if alt_surface is not None and dated is not None:
            sig_alt = sigma_true(alt_surface, table, mscale)
        if alt_surface is not None and weight is not None:
            mixed = weight < 1.0
            if mixed.any():
                alt = sig_alt if sig_alt is not None else sigma_true(alt_surface, table, mscale)
                sig = np.where(mixed, weight * sig + (1.0 - weight) * alt, sig)
        nesz = 10.0 ** (nesz_db / 10.0)
        stack = np.empty((len(ks), *surface.shape))
        for i, (k, now) in enumerate(zip(ks, present, strict=True)):
            sig_k = sig if now is None or sig_alt is None else np.where(now, sig, sig_alt)
            jitter = 0.25 * noise.scalar_normal(p.key, "acq", k, pol)
            factor = 10.0 ** (jitter / 10.0)
            if water.any():
                wind = noise.gradient_noise(lat.x, lat.y, 1500.0, noise.stable_key(p.key, "wind", k)) / noise.PERLIN_SD
                wind_db = (2.5 if pol == "VV" else 1.2) * wind
                factor = factor * np.where(water, 10.0 ** (wind_db / 10.0), 1.0)
            hk = noise.mix(hp ^ np.uint64(noise.stable_key(k, pol) & 0xFFFFFFFFFFFFFFFF))
            stack[i] = (sig_k * factor + nesz) * _gamma_speckle(hk, p.enl)
        med = np.median(stack, axis=0) if len(ks) > 1 else stack[0]
        g0 = terrain.gamma0_flat(NI(med), NI(geom.theta), NI(k_flat)).array
        db = 10.0 * np.log10(np.maximum(g0, 1e-6))
        out.append(np.where(valid, db, np.nan))
    return out[0], out[1], len(ks)


def flat_model_is_volume(classified: np.ndarray) -> np.ndarray:
    """Which terrain-flattening model the pipeline applies, from the CART class (landcover.py)."""
    return np.isin(classified, VOLUME_MODEL_CODES)
