"""From ensemble probability maps to landslide candidates.

A monitoring pass hands over, on one 10 m UTM :class:`~gee_landslide.core.grid.Grid`, the ensemble's
``mean`` probability, its ``std`` (spread of the member probabilities) and ``agreement`` (share of
members above their threshold), plus the slope and land-cover bands. :func:`detections_to_candidates`

1. thresholds ``mean`` (``mean >= threshold``; NaN is never a detection),
2. groups the detected pixels into 4-connected components and polygonises each one with
   :func:`rasterio.features.shapes` on the grid's transform (the same connectivity, so one
   component is exactly one polygon, holes included, its area exactly pixels x pixel area),
3. drops what cannot be a landslide: below ``min_area_m2``; on flat ground (mean slope under
   ``min_slope_deg``); on water (land-cover majority = water, code 6),
4. returns one :class:`Candidate` per remaining component, with its statistics, its polygon in
   the grid CRS and in lon/lat (RFC 7946 winding: exterior counter-clockwise), its centroid and
   its pixel window (for the quick-look chips).

Comparison with stored alerts (de-duplication, update vs new) is the store's job
(:mod:`gee_landslide.monitor.store`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from rasterio import features
from scipy import ndimage
from shapely.geometry import Polygon, shape
from shapely.geometry.polygon import orient

from gee_landslide.core.grid import Grid
from gee_landslide.core.landcover import WATER_CODE

log = logging.getLogger(__name__)

LONLAT_DECIMALS = 7  # ~1 cm: plenty for 10 m pixels, and exact round trips through every format

_GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"


# ----------------------------------------------------------------------------- helpers
def geohash(lat: float, lon: float, precision: int = 8) -> str:
    """The geohash of a point (precision 8 is a cell of about 38 m x 19 m)."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a lon/lat point: lat={lat}, lon={lon}")
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    chars: list[str] = []
    bits, value, even = 0, 0, True
    while len(chars) < precision:
        if even:  # longitude bit
            mid = (lon_lo + lon_hi) / 2
            if lon >= mid:
                value, lon_lo = (value << 1) | 1, mid
            else:
                value, lon_hi = value << 1, mid
        else:
            mid = (lat_lo + lat_hi) / 2
            if lat >= mid:
                value, lat_lo = (value << 1) | 1, mid
            else:
                value, lat_hi = value << 1, mid
        even = not even
        bits += 1
        if bits == 5:
            chars.append(_GEOHASH_ALPHABET[value])
            bits, value = 0, 0
    return "".join(chars)


def to_lonlat(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    """``geom`` from ``crs`` to EPSG:4326 (x = lon, y = lat), rounded to ~1 cm."""
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def _fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), LONLAT_DECIMALS)

    return shapely.transform(geom, _fn)


def from_lonlat(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    """``geom`` from EPSG:4326 (x = lon, y = lat) to ``crs``."""
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def _fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, _fn)


def rfc7946_polygon(poly: Polygon) -> Polygon:
    """Exterior ring counter-clockwise, holes clockwise (RFC 7946 section 3.1.6)."""
    return orient(poly, sign=1.0)


# ----------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidate:
    """One connected detection that passed the filters."""

    geometry: Polygon  # in the grid CRS (metres)
    crs: str
    lonlat: Polygon  # EPSG:4326, exterior counter-clockwise, rounded to 1e-7 degrees
    centroid_lon: float
    centroid_lat: float
    pixel_count: int
    area_m2: float
    mean_prob: float
    peak_prob: float
    agreement: float | None  # mean share of ensemble members above threshold over the polygon
    spread: float | None  # mean ensemble standard deviation over the polygon
    mean_slope_deg: float | None
    landcover: int | None  # majority land-cover code
    window: tuple[int, int, int, int]  # row0, col0, row1, col1 (exclusive) on the grid
    resolution: float = 10.0
    sensors: str | None = None  # "S1" or "S1+S2" (majority of the pass's sensors raster), None = not said
    # False when the object filter found it unlike a landslide and the region holds such objects back
    # from confirmation instead of dropping them (``objects_stage: confirm``, monitor.store)
    confirmable: bool = True


