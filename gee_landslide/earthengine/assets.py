"""The asset registry: every Earth Engine asset the recipe loads, with the facts the recipe relies on.

Why a registry: ``ee.Image("X")`` and ``ee.ImageCollection("X")`` serialize fine offline
whatever ``X`` really is, so a wrong type, a band the asset lacks or a property it does not
carry only shows up as a server error on the first live build. Each :class:`Asset` here says
what the data behind an id is (type, bands, filterable properties, units, temporal coverage)
and *where that fact comes from*; the builders load assets only through :func:`load`, and the
offline tests (:mod:`gee_landslide.earthengine.graphcheck`) walk every catalog event's
serialized graph and check each ``Image.load``/``ImageCollection.load``, ``select`` and
``Filter`` against this table.

Sources (abbreviations used in ``source`` fields below)
    ``EE-CAT``  google/earthengine-catalog, ``catalog/<DIR>/<FILE>.jsonnet`` evaluated to STAC
                (``gee:type``, ``summaries.eo:bands``, ``summaries.gee:schema``,
                ``extent.temporal``), read at commit bb4c3f77f5b00a1136c0fe6bc958e148d07a1e7e
                (2026-08-07). ``scripts/ee_catalog_facts.py`` re-derives these facts.
    ``AGCC``    awesome-gee-community-catalog (samapriya/awesome-gee-community-datasets, page
                "Global Forest Canopy Height from GEDI & Landsat").
    ``FSN``     the Köppen-Geiger asset author's script: fsn1995/Fun-with-Google-Earth-Engine,
                ``koppen.js`` (loads the asset with ``ee.Image``, 31 class names Af..ET for
                values 0-30, masks values above 30).
    ``EE-ALG``  Earth Engine built-in image properties (``system:time_start``,
                ``system:index``, ``system:footprint``) that every image carries.

Facts that cannot be checked offline are flagged in ``unverified``; nothing is guessed silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from gee_landslide.core.errors import GeeLandslideError

AssetType = Literal["Image", "ImageCollection"]
# dated: one image per acquisition; must be date-filtered to a window before use.
# static: one map of a period (``coverage``); usable for any window that starts after it ends.
# linked: joined per scene (``linkCollection`` on ``system:index``) to a dated collection, so it
#         inherits that collection's dates.
TemporalRole = Literal["dated", "static", "linked"]

SYSTEM_PROPERTIES = frozenset({"system:time_start", "system:time_end", "system:index",
                               "system:footprint", "system:asset_size"})
# a Filter.intersects (filterBounds) tests the image geometry: ``.all`` / ``.geo`` are not
# properties of the asset but the footprint itself
GEOMETRY_FIELDS = frozenset({".all", ".geo"})

_CAT = "google/earthengine-catalog catalog/"
_S2_SR_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "AOT",
                "WVP", "SCL", "TCI_R", "TCI_G", "TCI_B", "MSK_CLDPRB", "MSK_SNWPRB", "QA10",
                "QA20", "QA60", "MSK_CLASSI_OPAQUE", "MSK_CLASSI_CIRRUS", "MSK_CLASSI_SNOW_ICE")
_S2_L1C_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
                 "QA10", "QA20", "QA60", "MSK_CLASSI_OPAQUE", "MSK_CLASSI_CIRRUS",
                 "MSK_CLASSI_SNOW_ICE")


@dataclass(frozen=True)
class Asset:
    """What the data behind one Earth Engine id is, and where each fact comes from."""

    key: str  # the registry's own name (stable even when an id is configurable)
    id: str
    type: AssetType
    bands: tuple[str, ...]  # every band of the asset (the catalog's eo:bands)
    bands_used: tuple[str, ...]
    properties: tuple[str, ...]  # the properties the recipe filters on (all listed in gee:schema)
    units: str
    role: TemporalRole
    coverage: tuple[dt.date, dt.date | None]  # first and last day (None: ongoing)
    source: dict[str, str]  # fact -> where it comes from
    unverified: tuple[str, ...] = ()
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())  # other ids accepted for the same data

    def covers(self, start: dt.date, end: dt.date) -> bool:
        """True when [start, end] overlaps the asset's temporal coverage."""
        first, last = self.coverage
        return end >= first and (last is None or start <= last)

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


