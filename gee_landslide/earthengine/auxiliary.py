"""Bands 11-12: Koppen-Geiger climate class and Potapov et al. (2021) tree height.

Asset ids are configurable (:class:`AuxAssets`; environment variables
``GEE_LANDSLIDE_KG_ASSET`` and ``GEE_LANDSLIDE_TREE_HEIGHT_ASSET``) because neither dataset is
in the official catalog. Defaults and their facts are in :mod:`gee_landslide.earthengine.assets`
(``koppen_geiger``: an ``ee.Image``; ``tree_height``: an ``ee.ImageCollection`` of continental
tiles, which is why it is mosaicked here and never opened as an ``ee.Image``).

Codes
    Koppen-Geiger: the asset's values 0-30 are class indices (0 = Af, tropical rainforest; see
    :mod:`gee_landslide.earthengine.classes`), written unchanged: the simulator writes the same
    coding. Values above 30 are not classes (ocean / no data) and are masked. 0 is a class and is
    kept (an earlier recipe masked it as "ocean", which blanked every Af event).

    Tree height (band ``b1``) holds metres 0-60, and codes above 60: 101 water, 102 snow/ice,
    103 no data. Water and snow/ice have no canopy, so they become 0 m (the pixel stays usable
    and means "no trees", which is what the model should see). Every other code (103 no data
    and anything unknown) is masked and ends as NaN in the stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import ee

from gee_landslide.core.settings import get_settings
from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine.classes import KG_MAX_INDEX

KG_DEFAULT = reg.asset("koppen_geiger").id
TREE_HEIGHT_DEFAULT = reg.asset("tree_height").id
TREE_HEIGHT_MAX_M = 60
TREE_HEIGHT_ZERO_CODES = (101, 102)  # water, snow/ice -> 0 m


@dataclass(frozen=True)
class AuxAssets:
    koppen_geiger: str = KG_DEFAULT
    tree_height: str = TREE_HEIGHT_DEFAULT

    @classmethod
    def from_env(cls) -> AuxAssets:
        s = get_settings()
        return cls(
            koppen_geiger=s.kg_asset or KG_DEFAULT,
            tree_height=s.tree_height_asset or TREE_HEIGHT_DEFAULT,
        )

    def entries(self) -> dict[str, reg.Asset]:
        """Registry entries; a configured id keeps the registered type of the default asset."""
        out = {}
        for key, value in (("koppen_geiger", self.koppen_geiger), ("tree_height", self.tree_height)):
            base = reg.asset(key)
            out[key] = base if value in base.ids else reg.custom_asset(key, value, base.type)
        return out


def koppen_geiger(asset: str = KG_DEFAULT) -> ee.Image:
    """Band 11 ``KG_climate``: the class index 0-30 (first band); values above 30 masked."""
    entry = AuxAssets(koppen_geiger=asset).entries()["koppen_geiger"]
    kg = reg.load_image(entry).select([0])
    return kg.updateMask(kg.lte(KG_MAX_INDEX)).rename("KG_climate").toFloat()


def tree_height(asset: str = TREE_HEIGHT_DEFAULT, aoi: ee.Geometry | None = None) -> ee.Image:
    """Band 12 ``tree_height`` (m): tiles mosaicked; codes 101/102 -> 0 m, other codes > 60 masked."""
    entry = AuxAssets(tree_height=asset).entries()["tree_height"]
    tiles = reg.load_collection(entry)
    if aoi is not None:
        tiles = tiles.filterBounds(aoi)
    tiles = tiles.select([0])
    # a mosaic has EE's default 1-degree projection; give it the tiles' own (30 m) one
    raw = tiles.mosaic().setDefaultProjection(tiles.first().projection())
    zero = raw.eq(TREE_HEIGHT_ZERO_CODES[0]).Or(raw.eq(TREE_HEIGHT_ZERO_CODES[1]))
    valid = raw.lte(TREE_HEIGHT_MAX_M).Or(zero)
    return raw.where(zero, 0).updateMask(valid).rename("tree_height").toFloat()


def auxiliary_bands(assets: AuxAssets | None = None, aoi: ee.Geometry | None = None) -> ee.Image:
    assets = assets or AuxAssets()
    return koppen_geiger(assets.koppen_geiger).addBands(tree_height(assets.tree_height, aoi))
