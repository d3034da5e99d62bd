"""Köppen-Geiger classes (Kottek et al. 2006 / Rubel & Kottek 2010 numeric codes) and a small
rule-based climate model for the simulator.

The model reasons in Kottek codes; band 11 of a stack holds the *class index 0-30* of the one
table shared with the Earth Engine recipe (:mod:`gee_landslide.earthengine.classes`, the coding
of the Köppen-Geiger asset), converted by :func:`koppen_band_value`. The real map (5 arc-min, 1986-2010) is not
available offline, so the simulator derives a class from latitude, annual rainfall and the
elevation of the scene, with the Köppen rules applied to a crude temperature model:

    T_ann(z)  = T_sea(|lat|) + dT_region - Gamma * z,        Gamma = 6 K/km
    T_month   = T_ann + a * cos(2 pi (m - m_hot) / 12),        a = 1 + c * |lat|
    dry (B)   : P < P_th = 20 T_ann + {0 (dry summer s), 280 (dry winter w), 140 (f)} mm (BW: P < P_th/2)
    polar (E) : T_hot < 10 C (ET), T_hot < 0 C (EF)
    tropical  : T_cold >= 18 C;  temperate C: T_cold > -3 C;  continental D otherwise
    third letter: a if T_hot >= 22 C, b if at least 4 months >= 10 C, c otherwise.

``c`` is 0.13 for maritime and 0.2-0.3 for continental mountain belts; ``dT_region`` accounts for
warm ocean currents (NE Atlantic) or cold ones (Humboldt). The same model gives the tree line
(T_hot = 10 C), the permanent-snow line (T_hot = 1 C) and the seasonal snow line of a date
(T(date) = 0 C), which the land cover and the snow confounder use.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

KOPPEN_CLASSES: dict[int, tuple[str, str]] = {
    11: ("Af", "equatorial, fully humid"),
    12: ("Am", "equatorial, monsoonal"),
    14: ("Aw", "equatorial, winter dry"),
    21: ("BWk", "arid desert, cold"),
    22: ("BWh", "arid desert, hot"),
    26: ("BSk", "arid steppe, cold"),
    27: ("BSh", "arid steppe, hot"),
    31: ("Cfa", "warm temperate, fully humid, hot summer"),
    32: ("Cfb", "warm temperate, fully humid, warm summer"),
    33: ("Cfc", "warm temperate, fully humid, cool summer"),
    34: ("Csa", "warm temperate, summer dry, hot summer"),
    35: ("Csb", "warm temperate, summer dry, warm summer"),
    37: ("Cwa", "warm temperate, winter dry, hot summer"),
    38: ("Cwb", "warm temperate, winter dry, warm summer"),
    41: ("Dfa", "snow, fully humid, hot summer"),
    42: ("Dfb", "snow, fully humid, warm summer"),
    43: ("Dfc", "snow, fully humid, cool summer"),
    61: ("EF", "polar frost"),
    62: ("ET", "polar tundra"),
}
KOPPEN_BY_NAME: dict[str, int] = {v[0]: k for k, v in KOPPEN_CLASSES.items()}
LAPSE_K_PER_M = 0.006

# zonal mean sea-level annual temperature (deg C) against |latitude|
_T_SEA_LAT = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0])
_T_SEA_VAL = np.array([26.5, 26.5, 25.0, 20.0, 14.5, 9.0, 4.0, -3.0, -20.0])


@dataclass(frozen=True)
class Physiography:
    """A mountain belt or lowland: base elevation, relief and the climate modifiers."""

    name: str
    lon: tuple[float, float]
    lat: tuple[float, float]
    base_m: float
    relief_m: float
    season: str  # "f" humid all year, "s" dry summer, "w" dry winter
    t_offset: float = 0.0
    continental: float = 0.13
    steep: bool = False
    forest_factor: float = 1.0


PHYSIOGRAPHY: tuple[Physiography, ...] = (
    Physiography("scandinavian mountains", (4, 32), (58, 71), 60, 1050, "f", 3.0, 0.13, True),
    Physiography("iceland", (-25, -13), (63, 67), 20, 850, "f", 2.0, 0.13, True, 0.15),
    Physiography("pacific north-west coast ranges", (-140, -120), (48, 62), 60, 950, "f", 2.0, 0.13, True),
    Physiography("alps", (5, 16), (44, 48.5), 1000, 900, "f", 0.0, 0.2, True),
    Physiography("sierra nevada", (-122, -117), (35, 40), 1200, 750, "s", 0.0, 0.13),
    Physiography("northern andes", (-81, -75), (-6, 3), 2300, 750, "f", 0.0, 0.05),
    Physiography("central andes", (-76, -67), (-18, -10), 3300, 700, "w", 4.0, 0.13),
    Physiography("tien shan", (69, 80), (39, 44), 1300, 700, "s", 0.0, 0.3),
    Physiography("sichuan and eastern himalaya", (97, 106), (26, 33), 1500, 950, "w", 0.0, 0.3),
    Physiography("western ghats", (74, 78), (8, 16), 1400, 750, "w", 0.0, 0.13, True),
    Physiography("philippines", (117, 127), (5, 19), 150, 800, "f", 0.0, 0.05, True),
    Physiography("indonesian arcs", (95, 141), (-11, 6), 250, 480, "f", 0.0, 0.05),
    Physiography("new zealand", (165, 180), (-47, -34), 100, 750, "f", 0.0, 0.13, True),
    Physiography("british isles uplands", (-11, 2), (50, 59), 150, 380, "f", 2.0, 0.13),
    Physiography("serra do mar", (-50, -40), (-25, -20), 300, 520, "f", 0.0, 0.13),
    Physiography("north-east brazil coast", (-40, -34), (-10, -5), 30, 140, "s", 0.0, 0.05),
    Physiography("eastern australian ranges", (150, 154), (-30, -27), 100, 380, "f", 0.0, 0.13),
)


def physiography_at(lat: float, lon: float) -> Physiography | None:
    for p in PHYSIOGRAPHY:
        if p.lon[0] <= lon <= p.lon[1] and p.lat[0] <= lat <= p.lat[1]:
            return p
    return None


@dataclass(frozen=True)
class ClimateModel:
    lat: float
    rainfall_mm: float
    t_ann_sea: float  # deg C at sea level incl. regional offset
    amplitude: float  # half the annual range, deg C
    season: str

    def t_ann(self, z: float) -> float:
        return self.t_ann_sea - LAPSE_K_PER_M * z

    def t_hot(self, z: float) -> float:
        return self.t_ann(z) + self.amplitude

    def t_cold(self, z: float) -> float:
        return self.t_ann(z) - self.amplitude

    def t_on(self, date: dt.date, z: float) -> float:
        """Mean air temperature of the day ``date`` at elevation ``z`` (lag: hottest ~20 Jul)."""
        doy = date.timetuple().tm_yday
        hot = 201 if self.lat >= 0 else 19
        return self.t_ann(z) + self.amplitude * math.cos(2 * math.pi * (doy - hot) / 365.25)

    def isotherm_hot(self, t: float) -> float:
        """Elevation where the warmest-month mean is ``t``."""
        return (self.t_ann_sea + self.amplitude - t) / LAPSE_K_PER_M

    @property
    def treeline_m(self) -> float:
        return self.isotherm_hot(10.0)

    @property
    def glacier_line_m(self) -> float:
        return self.isotherm_hot(1.0)

    def snowline_on(self, date: dt.date) -> float:
        """Elevation of the 0 C isotherm on ``date`` (seasonal snow below permanent snow)."""
        t0 = self.t_on(date, 0.0)
        return min(t0 / LAPSE_K_PER_M, self.glacier_line_m)

    def koppen(self, z: float) -> int:
        t_ann, t_hot, t_cold = self.t_ann(z), self.t_hot(z), self.t_cold(z)
        p = self.rainfall_mm
        if t_hot < 10.0:
            return KOPPEN_BY_NAME["EF" if t_hot < 0.0 else "ET"]
        p_th = 20.0 * t_ann + {"s": 0.0, "w": 280.0}.get(self.season, 140.0)
        if p < p_th:
            kind = "BW" if p < 0.5 * p_th else "BS"
            return KOPPEN_BY_NAME[kind + ("h" if t_ann >= 18.0 else "k")]
        months = [t_ann + self.amplitude * math.cos(2 * math.pi * m / 12) for m in range(12)]
        warm_months = sum(t >= 10.0 for t in months)
        if t_cold >= 18.0:
            if self.season == "f" and p >= 1800:
                return KOPPEN_BY_NAME["Af"]
            if p >= 1500 or self.season == "f":
                return KOPPEN_BY_NAME["Am"]
            return KOPPEN_BY_NAME["Aw"]
        third = "a" if t_hot >= 22.0 else ("b" if warm_months >= 4 else "c")
        if t_cold > -3.0:
            second = self.season if self.season in "sw" else "f"
            if second in "sw" and third == "c":
                second = "f"
            return KOPPEN_BY_NAME["C" + second + third]
        return KOPPEN_BY_NAME["Df" + third]  # Ds/Dw are folded into Df (not in the table)


def climate_model(lat: float, rainfall_mm: float, phys: Physiography | None) -> ClimateModel:
    t_sea = float(np.interp(abs(lat), _T_SEA_LAT, _T_SEA_VAL))
    season = phys.season if phys else ("w" if abs(lat) < 25 and rainfall_mm < 1500 else "f")
    cont = phys.continental if phys else 0.15
    t_off = phys.t_offset if phys else 0.0
    return ClimateModel(
        lat=lat,
        rainfall_mm=rainfall_mm,
        t_ann_sea=t_sea + t_off,
        amplitude=1.0 + cont * abs(lat),
        season=season,
    )


def koppen_band_value(code: int) -> int:
    """Band-11 value of a Kottek code: the shared class index (0 = Af ... 30 = ET)."""
    from gee_landslide.earthengine.classes import kg_index_from_kottek

    return kg_index_from_kottek(code)


def koppen_name(code: int) -> str:
    return KOPPEN_CLASSES[code][0]


def koppen_group(code: int) -> str:
    """First letter: A, B, C, D or E."""
    return koppen_name(code)[0]
