r"""The embedded scene simulator: the project's default (``simulated``) stack source.

It produces, for any event of ``case_studies.yaml`` or any tile of a monitoring region, the
15 bands of the paper's Table 2 (``gee_landslide.core.bands``) on the project's 10 m UTM grid, the
landslide truth and a polygon inventory. Every later result of the project is judged on these
scenes, so the model below is physical: the SAR geometry is the same Vollrath code the Earth
Engine recipe ships (``gee_landslide.core.terrain``), and each change has a cause.

Determinism and tiling
----------------------
Nothing uses a random-generator state. Every random quantity is a counter-based hash
(SplitMix64 finaliser) of integer keys: the scene key (blake2b of ``event.id`` and seed, or of
the region id and ``simulation.seed``), a purpose tag, the *global* lattice position
(gx, gy) = (x_west / res, y_north / res) of a pixel, an acquisition number, a date.
Spatial fields are gradient-noise octaves evaluated at world coordinates. Neighbourhood
operations use margins (Horn slope: 1 px) or are computed on placement cells independent of
the tile (landslides), so any sub-grid equals the same window of a larger grid, bit for bit.

Terrain (``terrain_model``)
---------------------------
.. math::

    m &= 0.65\,\mathrm{fBm}_{H}(x, y; \lambda_0, \lambda_0/2, \lambda_0/4)
         + 0.55\,(1 - 0.9\sqrt{n_r(x, y)^2 + 0.04}) \\
    h &= \mathrm{softplus}(k (m - m_f)) / k, \qquad k = 4 \\
    z &= z_0 + R\,h + A_d\,\mathrm{fBm}_{1}(x, y; \lambda_0/8 \dots 40\,\mathrm{m})\,(0.25 + 0.75 \min(h, 1))

fBm octave amplitudes go as :math:`\lambda^H` (H = 0.7-0.9), :math:`n_r` is a ridged octave,
:math:`m_f` the valley-floor level (flat floors, lakes where :math:`m_f - m` exceeds the lake
depth, held at the shore level). Base :math:`z_0` and relief :math:`R` come from the mountain
belt of the event point (``climate.PHYSIOGRAPHY``: Scandinavia, Iceland, Andes, Alps, ...) and
the scene hash; for events the world offset of the noise is picked among 16 hashed candidates
so the AOI's steep fraction (> 25 deg) is close to 0.45 (mountain belts) or 0.3 (others).
Slope and aspect use the 3x3 Horn kernel at 10 m; aspect is the facing direction,
clockwise from north.

Climate (``climate``)
---------------------
One Köppen-Geiger class per scene (Kottek/Rubel numeric codes) from a temperature model:
:math:`T_{ann}(z) = T_{sea}(|\varphi|) + \Delta T - 0.006 z`, seasonal half-range
:math:`a = 1 + c|\varphi|`, the Köppen rules on :math:`T_{hot}, T_{cold}` and rainfall.
The same model gives the tree line (:math:`T_{hot} = 10` C), the glacier line
(:math:`T_{hot} = 1` C) and the seasonal snow line of a date (0 C isotherm).

Land cover, canopy, NDVI (``landcover``, ``optical``)
------------------------------------------------------
Cover classes (``gee_landslide.core.landcover`` codes 1-9) follow elevation, slope, valley floors and
patchiness fields: forest below the (wavy) tree line, pasture on gentle slopes, sparse/bare
rock high and steep, snow/glacier above the glacier line, lakes and rivers on floors, urban and
wetland on flat floors, with fractions set by the climate group. Band 13 is the pre-event
cover *as an optical classifier sees it* (scars as bare rock, fresh cuts as sparse, snow as
snow) with 2-5 % confusion (salt and small blobs) into neighbouring classes. Canopy height:
forest :math:`h_{max}(0.72 + 0.12 T)` vigour-reduced near the tree line, 10-38 m; shrubs 0-2 m.

.. math::

    \mathrm{NDVI}_w = \mu_s + \sigma_s T + \phi_w v (1 + 0.3 L) + 0.025 \epsilon_w + 0.02 R_w,
    \qquad \mathrm{dNDVI} = \mathrm{NDVI}_{post} - \mathrm{NDVI}_{pre}

with class mean/sd :math:`\mu_s, \sigma_s`, static texture T, phenology of the window's
greenest date :math:`\phi_w`, residual noise; water is drawn independently per window with
turbidity; residual cloud c and shadow s: :math:`\mathrm{NDVI} \leftarrow
\mathrm{NDVI}(1 - 0.7c) + 0.05c - 0.12s`.

Sentinel-1 (``sar``)
--------------------
Descending, heading -167 deg, right-looking: :math:`\phi_i` = ``terrain.sensor_azimuth_deg``
= 103 deg. The ellipsoid incidence angle grows by 16 deg over the 250 km swath,
:math:`\theta_i = \theta_c + 0.064\,d_{km}` along the look direction, :math:`\theta_c`
hashed in 31.5-44.5 deg. ``terrain.slope_geometry`` gives :math:`\alpha_r, \alpha_{az}` and the
local incidence angle (band 8), ``layover_mask``/``shadow_mask`` bands 6 and 7. Per pixel,
polarisation and acquisition k (every 12 days in the window, on a global 12-day lattice):

.. math::

    \gamma^0_{true} &= g_s \left(\frac{\cos\theta_{lia}}{\cos\theta_i}\right)^{m_s}
        10^{(o_s + \tau_s T + M_w + A_k)/10} \\
    \sigma^0_k &= (\gamma^0_{true} \cos\theta_i\, K_{true} + \mathrm{NESZ})\, S_k,
        \qquad S_k \sim \Gamma(\mathrm{ENL} = 4.4,\ 1/\mathrm{ENL}) \\
    \gamma^0_{flat} &= \mathrm{median}_k(\sigma^0_k) / \cos\theta_i / K_{flat}

(``terrain.sigma0_from_gamma0`` and ``terrain.gamma0_flat``). :math:`K_{true}` is the volume
model for vegetation and the surface model for bare ground, scars and snow
(``terrain.flattening_factor``); :math:`K_{flat}` follows the pre-event CART class, as the GEE
recipe does, so the flattened residual is speckle plus real change (including the model
switch when vegetation becomes bare ground on a slope). Intrinsic :math:`g_s` (dB, VV/VH):
forest -7.5/-13.5, herbaceous -9/-15.5, grass -10.5/-17, sparse -11.5/-19, rock -10.5/-19,
water -20/-27 (with per-acquisition wind), urban -3/-10.5 (strong texture), wet snow -17/-25,
scar scarp/track/deposit -8.5/-19, -9.5/-19.5, -7/-17.5 with :math:`m_s` 1.8/1.5/1.0 (VH uses
0.6 :math:`m_s`). VV and VH (bands 0-5) are NaN where layover or shadow. dB = 10 log10.

Acquisition calendar of regions (``acquisitions``)
--------------------------------------------------
Region tiles (not event stacks) are composited from dated acquisitions: Sentinel-1 on the
region's relative orbit every 12 days (6 with two satellites: 2016-09..2021-12 and from mid
2025), Sentinel-2 every 5 days with per-date cloud and cloud-shadow masks whose cover follows a
monthly cloud climatology (Wilson & Jetz 2016 MODIS cloud frequency, approximate values; western
Norway 70-85 %). Each acquisition sees the landslides dated on or before it; Sentinel-1 is the
median, Sentinel-2 the greenest *clear* pixel, NaN where no date was clear (as in Earth Engine).
``simulation.acquisitions: false`` restores whole-window composites.

Landslides (``landslides``)
---------------------------
Events: typical length L and width W from the catalog ``size_km`` (clipped to the 2 km AOI),
N chosen so scars cover ~2-10 % of the AOI (at least 300 px, at most 15 %): Norway-5 gives 60
debris flows of ~110 x 30 m, km-size events one or a few large slides. Regions: each
``landslide_dates`` entry places ``landslides_per_date`` slides in 1 km cells drawn by a
weighted hash race on the cells' steep fraction. Sources: slope 28-55 deg, weighted towards
vegetated cover and steeper ground. Runout: continuous steepest descent with inertia on the
1.5 px-smoothed DEM, stopping at the target length, after a deposition length once the slope
drops below 12 deg, or at a pit. The scar is the set of pixels within w(t)/2 of the path
(crown bulge, channel, fan). Post-event, scar pixels take the scarp/track/deposit surfaces
mixed with the old state by a per-slide severity (0.55-1, 0.6x on boundary pixels).
Region onset logic: onset <= pre.end: already in both windows (old scar, label 0);
pre.end < onset <= post.end: in post and labelled; later: absent.

Confounders (``confounders``)
-----------------------------
Clear-cuts (Poisson per 1 km cell and 30-day period, rotated 60-260 m rectangles in forest,
fresh for 180 days then regrowing for 2 years: dNDVI and VH drop on any slope); seasonal snow
from the snow line of each window (median date for SAR, least snowy date for the greenest-pixel
S2 composite; wet within 350 m of the line: VV drop); residual cloud and cloud shadow in the S2
composites (no SAR change); water with independent NDVI draws and turbidity; phenology offset;
soil-moisture offset of the post window for rain-triggered events. Frequencies vary with the
climate group and the scene hash, and all parameters are recorded in ``meta["params"]``.
"""

from gee_landslide.simulate.scene import (
    SIMULATOR_VERSION,
    SimulatedScene,
    build_event_stack,
    event_params,
    region_params,
    simulate_event,
    simulate_region,
    simulate_region_tile,
)

__all__ = [
    "SIMULATOR_VERSION",
    "SimulatedScene",
    "build_event_stack",
    "event_params",
    "region_params",
    "simulate_event",
    "simulate_region",
    "simulate_region_tile",
]
