"""The offline basemap: hillshade geometry and the lon/lat PNG with water."""

from __future__ import annotations

import json

import numpy as np

from gee_landslide.core.grid import grid_around
from gee_landslide.core.landcover import WATER_CODE
from gee_landslide.monitor.basemap import hillshade, install_basemap, read_basemaps, write_basemap


def test_hillshade_lights_slopes_facing_the_sun():
    flat = hillshade(np.zeros((20, 20)), 10.0)
    assert np.allclose(flat, np.sin(np.deg2rad(45)))
    rows, cols = np.mgrid[0:20, 0:20]
    faces_nw = (rows + cols) * 5.0  # rises to the south-east: the slope faces north-west, the sun
    faces_se = -faces_nw
    assert hillshade(faces_nw, 10.0).mean() > flat.mean() > hillshade(faces_se, 10.0).mean()
    z = np.zeros((10, 10))
    z[0, 0] = np.nan
    assert np.isnan(hillshade(z, 10.0)[0, 0])


def test_basemap_png_json_and_install(tmp_path):
    grid = grid_around(61.48, 6.1, 1000.0)
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    elev = (rows * 3.0 + np.sin(cols / 5.0) * 20).astype(np.float32)
    lc = np.full(grid.shape, 2, np.float32)
    lc[:, :10] = WATER_CODE
    pass_dir = tmp_path / "pass"
    pass_dir.mkdir()
    bbox = (6.09, 61.47, 6.11, 61.49)
    entry = write_basemap(pass_dir, "norway", grid, elev, lc, bbox, "2025-08-01")
    assert (pass_dir / "hillshade.tif").is_file() and (pass_dir / "basemap.png").is_file()
    w, s, e, n = entry["bounds"]
    gw, gs, ge, gn = grid.lonlat_bounds()
    assert max(abs(w - gw), abs(s - gs), abs(e - ge), abs(n - gn)) < 1e-3 and w < e and s < n
    assert entry["outline"][0] == [bbox[0], bbox[1]] and entry["outline"][0] == entry["outline"][-1]
    from PIL import Image

    img = np.asarray(Image.open(pass_dir / "basemap.png"))
    assert img.shape[2] == 4 and (img[..., 2] > img[..., 0] + 40).any()  # blue water is drawn
    store = tmp_path / "alerts"
    assert read_basemaps(store) == []
    install_basemap(pass_dir, store, "norway")
    assert read_basemaps(store) == [json.loads((pass_dir / "basemap.json").read_text())]
