"""Land-cover classes of the per-event CART classification (band 13).

The classes are those the paper's authors labelled by hand (Lindsay et al. 2023). Each class
also says which Vollrath terrain-flattening model applies to it (the paper chose volume or
surface scattering per land-cover type), its typical NDVI, and which ESA WorldCover v200 codes
seed training points for it when an event brings no hand-labelled points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScatteringModel = Literal["volume", "surface"]


@dataclass(frozen=True)
class LandCoverClass:
    code: int
    name: str
    scattering_model: ScatteringModel
    ndvi_mean: float
    ndvi_sd: float
    worldcover_codes: tuple[int, ...]
    colour: str


LAND_COVER: tuple[LandCoverClass, ...] = (
    LandCoverClass(1, "urban", "surface", 0.20, 0.06, (50,), "#d7191c"),
    LandCoverClass(2, "forest_trees_scrub", "volume", 0.80, 0.05, (10, 20), "#1a7837"),
    LandCoverClass(3, "herbaceous", "volume", 0.65, 0.07, (30,), "#7fbc41"),
    LandCoverClass(4, "pasture_grass", "volume", 0.70, 0.06, (40,), "#c2e699"),
    LandCoverClass(5, "sparse_vegetation", "surface", 0.30, 0.07, (60,), "#dfc27d"),
    LandCoverClass(6, "water", "surface", -0.25, 0.10, (80,), "#2166ac"),
    LandCoverClass(7, "wetland", "volume", 0.50, 0.08, (90, 95), "#66c2a5"),
    LandCoverClass(8, "bare_rock", "surface", 0.08, 0.04, (100,), "#8c8c8c"),
    LandCoverClass(9, "glacier_snow", "surface", -0.05, 0.04, (70,), "#f0f0f0"),
)

LAND_COVER_BY_CODE: dict[int, LandCoverClass] = {c.code: c for c in LAND_COVER}
LAND_COVER_BY_NAME: dict[str, LandCoverClass] = {c.name: c for c in LAND_COVER}
VOLUME_MODEL_CODES: tuple[int, ...] = tuple(
    c.code for c in LAND_COVER if c.scattering_model == "volume"
)
WATER_CODE = LAND_COVER_BY_NAME["water"].code
