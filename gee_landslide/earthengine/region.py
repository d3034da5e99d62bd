"""Earth Engine stacks for monitoring tiles: the event recipe on any grid and windows.

A monitoring pass asks for the 15-band stack of one tile of a region, for windows derived from
the run date. The recipe is the event recipe unchanged; only its context differs: the tile's
grid, the pass's windows, and a stand-in event (centre of the tile, date = start of the post
window) that carries the catalog defaults for orbit pass, DEM choice and cloud threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gee_landslide.core.catalog import Defaults, Event, Region, Window
from gee_landslide.core.grid import Grid
from gee_landslide.core.settings import get_settings
from gee_landslide.earthengine.context import EventContext
from gee_landslide.earthengine.export import export_recipe
from gee_landslide.earthengine.init import ensure_initialized
from gee_landslide.earthengine.recipe import build_recipe


def region_context(region_id: str, region: Region, pre: Window, post: Window, grid: Grid,
                   defaults: Defaults) -> EventContext:
    """The recipe context of one monitoring tile (pure; no server call)."""
    lon, lat = grid.centre_lonlat()
    stand_in = Event(
        id=f"region-{region_id}", name=region.name, country="", lat=lat, lon=lon, trigger="U",
        size_km=(grid.width * grid.resolution / 1000, grid.height * grid.resolution / 1000),
        date=post.start, split="test", pre=pre, post=post,
    )
    return EventContext(stand_in, defaults, grid, pre, post)


def fetch_grid_stack(grid: Grid, pre: Window, post: Window, *, region: Region, region_id: str,
                     defaults: Defaults, cache_dir: Path) -> np.ndarray:
    """Export the (15, H, W) stack of one tile; finished sub-tiles in ``cache_dir`` are reused."""
    ensure_initialized()
    ctx = region_context(region_id, region, pre, post, grid, defaults)
    recipe = build_recipe(ctx.event, defaults, ctx=ctx)
    data, _info, exporter = export_recipe(
        recipe, cache_dir, max_workers=get_settings().ee_workers
    )
    exporter.cleanup()
    return data
