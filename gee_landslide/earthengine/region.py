"""Monitoring on Earth Engine: the stack of one region tile, built and exported like an event's.

A monitoring pass (:mod:`gee_landslide.monitor.runner`) cuts a region into tiles of its 10 m UTM
grid and asks each tile for its (15, H, W) stack. With the ``gee`` source the tile gets exactly
the event recipe (:func:`gee_landslide.earthengine.recipe.build_recipe`): a stand-in
:class:`~gee_landslide.core.catalog.Event` at the tile centre carries the tile's grid and the pass's
pre/post windows (:func:`region_context`), so the graph differs from an event's only in grid and
dates, and in what the region asks of Sentinel-1 as the simulated source honours it
(:mod:`gee_landslide.simulate.scene`): its ``orbit_pass`` and ``relative_orbit`` ride on the
stand-in event, which the S1 builders read as they read an event's overrides, and its
``s1_post_days`` becomes the context's shorter S1 post window and its ``optical_post_days`` the
latest days whose greenest pixel the S2 post composite prefers where they saw the ground
(:func:`gee_landslide.earthengine.sentinel2.greenest_pixel`). A region without those fields builds
the graph it always did.

The exporter path is the event's too: pre-flight (with the L2A -> L1C fallback), then
``computePixels`` tile by tile with retries, splits on size errors and a resumable cache.
One difference: a post window whose Sentinel-2 scenes have no clear pixel over the tile is no
error. The tile's dNDVI comes back NaN and the pass decides it with Sentinel-1 only
(:func:`gee_landslide.monitor.decisions.observed_sensors`), as it would with the simulated source.
A SAR-first region (one with ``ensembles:``) goes one step further: a post window without any
Sentinel-2 scene is no error either (``EventContext.s2_post_optional``); a region with one
optical ensemble still needs a post scene, since nothing could decide the tile without one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gee_landslide.core.catalog import Defaults, Event, Region, Window
from gee_landslide.core.grid import Grid
from gee_landslide.core.settings import get_settings
from gee_landslide.earthengine.context import EventContext
from gee_landslide.earthengine.export import RetryPolicy, export_recipe
from gee_landslide.earthengine.init import ensure_initialized
from gee_landslide.earthengine.recipe import Recipe, build_recipe


def region_context(region_id: str, region: Region, pre: Window, post: Window, grid: Grid,
                   defaults: Defaults) -> EventContext:
    """The recipe context of one monitoring tile (pure; no server call).

    The live pass must choose its scenes as the simulated one does, or the SAR-first split
    (which ensemble decides a pixel) would rest on different acquisitions: hence the region's
    pass, relative orbit and Sentinel-1 post window here.
    """
    lon, lat = grid.centre_lonlat()
    stand_in = Event(
        id=f"region-{region_id}", name=region.name, country="", lat=lat, lon=lon, trigger="U",
        size_km=(grid.width * grid.resolution / 1000, grid.height * grid.resolution / 1000),
        date=post.start, split="test", pre=pre, post=post,
        orbit_pass=region.orbit_pass, relative_orbit=region.relative_orbit,
    )
    s1_post, s2_post = region.s1_post_window(post), region.s2_post_window(post)
    return EventContext(stand_in, defaults, grid, pre, post, s1_post=None if s1_post == post else s1_post,
                        region_id=region_id, s2_post_optional=region.ensembles is not None,
                        s2_post=None if s2_post == post else s2_post)


def tile_recipe(grid: Grid, pre: Window, post: Window, *, region: Region, region_id: str,
                defaults: Defaults, **kw: object) -> Recipe:
    """The recipe of one tile (pure): the event recipe on the tile's grid and the pass's windows."""
    ctx = region_context(region_id, region, pre, post, grid, defaults)
    return build_recipe(ctx.event, defaults, ctx=ctx, **kw)  # type: ignore[arg-type]


def fetch_grid_stack(grid: Grid, pre: Window, post: Window, *, region: Region, region_id: str,
                     defaults: Defaults, cache_dir: Path, retry: RetryPolicy | None = None,
                     progress: Callable[[str], None] | None = None) -> np.ndarray:
    """Export the (15, H, W) stack of one tile; finished sub-tiles in ``cache_dir`` are reused."""
    from gee_landslide.earthengine.event_stack import prepare_recipe

    ensure_initialized()
    recipe, info = prepare_recipe(
        lambda **kw: tile_recipe(grid, pre, post, region=region, region_id=region_id,
                                 defaults=defaults, **kw),
        retry, progress, cloudy_post_ok=True,
    )
    settings = get_settings()
    data, _info, exporter = export_recipe(
        recipe, cache_dir, max_workers=settings.ee_workers, tile_px=settings.ee_tile_px,
        retry=retry, progress=progress, check=False, info=info,
    )
    exporter.cleanup()
    return data
