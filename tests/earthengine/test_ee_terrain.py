"""The terrain-flattening geometry of gee_landslide.core.terrain: numbers (NumPy) and the ee graph.

The Sentinel-1 builder runs these very functions on ee.Image objects; here they run on
NumpyImage, so the numbers checked are the numbers of the shipped code.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gee_landslide.core import terrain
from gee_landslide.core.terrain import NumpyImage

DEG = math.pi / 180
THETA = 35.0  # typical IW mid-swath incidence angle, degrees
PHI_I = terrain.sensor_azimuth_deg(-167.0)  # descending: sensor lies to the ESE (~103 deg)


def geom(slope_deg, aspect_deg, theta_deg=THETA, phi_i_deg=PHI_I):
    slope = np.atleast_1d(np.asarray(slope_deg, dtype=float))
    aspect = np.broadcast_to(np.asarray(aspect_deg, dtype=float), slope.shape)
    th = NumpyImage(np.full(slope.shape, theta_deg * DEG))
    g = terrain.slope_geometry(th, NumpyImage(np.full(slope.shape, phi_i_deg * DEG)),
                               NumpyImage(slope * DEG), NumpyImage(aspect * DEG))
    return th, g


def k_values(slope_deg, aspect_deg, surface=False):
    th, g = geom(slope_deg, aspect_deg)
    mask = NumpyImage(np.ones_like(th.array)) if surface else None
    return terrain.flattening_factor(th, g, mask).array


def test_descending_sensor_azimuth_is_east_south_east():
    assert pytest.approx(103.0) == PHI_I


@pytest.mark.parametrize("surface", [False, True])
def test_flat_ground_k_is_one_and_lia_is_incidence(surface):
    th, g = geom([0.0, 0.0], [0.0, 200.0])
    assert np.allclose(k_values([0.0, 0.0], [0.0, 200.0], surface), 1.0)
    assert np.allclose(g.lia.array, THETA * DEG)
    assert not terrain.layover_mask(th, g.alpha_r).array.any()
    assert not terrain.shadow_mask(th, g.alpha_r).array.any()
    sigma = NumpyImage(np.array([0.1, 0.1]))
    gamma = terrain.gamma0_flat(sigma, th, NumpyImage(np.ones(2))).array
    assert np.allclose(gamma, 0.1 / math.cos(THETA * DEG))


@pytest.mark.parametrize("surface", [False, True])
def test_slope_facing_sensor_darkens_facing_away_brightens(surface):
    towards, away = PHI_I, (PHI_I + 180) % 360
    k_towards = k_values([20.0], towards, surface)[0]
    k_away = k_values([20.0], away, surface)[0]
    assert k_towards > 1.0 > k_away > 0
    # gamma0_flat = gamma0 / K: the fore-slope (too bright in the raw image) is darkened
    th, _ = geom([20.0], towards)
    sigma = NumpyImage(np.array([0.2]))
    flat_towards = terrain.gamma0_flat(sigma, th, NumpyImage(np.array([k_towards]))).array[0]
    flat_away = terrain.gamma0_flat(sigma, th, NumpyImage(np.array([k_away]))).array[0]
    raw = 0.2 / math.cos(THETA * DEG)
    assert flat_towards < raw < flat_away
    # the forward model (simulator) and the flattening are inverses
    back = terrain.sigma0_from_gamma0(NumpyImage(np.array([flat_towards])), th,
                                      NumpyImage(np.array([k_towards]))).array[0]
    assert back == pytest.approx(0.2)


def test_lia_on_range_slopes():
    _, g = geom([20.0, 20.0], [PHI_I, (PHI_I + 180) % 360])
    assert np.degrees(g.lia.array) == pytest.approx([THETA - 20.0, THETA + 20.0])
    assert np.degrees(g.alpha_r.array) == pytest.approx([20.0, -20.0])
    assert np.allclose(g.alpha_az.array, 0.0, atol=1e-12)


def test_volume_k_matches_closed_form():
    alpha = 15.0
    k = k_values([alpha], PHI_I)[0]
    expected = math.tan((90 - THETA + alpha) * DEG) / math.tan((90 - THETA) * DEG)
    assert k == pytest.approx(expected)
    ks = k_values([alpha], PHI_I, surface=True)[0]
    expected_s = math.cos((90 - THETA) * DEG) / math.cos((90 - THETA + alpha) * DEG)
    assert ks == pytest.approx(expected_s)


def test_layover_on_steep_fore_slopes_shadow_on_steep_back_slopes():
    slopes = [40.0, 40.0, 60.0, 60.0, 30.0]
    aspects = [PHI_I, (PHI_I + 180) % 360, (PHI_I + 180) % 360, PHI_I, PHI_I]
    th, g = geom(slopes, aspects)
    lay = terrain.layover_mask(th, g.alpha_r).array.astype(bool)
    sha = terrain.shadow_mask(th, g.alpha_r).array.astype(bool)
    # 40 deg facing the sensor (> theta 35): layover; 60 deg facing away (> 90-35=55): shadow
    assert lay.tolist() == [True, False, False, True, False]
    assert sha.tolist() == [False, False, True, False, False]
    assert not (lay & sha).any()


def test_mirror_slopes_are_symmetric():
    deltas = np.array([10.0, 30.0, 60.0, 80.0])
    left = (PHI_I + deltas) % 360
    right = (PHI_I - deltas) % 360
    for surface in (False, True):
        assert np.allclose(k_values([25.0] * 4, left, surface), k_values([25.0] * 4, right, surface))
    _, gl = geom([25.0] * 4, left)
    _, gr = geom([25.0] * 4, right)
    assert np.allclose(gl.lia.array, gr.lia.array)
    assert np.allclose(gl.alpha_r.array, gr.alpha_r.array)
    assert np.allclose(gl.alpha_az.array, -gr.alpha_az.array)


def test_surface_mask_selects_model_per_pixel():
    th, g = geom([20.0, 20.0], [PHI_I, PHI_I])
    mask = NumpyImage(np.array([0.0, 1.0]))
    k = terrain.flattening_factor(th, g, mask).array
    assert k[0] == pytest.approx(terrain.volume_model_k(th, g.alpha_r).array[0])
    assert k[1] == pytest.approx(terrain.surface_model_k(th, g.alpha_r, g.alpha_az).array[1])
    assert k[0] != pytest.approx(k[1])


def _functions(graph):
    names = set()

    def walk(n):
        if isinstance(n, dict):
            if "functionName" in n:
                names.add(n["functionName"])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(graph)
    return names


def test_same_functions_build_an_ee_graph(ee_offline):
    import ee

    from gee_landslide.earthengine.sentinel1 import flatten_image

    dem = ee.Image("USGS/SRTMGL1_003")
    theta = ee.Image.constant(THETA * DEG)
    phi_i = ee.Image.constant(PHI_I * DEG)
    g = terrain.slope_geometry(theta, phi_i, ee.Terrain.slope(dem).multiply(DEG),
                               ee.Terrain.aspect(dem).multiply(DEG))
    k = terrain.flattening_factor(theta, g, ee.Image(1))
    out = ee.Image.cat([k, g.lia, terrain.layover_mask(theta, g.alpha_r),
                        terrain.shadow_mask(theta, g.alpha_r)])
    fns = _functions(json.loads(out.serialize()))
    assert {"Terrain.slope", "Terrain.aspect", "Image.atan", "Image.acos", "Image.tan",
            "Image.where", "Image.gte", "Image.lte"} <= fns
    scene = flatten_image(ee.Image("COPERNICUS/S1_GRD_FLOAT/x"), dem, ee.Image(0))
    fns = _functions(json.loads(scene.serialize()))
    assert {"Terrain.slope", "Terrain.aspect", "Image.reduceRegion", "Image.log10", "Image.updateMask"} <= fns


@pytest.fixture
def ee_offline():
    from gee_landslide.earthengine.init import offline

    with offline():
        yield
