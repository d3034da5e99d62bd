"""One meaning per categorical band, whatever the source: band 11 (Köppen-Geiger), band 13 (land cover).

Band 11 ``KG_climate`` holds the **class index 0-30** of :data:`KOPPEN_GEIGER` (0 = Af ...
30 = ET). Why this coding: it is the coding of the Earth Engine asset the recipe samples
(``users/fsn1995/Global_19862010_KG_5m``; its author's script fsn1995/Fun-with-Google-Earth-Engine
``koppen.js`` names values 0-30 Af, Am, As, Aw, BSh, BSk, BWh, BWk, Cfa, Cfb, Cfc, Csa, Csb, Csc,
Cwa, Cwb, Cwc, Dfa, Dfb, Dfc, Dfd, Dsa, Dsb, Dsc, Dsd, Dwa, Dwb, Dwc, Dwd, EF, ET and masks values
above 30), so the recipe writes the asset's values unchanged, and the simulator, which reasons
in Kottek et al. (2006) numeric codes (11 Af ... 62 ET, :mod:`gee_landslide.simulate.climate`),
converts with :func:`kg_index_from_kottek`. 0 is a valid class (Af, tropical rainforest) and is
never masked; only values above 30 are.

Band 13 ``CART_LC_classified`` holds the codes 1-9 of :data:`gee_landslide.core.landcover.LAND_COVER`
from both sources. The training labels of the Earth Engine CART come from Dynamic World
(``label`` 0-8) or ESA WorldCover (``Map`` 10-100), remapped here to those codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gee_landslide.core.landcover import LAND_COVER, LAND_COVER_BY_NAME


@dataclass(frozen=True)
class KoppenClass:
    index: int  # the value in band 11 and in the Earth Engine asset
    name: str  # Köppen symbol
    kottek: int  # Kottek et al. 2006 / Rubel & Kottek 2010 numeric code


# (symbol, Kottek numeric code) in the asset's index order (koppen.js). The 19 Kottek codes the
# simulator's climate model can produce are the ones gee_landslide.simulate.climate already used;
# the other 12 (As, Csc, Cwc, Dfd, Ds*, Dw*) follow the same scheme (first digit = main class) but
# were not checked against the Kottek legend offline; the simulator never produces them.
_KG = (
    ("Af", 11), ("Am", 12), ("As", 13), ("Aw", 14),
    ("BSh", 27), ("BSk", 26), ("BWh", 22), ("BWk", 21),
    ("Cfa", 31), ("Cfb", 32), ("Cfc", 33), ("Csa", 34), ("Csb", 35), ("Csc", 36),
    ("Cwa", 37), ("Cwb", 38), ("Cwc", 39),
    ("Dfa", 41), ("Dfb", 42), ("Dfc", 43), ("Dfd", 44), ("Dsa", 45), ("Dsb", 46), ("Dsc", 47),
    ("Dsd", 48), ("Dwa", 49), ("Dwb", 50), ("Dwc", 51), ("Dwd", 52),
    ("EF", 61), ("ET", 62),
)
KOPPEN_GEIGER: tuple[KoppenClass, ...] = tuple(KoppenClass(i, n, k) for i, (n, k) in enumerate(_KG))
KG_BY_NAME: dict[str, KoppenClass] = {c.name: c for c in KOPPEN_GEIGER}
KG_BY_KOTTEK: dict[int, KoppenClass] = {c.kottek: c for c in KOPPEN_GEIGER}
KG_MIN_INDEX = 0
KG_MAX_INDEX = len(KOPPEN_GEIGER) - 1  # 30: values above are not classes (ocean / no data)


def kg_index_from_kottek(code: int) -> int:
    """Band-11 value of a Kottek numeric code (what the simulator's climate model computes)."""
    try:
        return KG_BY_KOTTEK[int(code)].index
    except KeyError:
        raise ValueError(f"{code} is not a Kottek Köppen-Geiger code; known: {sorted(KG_BY_KOTTEK)}") from None


def kg_name(index: int) -> str:
    """The Köppen symbol of a band-11 value."""
    if not KG_MIN_INDEX <= int(index) <= KG_MAX_INDEX:
        raise ValueError(f"band 11 value {index} is not a Köppen-Geiger class index 0-{KG_MAX_INDEX}")
    return KOPPEN_GEIGER[int(index)].name


# Dynamic World V1 ``label`` (google/earthengine-catalog catalog/GOOGLE/GOOGLE_DYNAMICWORLD_V1.jsonnet:
# 0 water, 1 trees, 2 grass, 3 flooded_vegetation, 4 crops, 5 shrub_and_scrub, 6 built, 7 bare,
# 8 snow_and_ice) -> band-13 class. Chosen to match the WorldCover seeding of landcover.py:
# shrubs join trees (WorldCover 20 -> forest_trees_scrub), crops are pasture/grass (WorldCover 40),
# grass is herbaceous (WorldCover 30), bare is bare rock (Dynamic World "bare" has very sparse to no
# vegetation all year; partial cover is sparse_vegetation, which Dynamic World has no label for).
DYNAMIC_WORLD_TO_CLASS: dict[int, str] = {
    0: "water", 1: "forest_trees_scrub", 2: "herbaceous", 3: "wetland", 4: "pasture_grass",
    5: "forest_trees_scrub", 6: "urban", 7: "bare_rock", 8: "glacier_snow",
}


def dynamic_world_remap() -> tuple[list[int], list[int]]:
    """``remap`` lists: Dynamic World label -> band-13 code."""
    src = sorted(DYNAMIC_WORLD_TO_CLASS)
    return src, [LAND_COVER_BY_NAME[DYNAMIC_WORLD_TO_CLASS[s]].code for s in src]


def worldcover_remap() -> tuple[list[int], list[int]]:
    """``remap`` lists: ESA WorldCover ``Map`` -> band-13 code (from landcover.worldcover_codes)."""
    src: list[int] = []
    dst: list[int] = []
    for c in LAND_COVER:
        for wc in c.worldcover_codes:
            src.append(wc)
            dst.append(c.code)
    return src, dst


LAND_COVER_CODES: tuple[int, ...] = tuple(c.code for c in LAND_COVER)
