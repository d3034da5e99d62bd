"""Tiles of a monitoring region: independent units of work with a context halo.

A region can be far larger than one event AOI, so a pass fetches and predicts it tile by tile.
Each tile is read with a ``halo`` of extra pixels on every side (clipped at the region edge), so
the models see context across tile borders; only the tile's ``core`` is kept. Cost therefore
grows linearly with area, and tiles can be mapped over any task runner in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from gee_landslide.core.grid import Grid


@dataclass(frozen=True)
class Tile:
    """One tile: its core window on the region grid and the larger window it is read with."""

    index: int
    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @property
    def key(self) -> str:
        return f"r{self.row:06d}_c{self.col:06d}"

    def read_grid(self, region_grid: Grid) -> Grid:
        return region_grid.window(self.read_row, self.read_col, self.read_height, self.read_width)

    def core_slices(self) -> tuple[slice, slice]:
        """Slices that cut the core out of an array read on :meth:`read_grid`."""
        r0, c0 = self.row - self.read_row, self.col - self.read_col
        return slice(r0, r0 + self.height), slice(c0, c0 + self.width)


def plan_tiles(grid: Grid, tile_px: int, halo_px: int = 32) -> list[Tile]:
    """Row-major tiles of at most ``tile_px`` a side covering ``grid`` exactly once."""
    if tile_px <= 0 or halo_px < 0:
        raise ValueError(f"tile_px must be > 0 and halo_px >= 0, got {tile_px}, {halo_px}")
    tiles: list[Tile] = []
    for row in range(0, grid.height, tile_px):
        for col in range(0, grid.width, tile_px):
            h, w = min(tile_px, grid.height - row), min(tile_px, grid.width - col)
            r0, c0 = max(row - halo_px, 0), max(col - halo_px, 0)
            r1, c1 = min(row + h + halo_px, grid.height), min(col + w + halo_px, grid.width)
            tiles.append(Tile(len(tiles), row, col, h, w, r0, c0, r1 - r0, c1 - c0))
    return tiles