# the pass's ``sensors`` raster: which sensors the model that decided a pixel could use
SENSORS_NONE, SENSORS_CODE_S1, SENSORS_CODE_S1S2 = 0, 1, 2
SENSORS_NAMES = {SENSORS_CODE_S1: "S1", SENSORS_CODE_S1S2: "S1+S2"}


@dataclass(frozen=True)
class Rejected:
    """A component dropped by a filter, with the reason (for logs and tests)."""

    reason: str  # "area" | "slope" | "water" | "change" | "contrast" (train.evidence) | "objects" (train.objects)
    pixel_count: int
    area_m2: float
    mean_slope_deg: float | None
    landcover: int | None
    window: tuple[int, int, int, int]


def _check_shape(name: str, arr: np.ndarray | None, shape: tuple[int, int]) -> None:
    if arr is not None and np.shape(arr) != shape:
        raise ValueError(f"{name} has shape {np.shape(arr)}, expected the grid shape {shape}")


def _component_means(values: np.ndarray | None, labels: np.ndarray, n: int) -> np.ndarray | None:
    """Per-label nan-mean of ``values`` (index 0 = background); NaN where nothing is finite."""
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64).ravel()
    lab = labels.ravel()
    ok = np.isfinite(v) & (lab > 0)
    sums = np.bincount(lab[ok], weights=v[ok], minlength=n + 1)
    counts = np.bincount(lab[ok], minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _component_majority(codes: np.ndarray | None, labels: np.ndarray, n: int) -> np.ndarray | None:
    """Per-label most frequent integer code (ties: the lowest code); -1 where no valid code."""
    if codes is None:
        return None
    c = np.asarray(codes, dtype=np.float64).ravel()
    lab = labels.ravel()
    ok = np.isfinite(c) & (lab > 0)
    if not ok.any():
        return np.full(n + 1, -1, dtype=np.int64)
    ci = np.rint(c[ok]).astype(np.int64)
    lo = int(ci.min())
    span = int(ci.max()) - lo + 1
    table = np.zeros((n + 1, span), dtype=np.int64)
    np.add.at(table, (lab[ok], ci - lo), 1)
    out = np.argmax(table, axis=1) + lo
    out[table.sum(axis=1) == 0] = -1
    return out


def _no_change(change: np.ndarray, limit: np.ndarray, inside: np.ndarray) -> bool:
    """True when the component's median change is above its median limit (both over the pixels
    where both are finite); False when no pixel has both."""
    v, lim = np.asarray(change, np.float64)[inside], limit[inside]
    ok = np.isfinite(v) & np.isfinite(lim)
    return bool(ok.any()) and float(np.median(v[ok])) > float(np.median(lim[ok]))


def _no_contrast(change: np.ndarray, limit: np.ndarray, labels: np.ndarray, i: int, sl: tuple[slice, slice],
                 detected: np.ndarray) -> bool:
    """True when component ``i`` changed no more than the ring around it by its median limit
    (:func:`gee_landslide.train.evidence.object_contrast`); False when it cannot be said."""
    from gee_landslide.train.evidence import object_contrast, ring_window

    win = ring_window(sl)
    inside = labels[win] == i
    lim = limit[win][inside]
    lim = lim[np.isfinite(lim)]
    if lim.size == 0:
        return False
    c = object_contrast(np.asarray(change[win], np.float64), inside, detected[win])
    return bool(np.isfinite(c)) and c > float(np.median(lim))


def _finite_or_none(values: np.ndarray | None, i: int) -> float | None:
    if values is None or not np.isfinite(values[i]):
        return None
    return float(values[i])


def detections_to_candidates(
    mean: np.ndarray,
    std: np.ndarray | None,
    agreement: np.ndarray | None,
    grid: Grid,
    *,
    threshold: float,
    slope: np.ndarray | None,
    landcover: np.ndarray | None,
    min_area_m2: float,
    min_slope_deg: float,
    rejected: list[Rejected] | None = None,
    sensors: np.ndarray | None = None,
    change: np.ndarray | None = None,
    change_limit: float | np.ndarray | None = None,
    contrast_limit: float | np.ndarray | None = None,
    object_rejects: np.ndarray | None = None,
    objects_hold: bool = False,
) -> list[Candidate]:
    """Threshold, polygonise and filter an ensemble probability map into landslide candidates.

    ``threshold`` is one number, or an array on the grid when different models decided different
    pixels (SAR-first passes: each ensemble's own threshold where it ran). ``sensors`` (codes
    ``SENSORS_CODE_S1`` / ``SENSORS_CODE_S1S2``) gives each candidate its majority ``sensors``.
    ``slope`` (degrees) and ``landcover`` (class codes, see :mod:`gee_landslide.core.landcover`) may be
    None to skip the flat-ground and water filters. Pass a list as ``rejected`` to receive the
    components that were dropped and why. Candidates come in raster order (top-left first).

    ``change`` and ``change_limit`` (:mod:`gee_landslide.train.evidence`): per pixel, the change band
    of the sensor that decided it (dNDVI or dVH) and the most a landslide's object median may be
    (NaN = no limit). A component whose median change is above its median limit showed no change
    a landslide makes and is dropped ("change"); one without finite values cannot be judged and stays.
    ``contrast_limit`` (same module): the most a landslide's median change may be above that of the
    ring around it (other detections left out); a component changed no more than its surroundings
    is dropped ("contrast"), one whose ring has too few finite values stays.
    ``object_rejects`` (:mod:`gee_landslide.train.objects`): pixels the object filter found unlike a
    landslide; a component mostly made of them is dropped ("objects"), or, with ``objects_hold``, kept
    as a candidate that cannot confirm an alert (``Candidate.confirmable`` False): a first alert comes
    as fast as without the filter, only confirmation waits for an object the filter accepts.
    """
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim == 0 and not 0.0 < float(thr) < 1.0:
        raise ValueError(f"threshold must be within (0, 1), got {threshold}")
    if thr.ndim and not bool(np.all((thr > 0.0) & (thr < 1.0))):
        raise ValueError("every per-pixel threshold must be within (0, 1)")
    mean = np.asarray(mean)
    if mean.shape != grid.shape:
        raise ValueError(f"mean has shape {mean.shape}, expected the grid shape {grid.shape}")
    for name, arr in (("std", std), ("agreement", agreement), ("slope", slope), ("landcover", landcover),
                      ("threshold", thr if thr.ndim else None), ("sensors", sensors), ("change", change),
                      ("object_rejects", object_rejects)):
        _check_shape(name, arr, grid.shape)
    threshold = thr if thr.ndim else float(thr)
    limit = con_limit = None
    if change is not None and change_limit is not None:
        limit = np.broadcast_to(np.asarray(change_limit, np.float64), grid.shape)
    if change is not None and contrast_limit is not None:
        con_limit = np.broadcast_to(np.asarray(contrast_limit, np.float64), grid.shape)

    with np.errstate(invalid="ignore"):
        detected = np.isfinite(mean) & (mean >= threshold)
    labels, n = ndimage.label(detected)  # 4-connected, like features.shapes(connectivity=4)
    if n == 0:
        return []
    labels = labels.astype(np.int32)
    lab_flat = labels.ravel()
    px_area = grid.resolution**2

    counts = np.bincount(lab_flat, minlength=n + 1)
    mean_p = _component_means(mean, labels, n)
    peak_p = np.full(n + 1, np.nan)
    np.fmax.at(peak_p, lab_flat[lab_flat > 0], np.asarray(mean, dtype=np.float64).ravel()[lab_flat > 0])
    spread = _component_means(std, labels, n)
    agree = _component_means(agreement, labels, n)
    slope_m = _component_means(slope, labels, n)
    lc_major = _component_majority(landcover, labels, n)
    sensor_major = _component_majority(sensors, labels, n)
    slices = ndimage.find_objects(labels)

    keep: dict[int, tuple[int, int, int, int]] = {}
    unconfirmable: set[int] = set()
    for i in range(1, n + 1):
        sl = slices[i - 1]
        window = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
        area = float(counts[i] * px_area)
        s = None if slope_m is None or not np.isfinite(slope_m[i]) else float(slope_m[i])
        lc = None if lc_major is None or lc_major[i] < 0 else int(lc_major[i])
        reason = None
        held = False
        if area < min_area_m2:
            reason = "area"
        elif s is not None and s < min_slope_deg:
            reason = "slope"
        elif lc is not None and lc == WATER_CODE:
            reason = "water"
        elif limit is not None and change is not None and _no_change(change[sl], limit[sl], labels[sl] == i):
            reason = "change"
        elif con_limit is not None and change is not None and _no_contrast(change, con_limit, labels, i, sl, detected):
            reason = "contrast"
        elif object_rejects is not None and np.mean(object_rejects[sl][labels[sl] == i]) > 0.5:
            held = objects_hold
            reason = None if held else "objects"
        if reason is not None:
            if rejected is not None:
                rejected.append(Rejected(reason, int(counts[i]), area, s, lc, window))
            continue
        keep[i] = window
        if held:
            unconfirmable.add(i)

    if not keep:
        log.info("%d detected component(s), all filtered out", n)
        return []

    # polygonise only the kept components
    kept_ids = np.fromiter(keep, dtype=np.int32)
    kept_mask = np.isin(labels, kept_ids)
    polys: dict[int, list[Polygon]] = {}
    for geom, value in features.shapes(labels, mask=kept_mask, connectivity=4, transform=grid.transform):
        polys.setdefault(int(value), []).append(shape(geom))

    tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    out: list[Candidate] = []
    for i, window in keep.items():
        parts = polys.get(i, [])
        poly = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        if not isinstance(poly, Polygon):  # cannot happen with matching connectivity; be safe
            poly = max(getattr(poly, "geoms", [poly]), key=lambda g: g.area)
        poly = rfc7946_polygon(shapely.normalize(poly))
        lonlat = rfc7946_polygon(to_lonlat(poly, grid.crs))
        c = poly.centroid
        clon, clat = tr.transform(c.x, c.y)
        s = None if slope_m is None or not np.isfinite(slope_m[i]) else round(float(slope_m[i]), 2)
        lc = None if lc_major is None or lc_major[i] < 0 else int(lc_major[i])
        out.append(
            Candidate(
                geometry=poly,
                crs=grid.crs,
                lonlat=lonlat,
                centroid_lon=round(float(clon), LONLAT_DECIMALS),
                centroid_lat=round(float(clat), LONLAT_DECIMALS),
                pixel_count=int(counts[i]),
                area_m2=float(counts[i] * px_area),
                mean_prob=float(mean_p[i]),
                peak_prob=float(peak_p[i]),
                agreement=_finite_or_none(agree, i),
                spread=_finite_or_none(spread, i),
                mean_slope_deg=s,
                landcover=lc,
                window=window,
                resolution=grid.resolution,
                sensors=None if sensor_major is None else SENSORS_NAMES.get(int(sensor_major[i])),
                confirmable=i not in unconfirmable,
            )
        )
    log.info("%d detected component(s): %d candidate(s), %d filtered out", n, len(out), n - len(out))
    return out


def candidates_mask(candidates: Sequence[Any], grid: Grid) -> np.ndarray:
    """The grid's pixels under any of the candidates' footprints (1), as uint8: what a pass's
    detections cover, for scoring them against truth or reading a band under them."""
    if not candidates:
        return np.zeros(grid.shape, np.uint8)
    return features.rasterize(((c.geometry, 1) for c in candidates), out_shape=grid.shape,
                              transform=grid.transform, dtype="uint8")
