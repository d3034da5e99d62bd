"""The web map's offline basemap, drawn from the pass's own data.

A monitoring pass already holds the terrain of its region (the DEM band ``elevation`` of every
tile) and its land cover: that is enough for a readable background with no tile server and no
network. :func:`hillshade` shades the DEM (Horn's slope/aspect, sun from the north-west at 45°);
:func:`write_basemap` writes, per region,

- ``<pass dir>/hillshade.tif``: the hillshade on the pass's UTM grid (uint8, 0 = no data), for QGIS;
- ``<pass dir>/basemap.png``: the hillshade with water (land-cover class ``water``) in blue,
  reprojected to lon/lat so the web map can place it by its bounds;
- ``<pass dir>/basemap.json``: the PNG's lon/lat bounds and the region's outline.

Once the pass's alerts are merged, :func:`install_basemap` copies the PNG and its index entry to
``<store>/basemaps/<region>.png|json``, where the feed server and the web map find them (a pass
that fails before its merge leaves the store's basemap as it was).

When ``$GEE_LANDSLIDE_TILE_URL`` is set (an XYZ URL such as OpenStreetMap's), the web map draws
those tiles instead (see :mod:`gee_landslide.monitor.server`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.atomic import write_bytes_atomic, write_json_atomic
from gee_landslide.core.grid import Grid

BASEMAP_DIR = "basemaps"
WATER_RGB = (158, 202, 225)


def hillshade(elevation: np.ndarray, resolution_m: float, azimuth_deg: float = 315.0,
              altitude_deg: float = 45.0) -> np.ndarray:
    """Shaded relief in 0..1 (NaN where the DEM has no data), north-up grid of ``resolution_m``."""
    z = np.asarray(elevation, np.float64)
    filled = np.where(np.isfinite(z), z, np.nanmean(z) if np.isfinite(z).any() else 0.0)
    dzdy, dzdx = np.gradient(filled, resolution_m)  # rows run south: dz/dy is towards the south
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, dzdy)  # 0 = facing north, clockwise
    az = np.deg2rad(azimuth_deg)
    alt = np.deg2rad(altitude_deg)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    out = np.clip(shade, 0.0, 1.0)
    out[~np.isfinite(z)] = np.nan
    return out


def _to_lonlat(grid: Grid, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], tuple[float, float, float, float]]:
    """Reproject float arrays on ``grid`` to a lon/lat grid of about the same pixel count."""
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    h, w = grid.shape
    dst_transform, dw, dh = calculate_default_transform(
        CRS.from_user_input(grid.crs), CRS.from_epsg(4326), w, h, *grid.bounds
    )
    out = []
    for a in arrays:
        dst = np.full((dh, dw), np.nan, np.float32)
        reproject(
            np.asarray(a, np.float32), dst, src_transform=grid.transform, src_crs=grid.crs,
            dst_transform=dst_transform, dst_crs="EPSG:4326", resampling=Resampling.nearest,
            src_nodata=np.nan, dst_nodata=np.nan,
        )
        out.append(dst)
    b = (dst_transform.c, dst_transform.f + dst_transform.e * dh, dst_transform.c + dst_transform.a * dw,
         dst_transform.f)
    return out, (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def basemap_rgba(shade: np.ndarray, water: np.ndarray) -> np.ndarray:
    """Grey relief (light, so alerts stand out), water in blue, no data transparent."""
    grey = (150 + 100 * np.nan_to_num(shade, nan=0.0)).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.where(np.isfinite(shade), 255, 0).astype(np.uint8)])
    wet = np.nan_to_num(water, nan=0.0) > 0.5
    for i, c in enumerate(WATER_RGB):
        rgba[..., i][wet] = c
    rgba[..., 3][wet] = 255
    return rgba


def png_bytes(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_basemap(
    pass_dir: Path,
    region_id: str,
    grid: Grid,
    elevation: np.ndarray,
    landcover: np.ndarray,
    outline_bbox: tuple[float, float, float, float],
    run_date: str,
) -> dict[str, Any]:
    """Write the pass's hillshade GeoTIFF and its web-map basemap (PNG + index entry) into ``pass_dir``."""
    from gee_landslide.core.landcover import WATER_CODE
    from gee_landslide.core.stackio import write_geotiff

    shade = hillshade(elevation, grid.resolution)
    write_geotiff(pass_dir / "hillshade.tif", np.where(np.isfinite(shade), 1 + 254 * np.nan_to_num(shade), 0)
                  .astype(np.uint8), grid, ("hillshade",), nodata=0)
    water = np.where(np.isfinite(landcover), (landcover == WATER_CODE).astype(np.float32), np.nan)
    (shade_ll, water_ll), bounds = _to_lonlat(grid, [shade, water])
    write_bytes_atomic(Path(pass_dir) / "basemap.png", png_bytes(basemap_rgba(shade_ll, water_ll)))
    w, s, e, n = outline_bbox
    entry = {
        "region": region_id,
        "image": f"{BASEMAP_DIR}/{region_id}.png",
        "bounds": [round(v, 6) for v in bounds],
        "outline": [[w, s], [e, s], [e, n], [w, n], [w, s]],
        "run_date": run_date,
        "source": "hillshade of the pass's DEM band; water from its land cover",
    }
    write_json_atomic(Path(pass_dir) / "basemap.json", entry)
    return entry


def install_basemap(pass_dir: Path, store_dir: Path, region_id: str) -> None:
    """Copy a pass's basemap into the store (files rewritten only when their bytes change)."""
    src_png, src_json = Path(pass_dir) / "basemap.png", Path(pass_dir) / "basemap.json"
    if not (src_png.is_file() and src_json.is_file()):
        return
    base = Path(store_dir) / BASEMAP_DIR
    for src, dst in ((src_png, base / f"{region_id}.png"), (src_json, base / f"{region_id}.json")):
        data = src.read_bytes()
        if not dst.is_file() or dst.read_bytes() != data:
            write_bytes_atomic(dst, data)


def read_basemaps(store_dir: Path) -> list[dict[str, Any]]:
    """The index entries of every region's basemap in the store (unreadable ones skipped)."""
    import json

    out = []
    for p in sorted((Path(store_dir) / BASEMAP_DIR).glob("*.json")):
        try:
            entry = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and (p.parent / f"{p.stem}.png").is_file():
            out.append(entry)
    return out