ASSETS: tuple[Asset, ...] = (
    Asset(
        key="s1", id="COPERNICUS/S1_GRD_FLOAT", type="ImageCollection",
        bands=("HH", "HV", "VV", "VH", "angle"), bands_used=("VV", "VH", "angle"),
        properties=("instrumentMode", "orbitProperties_pass", "transmitterReceiverPolarisation",
                    "relativeOrbitNumber_start"),
        units="sigma0, linear power (S1_GRD is the same data in dB); angle in degrees",
        role="dated", coverage=(dt.date(2014, 10, 3), None),
        source={
            "type/bands/properties/coverage": _CAT + "COPERNICUS/COPERNICUS_S1_GRD.jsonnet "
            "(the entry of COPERNICUS/S1_GRD; its description names COPERNICUS/S1_GRD_FLOAT as the "
            "same collection with raw power values)",
        },
        unverified=("S1_GRD_FLOAT has no catalog entry of its own: its bands and properties are "
                    "taken from S1_GRD's, which describes it as the same scenes in linear units",),
    ),
    Asset(
        key="s2_sr", id="COPERNICUS/S2_SR_HARMONIZED", type="ImageCollection",
        bands=_S2_SR_BANDS, bands_used=("B2", "B3", "B4", "B8", "B11", "B12", "SCL"),
        properties=(), units="surface reflectance x 10000 (gee:scale 0.0001)",
        role="dated", coverage=(dt.date(2017, 3, 28), None),
        source={
            "type/bands/scale/coverage": _CAT + "COPERNICUS/COPERNICUS_S2_SR_HARMONIZED.jsonnet",
            "SCL classes 3 cloud shadow, 8/9 cloud medium/high, 10 cirrus":
                _CAT + "COPERNICUS/templates/S2_SR.libsonnet (SCL gee:classes)",
            "not global in 2017-2018": _CAT + "COPERNICUS/templates/S2_SR.libsonnet: "
            "'WARNING: 2017-2018 L2 coverage in the EE collection is not yet global'",
        },
        notes="L2A before 2019 may be missing over an AOI: the recipe falls back to s2_l1c.",
    ),
    Asset(
        key="s2_l1c", id="COPERNICUS/S2_HARMONIZED", type="ImageCollection",
        bands=_S2_L1C_BANDS, bands_used=("B2", "B3", "B4", "B8", "B11", "B12"),
        properties=(), units="top-of-atmosphere reflectance x 10000 (gee:scale 0.0001)",
        role="dated", coverage=(dt.date(2015, 6, 27), None),
        source={
            "type/bands/scale/coverage": _CAT + "COPERNICUS/COPERNICUS_S2_HARMONIZED.jsonnet",
            "QA60 empty Feb 2022-Feb 2024": _CAT + "COPERNICUS/templates/S2.libsonnet (QA60 band "
            "description): so the L1C cloud mask uses Cloud Score+ only, never QA60",
        },
    ),
    Asset(
        key="cloud_score_plus", id="GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED", type="ImageCollection",
        bands=("cs", "cs_cdf"), bands_used=("cs_cdf",), properties=(),
        units="score 0-1 (1 = clear)", role="linked", coverage=(dt.date(2015, 6, 27), None),
        source={
            "type/bands/coverage": _CAT + "GOOGLE/GOOGLE_CLOUD_SCORE_PLUS_V1_S2_HARMONIZED.jsonnet",
            "linked on system:index to both L1C and L2A harmonized scenes":
                _CAT + "GOOGLE/GOOGLE_CLOUD_SCORE_PLUS_V1_S2_HARMONIZED.jsonnet (description)",
        },
    ),
    Asset(
        key="srtm", id="USGS/SRTMGL1_003", type="Image", bands=("elevation",),
        bands_used=("elevation",), properties=(), units="m", role="static",
        coverage=(dt.date(2000, 2, 11), dt.date(2000, 2, 22)),
        source={"type/bands/coverage": _CAT + "USGS/USGS_SRTMGL1_003.jsonnet"},
        notes="60N-56S only (SPEC.md, Earth Engine recipes).",
    ),
    Asset(
        key="glo30", id="COPERNICUS/DEM/GLO30", type="ImageCollection",
        bands=("DEM", "EDM", "FLM", "HEM", "WBM"), bands_used=("DEM",), properties=(),
        units="m", role="static", coverage=(dt.date(2010, 12, 1), dt.date(2015, 1, 31)),
        source={"type/bands/coverage": _CAT + "COPERNICUS/COPERNICUS_DEM_GLO30.jsonnet "
                "(+ COPERNICUS_DEM_GLO30.libsonnet: gee:type image_collection)"},
        notes="A collection of 1-degree tiles: mosaicked with the tiles' projection.",
    ),
    Asset(
        key="koppen_geiger", id="users/fsn1995/Global_19862010_KG_5m", type="Image",
        bands=("b1",), bands_used=("b1",), properties=(),
        units="class index 0-30 (0 Af ... 30 ET, see classes.KOPPEN_GEIGER); >30 not a class",
        role="static", coverage=(dt.date(1986, 1, 1), dt.date(2010, 12, 31)),
        source={
            "type (ee.Image) and coding 0-30 = Af, Am, As, Aw, BSh, BSk, BWh, BWk, Cfa, Cfb, Cfc, "
            "Csa, Csb, Csc, Cwa, Cwb, Cwc, Dfa, Dfb, Dfc, Dfd, Dsa, Dsb, Dsc, Dsd, Dwa, Dwb, Dwc, "
            "Dwd, EF, ET; values > 30 masked": "fsn1995/Fun-with-Google-Earth-Engine koppen.js",
            "period 1986-2010, 5 arc-min": "the asset id; SPEC.md (Table 2 band 11); koppen.js header",
        },
        unverified=("the band name: koppen.js never selects a band; a GeoTIFF upload names its one "
                    "band 'b1', and the recipe selects band index 0, which works whatever its name",
                    "which value marks ocean (31 or 32, beyond the 31 names): the recipe masks "
                    "every value above 30, as koppen.js does"),
    ),
    Asset(
        key="tree_height", id="projects/sat-io/open-datasets/GLAD/GEDI_V27", type="ImageCollection",
        bands=("b1",), bands_used=("b1",), properties=(),
        units="m 0-60; 101 water, 102 snow/ice, 103 no data", role="static",
        coverage=(dt.date(2019, 1, 1), dt.date(2019, 12, 31)),
        source={
            "type ee.ImageCollection (continental tiles), band b1, codes 0-60 m / 101 / 102 / 103, "
            "year 2019": "AGCC page 'Global Forest Canopy Height from GEDI & Landsat' "
            "(Earth Engine snippet and pixel values)",
        },
        unverified=("users/potapovpeter/GEDI_V27 (SPEC.md's other id) was not found in any "
                    "catalog here; only the sat-io collection is registered",),
        notes="GEDI samples 52N-52S; canopy height above 52N is the model's extrapolation (AGCC).",
    ),
    Asset(
        key="dynamic_world", id="GOOGLE/DYNAMICWORLD/V1", type="ImageCollection",
        bands=("water", "trees", "grass", "flooded_vegetation", "crops", "shrub_and_scrub",
               "built", "bare", "snow_and_ice", "label"),
        bands_used=("label",), properties=(), units="class 0-8 (label band)",
        role="dated", coverage=(dt.date(2015, 6, 27), None),
        source={"type/bands/label classes/coverage": _CAT + "GOOGLE/GOOGLE_DYNAMICWORLD_V1.jsonnet"},
        notes="One image per Sentinel-2 scene: the modal label over the pre window predates the event.",
    ),
    Asset(
        key="worldcover", id="ESA/WorldCover/v200", type="ImageCollection", bands=("Map",),
        bands_used=("Map",), properties=(), units="class 10-100", role="static",
        coverage=(dt.date(2021, 1, 1), dt.date(2021, 12, 31)),
        source={"type/bands/classes/coverage": _CAT + "ESA/ESA_WorldCover_v200.jsonnet "
                "(extent 2021-01-01..2022-01-01)"},
        notes="A map of 2021: usable for CART labels only when the pre window starts after 2021.",
    ),
)

