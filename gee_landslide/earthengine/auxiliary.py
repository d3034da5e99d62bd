"""Bands 11-12: Koppen-Geiger climate class and Potapov et al. (2021) tree height.

Asset ids are configurable (:class:`AuxAssets`; environment variables
``GEE_LANDSLIDE_KG_ASSET`` and ``GEE_LANDSLIDE_TREE_HEIGHT_ASSET``) because neither dataset is
in the official catalog. Defaults (SPEC.md): ``users/fsn1995/Global_19862010_KG_5m`` and
``projects/sat-io/open-datasets/GLAD/GEDI_V27``.

Nodata codes
    Tree height (band ``b1``) holds metres 0-60, and codes above 60: 101 water, 102 snow/ice,
    103 no data. Water and snow/ice have no canopy, so they become 0 m (the pixel stays usable
    and means "no trees", which is what the model should see). Every other code (103 no data
    and anything unknown) is masked and ends as NaN in the stack.

    Koppen-Geiger class 0 is the map's "ocean / no data" value; it is masked (NaN) too, so a
    coastal AOI never receives a fake climate class.
"""

from __future__ import annotations

from dataclasses import dataclass

import ee

from gee_landslide.core.settings import get_settings

KG_DEFAULT = "users/fsn1995/Global_19862010_KG_5m"
TREE_HEIGHT_DEFAULT = "projects/sat-io/open-datasets/GLAD/GEDI_V27"
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


def koppen_geiger(asset: str = KG_DEFAULT) -> ee.Image:
    """Band 11 ``KG_climate``: the class code (first band), class 0 masked."""
    kg = ee.Image(asset).select([0])
    return kg.updateMask(kg.neq(0)).rename("KG_climate").toFloat()


def tree_height(asset: str = TREE_HEIGHT_DEFAULT) -> ee.Image:
    """Band 12 ``tree_height`` (m): codes 101/102 -> 0 m, other codes > 60 masked."""
    raw = ee.Image(asset).select([0])
    zero = raw.eq(TREE_HEIGHT_ZERO_CODES[0]).Or(raw.eq(TREE_HEIGHT_ZERO_CODES[1]))
    valid = raw.lte(TREE_HEIGHT_MAX_M).Or(zero)
    return raw.where(zero, 0).updateMask(valid).rename("tree_height").toFloat()


def auxiliary_bands(assets: AuxAssets | None = None) -> ee.Image:
    assets = assets or AuxAssets()
    return koppen_geiger(assets.koppen_geiger).addBands(tree_height(assets.tree_height))
