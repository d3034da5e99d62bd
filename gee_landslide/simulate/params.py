"""Scene parameters: everything that varies between events (or regions), derived from the
catalog entry and a stable hash of its id and seed, and recorded in the scene's ``meta``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from gee_landslide.simulate import noise
from gee_landslide.simulate.climate import (
    ClimateModel,
    climate_model,
    koppen_group,
    koppen_name,
    physiography_at,
)

# ground-range sensitivity of the IW incidence angle: ~16 deg over a 250 km swath
THETA_PER_KM = 16.0 / 250.0


@dataclass
class SceneParams:
    key: int
    kind: str  # "event" or "region"
    name: str
    lat: float
    lon: float
    rainfall_mm: float
    physiography: str
    steep: bool
    climate: ClimateModel
    koppen: int
    # terrain
    base_m: float
    relief_m: float
    lambda0_m: float
    hurst: float
    detail_m: float
    floor_level: float
    lake_depth: float
    shift_x: float = 0.0
    shift_y: float = 0.0
    # land cover
    forest_frac: float = 0.5
    pasture_frac: float = 0.2
    urban_frac: float = 0.03
    wetland_frac: float = 0.05
    treeline_m: float = 1500.0
    glacier_m: float = 3000.0
    tree_hmax_m: float = 25.0
    misclass_rate: float = 0.03
    # landslides
    slide_length_m: float = 150.0
    slide_width_m: float = 40.0
    slide_count: int = 10
    source_min_slope_deg: float = 28.0
    # confounders
    cut_rate_km2_30d: float = 0.2
    cloud_frac: float = 0.03
    phenology_amp: float = 0.08
    water_ndvi_sd: float = 0.12
    # SAR
    heading_deg: float = -167.0
    theta_centre_deg: float = 38.0
    theta_per_km: float = THETA_PER_KM
    ref_x: float = 0.0
    ref_y: float = 0.0
    enl: float = 4.4
    revisit_days: int = 12
    class_offsets_db: dict[str, float] = field(default_factory=dict)
    post_moisture_db: float = 0.0

    def u(self, *tag: object) -> float:
        """A uniform number tied to this scene and a purpose tag."""
        return noise.scalar_uniform(self.key, noise.stable_key(*tag))

    def to_meta(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("climate")
        d["key"] = str(self.key)
        d["koppen_name"] = koppen_name(self.koppen)
        d["climate_model"] = {
            "t_ann_sea_c": round(self.climate.t_ann_sea, 2),
            "amplitude_c": round(self.climate.amplitude, 2),
            "season": self.climate.season,
        }
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


def derive_params(
    *,
    key: int,
    kind: str,
    name: str,
    lat: float,
    lon: float,
    rainfall_mm: float | None,
    orbit_pass: str = "DESCENDING",
    trigger: str = "R",
) -> SceneParams:
    """Parameters shared by events and regions: terrain, climate, cover, confounders, SAR."""

    def u(*tag: object) -> float:
        return noise.scalar_uniform(key, noise.stable_key(*tag))

    phys = physiography_at(lat, lon)
    rain = float(rainfall_mm) if rainfall_mm else (1800.0 if phys and phys.steep else 1100.0)
    if phys is not None:
        relief = 0.65 * phys.relief_m * _lerp(0.8, 1.2, u("relief"))
        base = phys.base_m * _lerp(0.8, 1.2, u("base")) + 20.0
        steep = phys.steep
    else:
        relief = 0.65 * _lerp(220.0, 520.0, u("relief"))
        base = _lerp(50.0, 500.0, u("base"))
        steep = False
    relief = max(relief, 300.0)
    clim = climate_model(lat, rain, phys)
    kg = clim.koppen(base + 0.25 * relief)
    group = koppen_group(kg)
    forest = {"A": 0.78, "B": 0.06, "C": 0.55, "D": 0.5, "E": 0.06}[group] * _lerp(0.75, 1.2, u("forest"))
    if phys is not None:
        forest *= phys.forest_factor
    if kg in (32, 33) and rain > 1200 and not steep:  # maritime lowlands: pasture and peat
        forest *= 0.4
    pasture = {"A": 0.18, "B": 0.1, "C": 0.35, "D": 0.25, "E": 0.2}[group] * _lerp(0.6, 1.4, u("pasture"))
    wetland = (0.12 if rain > 1200 and group in "CD" and not steep else 0.03) * _lerp(0.5, 1.5, u("wet"))
    urban = _lerp(0.01, 0.08, u("urban")) * (2.0 if not steep else 1.0)
    cloud = {"A": 0.06, "B": 0.005, "C": 0.035, "D": 0.03, "E": 0.04}[group] * _lerp(0.3, 1.6, u("cloud"))
    phen = {"A": 0.02, "B": 0.03, "C": 0.05, "D": 0.07, "E": 0.07}[group] * _lerp(0.5, 1.5, u("phen"))
    hmax = {"A": 33.0, "B": 12.0, "C": 27.0, "D": 21.0, "E": 10.0}[group] * _lerp(0.85, 1.1, u("hmax"))
    heading = -167.0 if orbit_pass.upper().startswith("D") else -13.0
    classes = ("urban", "forest", "herb", "grass", "sparse", "water", "wetland", "rock", "snow", "scar")
    offsets = {c: 0.7 * noise.scalar_normal(key, noise.stable_key("sar-offset", c)) for c in classes}
    moist = _lerp(0.2, 0.9, u("moist")) if "R" in trigger else _lerp(-0.3, 0.3, u("moist"))
    return SceneParams(
        key=key,
        kind=kind,
        name=name,
        lat=lat,
        lon=lon,
        rainfall_mm=rain,
        physiography=phys.name if phys else "generic hills",
        steep=steep,
        climate=clim,
        koppen=kg,
        base_m=base,
        relief_m=relief,
        lambda0_m=_lerp(3200.0, 4800.0, u("lambda")),
        hurst=_lerp(0.7, 0.9, u("hurst")),
        detail_m=relief * _lerp(0.03, 0.06, u("detail")),
        floor_level=_lerp(-0.25, 0.15, u("floor")) - (0.15 if steep else 0.0),
        lake_depth=_lerp(0.35, 0.7, u("lake")),
        forest_frac=min(forest, 0.92),
        pasture_frac=min(pasture, 0.6),
        urban_frac=urban,
        wetland_frac=wetland,
        treeline_m=clim.treeline_m,
        glacier_m=clim.glacier_line_m,
        tree_hmax_m=hmax,
        misclass_rate=_lerp(0.02, 0.05, u("misclass")),
        cut_rate_km2_30d=_lerp(0.05, 0.45, u("cuts")) * (1.0 if group in "ACD" else 0.2),
        cloud_frac=cloud,
        phenology_amp=phen,
        water_ndvi_sd=_lerp(0.08, 0.16, u("water")),
        heading_deg=heading,
        theta_centre_deg=_lerp(31.5, 44.5, u("swath")),
        class_offsets_db=offsets,
        post_moisture_db=moist,
    )


def slide_dimensions(
    size_km: tuple[float, float], aoi_m: float, res: float, frac_u: float
) -> tuple[float, float, int]:
    """Typical landslide length, width (m) and count for an event AOI, from the catalog size.

    The catalog's ``size_km`` (length x width) is read as the typical landslide; it is clipped to
    what fits in the AOI, and the count is chosen so that the scars cover roughly 2-10 % of it.
    """
    length = max(size_km[0] * 1000.0, 4.0 * res)
    width = max(size_km[1] * 1000.0, 2.0 * res)
    length = min(length, 0.7 * aoi_m)
    width = min(width, 0.35 * aoi_m, max(length, 2.0 * res))
    area_aoi = aoi_m * aoi_m
    area_one = 0.7 * length * width
    target = _lerp(0.025, 0.09, frac_u) * area_aoi
    count = int(min(max(round(target / area_one), 1), 60))
    if count == 1 and area_one > 0.12 * area_aoi:
        s = math.sqrt(0.12 * area_aoi / area_one)
        length, width = length * s, width * s
    return length, width, count
