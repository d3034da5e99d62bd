"""Pixel grids: the 10 m UTM grid every stack, label and monitoring raster is defined on.

Grid rules (the same for the simulated and the Earth Engine source):
- CRS: the WGS 84 / UTM zone of the AOI centre (EPSG:326zz north, 327zz south).
- Pixels: square, ``resolution_m`` (10 m) wide, north-up.
- Origin: snapped to a multiple of the resolution, so the grids of overlapping events and of
  monitoring tiles share one lattice and can be mosaicked without resampling.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from affine import Affine
from pyproj import CRS, Transformer


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS 84 UTM zone containing (lat, lon)."""
    if not -80.0 <= lat <= 84.0:
        raise ValueError(f"latitude {lat} is outside the UTM range -80..84")
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, upper-left corner, pixel size and shape."""

    crs: str
    x_min: float
    y_max: float
    width: int
    height: int
    resolution: float = 10.0

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.x_min, 0.0, -self.resolution, self.y_max)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) in the grid CRS."""
        return (
            self.x_min,
            self.y_max - self.height * self.resolution,
            self.x_min + self.width * self.resolution,
            self.y_max,
        )

    @property
    def area_km2(self) -> float:
        return self.width * self.height * self.resolution**2 / 1e6

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:4326, densified so UTM curvature is covered."""
        tr = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return tr.transform_bounds(*self.bounds, densify_pts=21)

    def centre_lonlat(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bounds
        tr = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform((x0 + x1) / 2, (y0 + y1) / 2)
        return float(lon), float(lat)

    def window(self, row: int, col: int, height: int, width: int) -> Grid:
        """The sub-grid starting at pixel (row, col), clipped to this grid."""
        if row < 0 or col < 0 or row >= self.height or col >= self.width:
            raise ValueError(f"window origin ({row}, {col}) is outside the grid {self.shape}")
        return Grid(
            crs=self.crs,
            x_min=self.x_min + col * self.resolution,
            y_max=self.y_max - row * self.resolution,
            width=min(width, self.width - col),
            height=min(height, self.height - row),
            resolution=self.resolution,
        )

    def tiles(self, tile_px: int) -> Iterator[tuple[int, int, Grid]]:
        """Non-overlapping tiles of at most ``tile_px`` pixels a side, row-major."""
        for row in range(0, self.height, tile_px):
            for col in range(0, self.width, tile_px):
                yield row, col, self.window(row, col, tile_px, tile_px)

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        return (
            CRS.from_user_input(self.crs) == CRS.from_user_input(other.crs)
            and self.shape == other.shape
            and math.isclose(self.x_min, other.x_min, abs_tol=tol)
            and math.isclose(self.y_max, other.y_max, abs_tol=tol)
            and math.isclose(self.resolution, other.resolution, abs_tol=tol)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "crs": self.crs,
            "x_min": self.x_min,
            "y_max": self.y_max,
            "width": self.width,
            "height": self.height,
            "resolution": self.resolution,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        return cls(
            crs=str(data["crs"]),
            x_min=float(data["x_min"]),
            y_max=float(data["y_max"]),
            width=int(data["width"]),
            height=int(data["height"]),
            resolution=float(data.get("resolution", 10.0)),
        )

    @classmethod
    def from_transform(cls, crs: Any, transform: Affine, width: int, height: int) -> Grid:
        if transform.b != 0 or transform.d != 0 or transform.e != -transform.a:
            raise ValueError(f"grid is not north-up with square pixels: {transform}")
        return cls(
            crs=CRS.from_user_input(crs).to_string(),
            x_min=transform.c,
            y_max=transform.f,
            width=width,
            height=height,
            resolution=transform.a,
        )


def grid_around(lat: float, lon: float, size_m: float = 2000.0, resolution_m: float = 10.0) -> Grid:
    """The square UTM grid of side ``size_m`` centred on (lat, lon), snapped to the lattice."""
    epsg = utm_epsg(lat, lon)
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    n = round(size_m / resolution_m)
    x_min = math.floor((x - size_m / 2) / resolution_m) * resolution_m
    y_max = math.floor((y + size_m / 2) / resolution_m) * resolution_m
    return Grid(f"EPSG:{epsg}", x_min, y_max, n, n, resolution_m)


def grid_for_bbox(
    west: float, south: float, east: float, north: float, resolution_m: float = 10.0
) -> Grid:
    """The UTM grid covering a lon/lat bounding box (zone of its centre), snapped to the lattice."""
    if not (west < east and south < north):
        raise ValueError(f"bbox must be west < east and south < north, got {west, south, east, north}")
    lat_c, lon_c = (south + north) / 2, (west + east) / 2
    epsg = utm_epsg(lat_c, lon_c)
    tr = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(west, south, east, north, densify_pts=21)
    x_min = math.floor(x0 / resolution_m) * resolution_m
    y_max = math.ceil(y1 / resolution_m) * resolution_m
    width = math.ceil((x1 - x_min) / resolution_m)
    height = math.ceil((y_max - y0) / resolution_m)
    return Grid(f"EPSG:{epsg}", x_min, y_max, width, height, resolution_m)
