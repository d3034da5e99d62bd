"""Burning a landslide inventory (polygons) onto a stack's grid.

Inventories arrive as GeoJSON, GeoPackage or Shapefile in any CRS. They are read with a real GIS
reader (pyogrio through GeoPandas), reprojected to the grid's UTM CRS and burnt with
``rasterio.features.rasterize`` using pixel-centre sampling, which keeps the rasterised area
unbiased. A polygon smaller than a pixel may contain no pixel centre; so that no mapped
landslide is ever lost, such a polygon is burnt into the one pixel holding its representative
point (a point guaranteed inside the polygon).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
from rasterio import features
from rasterio.transform import rowcol
from shapely.geometry.base import BaseGeometry

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid

POLYGON_TYPES = {"Polygon", "MultiPolygon"}


class InventoryError(GeeLandslideError, ValueError):
    """An inventory file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RasterizeReport:
    polygons_read: int
    polygons_on_grid: int
    rescued_small: int
    burnt_pixels: int
    polygon_area_m2: float
    pixel_area_m2: float

    @property
    def raster_area_m2(self) -> float:
        return self.burnt_pixels * self.pixel_area_m2


def read_inventory(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read landslide polygons; refuse files without a CRS or without polygons, naming the file."""
    path = Path(path)
    if not path.exists():
        raise InventoryError(f"{path}: inventory file not found")
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises DataSourceError subclasses
        raise InventoryError(f"{path}: not a readable vector file ({exc})") from None
    if layer is None:
        polygon_layers = [name for name, gtype in layers if gtype in POLYGON_TYPES]
        if len(layers) > 1 and len(polygon_layers) != 1:
            raise InventoryError(
                f"{path}: has layers {[str(n) for n, _ in layers]}; choose one with --layer"
            )
        layer = polygon_layers[0] if polygon_layers else str(layers[0][0])
    elif layer not in {str(n) for n, _ in layers}:
        raise InventoryError(f"{path}: no layer {layer!r}; layers: {[str(n) for n, _ in layers]}")
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    if gdf.crs is None:
        raise InventoryError(f"{path}: layer {layer!r} has no CRS; set one (e.g. ogr2ogr -a_srs)")
    gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    bad = sorted(set(gdf.geom_type) - POLYGON_TYPES)
    if bad:
        raise InventoryError(f"{path}: layer {layer!r} has non-polygon geometries {bad}")
    if gdf.empty:
        raise InventoryError(f"{path}: layer {layer!r} has no polygons")
    gdf = gdf.copy()
    gdf["geometry"] = gdf.geometry.make_valid()
    return gdf


def _burn_point(mask: np.ndarray, grid: Grid, geom: BaseGeometry) -> bool:
    pt = geom.representative_point()
    r, c = rowcol(grid.transform, pt.x, pt.y)
    if 0 <= r < grid.height and 0 <= c < grid.width:
        mask[r, c] = 1
        return True
    return False


def rasterize_polygons(
    polygons_path: str | Path, grid: Grid, layer: str | None = None
) -> np.ndarray:
    """The inventory at ``polygons_path`` as a 0/1 uint8 mask on ``grid``."""
    mask, _ = rasterize_inventory(polygons_path, grid, layer)
    return mask


def rasterize_inventory(
    polygons_path: str | Path, grid: Grid, layer: str | None = None
) -> tuple[np.ndarray, RasterizeReport]:
    """Like :func:`rasterize_polygons`, also returning what was read, burnt and rescued."""
    gdf = read_inventory(polygons_path, layer).to_crs(grid.crs)
    x0, y0, x1, y1 = grid.bounds
    on_grid = gdf[gdf.intersects(gpd.GeoSeries.from_xy([x0, x1], [y0, y1]).union_all().envelope)]
    geoms = list(on_grid.geometry)
    mask, rescued = rasterize_geometries(geoms, grid)
    report = RasterizeReport(
        polygons_read=len(gdf),
        polygons_on_grid=len(geoms),
        rescued_small=rescued,
        burnt_pixels=int(mask.sum()),
        polygon_area_m2=float(on_grid.union_all().area) if geoms else 0.0,
        pixel_area_m2=grid.resolution**2,
    )
    return mask, report


def _small_geometries(geoms: list[BaseGeometry], grid: Grid) -> list[BaseGeometry]:
    """Geometries that might contain no pixel centre (area under ~4 pixels): probed one by one."""
    limit = 4 * grid.resolution**2
    return [g for g in geoms if g.area < limit]


def rasterize_geometries(geoms: list[BaseGeometry], grid: Grid) -> tuple[np.ndarray, int]:
    """Burn geometries (in the grid CRS) at once; rescue small ones that hit no pixel centre.

    Returns the uint8 mask and the number of rescued polygons.
    """
    mask = np.zeros(grid.shape, dtype=np.uint8)
    if geoms:
        features.rasterize(
            ((g, 1) for g in geoms), out=mask, transform=grid.transform, all_touched=False, dtype="uint8"
        )
    rescued = 0
    for g in _small_geometries(geoms, grid):
        win = _window_of(g, grid)
        if win is None:
            continue
        row, col, h, w = win
        sub = grid.window(row, col, h, w)
        probe = features.rasterize([(g, 1)], out_shape=sub.shape, transform=sub.transform, dtype="uint8")
        if not probe.any() and _burn_point(mask, grid, g):
            rescued += 1
    return mask, rescued


def _window_of(geom: BaseGeometry, grid: Grid) -> tuple[int, int, int, int] | None:
    """The pixel window (row, col, height, width) covering a geometry's bounds, clipped to the grid."""
    gx0, gy0, gx1, gy1 = geom.bounds
    col0 = max(int((gx0 - grid.x_min) // grid.resolution), 0)
    col1 = min(int((gx1 - grid.x_min) // grid.resolution) + 1, grid.width)
    row0 = max(int((grid.y_max - gy1) // grid.resolution), 0)
    row1 = min(int((grid.y_max - gy0) // grid.resolution) + 1, grid.height)
    if col0 >= col1 or row0 >= row1:
        return None
    return row0, col0, row1 - row0, col1 - col0
