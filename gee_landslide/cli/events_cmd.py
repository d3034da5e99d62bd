"""CLI commands: ``events list|validate|add`` over ``case_studies.yaml``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from gee_landslide.cli.common import (
    CatalogOption,
    RootOption,
    console,
    err_console,
    get_catalog,
    get_paths,
    print_catalog_issues,
)
from gee_landslide.core.catalog import CatalogError, append_event, load_catalog, validate_event

events_app = typer.Typer(help="List, validate and extend the event catalog.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


@events_app.command("list")
def list_events(catalog: Path | None = CatalogOption, root: Path | None = RootOption) -> None:
    """Show the catalog as a table (the paper's Table 1 plus split and location)."""
    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    table = Table(title=f"{len(cat.events)} events in {catalog or paths.catalog}")
    for col in ("#", "id", "place", "type", "T", "size L x W km", "rain mm/yr", "date", "lat", "lon", "split"):
        table.add_column(col, justify="right" if col in {"#", "rain mm/yr", "lat", "lon"} else "left")
    for e in cat.events:
        table.add_row(
            str(e.number or ""),
            e.id,
            f"{e.name}, {e.country}",
            " ".join(map(str, e.types)),
            e.trigger,
            f"{e.size_km[0]:g} x {e.size_km[1]:g}",
            f"{e.rainfall_mm_yr:g}" if e.rainfall_mm_yr else "",
            e.date.isoformat(),
            f"{e.lat:.3f}" + ("~" if e.approximate else ""),
            f"{e.lon:.3f}" + ("~" if e.approximate else ""),
            e.split,
        )
    console.print(table)
    counts = {s: len(cat.split(s)) for s in ("train", "val", "test")}
    console.print(
        f"split: {counts['train']} train, {counts['val']} val, {counts['test']} test (seed {cat.split_seed}); "
        f"~ = approximate location; regions: {', '.join(cat.regions) or 'none'}"
    )


@events_app.command("validate")
def validate(path: Path = typer.Argument(Path("case_studies.yaml"), help="catalog file to check")) -> None:
    """Check a catalog file; print every problem with file, line, field and value; exit 1 on error."""
    try:
        cat = load_catalog(path)
    except CatalogError as exc:
        print_catalog_issues(exc)
        err_console.print(f"{len(exc.issues)} problem(s) in {path}")
        raise typer.Exit(1) from None
    console.print(f"[green]ok[/green] {path}: {len(cat.events)} events, {len(cat.regions)} region(s)")


def _parse_size(size: str) -> tuple[float, float]:
    parts = size.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise typer.BadParameter(f"size must look like '0.8x0.1' (length x width in km), got {size!r}")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise typer.BadParameter(f"size must be two numbers like '0.8x0.1', got {size!r}") from None


def _from_inventory(labels: Path) -> tuple[float, float, tuple[float, float]]:
    """Centre (lat, lon) of an inventory and the length x width (km) of its largest polygon."""
    from pyproj import Transformer

    from gee_landslide.core.labels import read_inventory

    gdf = read_inventory(labels)
    utm = gdf.to_crs(gdf.estimate_utm_crs())
    centre = utm.union_all().centroid
    lon, lat = Transformer.from_crs(utm.crs, "EPSG:4326", always_xy=True).transform(centre.x, centre.y)
    largest = utm.geometry.iloc[int(utm.area.values.argmax())].minimum_rotated_rectangle
    xs, ys = largest.exterior.coords.xy
    sides = sorted(
        ((xs[i + 1] - xs[i]) ** 2 + (ys[i + 1] - ys[i]) ** 2) ** 0.5 / 1000 for i in range(2)
    )
    return float(lat), float(lon), (round(sides[1], 3), round(sides[0], 3))


@events_app.command("add")
def add(
    event_id: str = typer.Option(..., "--id", help="safe slug, e.g. colombia-mesetas"),
    name: str = typer.Option(..., help="place name"),
    country: str = typer.Option(...),
    date: str = typer.Option(..., help="event date, YYYY-MM-DD"),
    trigger: str = typer.Option(..., help="R rain, E earthquake, S snowmelt, U unknown (e.g. RS)"),
    lat: float | None = typer.Option(None, help="event latitude (default: centre of --labels)"),
    lon: float | None = typer.Option(None, help="event longitude (default: centre of --labels)"),
    size: str | None = typer.Option(None, help="length x width in km, e.g. 0.8x0.1 (default: from --labels)"),
    types: str = typer.Option("", help="landslide type codes, comma separated, e.g. 22,25"),
    rainfall: float | None = typer.Option(None, help="mean annual rainfall, mm/yr"),
    split: str = typer.Option("train", help="train, val or test"),
    labels: Path | None = typer.Option(None, help="landslide polygons (GeoJSON/GeoPackage/Shapefile)"),
    approximate: bool = typer.Option(False, help="mark the location as an estimate to check"),
    note: str | None = typer.Option(None, help="location note"),
    number: int | None = typer.Option(None, help="catalog number"),
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
) -> None:
    """Append a new event to the catalog after validating it (comments and layout are kept)."""
    paths = get_paths(root)
    path = catalog or paths.catalog
    if labels is not None and (lat is None or lon is None or size is None):
        try:
            c_lat, c_lon, c_size = _from_inventory(labels)
        except ValueError as exc:
            err_console.print(f"[red]error[/red] {exc}")
            raise typer.Exit(2) from None
        lat = c_lat if lat is None else lat
        lon = c_lon if lon is None else lon
        size = size or f"{c_size[0]}x{c_size[1]}"
    if lat is None or lon is None or size is None:
        raise typer.BadParameter("give --lat, --lon and --size, or --labels to derive them")
    try:
        event_date = dt.date.fromisoformat(date)
    except ValueError:
        raise typer.BadParameter(f"--date must be YYYY-MM-DD, got {date!r}") from None
    data = {
        "id": event_id,
        "number": number,
        "name": name,
        "country": country,
        "lat": lat,
        "lon": lon,
        "approximate": approximate,
        "location_note": note,
        "types": [int(t) for t in types.replace(" ", ",").split(",") if t],
        "trigger": trigger,
        "size_km": _parse_size(size),
        "rainfall_mm_yr": rainfall,
        "date": event_date,
        "split": split,
        "labels": str(labels) if labels else None,
    }
    try:
        event = validate_event(data)
        cat = append_event(path, event)
    except CatalogError as exc:
        print_catalog_issues(exc)
        err_console.print(f"{path} was not changed")
        raise typer.Exit(1) from None
    console.print(f"[green]added[/green] {event.id} to {path} ({len(cat.events)} events)")