ASSET_BY_KEY: dict[str, Asset] = {a.key: a for a in ASSETS}
ASSET_BY_ID: dict[str, Asset] = {i: a for a in ASSETS for i in a.ids}


class AssetError(GeeLandslideError, ValueError):
    """A request the registry knows cannot work (wrong type, missing band, no coverage)."""


def asset(key: str) -> Asset:
    """The registry entry ``key`` (``s1``, ``s2_sr``, ``glo30``...)."""
    try:
        return ASSET_BY_KEY[key]
    except KeyError:
        raise AssetError(f"no asset {key!r} in the registry; known: {', '.join(ASSET_BY_KEY)}") from None


def custom_asset(key: str, asset_id: str, type_: AssetType, bands: tuple[str, ...] = ()) -> Asset:
    """An entry for a user-configured id (local DEM, own KG copy): facts given by configuration.

    Why: such ids are not in any catalog, so only the type the user declares can be checked;
    the entry says so in ``unverified``.
    """
    base = ASSET_BY_KEY.get(key)
    return Asset(
        key=key, id=asset_id, type=type_, bands=bands or (base.bands if base else ()),
        bands_used=bands or (base.bands_used if base else ()), properties=(),
        units=base.units if base else "as configured", role="static",
        coverage=base.coverage if base else (dt.date(1970, 1, 1), None),
        source={"id and type": "catalog/environment configuration"},
        unverified=(f"{asset_id} is a configured asset: type {type_} as declared, bands not checked",),
    )


