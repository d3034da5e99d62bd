"""Band 14: dNDVI from cloud-masked greenest-pixel Sentinel-2 composites (paper section 3.1).

Level 2A (default)
    ``COPERNICUS/S2_SR_HARMONIZED`` over the AOI and window, linked (``linkCollection``) to
    ``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED``; a pixel is kept where ``cs_cdf`` is at least
    ``defaults.s2_clear_threshold`` (Cloud Score+ scores clouds *and* their shadows) and the
    scene classification does not call it cloud shadow, cloud or cirrus (SCL 3, 8, 9, 10).
Level 1C (fallback)
    The catalog warns that L2A coverage in 2017-2018 "is not yet global" and L2A starts
    2017-03-28 (see :mod:`gee_landslide.earthengine.assets`), so a window can hold no or few L2A
    scenes where L1C (``COPERNICUS/S2_HARMONIZED``, from 2015-06-27) has them. L1C has no SCL and
    its QA60 band is empty from Feb 2022 to Feb 2024, so its cloud mask is Cloud Score+ alone
    (Cloud Score+ links to L1C scenes by the same ``system:index``).

Both windows of an event always use the same level: dNDVI of a TOA composite minus a BOA one
would show the atmosphere, not the ground. :func:`static_level` picks L1C offline when a window
ends before L2A starts; :func:`choose_level` picks it from the exporter's pre-flight scene counts
when L2A is empty or sparse (fewer than :data:`L2A_MIN_FRACTION` of the L1C scenes).

NDVI = ``normalizedDifference(['B8', 'B4'])``; the greenest-pixel composite is
``qualityMosaic('NDVI')`` for each window; dNDVI = post - pre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import ee

from gee_landslide.core.catalog import Window
from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine.context import EventContext, ee_date_range

S2Level = Literal["L2A", "L1C"]
LEVEL_ASSET: dict[str, str] = {"L2A": "s2_sr", "L1C": "s2_l1c"}
S2_COLLECTION = reg.asset("s2_sr").id
S2_L1C_COLLECTION = reg.asset("s2_l1c").id
CLOUD_SCORE_PLUS = reg.asset("cloud_score_plus").id
CLEAR_BAND = "cs_cdf"
SCL_MASKED = (3, 8, 9, 10)  # cloud shadow, cloud medium/high probability, thin cirrus
REFLECTANCE_BANDS = ("B2", "B3", "B4", "B8", "B11", "B12")
L2A_MIN_FRACTION = 0.5  # L2A is "sparse" when it has fewer than half the window's L1C scenes


def level_entry(level: str) -> reg.Asset:
    if level not in LEVEL_ASSET:
        raise ValueError(f"Sentinel-2 level must be L2A or L1C, not {level!r}")
    return reg.asset(LEVEL_ASSET[level])


def static_level(ctx: EventContext) -> tuple[S2Level, str]:
    """The level decidable offline from the catalog's coverage dates (before any server call).

    Raises :class:`~gee_landslide.earthengine.assets.AssetError` when a window ends before even
    L1C (and Cloud Score+) coverage starts.
    """
    l2a, l1c = level_entry("L2A"), level_entry("L1C")
    for which in ("pre", "post"):
        w = ctx.window(which)
        reg.check_coverage(l1c, w.start, w.end, f"{ctx.event.id} Sentinel-2 {which} window")
        reg.check_coverage(reg.asset("cloud_score_plus"), w.start, w.end,
                           f"{ctx.event.id} Cloud Score+ {which} window")
    early = [w for w in ("pre", "post") if not l2a.covers(ctx.window(w).start, ctx.window(w).end)]
    if early:
        return "L1C", (f"{' and '.join(early)} window before L2A starts ({l2a.coverage[0]}): "
                       f"L1C {l1c.id} for both windows")
    return "L2A", "L2A covers both windows (falls back to L1C if the pre-flight finds it empty or sparse)"


def choose_level(info: dict[str, Any], current: S2Level = "L2A") -> tuple[S2Level, str]:
    """L2A or L1C from pre-flight scene counts (``s2_<w>`` L2A, ``s2_l1c_<w>`` L1C)."""
    if current == "L1C":
        return "L1C", "L1C chosen before the pre-flight"
    for which in ("pre", "post"):
        n_l2a = int(info.get(f"s2_{which}") or 0)
        n_l1c = int(info.get(f"s2_l1c_{which}") or 0)
        if n_l1c and n_l2a < L2A_MIN_FRACTION * n_l1c:
            return "L1C", (f"{which} window has {n_l2a} L2A scenes against {n_l1c} L1C "
                           f"(L2A not global in 2017-2018): L1C for both windows")
    return "L2A", "L2A has scenes in both windows"


def s2_collection(ctx: EventContext, which: str, level: str = "L2A",
                  window: Window | None = None) -> ee.ImageCollection:
    """The window's S2 scenes over the AOI (before masking); ``window`` narrows it (``ctx.s2_post``)."""
    start, end = ee_date_range(window or ctx.window(which))
    return reg.load_collection(level_entry(level)).filterBounds(ctx.aoi()).filterDate(start, end)


