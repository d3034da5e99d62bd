"""CLI commands: ``labels rasterize``.

A stack's ``labels.tif`` is training truth: this command never replaces an existing one unless
``--force`` is given, and never writes an empty burn (no polygon on the grid) over anything.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gee_landslide.cli.common import console
from gee_landslide.cli.help import command_group
from gee_landslide.core.labels import InventoryError

labels_app = command_group(
    "Landslide inventories and label rasters.",
    "gee-landslide labels rasterize inventory.gpkg --like artifacts/stacks/my-event --out /tmp/labels.tif",
    "gee-landslide labels rasterize inventory.gpkg --like artifacts/stacks/my-event --force",
)



@labels_app.command("rasterize")
def rasterize(
    polygons: Path = typer.Argument(..., help="inventory: GeoJSON, GeoPackage or Shapefile, any CRS"),
    like: Path = typer.Option(..., "--like", help="stack directory or stack.tif whose grid to use"),
    layer: str | None = typer.Option(None, help="layer name, when the file has several"),
    out: Path | None = typer.Option(None, help="output GeoTIFF (default: labels.tif beside the stack)"),
    force: bool = typer.Option(False, "--force", help="replace an existing labels file"),
) -> None:
    """Burn a landslide inventory onto a stack's grid (reprojecting it to the stack CRS)."""
    import rasterio

    from gee_landslide.core.grid import Grid
    from gee_landslide.core.labels import rasterize_inventory
    from gee_landslide.core.stackio import LABELS_FILE, STACK_FILE, write_geotiff

    stack_tif = like / STACK_FILE if like.is_dir() else like
    if not stack_tif.exists():
        raise InventoryError(f"{stack_tif}: stack not found", file=stack_tif, field="--like",
                             hint="gee-landslide stacks build --event EVENT_ID")
    target = out or stack_tif.parent / LABELS_FILE
    if target.exists() and not force:
        raise InventoryError(
            f"{target} already exists; its labels were not replaced", file=target,
            hint=f"add --force to replace it, or --out OTHER.tif to write elsewhere: "
                 f"gee-landslide labels rasterize {polygons} --like {like} --force",
        )
    with rasterio.open(stack_tif) as ds:
        grid = Grid.from_transform(ds.crs, ds.transform, ds.width, ds.height)
    mask, report = rasterize_inventory(polygons, grid, layer)
    if report.burnt_pixels == 0:
        raise InventoryError(
            f"{polygons}: none of its {report.polygons_read} polygon(s) falls on the grid of {stack_tif}; "
            f"nothing was written", file=polygons, field="polygons_on_grid", value=report.polygons_on_grid,
        )
    write_geotiff(target, mask, grid, ("landslide",), nodata=None)
    ratio = report.raster_area_m2 / report.polygon_area_m2 if report.polygon_area_m2 else float("nan")
    console.print(
        f"{report.polygons_on_grid}/{report.polygons_read} polygons on the grid, "
        f"{report.burnt_pixels} px burnt ({report.raster_area_m2 / 1e6:.3f} km2 vs polygon area "
        f"{report.polygon_area_m2 / 1e6:.3f} km2, ratio {ratio:.3f}; {report.rescued_small} sub-pixel "
        f"polygon(s) kept as one pixel) -> {target}", highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")
