"""CLI commands: ``events list|validate|add`` over ``case_studies.yaml``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import typer

from gee_landslide.cli.common import (
    CatalogOption,
    RootOption,
    console,
    err_console,
    get_catalog,
    get_paths,
    print_catalog_issues,
)
from gee_landslide.cli.help import command_group
from gee_landslide.cli.output import Column, JsonOption, WideOption, fitted_table, print_json, print_table
from gee_landslide.core.catalog import (
    MAX_AOI_SIZE_M,
    CatalogError,
    append_event,
    load_catalog,
    validate_event,
)

events_app = command_group(
    "List, validate and extend the event catalog.",
    "gee-landslide events list --json",
    "gee-landslide events validate case_studies.yaml",
    "gee-landslide events add --id colombia-mesetas --name Mesetas --country Colombia --date 2019-12-24 --trigger E --split train --labels inventory.gpkg",
)
# an inventory's events get an area this much wider than the inventory's extent (and at least
# the catalog default), so every polygon lies inside the stack with some context around it
AOI_MARGIN_M = 500.0
LONLAT_DECIMALS = 5  # ~1 m: plenty for a 10 m grid, and readable in the catalog


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


@events_app.command("list")
def list_events(
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
    wide: bool = WideOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the catalog as a table (the paper's Table 1 plus split and location)."""
    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    if as_json:
        print_json([e.model_dump(mode="json", exclude_none=True) for e in cat.events])
        return
    columns = [
        Column("id", keep=True, fold=True), Column("date", keep=True), Column("split", keep=True),
        Column("T"), Column("lat", "right"), Column("lon", "right"), Column("size km"),
        Column("place", fold=True), Column("#", "right"), Column("type"), Column("rain mm/yr", "right"),
    ]
    rows = [
        (
            e.id, e.date.isoformat(), e.split, e.trigger,
            f"{e.lat:.3f}" + ("~" if e.approximate else ""), f"{e.lon:.3f}" + ("~" if e.approximate else ""),
            f"{e.size_km[0]:g}x{e.size_km[1]:g}", f"{e.name}, {e.country}", str(e.number or ""),
            " ".join(map(str, e.types)), f"{e.rainfall_mm_yr:g}" if e.rainfall_mm_yr else "",
        )
        for e in cat.events
    ]
    table, dropped = fitted_table(columns, rows, title=f"{len(cat.events)} events", wide=wide)
    print_table(table, dropped, wide=wide)
    counts = {s: len(cat.split(s)) for s in ("train", "val", "test")}
    console.print(
        f"split: {counts['train']} train, {counts['val']} val, {counts['test']} test (seed {cat.split_seed}); "
        f"~ = approximate location; regions: {', '.join(cat.regions) or 'none'}", highlight=False,
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


def _parse_types(types: str) -> list[int]:
    """``22,25`` -> [22, 25]; the codes themselves are checked against Table 1's by the catalog."""
    out = []
    for t in types.replace(" ", ",").split(","):
        if not t:
            continue
        try:
            out.append(int(t))
        except ValueError:
            raise typer.BadParameter(f"type codes are whole numbers like 22,25; got {t!r}",
                                     param_hint="--types") from None
    return out


def _parse_size(size: str) -> tuple[float, float]:
    parts = size.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise typer.BadParameter(f"size must look like '0.8x0.1' (length x width in km), got {size!r}")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise typer.BadParameter(f"size must be two numbers like '0.8x0.1', got {size!r}") from None


@dataclass(frozen=True)
class InventoryExtent:
    """What an inventory says about its event: centre, size of its largest landslide, area."""

    lat: float
    lon: float
    size_km: tuple[float, float]
    extent_m: float  # the longer side of the inventory's bounding box in its UTM zone
    aoi_size_m: float  # a square area that holds every polygon with a margin


def _from_inventory(labels: Path, default_aoi_m: float) -> InventoryExtent:
    """Centre (lat, lon) of an inventory, the length x width (km) of its largest polygon, and the
    side of a square area that holds all of it (at least ``default_aoi_m``)."""
    import math

    from pyproj import Transformer

    from gee_landslide.core.labels import InventoryError, read_inventory

    gdf = read_inventory(labels)
    utm = gdf.to_crs(gdf.estimate_utm_crs())
    x0, y0, x1, y1 = utm.total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2  # the centre of the extent, so the square covers it all
    lon, lat = Transformer.from_crs(utm.crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    largest = utm.geometry.iloc[int(utm.area.values.argmax())].minimum_rotated_rectangle
    xs, ys = largest.exterior.coords.xy
    sides = sorted(
        ((xs[i + 1] - xs[i]) ** 2 + (ys[i + 1] - ys[i]) ** 2) ** 0.5 / 1000 for i in range(2)
    )
    extent = float(max(x1 - x0, y1 - y0))
    aoi = max(default_aoi_m, math.ceil((extent + 2 * AOI_MARGIN_M) / 100.0) * 100.0)
    if aoi > MAX_AOI_SIZE_M:
        raise InventoryError(
            f"{labels}: the inventory spans {extent / 1000:.1f} km, more than one event's area can "
            f"(at most {MAX_AOI_SIZE_M / 1000:.0f} km a side); split it into several events",
            file=labels, field="extent", value=f"{extent / 1000:.1f} km",
        )
    return InventoryExtent(
        round(float(lat), LONLAT_DECIMALS), round(float(lon), LONLAT_DECIMALS),
        (round(sides[1], 3), round(sides[0], 3)), extent, aoi,
    )


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
    aoi_size_m: float | None = None
    if labels is not None:
        defaults = load_catalog(path).defaults
        ext = _from_inventory(labels, defaults.aoi_size_m)
        if lat is None and lon is None:
            lat, lon = ext.lat, ext.lon
            if ext.aoi_size_m > defaults.aoi_size_m:
                aoi_size_m = ext.aoi_size_m
        elif lat is None or lon is None:
            raise typer.BadParameter("give both --lat and --lon, or neither to centre the event on --labels")
        size = size or f"{ext.size_km[0]}x{ext.size_km[1]}"
        console.print(
            f"inventory {labels}: spans {ext.extent_m / 1000:.2f} km; event area "
            f"{(aoi_size_m or defaults.aoi_size_m) / 1000:g} km a side around {lat}, {lon}", highlight=False,
        )
        console.print(
            "note: `stacks build --source simulated` draws its own landslides and ignores this inventory; "
            "`--source gee` labels the stack from it", highlight=False,
        )
    if lat is None or lon is None or size is None:
        raise typer.BadParameter("give --lat, --lon and --size, or --labels to derive them")
    try:
        event_date = dt.date.fromisoformat(date)
    except ValueError as exc:
        raise typer.BadParameter(f"{date!r} is not a date YYYY-MM-DD ({exc})", param_hint="--date") from None
    data = {
        "id": event_id,
        "number": number,
        "name": name,
        "country": country,
        "lat": lat,
        "lon": lon,
        "approximate": approximate,
        "location_note": note,
        "types": _parse_types(types),
        "trigger": trigger,
        "size_km": _parse_size(size),
        "rainfall_mm_yr": rainfall,
        "date": event_date,
        "split": split,
        "labels": str(labels) if labels else None,
        "aoi_size_m": aoi_size_m,
    }
    try:
        event = validate_event(data)
        cat = append_event(path, event)
    except CatalogError as exc:
        print_catalog_issues(exc)
        err_console.print(f"{path} was not changed")
        raise typer.Exit(1) from None
    console.print(f"[green]added[/green] {event.id} to {path} ({len(cat.events)} events)")
