"""Band 13: per-event CART land cover (``ee.Classifier.smileCart``), classes 1-9.

As in the paper (Lindsay et al. 2023): trained per event on pre-event Sentinel-2, the DEM and the
pre-event Sentinel-1 VV/VH composite, with the classes of :mod:`gee_landslide.core.landcover`.

Training points
    * ``landcover_points:`` in the event (a vector file of points, read locally with geopandas):
      the class column is the first of ``class``, ``landcover``, ``lc``, ``code`` found, holding
      the codes 1-9 or the class names (``forest_trees_scrub``...). The points become an
      ``ee.FeatureCollection`` inside the graph and are sampled with ``sampleRegions``.
    * otherwise ``ESA/WorldCover/v200`` remapped to our classes
      (:attr:`gee_landslide.core.landcover.LandCoverClass.worldcover_codes`) and sampled with
      ``stratifiedSample`` over the AOI, so adding an event needs no hand labelling.
"""

from __future__ import annotations

from pathlib import Path

import ee

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.landcover import LAND_COVER, LAND_COVER_BY_CODE, LAND_COVER_BY_NAME

WORLDCOVER = "ESA/WorldCover/v200"
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


def worldcover_classes() -> ee.Image:
    """ESA WorldCover v200 remapped to our class codes 1-9 (band ``landcover``)."""
    src: list[int] = []
    dst: list[int] = []
    for c in LAND_COVER:
        for wc in c.worldcover_codes:
            src.append(wc)
            dst.append(c.code)
    return ee.ImageCollection(WORLDCOVER).first().select("Map").remap(src, dst).rename(CLASS_PROPERTY)


def training_samples(
    features: ee.Image,
    aoi: ee.Geometry,
    projection: ee.Projection,
    points: ee.FeatureCollection | None = None,
    points_per_class: int = POINTS_PER_CLASS,
    seed: int = SAMPLE_SEED,
) -> ee.FeatureCollection:
    if points is not None:
        return features.sampleRegions(
            collection=points, properties=[CLASS_PROPERTY], projection=projection, geometries=False
        )
    return features.addBands(worldcover_classes()).stratifiedSample(
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
) -> ee.Image:
    """Band 13 ``CART_LC_classified``: ``smileCart`` trained on the samples, applied to the AOI."""
    samples = training_samples(features, aoi, projection, points, seed=seed)
    classifier = ee.Classifier.smileCart().train(samples, CLASS_PROPERTY, feature_names)
    return features.select(feature_names).classify(classifier).rename("CART_LC_classified")