def load(entry: Asset):  # -> ee.Image | ee.ImageCollection
    """Open an asset with the type the registry records (the only place builders load assets)."""
    import ee

    if entry.type == "Image":
        return ee.Image(entry.id)
    return ee.ImageCollection(entry.id)


def load_collection(entry: Asset):  # -> ee.ImageCollection
    """Open an ImageCollection asset; refuses an Image (the server would refuse it later)."""
    if entry.type != "ImageCollection":
        raise AssetError(f"{entry.id} is an {entry.type} ({entry.source}); it cannot be opened as an ImageCollection")
    return load(entry)


def load_image(entry: Asset):  # -> ee.Image
    """Open an Image asset; refuses an ImageCollection."""
    if entry.type != "Image":
        raise AssetError(f"{entry.id} is an {entry.type}; mosaic it (registry key {entry.key!r}) "
                         "instead of opening it as an ee.Image")
    return load(entry)


def check_coverage(entry: Asset, start: dt.date, end: dt.date, what: str) -> None:
    """Raise :class:`AssetError` when ``[start, end]`` lies wholly outside the asset's coverage."""
    if not entry.covers(start, end):
        first, last = entry.coverage
        span = f"{first}..{last or 'today'}"
        raise AssetError(
            f"{what}: window {start}..{end} is outside the coverage of {entry.id} ({span}, "
            f"from {next(iter(entry.source.values()))}); move the window into {span}"
        )


def registry_table() -> list[dict[str, object]]:
    """The registry as plain rows (for ``stacks plan --json`` and the README)."""
    return [
        {"key": a.key, "id": a.id, "type": a.type, "bands_used": list(a.bands_used),
         "properties": list(a.properties), "units": a.units, "role": a.role,
         "coverage": [str(a.coverage[0]), str(a.coverage[1]) if a.coverage[1] else None],
         "source": a.source, "unverified": list(a.unverified)}
        for a in ASSETS
    ]
