"""Landslides: source on a steep slope, runout down the fall line, scar raster and polygon.

A landslide is generated inside a *placement cell* (the event AOI, or a 1 km cell of a
monitoring region) on a DEM patch evaluated for that cell plus a margin, so its shape depends
only on (scene, cell, slot), never on the tile being rendered. The runout is traced on the
DEM smoothed with a 1.5 px Gaussian, as a continuous path with inertia:

    d_{k+1} = normalise(0.55 d_k - 0.45 grad z_s / |grad z_s|),   p_{k+1} = p_k + 0.5 px d_{k+1}

It stops when the target length is reached, after a deposition length once the local slope
falls below 12 deg, or when the path would climb (a pit). The scar is the set of pixels within
w(t)/2 of the path, t the normalised arc length: a wider crown at the scarp (t < 0.15), a
channel, and a fan where deposition starts. Zones: 1 = scarp/source, 2 = track, 3 = deposit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.ops import unary_union

from gee_landslide.simulate import noise
from gee_landslide.simulate.landcover import (
    ROCK,
    SNOW,
    SPARSE,
    URBAN,
    VEGETATED,
    WATER,
    elevation_jitter,
    true_cover,
)
from gee_landslide.simulate.params import SceneParams
from gee_landslide.simulate.terrain_model import Lattice, horn_slope_aspect, terrain_fields

SCARP, TRACK, DEPOSIT = 1, 2, 3
DEPOSIT_SLOPE_DEG = 12.0


@dataclass
class Landslide:
    id: str
    onset: dt.date
    gx0: int  # lattice column of mask[:, 0]
    gy0: int  # lattice row of mask[0, :]
    res: float
    mask: np.ndarray  # (h, w) bool
    zone: np.ndarray  # (h, w) uint8
    source_xy: tuple[float, float]
    toe_xy: tuple[float, float]
    length_m: float
    kind: str
    severity: float = 1.0  # fraction of the vegetation/surface removed (mixing with the old state)
    extra: dict = field(default_factory=dict)

    @property
    def area_m2(self) -> float:
        return float(self.mask.sum()) * self.res * self.res

    def polygon(self) -> Polygon | MultiPolygon:
        from affine import Affine
        from rasterio import features

        tr = Affine(self.res, 0.0, self.gx0 * self.res, 0.0, -self.res, self.gy0 * self.res)
        geoms = [
            shape(g) for g, v in features.shapes(self.mask.astype(np.uint8), mask=self.mask, transform=tr) if v == 1
        ]
        geom = unary_union(geoms)
        if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        return geom

    def edge_weight(self) -> np.ndarray:
        """Per-pixel change fraction: ``severity`` inside, 0.6 of it on the boundary (mixed pixels)."""
        m = self.mask
        inner = ndimage.binary_erosion(m, border_value=0)
        return np.where(inner, self.severity, 0.6 * self.severity) * m

    def paste(
        self,
        lat: Lattice,
        labels: np.ndarray,
        zones: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> bool:
        """OR this scar into rasters on ``lat`` (a contiguous lattice block); True if it overlaps."""
        h, w = self.mask.shape
        c0 = self.gx0 - int(lat.gx[0])
        r0 = int(lat.gy[0]) - self.gy0
        H, W = labels.shape
        rs, re = max(r0, 0), min(r0 + h, H)
        cs, ce = max(c0, 0), min(c0 + w, W)
        if rs >= re or cs >= ce:
            return False
        m = self.mask[rs - r0 : re - r0, cs - c0 : ce - c0]
        labels[rs:re, cs:ce] |= m
        if zones is not None:
            zsub = self.zone[rs - r0 : re - r0, cs - c0 : ce - c0]
            tgt = zones[rs:re, cs:ce]
            tgt[m] = np.where(tgt[m] == 0, zsub[m], tgt[m])
        if weight is not None:
            wsub = self.edge_weight()[rs - r0 : re - r0, cs - c0 : ce - c0]
            wt = weight[rs:re, cs:ce]
            wt[m] = np.maximum(wt[m], wsub[m])
        return True

    def bounds_xy(self) -> tuple[float, float, float, float]:
        h, w = self.mask.shape
        return (self.gx0 * self.res, (self.gy0 - h) * self.res, (self.gx0 + w) * self.res, self.gy0 * self.res)


@dataclass
class Patch:
    """A DEM patch with everything the tracer needs."""

    lat: Lattice
    z: np.ndarray
    slope: np.ndarray
    cover: np.ndarray
    zs: np.ndarray
    grad_r: np.ndarray
    grad_c: np.ndarray


def make_patch(p: SceneParams, lat: Lattice) -> Patch:
    padded = Lattice(
        np.concatenate([[lat.gx[0] - 1], lat.gx, [lat.gx[-1] + 1]]),
        np.concatenate([[lat.gy[0] + 1], lat.gy, [lat.gy[-1] - 1]]),
        lat.res,
    )
    tf = terrain_fields(p, padded)
    slope, _ = horn_slope_aspect(tf.elevation, lat.res)
    z = tf.elevation[1:-1, 1:-1]
    nz = elevation_jitter(p, lat)
    floor_depth = tf.floor_depth[1:-1, 1:-1]
    cover = true_cover(p, lat, z, slope, floor_depth, nz)
    zs = ndimage.gaussian_filter(z, 1.5, mode="nearest")
    gr, gc = np.gradient(zs)
    return Patch(lat, z, slope, cover, zs, gr, gc)


def _trace(
    patch: Patch, r0: int, c0: int, target_px: float, res: float, dep_px: float
) -> tuple[np.ndarray, int] | None:
    """Continuous steepest-descent path from (r0, c0); returns points (n, 2) and deposit start."""
    H, W = patch.z.shape
    pos = np.array([r0 + 0.0, c0 + 0.0])
    g = np.array([patch.grad_r[r0, c0], patch.grad_c[r0, c0]])
    gn = math.hypot(g[0], g[1])
    if gn == 0:
        return None
    d = -g / gn
    pts = [pos.copy()]
    step = 0.5
    travelled = 0.0
    dep_start = -1
    zmin = patch.zs[r0, c0]
    climbing = 0
    max_steps = int(4 * target_px / step) + 10
    for _ in range(max_steps):
        ri, ci = round(pos[0]), round(pos[1])
        g = np.array([patch.grad_r[ri, ci], patch.grad_c[ri, ci]])
        gn = math.hypot(g[0], g[1])
        if gn > 1e-9:
            d = 0.55 * d - 0.45 * g / gn
            d /= max(math.hypot(d[0], d[1]), 1e-12)
        nxt = pos + step * d
        rn, cn = round(nxt[0]), round(nxt[1])
        if not (1 <= rn < H - 1 and 1 <= cn < W - 1):
            break
        zn = patch.zs[rn, cn]
        if zn > zmin + 0.3:
            climbing += 1
            if climbing > 6:
                break
        else:
            climbing = 0
        zmin = min(zmin, zn)
        pos = nxt
        travelled += step
        pts.append(pos.copy())
        if dep_start < 0 and patch.slope[rn, cn] < DEPOSIT_SLOPE_DEG and travelled > 3:
            dep_start = len(pts) - 1
        if dep_start >= 0 and (len(pts) - 1 - dep_start) * step >= dep_px:
            break
        if dep_start < 0 and travelled >= target_px:
            break
    if travelled < 3.0:
        return None
    return np.asarray(pts), dep_start


def _scar_from_path(
    pts: np.ndarray, dep_start: int, width_px: float, kind: str, key: int, shape_hw: tuple[int, int]
) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """Rasterise the scar around a path; returns (r0, c0, mask, zone) in patch pixel coords."""
    n = len(pts)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = s / max(s[-1], 1e-9)
    dep_t = t[dep_start] if dep_start >= 0 else 1.0
    f = 1.5 + 2.0 * noise.scalar_uniform(key, 1)
    ph = 2 * math.pi * noise.scalar_uniform(key, 2)
    wobble = 1.0 + 0.15 * np.sin(2 * math.pi * f * t + ph)
    if kind == "flow":
        w = width_px * (0.6 + 0.55 * np.exp(-((t / 0.12) ** 2)))
        if dep_start >= 0:
            prog = np.clip((t - dep_t) / max(1.0 - dep_t, 1e-6), 0.0, 1.0)
            w = w + width_px * 1.1 * np.sin(np.pi * np.minimum(prog * 0.8, 1.0)) * (t >= dep_t)
    else:  # slide: widest in the body
        w = width_px * (0.7 + 0.4 * np.sin(np.pi * np.clip(t * 1.1, 0.0, 1.0)))
        if dep_start >= 0:
            w = w + 0.3 * width_px * np.clip((t - dep_t) / max(1.0 - dep_t, 1e-6), 0, 1)
    w = np.maximum(w * wobble, 1.6)
    half = w / 2.0
    pad = float(half.max()) + 2.0
    H, W = shape_hw
    r0 = max(math.floor(pts[:, 0].min() - pad), 0)
    r1 = min(math.ceil(pts[:, 0].max() + pad) + 1, H)
    c0 = max(math.floor(pts[:, 1].min() - pad), 0)
    c1 = min(math.ceil(pts[:, 1].max() + pad) + 1, W)
    if r1 <= r0 or c1 <= c0:
        return None
    rr, cc = np.mgrid[r0:r1, c0:c1]
    q = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    dist, idx = cKDTree(pts).query(q)
    inside = (dist <= half[idx]).reshape(rr.shape)
    zone = np.where(t[idx] < 0.15, SCARP, np.where(t[idx] >= dep_t, DEPOSIT, TRACK)).reshape(rr.shape)
    zone = np.where(inside, zone, 0).astype(np.uint8)
    if n < 2 or not inside.any():
        return None
    return r0, c0, inside, zone


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, nlab = ndimage.label(mask)
    if nlab <= 1:
        return mask
    sizes = ndimage.sum(mask, lab, index=np.arange(1, nlab + 1))
    return lab == (int(np.argmax(sizes)) + 1)


def place_in_patch(
    p: SceneParams,
    patch: Patch,
    allowed: np.ndarray,
    jobs: list[tuple[str, dt.date, int]],
    length_m: float,
    width_m: float,
    min_slope: float | None = None,
) -> list[Landslide]:
    """Place one landslide per job (id, onset, hash key) with sources inside ``allowed``."""
    res = patch.lat.res
    min_slope = p.source_min_slope_deg if min_slope is None else min_slope
    H, W = patch.z.shape
    slope = patch.slope
    ok_cover = ~np.isin(patch.cover, (WATER, URBAN, SNOW))
    cand = allowed & ok_cover & (slope <= 55.0)
    steep = cand & (slope >= min_slope)
    if steep.sum() < 20 and cand.any():  # gentle scene: the steepest 5 % of the cell
        thr = np.percentile(slope[cand], 95)
        steep = cand & (slope >= min(thr, min_slope))
    if not steep.any():
        return []
    weight = np.where(np.isin(patch.cover, VEGETATED), 3.0, 1.0)
    weight = weight * np.where(np.isin(patch.cover, (ROCK, SPARSE)), 0.6, 1.0)
    weight = weight * (slope / 30.0) ** 2
    occupied = np.zeros((H, W), dtype=bool)
    out: list[Landslide] = []
    for slide_id, onset, key in jobs:
        for attempt in range(6):
            avail = steep & ~occupied
            if not avail.any():
                break
            flat_idx = np.flatnonzero(avail)
            wts = weight.ravel()[flat_idx]
            cdf = np.cumsum(wts)
            u = noise.scalar_uniform(key, "source", attempt)
            pick = flat_idx[min(int(np.searchsorted(cdf, u * cdf[-1])), len(flat_idx) - 1)]
            rs, cs = divmod(int(pick), W)
            ratio = length_m / max(width_m, 1e-6)
            kind = "flow" if ratio >= 3.0 else "slide"
            target = length_m * math.exp(0.25 * noise.scalar_normal(key, "len", attempt)) / res
            wpx = width_m * math.exp(0.2 * noise.scalar_normal(key, "wid", attempt)) / res
            dep_px = float(np.clip(0.25 * target, 2.0, 200.0 / res))
            traced = _trace(patch, rs, cs, target, res, dep_px)
            if traced is None:
                occupied[max(rs - 1, 0) : rs + 2, max(cs - 1, 0) : cs + 2] = True
                continue
            pts, dep_start = traced
            scar = _scar_from_path(pts, dep_start, wpx, kind, noise.stable_key(key, attempt), (H, W))
            if scar is None:
                continue
            r0, c0, m, zone = scar
            sub_cover = patch.cover[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]]
            m = m & (sub_cover != WATER)
            m = _largest_component(m)
            if m.sum() < 4:
                continue
            zone = np.where(m, zone, 0).astype(np.uint8)
            rows = np.flatnonzero(m.any(axis=1))
            cols = np.flatnonzero(m.any(axis=0))
            m = m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            zone = zone[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            r0 += int(rows[0])
            c0 += int(cols[0])
            gx0 = int(patch.lat.gx[c0])
            gy0 = int(patch.lat.gy[r0])
            rt, ct = round(pts[-1, 0]), round(pts[-1, 1])
            src = (float(patch.lat.x[cs]), float(patch.lat.y[rs]))
            toe = (float(patch.lat.x[ct]), float(patch.lat.y[rt]))
            seg = np.hypot(*np.diff(pts, axis=0).T).sum() * res
            out.append(
                Landslide(
                    id=slide_id,
                    onset=onset,
                    gx0=gx0,
                    gy0=gy0,
                    res=res,
                    mask=m,
                    zone=zone,
                    source_xy=src,
                    toe_xy=toe,
                    length_m=float(seg),
                    kind=kind,
                    severity=float(0.55 + 0.45 * noise.scalar_uniform(key, "severity") ** 0.5),
                    extra={
                        "source_slope_deg": round(float(slope[rs, cs]), 2),
                        "source_elevation_m": round(float(patch.z[rs, cs]), 2),
                        "toe_elevation_m": round(float(patch.z[rt, ct]), 2),
                        "source_cover": int(patch.cover[rs, cs]),
                    },
                )
            )
            occ = np.zeros((H, W), dtype=bool)
            occ[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]] = m
            grow = max(2, round(0.5 * width_m / res))
            occupied |= ndimage.binary_dilation(occ, iterations=grow)
            break
    return out
