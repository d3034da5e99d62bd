"""CLI commands: ``labels rasterize``."""

from __future__ import annotations

from pathlib import Path

import typer

from gee_landslide.cli.common import console, err_console

labels_app = typer.Typer(help="Landslide inventories and label rasters.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")


@labels_app.command("rasterize")
def rasterize(
    polygons: Path = typer.Argument(..., help="inventory: GeoJSON, GeoPackage or Shapefile, any CRS"),
    like: Path = typer.Option(..., "--like", help="stack directory or stack.tif whose grid to use"),
    layer: str | None = typer.Option(None, help="layer name, when the file has several"),
    out: Path | None = typer.Option(None, help="output GeoTIFF (default: labels.tif beside the stack)"),
) -> None:
    """Burn a landslide inventory onto a stack's grid (reprojecting it to the stack CRS)."""
    import rasterio

    from gee_landslide.core.grid import Grid
    from gee_landslide.core.labels import InventoryError, rasterize_inventory
    from gee_landslide.core.stackio import LABELS_FILE, STACK_FILE, write_geotiff

    stack_tif = like / STACK_FILE if like.is_dir() else like
    if not stack_tif.exists():
        err_console.print(f"[red]error[/red] {stack_tif}: stack not found")
        raise typer.Exit(2)
    with rasterio.open(stack_tif) as ds:
        grid = Grid.from_transform(ds.crs, ds.transform, ds.width, ds.height)
    try:
        mask, report = rasterize_inventory(polygons, grid, layer)
    except InventoryError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    target = out or stack_tif.parent / LABELS_FILE
    write_geotiff(target, mask, grid, ("landslide",), nodata=None)
    ratio = report.raster_area_m2 / report.polygon_area_m2 if report.polygon_area_m2 else float("nan")
    console.print(
        f"{report.polygons_on_grid}/{report.polygons_read} polygons on the grid, "
        f"{report.burnt_pixels} px burnt ({report.raster_area_m2 / 1e6:.3f} km2 vs polygon area "
        f"{report.polygon_area_m2 / 1e6:.3f} km2, ratio {ratio:.3f}; {report.rescued_small} sub-pixel "
        f"polygon(s) kept as one pixel) -> {target}"
    )
