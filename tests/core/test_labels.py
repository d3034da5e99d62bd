"""Rasterising landslide inventories: the real Mesetas (Colombia) inventory, CRSs, formats."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from pyproj import Geod
from rasterio.transform import rowcol
from shapely.geometry import box
from typer.testing import CliRunner

from gee_landslide.cli import app
from gee_landslide.core.grid import grid_for_bbox
from gee_landslide.core.labels import InventoryError, rasterize_inventory, rasterize_polygons
from gee_landslide.core.stackio import write_stack

INVENTORY = Path(__file__).resolve().parents[3] / "shared/data/inventories/colombia_mesetas_2019.gpkg"
pytestmark = pytest.mark.skipif(not INVENTORY.exists(), reason="shared/ inventory not beside the repo")


@pytest.fixture(scope="module")
def inventory() -> gpd.GeoDataFrame:
    return gpd.read_file(INVENTORY)


@pytest.fixture(scope="module")
def grid_and_mask(inventory):
    grid = grid_for_bbox(*inventory.total_bounds)
    mask, report = rasterize_inventory(INVENTORY, grid)
    return grid, mask, report


def test_all_838_polygons_are_read_and_on_the_grid(grid_and_mask) -> None:
    grid, _, report = grid_and_mask
    assert grid.crs == "EPSG:32618"  # UTM 18N for Meta, Colombia
    assert report.polygons_read == 838 and report.polygons_on_grid == 838


def test_rasterised_area_matches_geodesic_area(inventory, grid_and_mask) -> None:
    """The true area comes from the ellipsoid (pyproj.Geod) on the lon/lat polygons: independent of UTM."""
    _, mask, _ = grid_and_mask
    geod = Geod(ellps="WGS84")
    union = inventory.geometry.make_valid().union_all()
    true_area = abs(geod.geometry_area_perimeter(union)[0])
    raster_area = mask.sum() * 100.0
    assert 2.0e6 < true_area < 2.6e6
    assert raster_area == pytest.approx(true_area, rel=0.02)


def test_no_polygon_is_lost_or_shifted(inventory, grid_and_mask) -> None:
    grid, mask, _ = grid_and_mask
    utm = inventory.to_crs(grid.crs).geometry.make_valid()
    # every polygon overlaps at least one burnt pixel
    for i, geom in enumerate(utm):
        x0, y0, x1, y1 = geom.bounds
        r0, c0 = rowcol(grid.transform, x0, y1)
        r1, c1 = rowcol(grid.transform, x1, y0)
        rows, cols = np.nonzero(mask[r0 : r1 + 1, c0 : c1 + 1])
        pixels = [
            box(grid.x_min + (c + c0) * 10.0, grid.y_max - (r + r0 + 1) * 10.0,
                grid.x_min + (c + c0 + 1) * 10.0, grid.y_max - (r + r0) * 10.0)
            for r, c in zip(rows, cols, strict=True)
        ]
        assert any(geom.intersection(p).area > 0 for p in pixels), f"polygon {i} was lost"
    # isolated polygons: the burnt pixels' centroid sits on the polygon centroid (no half-pixel shift)
    sindex = utm.sindex
    checked = 0
    offsets = []
    for geom in utm:
        if geom.area < 1500 or len(sindex.query(geom.buffer(40))) > 1:
            continue
        if not box(*grid.bounds).buffer(-30).contains(geom):
            continue  # clipped by the grid edge
        x0, y0, x1, y1 = geom.buffer(20).bounds
        r0, c0 = (max(int(v), 0) for v in rowcol(grid.transform, x0, y1))
        r1, c1 = rowcol(grid.transform, x1, y0)
        rows, cols = np.nonzero(mask[r0 : r1 + 1, c0 : c1 + 1])
        xs = grid.x_min + (cols + c0 + 0.5) * grid.resolution
        ys = grid.y_max - (rows + r0 + 0.5) * grid.resolution
        offsets.append((xs.mean() - geom.centroid.x, ys.mean() - geom.centroid.y))
        checked += 1
        if checked >= 150:
            break
    assert checked >= 50
    d = np.array(offsets)
    assert np.abs(d.mean(axis=0)).max() < 0.5  # no systematic shift (a half-pixel error is 5 m)
    assert np.hypot(d[:, 0], d[:, 1]).max() < 10.0  # within one 10 m pixel each (thin shapes vary most)


def test_other_crs_and_formats_give_the_same_mask(tmp_path: Path, inventory, grid_and_mask) -> None:
    grid, mask, _ = grid_and_mask
    sub = inventory.iloc[:120]
    expected = rasterize_polygons(_write(sub, tmp_path / "a.gpkg", "GPKG"), grid)
    for path in (
        _write(sub.to_crs("EPSG:3857"), tmp_path / "b.geojson", "GeoJSON"),
        _write(sub.to_crs("EPSG:32618"), tmp_path / "c.shp", "ESRI Shapefile"),
    ):
        got = rasterize_polygons(path, grid)
        assert (got != expected).sum() <= 0.002 * expected.sum() + 2  # reprojection round-off only
    assert expected.sum() < mask.sum()


def _write(gdf: gpd.GeoDataFrame, path: Path, driver: str) -> Path:
    gdf[["geometry"]].to_file(path, driver=driver)
    return path


def test_bad_inventories_are_named(tmp_path: Path, inventory) -> None:
    grid = grid_for_bbox(*inventory.total_bounds)
    with pytest.raises(InventoryError, match="not found"):
        rasterize_polygons(tmp_path / "missing.gpkg", grid)
    pts = gpd.GeoDataFrame(geometry=inventory.geometry.representative_point().iloc[:3], crs=inventory.crs)
    pts.to_file(tmp_path / "points.gpkg")
    with pytest.raises(InventoryError, match=r"points\.gpkg.*non-polygon"):
        rasterize_polygons(tmp_path / "points.gpkg", grid)
    (tmp_path / "nocrs.geojson").write_text(
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"bogus"}},"features":[]}'
    )
    with pytest.raises(InventoryError, match=r"nocrs\.geojson"):
        rasterize_polygons(tmp_path / "nocrs.geojson", grid)


def test_cli_burns_onto_a_stack_grid(tmp_path: Path, inventory) -> None:
    lon, lat = inventory.geometry.iloc[0].centroid.coords[0]
    from gee_landslide.core.grid import grid_around

    grid = grid_around(lat, lon, 2000.0)
    write_stack(tmp_path / "ev", np.zeros((15, *grid.shape), np.float32), grid, None, {"source": "test"})
    res = CliRunner().invoke(app, ["labels", "rasterize", str(INVENTORY), "--like", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "ev" / "labels.tif") as ds:
        burnt = ds.read(1)
        assert ds.crs.to_string() == grid.crs and ds.transform == grid.transform
    assert burnt.sum() > 0 and set(np.unique(burnt)) <= {0, 1}
    assert "polygons on the grid" in res.output
