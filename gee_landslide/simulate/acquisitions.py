r"""The acquisition calendar of a simulated region: Sentinel-1 dates, Sentinel-2 dates and clouds.

A monitoring system cannot wait for cloud-free optical images (paper, section 5.1), so the region
simulator builds its composites from dated acquisitions, as the Earth Engine recipe does, instead
of from whole windows:

- **Sentinel-1**: one relative orbit and one pass direction per region (``Region.orbit_pass``,
  ``Region.relative_orbit``, or a hashed orbit 1-175). Each satellite repeats the orbit every
  12 days; with two satellites the orbit is seen every 6 days. Constellation (approximate dates
  from ESA's mission pages): S1A from 2014-10-03; S1B from 2016-09-26 until its failure on
  2021-12-23; S1C in routine operation from about 2025-05-20 (launched 2024-12-05). So 2016-10
  to 2021-12 and from mid-2025 the repeat is 6 days, otherwise 12 (``core.constellation``).
- **Sentinel-2**: every 5 days with S2A + S2B (from 2017-07-01; 10 days with S2A alone before),
  on a per-region phase. Higher latitudes see overlapping orbits more often; that is ignored.
- **Clouds**: each Sentinel-2 date gets a scene cloud cover ``c`` drawn around the month's
  climatological cloud frequency ``m`` as :math:`c = u^{(1-m)/m}` (u uniform from the date's hash,
  so :math:`E[c] = m` and most dates at a cloudy site are overcast while a few are nearly clear),
  then a cloud mask where a 3-octave gradient-noise field (3 km, 1.2 km, 400 m) exceeds its
  :math:`1-c` quantile, and a cloud-shadow mask: the same field moved 400-1200 m polewards,
  outside the cloud. Both are masked, as the recipe masks pixels with Cloud Score+ ``cs_cdf``
  below the threshold.

Cloud climatology: :func:`cloud_climatology` gives approximate monthly cloud frequencies read
from the MODIS cloud-frequency climatology of Wilson & Jetz (2016), "Remotely sensed
high-resolution global cloud dynamics for predicting ecosystem and biodiversity distributions",
PLoS Biology 14(3): e1002415 (2000-2014 daily MODIS cloud flags). The values below are coarse
readings of that product, not extracted from its rasters: western Norway's coast is cloudy
70-85 % of days all year (least in May-June, most in November-January); other places get a
zonal-mean curve by latitude band. A region can set its own twelve values
(``simulation.cloud_frequency``).

Everything is a counter-based hash of the region key, the date and world coordinates: no
random-generator state, so a tile equals the same window of a larger grid, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gee_landslide.core.catalog import Window
from gee_landslide.core.constellation import S1_REPEAT_DAYS, S1A_START, s1_repeat_days
from gee_landslide.simulate import noise
from gee_landslide.simulate.terrain_model import Lattice

S2_FIVE_DAY_START = dt.date(2017, 7, 1)
S2_START = dt.date(2015, 6, 27)
CALENDAR_EPOCH = dt.date(2014, 4, 3)  # Sentinel-1A launch (confounders.EPOCH)

# approximate monthly cloud frequency (Jan..Dec), read from Wilson & Jetz 2016 (see module docstring)
NORWAY_WEST_COAST = (0.85, 0.82, 0.78, 0.74, 0.70, 0.70, 0.73, 0.75, 0.79, 0.82, 0.85, 0.86)
# zonal means by |latitude| band (northern-hemisphere months; shifted six months in the south)
_ZONAL: tuple[tuple[float, tuple[float, ...]], ...] = (
    (10.0, (0.62, 0.60, 0.62, 0.66, 0.70, 0.74, 0.76, 0.76, 0.74, 0.70, 0.66, 0.63)),  # inner tropics
    (25.0, (0.40, 0.38, 0.36, 0.36, 0.40, 0.48, 0.55, 0.55, 0.48, 0.40, 0.38, 0.40)),  # trade winds, monsoon
    (40.0, (0.50, 0.48, 0.46, 0.42, 0.38, 0.30, 0.25, 0.25, 0.32, 0.40, 0.48, 0.52)),  # subtropics
    (55.0, (0.70, 0.66, 0.62, 0.56, 0.54, 0.54, 0.55, 0.55, 0.58, 0.64, 0.70, 0.72)),  # mid-latitudes
    (90.0, (0.72, 0.70, 0.66, 0.64, 0.66, 0.68, 0.70, 0.72, 0.76, 0.78, 0.76, 0.74)),  # subpolar
)


def cloud_climatology(lat: float, lon: float) -> tuple[float, ...]:
    """Approximate monthly cloud frequency (Jan..Dec, 0-1) at a point (see the module docstring)."""
    if 58.0 <= lat <= 66.0 and 4.0 <= lon <= 9.0:  # the Norwegian west coast and fjords
        return NORWAY_WEST_COAST
    band = next(values for top, values in _ZONAL if abs(lat) <= top)
    if lat < 0:
        band = band[6:] + band[:6]
    return band


@dataclass(frozen=True)
class Calendar:
    """When a region's sensors look, and how cloudy each Sentinel-2 date is."""

    key: int  # the region's scene key
    lat: float  # region centre (for the hemisphere and the climatology)
    relative_orbit: int
    orbit_pass: str
    cloud_frequency: tuple[float, ...]  # Jan..Dec

    # -- Sentinel-1
    def _s1_phase(self) -> int:
        return int(noise.scalar_uniform(self.key, "s1-orbit-phase", self.relative_orbit) * S1_REPEAT_DAYS)

    def s1_dates(self, window: Window) -> list[dt.date]:
        """The region's Sentinel-1 acquisitions (one relative orbit) inside ``window``, in order."""
        phase = self._s1_phase()
        out = []
        d0 = max(window.start, S1A_START)
        for n in range((d0 - CALENDAR_EPOCH).days, (window.end - CALENDAR_EPOCH).days + 1):
            offset = (n - phase) % S1_REPEAT_DAYS
            d = CALENDAR_EPOCH + dt.timedelta(days=n)
            if offset == 0 or (offset == S1_REPEAT_DAYS // 2 and s1_repeat_days(d) == S1_REPEAT_DAYS // 2):
                out.append(d)
        return out

    # -- Sentinel-2
    def s2_dates(self, window: Window) -> list[dt.date]:
        """Sentinel-2 dates inside ``window``: every 5 days (10 before S2B), on the region's phase."""
        phase = int(noise.scalar_uniform(self.key, "s2-phase") * 10)
        out = []
        d0 = max(window.start, S2_START)
        for n in range((d0 - CALENDAR_EPOCH).days, (window.end - CALENDAR_EPOCH).days + 1):
            d = CALENDAR_EPOCH + dt.timedelta(days=n)
            step = 5 if d >= S2_FIVE_DAY_START else 10
            if (n - phase) % step == 0:
                out.append(d)
        return out

    def cloud_cover(self, d: dt.date) -> float:
        """Scene cloud cover of a Sentinel-2 date: mean = the month's climatology, most dates overcast."""
        m = float(self.cloud_frequency[d.month - 1])
        if m >= 0.999 or m <= 0.001:  # a region that asks for always / never cloudy gets exactly that
            return 1.0 if m >= 0.999 else 0.0
        u = noise.scalar_uniform(self.key, "cloud-cover", d.toordinal())
        return float(u ** ((1.0 - m) / m))

    def masks(self, lat: Lattice, d: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(cloud, shadow) boolean masks of the Sentinel-2 acquisition on ``d`` over ``lat``."""
        c = self.cloud_cover(d)
        shape = lat.shape
        if c >= 0.999:
            return np.ones(shape, bool), np.zeros(shape, bool)
        if c <= 0.001:
            return np.zeros(shape, bool), np.zeros(shape, bool)
        key = noise.stable_key(self.key, "cloud-field", d.toordinal())
        thr = NormalDist().inv_cdf(1.0 - c)
        wl = [3000.0, 1200.0, 400.0]
        cloud = noise.fbm(lat.x, lat.y, key, wl, 0.7) > thr
        off = 400.0 + 800.0 * noise.scalar_uniform(key, "shadow-offset")
        dy = off if self.lat >= 0 else -off
        dx = (noise.scalar_uniform(key, "shadow-dx") - 0.5) * off
        shadow = (noise.fbm(lat.x - dx, lat.y - dy, key, wl, 0.7) > thr) & ~cloud
        return cloud, shadow


def region_calendar(key: int, lat: float, lon: float, relative_orbit: int | None, orbit_pass: str,
                    cloud_frequency: list[float] | None) -> Calendar:
    """The calendar of a region (hashed relative orbit when the region names none)."""
    orbit = relative_orbit or 1 + int(noise.scalar_uniform(key, "relative-orbit") * 175)
    freq = tuple(float(v) for v in cloud_frequency) if cloud_frequency else cloud_climatology(lat, lon)
    if len(freq) != 12 or not all(0.0 <= v <= 1.0 for v in freq) or any(math.isnan(v) for v in freq):
        raise ValueError(f"cloud_frequency needs 12 monthly values within 0..1, got {freq}")
    return Calendar(key=key, lat=lat, relative_orbit=orbit, orbit_pass=orbit_pass.upper(), cloud_frequency=freq)
