"""What a monitoring pass reads per tile, and the change gate that may skip a tile.

Every fetch goes through the pass's source (:mod:`gee_landslide.sources`): the tile's 15-band
stack, and when the region asks for them, the S1 ensemble's own stack with a shorter Sentinel-1
post median (``s1_ensemble_post_days``) and the mask of pixels Sentinel-2 saw clear recently
(``optical_look_days``). For Earth Engine each is one export of the tile.
"""

from __future__ import annotations

import numpy as np

from gee_landslide.core.bands import BAND_INDEX
from gee_landslide.core.catalog import Region, Window
from gee_landslide.core.grid import Grid
from gee_landslide.monitor.pass_context import S1_STRATEGIES, GateConfig, PassContext
from gee_landslide.sources import get_source


def fetch_tile_stack(ctx: PassContext, grid: Grid, key: str = "tile") -> tuple[np.ndarray, np.ndarray | None]:
    """The (15, H, W) stack of one tile from the pass's source, and the truth mask if known."""
    return get_source(ctx.source).fetch_region_tile(
        ctx.region_id, ctx.region, ctx.pre, ctx.post, grid, defaults=ctx.defaults, cache_dir=ctx.cache_dir / key
    )


def s1_ensemble_region(region: Region, post: Window) -> Region | None:
    """The region as the S1 ensemble's stack is fetched: its Sentinel-1 post window set to the S1
    ensemble's own (any source builds that stack with its usual recipe); None when it has none."""
    window = region.s1_ensemble_post_window(post)
    return None if window is None else region.model_copy(update={"s1_post_days": window.days})


def role_stack(role: str, stack: np.ndarray, s1_stack: np.ndarray | None) -> np.ndarray:
    """The stack an ensemble of ``role`` reads: the S1 ensemble's own where the region gives it one."""
    return s1_stack if role == "s1" and s1_stack is not None else stack


def fetch_tile_s1_stack(ctx: PassContext, grid: Grid, key: str = "tile") -> np.ndarray | None:
    """The S1 ensemble's own stack of one tile (``s1_ensemble_post_days``): the same recipe with a
    shorter Sentinel-1 post median; None when the region has none or the strategy runs no S1 ensemble.

    Why a second stack: a 12-day median of two looks shows a landslide at half its change until both
    looks follow it, so the S1 ensemble, which decides where clouds hide the ground, fires a repeat
    late. The S1+S2 ensemble of the optical role sees the ground through Sentinel-2 and keeps the
    quieter median: a one-look median under it lowered precision after confirmation on the deployment
    (README, time to alert). For Earth Engine this is a second export of the tile."""
    region = s1_ensemble_region(ctx.region, ctx.post)
    if region is None or ctx.strategy not in S1_STRATEGIES:
        return None
    stack, _ = get_source(ctx.source).fetch_region_tile(ctx.region_id, region, ctx.pre, ctx.post, grid,
                                                        defaults=ctx.defaults, cache_dir=ctx.cache_dir / f"{key}-s1")
    return stack


def wants_look(ctx: PassContext) -> bool:
    """Does the pass use the recent-look mask (:func:`fetch_tile_look`)? Only with ``optical_look_days``:
    SAR-first decides stale pixels by it, and a pass of another strategy that reads Sentinel-2 tells a
    new optical look by it where the region's ``optical_confirm_look`` asks for one (for ``any`` it would
    be an export per tile that nothing reads)."""
    if ctx.region.optical_look_window(ctx.post) is None or ctx.strategy == "s1-only":
        return False
    return ctx.strategy == "sar-first" or ctx.region.optical_confirm_look != "any"


def fetch_tile_look(ctx: PassContext, grid: Grid, key: str = "tile") -> np.ndarray | None:
    """The pixels of one tile that Sentinel-2 saw clear in the latest ``optical_look_days`` of the post
    window (:meth:`Region.optical_look_window`), where the pass uses them (:func:`wants_look`); else None.

    Why: a greenest-pixel composite keeps the greenest, pre-landslide look of its window, so where
    a pixel's clear looks all predate a landslide the optical ensemble sees no change there, while
    Sentinel-1, which has looked within its own short window, does (SAR-first lets it decide there).
    It also tells whether a detection is a second look of recent images
    (:func:`gee_landslide.monitor.confirm_rules.optical_look_of`). A source with a cheap answer
    (``fetch_clear_look``: the simulator reads its cloud calendar) gives it directly; any other
    source is asked for the tile over that window, whose dNDVI is finite exactly where both
    windows had a clear look (for Earth Engine: a second export of the tile, same recipe).
    """
    window = ctx.region.optical_look_window(ctx.post)
    if window is None or not wants_look(ctx):
        return None
    source = get_source(ctx.source)
    cheap = getattr(source, "fetch_clear_look", None)
    if cheap is not None:
        return cheap(ctx.region_id, ctx.region, ctx.pre, window, grid, defaults=ctx.defaults,
                     cache_dir=ctx.cache_dir / f"{key}-look")
    stack, _ = source.fetch_region_tile(ctx.region_id, ctx.region, ctx.pre, window, grid, defaults=ctx.defaults,
                                        cache_dir=ctx.cache_dir / f"{key}-look")
    return np.isfinite(stack[BAND_INDEX["dNDVI"]])


def change_mask(stack: np.ndarray, gate: GateConfig) -> np.ndarray:
    """Pixels of a (15, H, W) stack that show landslide-like change by the gate's rules."""
    from scipy import ndimage

    from gee_landslide.core.landcover import WATER_CODE

    def smooth(name: str) -> np.ndarray:
        return ndimage.median_filter(np.nan_to_num(stack[BAND_INDEX[name]], nan=0.0), size=gate.smooth_px)

    change = (smooth("dNDVI") < gate.dndvi_drop) | (-smooth("dVH") > gate.sar_change_db)
    change |= np.abs(smooth("dVV")) > gate.sar_change_db
    with np.errstate(invalid="ignore"):
        keep = (stack[BAND_INDEX["CART_LC_classified"]] != WATER_CODE) & (stack[BAND_INDEX["slope"]] >= gate.min_slope_deg)
    return change & keep


def shows_change(stack: np.ndarray, gate: GateConfig) -> bool:
    """The change gate's test: does one connected patch of the tile show enough change?"""
    from scipy import ndimage

    labels, n = ndimage.label(change_mask(stack, gate))
    return n > 0 and int(np.bincount(labels.ravel())[1:].max()) >= gate.min_pixels
