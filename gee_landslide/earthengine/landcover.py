"""Band 13: per-event CART land cover (``ee.Classifier.smileCart``), classes 1-9.

As in the paper (Lindsay et al. 2023): trained per event on pre-event Sentinel-2, the DEM and the
pre-event Sentinel-1 VV/VH composite, with the classes of :mod:`gee_landslide.core.landcover`.

Training points
    * ``landcover_points:`` in the event (a vector file of points, read locally with geopandas):
      the class column is the first of ``class``, ``landcover``, ``lc``, ``code`` found, holding
      the codes 1-9 or the class names (``forest_trees_scrub``...). The points become an
      ``ee.FeatureCollection`` inside the graph and are sampled with ``sampleRegions``.
    * otherwise a reference map that **predates the pre window** (:func:`label_source`),
      remapped to our classes (:mod:`gee_landslide.earthengine.classes`) and sampled with
      ``stratifiedSample`` over the AOI, so adding an event needs no hand labelling:
      the modal Dynamic World ``label`` over the pre window (``GOOGLE/DYNAMICWORLD/V1``, one
      image per Sentinel-2 scene, from 2015-06-27), or ESA WorldCover v200 only when its map
      year (2021) ends before the pre window starts. Why: WorldCover v200 is a map of 2021;
      for an earlier event its "bare" pixels include the landslide scars themselves, which
      would teach the pre-event classifier post-event ground.
"""

from __future__ import annotations

from pathlib import Path

import ee

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.landcover import LAND_COVER_BY_CODE, LAND_COVER_BY_NAME
from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine.classes import dynamic_world_remap, worldcover_remap
from gee_landslide.earthengine.context import EventContext, ee_date_range

WORLDCOVER = reg.asset("worldcover").id
DYNAMIC_WORLD = reg.asset("dynamic_world").id
CLASS_PROPERTY = "landcover"
CLASS_COLUMNS = ("class", "landcover", "lc", "code")
POINTS_PER_CLASS = 100
SAMPLE_SEED = 42


class LandcoverPointsError(GeeLandslideError, ValueError):
    """A landcover_points file that cannot be used; the message names the file and the problem."""


def _class_code(value: object, path: Path) -> int:
    if isinstance(value, str) and not value.strip().isdigit():
        key = value.strip().lower().replace(" ", "_").replace("/", "_")
        if key in LAND_COVER_BY_NAME:
            return LAND_COVER_BY_NAME[key].code
        raise LandcoverPointsError(
            f"{path}: unknown land-cover class {value!r}; use 1-9 or one of {', '.join(LAND_COVER_BY_NAME)}"
        )
    code = int(value)  # type: ignore[call-overload]
    if code not in LAND_COVER_BY_CODE:
        raise LandcoverPointsError(f"{path}: land-cover code {code} is not one of 1-9")
    return code


def read_points(path: str | Path) -> list[tuple[float, float, int]]:
    """(lon, lat, class code) of every point in a vector file, in EPSG:4326."""
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise LandcoverPointsError(f"{path}: landcover_points file not found")
    gdf = gpd.read_file(path)
    col = next((c for c in gdf.columns if c.lower() in CLASS_COLUMNS), None)
    if col is None:
        raise LandcoverPointsError(f"{path}: no class column (one of {', '.join(CLASS_COLUMNS)})")
    if gdf.crs is not None:
        gdf = gdf.to_crs("EPSG:4326")
    out: list[tuple[float, float, int]] = []
    for geom, value in zip(gdf.geometry, gdf[col], strict=True):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type != "Point":
            geom = geom.representative_point()
        out.append((float(geom.x), float(geom.y), _class_code(value, path)))
    if not out:
        raise LandcoverPointsError(f"{path}: no points")
    return out


def points_collection(points: list[tuple[float, float, int]]) -> ee.FeatureCollection:
    return ee.FeatureCollection(
        [ee.Feature(ee.Geometry.Point([lon, lat]), {CLASS_PROPERTY: code}) for lon, lat, code in points]
    )


def label_source(ctx: EventContext) -> tuple[str, str]:
    """(registry key, reason) of the reference map that seeds the CART labels of an event.

    Raises :class:`~gee_landslide.earthengine.assets.AssetError` when no registered map
    predates the pre window (the event must then bring ``landcover_points``).
    """
    pre = ctx.pre
    wc = reg.asset("worldcover")
    wc_end = wc.coverage[1]
    if wc_end is not None and wc_end < pre.start:
        return "worldcover", f"{wc.id} (map of {wc.coverage[0].year}) predates the pre window {pre.start}"
    dw = reg.asset("dynamic_world")
    reg.check_coverage(dw, pre.start, pre.end, f"{ctx.event.id} CART labels (set landcover_points: instead)")
    return "dynamic_world", (f"modal {dw.id} label over the pre window {pre.start}..{pre.end} "
                             f"({wc.id} is a map of {wc.coverage[0].year}, not before the event)")


def worldcover_classes() -> ee.Image:
    """ESA WorldCover v200 remapped to our class codes 1-9 (band ``landcover``)."""
    src, dst = worldcover_remap()
    return reg.load_collection(reg.asset("worldcover")).first().select("Map").remap(src, dst).rename(CLASS_PROPERTY)


def dynamic_world_classes(ctx: EventContext) -> ee.Image:
    """The modal Dynamic World label of the pre window, remapped to codes 1-9 (band ``landcover``)."""
    start, end = ee_date_range(ctx.pre)
    src, dst = dynamic_world_remap()
    labels = (reg.load_collection(reg.asset("dynamic_world")).filterBounds(ctx.aoi())
              .filterDate(start, end).select("label"))
    return labels.mode().remap(src, dst).rename(CLASS_PROPERTY)


def reference_classes(ctx: EventContext) -> ee.Image:
    """The class image of :func:`label_source` (band ``landcover``, codes 1-9)."""
    key, _ = label_source(ctx)
    return worldcover_classes() if key == "worldcover" else dynamic_world_classes(ctx)


def training_samples(
    features: ee.Image,
    aoi: ee.Geometry,
    projection: ee.Projection,
    points: ee.FeatureCollection | None = None,
    points_per_class: int = POINTS_PER_CLASS,
    seed: int = SAMPLE_SEED,
    labels: ee.Image | None = None,
) -> ee.FeatureCollection:
    if points is not None:
        return features.sampleRegions(
            collection=points, properties=[CLASS_PROPERTY], projection=projection, geometries=False
        )
    if labels is None:
        raise ValueError("training_samples needs landcover points or a reference class image")
    return features.addBands(labels).stratifiedSample(
        numPoints=points_per_class,
        classBand=CLASS_PROPERTY,
        region=aoi,
        projection=projection,
        seed=seed,
        dropNulls=True,
        geometries=False,
    )


def cart_landcover(
    features: ee.Image,
    feature_names: list[str],
    aoi: ee.Geometry,
    projection: ee.Projection,
    points: ee.FeatureCollection | None = None,
    seed: int = SAMPLE_SEED,
    labels: ee.Image | None = None,
) -> ee.Image:
    """Band 13 ``CART_LC_classified``: ``smileCart`` trained on the samples, applied to the AOI."""
    samples = training_samples(features, aoi, projection, points, seed=seed, labels=labels)
    classifier = ee.Classifier.smileCart().train(samples, CLASS_PROPERTY, feature_names)
    return features.select(feature_names).classify(classifier).rename("CART_LC_classified")
