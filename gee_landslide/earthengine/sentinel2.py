"""Band 14: dNDVI from cloud-masked greenest-pixel Sentinel-2 composites (paper section 3.1).

``COPERNICUS/S2_SR_HARMONIZED`` over the AOI and window, linked (``linkCollection``) to
``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED``; a pixel is kept where ``cs_cdf`` is at least
``defaults.s2_clear_threshold`` (Cloud Score+ scores clouds *and* their shadows) and the
scene classification does not call it cloud shadow, cloud or cirrus (SCL 3, 8, 9, 10).
NDVI = ``normalizedDifference(['B8', 'B4'])``; the greenest-pixel composite is
``qualityMosaic('NDVI')`` for each window; dNDVI = post - pre.
"""

from __future__ import annotations

from dataclasses import dataclass

import ee

from gee_landslide.earthengine.context import EventContext, ee_date_range

S2_COLLECTION = "COPERNICUS/S2_SR_HARMONIZED"
CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
CLEAR_BAND = "cs_cdf"
SCL_MASKED = (3, 8, 9, 10)  # cloud shadow, cloud medium/high probability, thin cirrus
REFLECTANCE_BANDS = ("B2", "B3", "B4", "B8", "B11", "B12")


def s2_collection(ctx: EventContext, which: str) -> ee.ImageCollection:
    """The window's S2 L2A scenes over the AOI (before masking)."""
    start, end = ee_date_range(ctx.window(which))
    return ee.ImageCollection(S2_COLLECTION).filterBounds(ctx.aoi()).filterDate(start, end)


def mask_clouds(image: ee.Image, threshold: float) -> ee.Image:
    image = ee.Image(image)
    scl = image.select("SCL")
    keep = image.select(CLEAR_BAND).gte(threshold)
    for code in SCL_MASKED:
        keep = keep.And(scl.neq(code))
    return image.updateMask(keep)


def add_ndvi(image: ee.Image) -> ee.Image:
    image = ee.Image(image)
    return image.addBands(image.normalizedDifference(["B8", "B4"]).rename("NDVI"))


def clear_collection(ctx: EventContext, which: str) -> ee.ImageCollection:
    """Cloud- and shadow-masked scenes with an ``NDVI`` band."""
    threshold = ctx.defaults.s2_clear_threshold
    return (
        s2_collection(ctx, which)
        .linkCollection(ee.ImageCollection(CLOUD_SCORE_PLUS), [CLEAR_BAND])
        .map(lambda im: add_ndvi(mask_clouds(im, threshold)))
    )


def greenest_pixel(ctx: EventContext, which: str) -> ee.Image:
    """The greenest-pixel composite (maximum NDVI per pixel) of a window."""
    return clear_collection(ctx, which).qualityMosaic("NDVI")


def pre_event_reflectance(ctx: EventContext) -> ee.Image:
    """CART features from S2: median cloud-masked pre-event reflectance (0-1) and NDVI."""
    col = clear_collection(ctx, "pre")
    refl = col.select(list(REFLECTANCE_BANDS)).median().divide(10000)
    return refl.addBands(col.select("NDVI").median())


@dataclass(frozen=True)
class S2Result:
    image: ee.Image  # band 14 dNDVI
    pre: ee.Image  # greenest-pixel composites
    post: ee.Image
    pre_collection: ee.ImageCollection
    post_collection: ee.ImageCollection


def s2_bands(ctx: EventContext) -> S2Result:
    pre = greenest_pixel(ctx, "pre")
    post = greenest_pixel(ctx, "post")
    dndvi = post.select("NDVI").subtract(pre.select("NDVI")).rename("dNDVI")
    return S2Result(dndvi, pre, post, s2_collection(ctx, "pre"), s2_collection(ctx, "post"))
