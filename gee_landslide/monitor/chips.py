"""Before/after quick-look chips of an alert: dNDVI and SAR dVV change around the outline.

The monitoring pass hands over the change bands of its grid once
(``ChipSource(dndvi, dvv, grid)``); the store crops around each new or updated alert and renders
a small two-panel PNG a person can judge at a glance: vegetation loss (dNDVI, brown = loss) and
radar backscatter change (dVV in dB, red = brighter after, blue = darker), the alert outline drawn
on both, a 100 m scale bar, and a title with the id, area and probability.

Rendering uses matplotlib's object API on an Agg canvas (no pyplot, no global state, thread-safe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gee_landslide.core.grid import Grid

DNDVI_RANGE = 0.6  # colour scale -0.6..0.6
DVV_RANGE_DB = 6.0  # colour scale -6..6 dB
MIN_CHIP_PX = 48
OUTLINE_COLOUR = "#ff00ff"


@dataclass(frozen=True)
class ChipSource:
    """The change bands of a monitoring pass on its grid (each an (H, W) array)."""

    dndvi: np.ndarray
    dvv: np.ndarray
    grid: Grid

    def __post_init__(self) -> None:
        for name in ("dndvi", "dvv"):
            arr = getattr(self, name)
            if np.shape(arr) != self.grid.shape:
                raise ValueError(f"ChipSource.{name} has shape {np.shape(arr)}, grid is {self.grid.shape}")


def chip_window(
    bounds_px: tuple[int, int, int, int], grid_shape: tuple[int, int], min_px: int = MIN_CHIP_PX
) -> tuple[int, int, int, int]:
    """A square-ish padded window (row0, col0, row1, col1) around a pixel bbox, inside the grid."""
    r0, c0, r1, c1 = bounds_px
    h, w = grid_shape
    size = max(r1 - r0, c1 - c0)
    side = max(min_px, math.ceil(size * 2.0))
    cr, cc = (r0 + r1) / 2, (c0 + c1) / 2
    rr0 = round(cr - side / 2)
    cc0 = round(cc - side / 2)
    rr0 = min(max(rr0, 0), max(h - side, 0))
    cc0 = min(max(cc0, 0), max(w - side, 0))
    return rr0, cc0, min(rr0 + side, h), min(cc0 + side, w)


def _pixel_bounds(geom: shapely.Geometry, grid: Grid) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = geom.bounds
    (c0, c1), (r0, r1) = _to_px(grid, np.array([x0, x1]), np.array([y1, y0]))
    return math.floor(r0), math.floor(c0), math.ceil(r1), math.ceil(c1)


def _to_px(grid: Grid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates -> (col, row) pixel coordinates on a north-up grid."""
    return (np.asarray(x) - grid.x_min) / grid.resolution, (grid.y_max - np.asarray(y)) / grid.resolution


def _rings_px(geom: shapely.Geometry, grid: Grid, row0: int, col0: int) -> list[np.ndarray]:
    """Exterior and interior rings of ``geom`` (grid CRS) as (col, row) arrays relative to the chip."""
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    rings: list[np.ndarray] = []
    for p in polys:
        if not isinstance(p, Polygon) or p.is_empty:
            continue
        for ring in (p.exterior, *p.interiors):
            xy = np.asarray(ring.coords)
            cols, rows = _to_px(grid, xy[:, 0], xy[:, 1])
            rings.append(np.column_stack([np.asarray(cols) - col0, np.asarray(rows) - row0]))
    return rings


def render_quicklook(
    source: ChipSource,
    outline: shapely.Geometry,
    path: str | Path,
    *,
    title: str = "",
    subtitle: str = "",
    dpi: int = 90,
) -> Path:
    """Render the two-panel chip around ``outline`` (a polygon in the grid CRS) to ``path`` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid = source.grid
    win = chip_window(_pixel_bounds(outline, grid), grid.shape)
    r0, c0, r1, c1 = win
    panels = (
        ("dNDVI (post − pre)", np.asarray(source.dndvi)[r0:r1, c0:c1], "BrBG", DNDVI_RANGE, ""),
        ("SAR dVV (post − pre)", np.asarray(source.dvv)[r0:r1, c0:c1], "RdBu_r", DVV_RANGE_DB, " dB"),
    )
    rings = _rings_px(outline, grid, r0, c0)

    fig = Figure(figsize=(6.4, 3.6), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.80, bottom=0.12, wspace=0.08)
    for k, (name, data, cmap, vr, unit) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        im = ax.imshow(
            np.ma.masked_invalid(np.asarray(data, dtype=np.float32)),
            cmap=cmap, vmin=-vr, vmax=vr, interpolation="nearest",
            extent=(-0.5, data.shape[1] - 0.5, data.shape[0] - 0.5, -0.5),
        )
        for ring in rings:
            # the ring is in pixel-corner coordinates; imshow centres pixels on integers
            ax.plot(ring[:, 0] - 0.5, ring[:, 1] - 0.5, color="black", lw=2.6)
            ax.plot(ring[:, 0] - 0.5, ring[:, 1] - 0.5, color=OUTLINE_COLOUR, lw=1.3)
        ax.set_xlim(-0.5, data.shape[1] - 0.5)
        ax.set_ylim(data.shape[0] - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        # 100 m scale bar, bottom-left
        bar_px = 100.0 / grid.resolution
        y = data.shape[0] - 3
        ax.plot([2, 2 + bar_px], [y, y], color="black", lw=3.5, solid_capstyle="butt")
        ax.plot([2, 2 + bar_px], [y, y], color="white", lw=1.8, solid_capstyle="butt")
        ax.text(2 + bar_px / 2, y - 1.5, "100 m", ha="center", va="bottom", fontsize=7,
                color="black", bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "lw": 0})
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.05, pad=0.03)
        cb.ax.tick_params(labelsize=7)
        cb.set_ticks([-vr, 0, vr])
        cb.set_ticklabels([f"{-vr:g}{unit}", "0", f"{vr:g}{unit}"])
    if title:
        fig.suptitle(title, fontsize=10, fontweight="bold", y=0.97)
    if subtitle:
        fig.text(0.5, 0.875, subtitle, ha="center", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    return path
