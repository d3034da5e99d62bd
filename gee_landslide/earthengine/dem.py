"""Bands 9-10: elevation and slope, from SRTM below 60N, Copernicus GLO-30 above, or a local DEM.

Choice (paper section 3.1 and Table 2): ``USGS/SRTMGL1_003`` covers 60N-56S; outside it
``COPERNICUS/DEM/GLO30``. An event's ``dem:`` (or the catalog default, when not ``auto``)
overrides the choice with any asset id: Norway and Iceland used local 10 m DEMs, for example
``projects/sat-io/open-datasets/ISLANDS_DEM/...`` or a DEM uploaded to your own project.
Custom ids are read as an ``ee.Image`` (first band); prefix ``collection:`` for an image
collection, which is mosaicked with its first image's projection.

GLO-30 is an ``ImageCollection`` of tiles: its mosaic would have EE's default 1-degree WGS 84
projection, which breaks ``ee.Terrain.slope``; so the mosaic is given the tiles' projection
(``setDefaultProjection``).
"""

from __future__ import annotations

from dataclasses import dataclass

import ee

from gee_landslide.core.catalog import Defaults, Event
from gee_landslide.earthengine import assets as reg

SRTM = reg.asset("srtm").id
GLO30 = reg.asset("glo30").id
SRTM_NORTH_LIMIT = 60.0
SRTM_SOUTH_LIMIT = -56.0
COLLECTION_PREFIX = "collection:"


@dataclass(frozen=True)
class DemChoice:
    asset: str
    kind: str  # "image" | "collection"
    band: str | None
    reason: str

    def entry(self) -> reg.Asset:
        """The registry entry (SRTM, GLO-30) or a configured one with the declared type."""
        for key in ("srtm", "glo30"):
            if self.asset in reg.asset(key).ids:
                return reg.asset(key)
        return reg.custom_asset("dem", self.asset, "ImageCollection" if self.kind == "collection" else "Image")


def choose_dem(event: Event, defaults: Defaults) -> DemChoice:
    """Which DEM an event uses, and why."""
    override = event.dem or (defaults.dem if defaults.dem != "auto" else None)
    if override:
        src = "event override" if event.dem else "catalog default"
        if override == GLO30:
            return DemChoice(GLO30, "collection", "DEM", src)
        if override == SRTM:
            return DemChoice(SRTM, "image", "elevation", src)
        if override.startswith(COLLECTION_PREFIX):
            return DemChoice(override.removeprefix(COLLECTION_PREFIX), "collection", None, src)
        return DemChoice(override, "image", None, src)
    if SRTM_SOUTH_LIMIT <= event.lat < SRTM_NORTH_LIMIT:
        return DemChoice(SRTM, "image", "elevation", f"auto: {event.lat} within SRTM 60N-56S")
    return DemChoice(GLO30, "collection", "DEM", f"auto: {event.lat} outside SRTM 60N-56S")


def dem_image(choice: DemChoice, aoi: ee.Geometry) -> ee.Image:
    """The DEM as a one-band image named ``elevation``, in the DEM's native projection."""
    entry = choice.entry()
    if entry.type == "ImageCollection":
        col = reg.load_collection(entry).filterBounds(aoi)
        col = col.select(choice.band) if choice.band else col.select([0])
        proj = col.first().projection()
        img = col.mosaic().setDefaultProjection(proj)
    else:
        img = reg.load_image(entry)
        img = img.select(choice.band) if choice.band else img.select([0])
    return img.rename("elevation").toFloat()


def dem_bands(dem: ee.Image) -> ee.Image:
    """Bands 9-10: ``elevation`` (m) and ``slope`` (degrees, ``ee.Terrain.slope``)."""
    return dem.addBands(ee.Terrain.slope(dem).rename("slope"))
