"""Bands 0-8: terrain-flattened Sentinel-1 descending IW composites, masks and incidence angle.

Recipe (paper section 3.1, Vollrath et al. 2020 in its original formulation):

1. ``COPERNICUS/S1_GRD_FLOAT`` (linear sigma0), ``instrumentMode == IW``, the event's pass
   (descending by default), images holding both VV and VH, within the pre or post window
   (:meth:`~gee_landslide.earthengine.context.EventContext.s1_window`: a monitoring region's
   post composite may cover only the latest ``s1_post_days`` of the post window).
2. One relative orbit for both composites, so pre and post share one viewing geometry and
   their difference shows change, not geometry. The event's ``relative_orbit`` wins; otherwise
   the most frequent orbit among the orbits seen in *both* windows, computed server-side
   (``aggregate_histogram`` of ``relativeOrbitNumber_start``, arg-max) as an ``ee.Number`` that
   filters the collections: no ``getInfo`` in the builder.
3. Per image: the geometry of :mod:`gee_landslide.core.terrain` on ``ee.Image`` objects (the very
   code the unit tests check with NumPy): theta_i = ``angle``, phi_i = scene-mean aspect of
   ``angle`` (``ee.Terrain.aspect``, mean over the footprint at 1 km, as in the original),
   alpha_s/phi_s = ``ee.Terrain.slope``/``aspect`` of the DEM; K from the volume model, replaced
   by the surface model on the land-cover classes whose
   :attr:`gee_landslide.core.landcover.LandCoverClass.scattering_model` is ``surface``;
   gamma0_flat = sigma0 / cos(theta_i) / K, in dB; VV/VH masked where layover or shadow
   (Table 2: the masks "should match the NoData areas in the VV and VH bands").
4. Median composites per window, differences post - pre; layover/shadow = any image of the
   chosen orbit flags the pixel; liaDeg = median local incidence angle.

The land cover needs the pre-event S1 composite (CART features) and the final flattening needs
the land cover: :func:`s1_cart_features` therefore gives a first pass with the volume model and
no masks (the model Vollrath's code uses by default), and :func:`s1_bands` the final one.
"""

from __future__ import annotations

from dataclasses import dataclass

import ee

from gee_landslide.core import terrain
from gee_landslide.core.landcover import LAND_COVER
from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine.context import EventContext, ee_date_range

S1_COLLECTION = reg.asset("s1").id
ORBIT_PROPERTY = "relativeOrbitNumber_start"
RAD_TO_DEG = 180.0 / 3.141592653589793
SURFACE_CODES: tuple[int, ...] = tuple(c.code for c in LAND_COVER if c.scattering_model == "surface")
S1_BANDS = ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH", "layover", "shadow", "liaDeg")


def s1_collection(ctx: EventContext, which: str) -> ee.ImageCollection:
    """All IW VV+VH scenes of the event's pass over the AOI in the ``pre`` or ``post`` S1 window."""
    start, end = ee_date_range(ctx.s1_window(which))
    return (
        reg.load_collection(reg.asset("s1"))
        .filterBounds(ctx.aoi())
        .filterDate(start, end)
        .filter(ee.Filter.eq("instrumentMode", "IW"))
        .filter(ee.Filter.eq("orbitProperties_pass", ctx.orbit_pass))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VV"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VH"))
    )


def most_frequent_common_orbit(pre: ee.ImageCollection, post: ee.ImageCollection) -> ee.Number:
    """Server-side: the relative orbit seen most often among orbits present in both windows.

    0 when the windows share no orbit (the filtered collections are then empty and the
    exporter's pre-flight check reports it).
    """
    pre_orbits = pre.aggregate_array(ORBIT_PROPERTY)
    post_orbits = post.aggregate_array(ORBIT_PROPERTY)
    common = pre.filter(ee.Filter.inList(ORBIT_PROPERTY, post_orbits)).merge(
        post.filter(ee.Filter.inList(ORBIT_PROPERTY, pre_orbits))
    )
    hist = ee.Dictionary(common.aggregate_histogram(ORBIT_PROPERTY))
    counts = hist.values()
    best = ee.Number.parse(
        ee.String(hist.keys().get(counts.indexOf(counts.reduce(ee.Reducer.max()))))
    )
    return ee.Number(ee.Algorithms.If(hist.size().gt(0), best, 0)).int()


def relative_orbit(ctx: EventContext) -> ee.Number:
    """The event's ``relative_orbit`` override, or the server-side most frequent common orbit."""
    if ctx.event.relative_orbit is not None:
        return ee.Number(ctx.event.relative_orbit)
    return most_frequent_common_orbit(s1_collection(ctx, "pre"), s1_collection(ctx, "post"))