def mask_clouds(image: ee.Image, threshold: float, level: str = "L2A") -> ee.Image:
    image = ee.Image(image)
    keep = image.select(CLEAR_BAND).gte(threshold)
    if level == "L2A":
        scl = image.select("SCL")
        for code in SCL_MASKED:
            keep = keep.And(scl.neq(code))
    return image.updateMask(keep)


def add_ndvi(image: ee.Image) -> ee.Image:
    image = ee.Image(image)
    return image.addBands(image.normalizedDifference(["B8", "B4"]).rename("NDVI"))


def clear_collection(ctx: EventContext, which: str, level: str = "L2A",
                     window: Window | None = None) -> ee.ImageCollection:
    """Cloud- and shadow-masked scenes with an ``NDVI`` band."""
    threshold = ctx.defaults.s2_clear_threshold
    return (
        s2_collection(ctx, which, level, window)
        .linkCollection(reg.load_collection(reg.asset("cloud_score_plus")), [CLEAR_BAND])
        .map(lambda im: add_ndvi(mask_clouds(im, threshold, level)))
    )


# the bands a greenest-pixel composite keeps when its window holds no scene (a SAR-first tile's post)
PLACEHOLDER_BANDS = ("B2", "B3", "B4", "B8", "NDVI")


def no_scene_composite() -> ee.Image:
    """A wholly masked image with the composite's NDVI and colour bands: what a window without any
    scene contributes. Every pixel then exports as no-data, so dNDVI is NaN there."""
    return ee.Image.constant([0] * len(PLACEHOLDER_BANDS)).rename(list(PLACEHOLDER_BANDS)).updateMask(0)


def greenest_pixel(ctx: EventContext, which: str, level: str = "L2A") -> ee.Image:
    """The greenest-pixel composite (maximum NDVI per pixel) of a window.

    Why the guard on a SAR-first tile's post window (``ctx.s2_post_optional``): ``qualityMosaic``
    of an empty collection is an image without bands, so ``select('NDVI')`` would fail the whole
    tile, while Sentinel-1 alone can still decide it. With the guard a window without scenes gives
    :func:`no_scene_composite`, the same masked dNDVI a wholly cloudy window gives. Other windows
    keep the plain graph (an event stack must not silently lose its optical band).

    A region's shorter Sentinel-2 post window (``ctx.s2_post``, ``optical_post_days``): the post
    composite is the greenest clear pixel of those latest days where they hold one, and that of the
    whole window elsewhere (the short composite mosaicked over the whole one; a short window without
    any scene, often the case, adds nothing). The whole window's greenest pixel may keep a look from
    before a landslide for as long as one is in it; the latest days' cannot, and where they saw
    nothing the whole window still gives a view to confirm or retract an alert with.
    """
    col = clear_collection(ctx, which, level)
    whole = _guarded_greenest(col) if which == "post" and ctx.s2_post_optional else col.qualityMosaic("NDVI")
    if which != "post" or ctx.s2_post is None:
        return whole
    short = _guarded_greenest(clear_collection(ctx, which, level, ctx.s2_post))
    bands = list(PLACEHOLDER_BANDS)
    return ee.ImageCollection([whole.select(bands), short.select(bands)]).mosaic()


def _guarded_greenest(col: ee.ImageCollection) -> ee.Image:
    """The greenest-pixel composite of ``col``, or :func:`no_scene_composite` when it holds no scene."""
    return ee.Image(ee.Algorithms.If(col.size().gt(0), col.qualityMosaic("NDVI"), no_scene_composite()))


def pre_event_reflectance(ctx: EventContext, level: str = "L2A") -> ee.Image:
    """CART features from S2: median cloud-masked pre-event reflectance (0-1) and NDVI."""
    col = clear_collection(ctx, "pre", level)
    refl = col.select(list(REFLECTANCE_BANDS)).median().divide(10000)
    return refl.addBands(col.select("NDVI").median())


@dataclass(frozen=True)
class S2Result:
    image: ee.Image  # band 14 dNDVI
    pre: ee.Image  # greenest-pixel composites
    post: ee.Image
    pre_collection: ee.ImageCollection
    post_collection: ee.ImageCollection
    level: str = "L2A"


def s2_bands(ctx: EventContext, level: str = "L2A") -> S2Result:
    pre = greenest_pixel(ctx, "pre", level)
    post = greenest_pixel(ctx, "post", level)
    dndvi = post.select("NDVI").subtract(pre.select("NDVI")).rename("dNDVI")
    return S2Result(dndvi, pre, post, s2_collection(ctx, "pre", level),
                    s2_collection(ctx, "post", level), level)
