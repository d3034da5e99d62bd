"""The band registry: the 15 bands of the paper's Table 2 and the four settings of Table 3.

This is the single place that knows band order, names, units and nodata. Every other module
(Earth Engine recipes, the simulator, stack I/O, training, monitoring) asks this one, so a
change of band order can never silently desynchronise a model from its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

BandKind = Literal["continuous", "mask", "categorical"]


@dataclass(frozen=True)
class Band:
    """One band of the 15-band stack (paper Table 2)."""

    index: int
    name: str
    source: str
    unit: str
    kind: BandKind
    description: str
    dtype: str = "float32"
    nodata: float = math.nan
    native_resolution_m: int = 10


BANDS: tuple[Band, ...] = (
    Band(0, "preVV", "Sentinel-1 + DEM", "dB", "continuous",
         "Pre-event VV backscatter, terrain-flattened median composite"),
    Band(1, "postVV", "Sentinel-1 + DEM", "dB", "continuous",
         "Post-event VV backscatter, terrain-flattened median composite"),
    Band(2, "dVV", "Sentinel-1 + DEM", "dB", "continuous", "postVV minus preVV"),
    Band(3, "preVH", "Sentinel-1 + DEM", "dB", "continuous",
         "Pre-event VH backscatter, terrain-flattened median composite"),
    Band(4, "postVH", "Sentinel-1 + DEM", "dB", "continuous",
         "Post-event VH backscatter, terrain-flattened median composite"),
    Band(5, "dVH", "Sentinel-1 + DEM", "dB", "continuous", "postVH minus preVH"),
    Band(6, "layover", "Sentinel-1 + DEM", "0/1", "mask",
         "Layover mask of the Vollrath et al. (2020) terrain correction"),
    Band(7, "shadow", "Sentinel-1 + DEM", "0/1", "mask",
         "Shadow mask of the Vollrath et al. (2020) terrain correction"),
    Band(8, "liaDeg", "Sentinel-1 + DEM", "degree", "continuous", "Local incidence angle"),
    Band(9, "elevation", "DEM", "m", "continuous",
         "SRTM below 60N, Copernicus GLO-30 or a local DEM above", native_resolution_m=30),
    Band(10, "slope", "DEM", "degree", "continuous", "Slope derived from the elevation",
         native_resolution_m=30),
    Band(11, "KG_climate", "Koppen-Geiger", "class", "categorical",
         "Koppen-Geiger class index 0-30 (0 Af ... 30 ET; earthengine/classes.py), 5 arc-min, 1986-2010",
         native_resolution_m=9000),
    Band(12, "tree_height", "GEDI + Landsat", "m", "continuous",
         "Potapov et al. (2021) canopy height", native_resolution_m=30),
    Band(13, "CART_LC_classified", "Sentinel-1 + Sentinel-2", "class", "categorical",
         "Per-event CART land-cover classification"),
    Band(14, "dNDVI", "Sentinel-2", "NDVI", "continuous",
         "Post minus pre greenest-pixel NDVI composite"),
)

BAND_NAMES: tuple[str, ...] = tuple(b.name for b in BANDS)
BAND_BY_NAME: dict[str, Band] = {b.name: b for b in BANDS}
BAND_INDEX: dict[str, int] = {b.name: b.index for b in BANDS}  # a band's position in a stack
N_BANDS = len(BANDS)


@dataclass(frozen=True)
class Setting:
    """A band setting of the paper's Table 3: which stack bands a model sees."""

    number: int
    name: str
    title: str
    band_indices: tuple[int, ...]

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(BANDS[i].name for i in self.band_indices)

    @property
    def in_channels(self) -> int:
        return len(self.band_indices)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(1, "s1", "only Sentinel-1", tuple(range(0, 9))),
        Setting(2, "s2", "only Sentinel-2", (13, 14)),
        Setting(3, "s1s2", "Sentinel-1 and Sentinel-2", (*range(0, 9), 13, 14)),
        Setting(4, "all", "all bands", tuple(range(0, 15))),
    )
}


def band(name_or_index: str | int) -> Band:
    """Look a band up by name or index, with an error that lists the valid names."""
    if isinstance(name_or_index, int):
        if not 0 <= name_or_index < N_BANDS:
            raise KeyError(f"band index {name_or_index} is out of range 0..{N_BANDS - 1}")
        return BANDS[name_or_index]
    try:
        return BAND_BY_NAME[name_or_index]
    except KeyError:
        raise KeyError(
            f"unknown band {name_or_index!r}; known bands: {', '.join(BAND_NAMES)}"
        ) from None


def setting(name: str | int) -> Setting:
    """Look a setting up by name (s1, s2, s1s2, all) or by its Table 3 number (1-4)."""
    for s in SETTINGS.values():
        if name == s.name or (str(name).isdigit() and int(name) == s.number):
            return s
    raise KeyError(f"unknown band setting {name!r}; known settings: {', '.join(SETTINGS)} or 1-4")