def orbit_collection(ctx: EventContext, which: str, orbit: ee.Number) -> ee.ImageCollection:
    """The window's scenes of the chosen orbit; for a variant's post window only its first
    ``ctx.s1_post_looks`` scenes in time (core.variants)."""
    col = s1_collection(ctx, which).filter(ee.Filter.eq(ORBIT_PROPERTY, orbit))
    if which == "post" and ctx.s1_post_looks:
        col = col.sort("system:time_start").limit(int(ctx.s1_post_looks))
    return col


def surface_model_mask(landcover: ee.Image) -> ee.Image:
    """1 on land-cover classes flattened with the surface model, 0 elsewhere."""
    return landcover.remap(list(SURFACE_CODES), [1] * len(SURFACE_CODES), 0)


def flatten_image(
    image: ee.Image,
    elevation: ee.Image,
    surface_mask: ee.Image | None = None,
    mask_distortions: bool = True,
) -> ee.Image:
    """One scene: terrain-flattened VV/VH (dB), layover, shadow, liaDeg (Vollrath 2020)."""
    image = ee.Image(image)
    angle = image.select("angle")
    theta_i = angle.multiply(terrain.DEG)
    phi_i_deg = ee.Terrain.aspect(angle).reduceRegion(
        reducer=ee.Reducer.mean(), geometry=image.geometry(), scale=1000
    ).get("aspect")
    phi_i = ee.Image.constant(phi_i_deg).multiply(terrain.DEG)
    alpha_s = ee.Terrain.slope(elevation).multiply(terrain.DEG)
    phi_s = ee.Terrain.aspect(elevation).multiply(terrain.DEG)

    geometry = terrain.slope_geometry(theta_i, phi_i, alpha_s, phi_s)
    k = terrain.flattening_factor(theta_i, geometry, surface_mask)
    gamma0 = terrain.gamma0_flat(image.select(["VV", "VH"]), theta_i, k)
    db = gamma0.log10().multiply(10).rename(["VV", "VH"])
    layover = terrain.layover_mask(theta_i, geometry.alpha_r).rename("layover")
    shadow = terrain.shadow_mask(theta_i, geometry.alpha_r).rename("shadow")
    if mask_distortions:
        db = db.updateMask(layover.Or(shadow).Not())
    lia = geometry.lia.multiply(RAD_TO_DEG).rename("liaDeg")
    out = db.addBands(layover).addBands(shadow).addBands(lia)
    return ee.Image(out.copyProperties(image, ["system:time_start", ORBIT_PROPERTY]))


@dataclass(frozen=True)
class S1Result:
    image: ee.Image  # bands 0-8
    pre: ee.ImageCollection  # orbit-filtered raw collections (for the pre-flight check)
    post: ee.ImageCollection
    pre_composite: ee.Image | None = None  # preVV, preVH (what the pre-event checks inspect)


def s1_cart_features(ctx: EventContext, elevation: ee.Image, orbit: ee.Number) -> ee.Image:
    """First pass for the CART features: pre-event VV/VH median (dB), volume model, no masks."""
    flat = orbit_collection(ctx, "pre", orbit).map(
        lambda im: flatten_image(im, elevation, None, mask_distortions=False)
    )
    return flat.select(["VV", "VH"]).median().rename(["preVV", "preVH"])


def s1_bands(
    ctx: EventContext, elevation: ee.Image, orbit: ee.Number, landcover: ee.Image | None
) -> S1Result:
    """Bands 0-8 in Table 2 order; ``landcover`` picks the model per pixel (None: volume)."""
    surface = surface_model_mask(landcover) if landcover is not None else None
    pre_raw = orbit_collection(ctx, "pre", orbit)
    post_raw = orbit_collection(ctx, "post", orbit)
    pre = pre_raw.map(lambda im: flatten_image(im, elevation, surface))
    post = post_raw.map(lambda im: flatten_image(im, elevation, surface))
    pre_c = pre.select(["VV", "VH"]).median()
    post_c = post.select(["VV", "VH"]).median()
    both = pre.merge(post)
    image = ee.Image.cat(
        [
            pre_c.select("VV").rename("preVV"),
            post_c.select("VV").rename("postVV"),
            post_c.select("VV").subtract(pre_c.select("VV")).rename("dVV"),
            pre_c.select("VH").rename("preVH"),
            post_c.select("VH").rename("postVH"),
            post_c.select("VH").subtract(pre_c.select("VH")).rename("dVH"),
            both.select("layover").max().rename("layover"),
            both.select("shadow").max().rename("shadow"),
            both.select("liaDeg").median().rename("liaDeg"),
        ]
    )
    pre_composite = pre_c.select(["VV", "VH"]).rename(["preVV", "preVH"])
    return S1Result(image=image, pre=pre_raw, post=post_raw, pre_composite=pre_composite)
