"""CLI commands: ``auth check`` and ``stacks plan`` (the Earth Engine side of the CLI).

``gee-landslide auth check`` says which credentials and Cloud project Earth Engine would use
(service-account key, user OAuth from ``earthengine authenticate``, or application-default
credentials) without printing any secret, then (unless ``--offline``) makes one cheap call to
prove they work.

``gee-landslide stacks plan --event ID`` builds the event's whole Earth Engine recipe with the
offline client (no network, no account) and prints what an export would request;
``--json PATH`` writes the serialized graph of the 15-band stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from gee_landslide.cli.common import CatalogOption, RootOption, console, err_console, get_catalog, get_paths
from gee_landslide.cli.stacks_cmd import stacks_app

auth_app = typer.Typer(help="Earth Engine credentials.", no_args_is_help=True)


@auth_app.command("check")
def check(
    project: str | None = typer.Option(None, "--project", "-p", help="Cloud project for Earth Engine"),
    service_account_key: Path | None = typer.Option(
        None, "--service-account-key", help="service-account JSON key file", exists=False
    ),
    high_volume: bool = typer.Option(False, "--high-volume", help="use the high-volume endpoint"),
    offline: bool = typer.Option(False, "--offline", help="only resolve credentials; no server call"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Say which Earth Engine credentials and project are in use (never prints secrets)."""
    from gee_landslide.earthengine.init import AuthError, initialize, resolve_credentials, verify

    try:
        if offline:
            _, info = resolve_credentials(project, service_account_key, high_volume)
        else:
            info = initialize(project, service_account_key, high_volume)
    except AuthError as exc:
        err_console.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    result = info.to_dict()
    status = "not checked (--offline)"
    ok = True
    if not offline:
        try:
            verify()
            status = "ok: the server answered"
        except Exception as exc:
            status = f"FAILED: {exc}"
            ok = False
    result["status"] = status
    if as_json:
        console.print_json(json.dumps(result))
    else:
        table = Table(title="Earth Engine credentials", show_header=False)
        labels = {
            "kind": "credentials", "principal": "principal", "project": "project",
            "project_source": "project from", "endpoint": "endpoint", "source_file": "read from",
            "status": "status",
        }
        for key, label in labels.items():
            table.add_row(label, str(result.get(key) or "-"))
        console.print(table)
    if not ok:
        raise typer.Exit(1)


@stacks_app.command("plan")
def plan(
    event: str = typer.Option(..., "--event", "-e", help="event id"),
    json_path: Path | None = typer.Option(None, "--json", help="write the serialized EE graph here"),
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
) -> None:
    """Print what the Earth Engine source would request for an event (offline, no account)."""
    from gee_landslide.core.atomic import write_text_atomic
    from gee_landslide.earthengine.init import offline
    from gee_landslide.earthengine.recipe import build_recipe, graph_json
    from gee_landslide.earthengine.recipe import plan as make_plan

    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    try:
        ev = cat.event(event)
    except KeyError as exc:
        err_console.print(f"[red]error[/red] {exc.args[0]}")
        raise typer.Exit(2) from None
    with offline():
        recipe = build_recipe(ev, cat.defaults, root=paths.root)
        info = make_plan(recipe)
        if json_path is not None:
            write_text_atomic(json_path, graph_json(recipe) + "\n")
    table = Table(title=f"Earth Engine plan for {ev.id} (recipe v{info['recipe_version']})", show_header=False)
    s1, s2, g = info["sentinel1"], info["sentinel2"], info["grid"]
    rows = [
        ("pre window", " .. ".join(info["windows"]["pre"])),
        ("post window", " .. ".join(info["windows"]["post"])),
        ("Sentinel-1", f"{s1['collection']}  {s1['instrumentMode']} {s1['orbitProperties_pass']} "
                       f"{'+'.join(s1['polarisations'])}"),
        ("relative orbit", str(s1["relative_orbit"])),
        ("terrain flattening", s1["terrain_flattening"]),
        ("Sentinel-2", f"{s2['collection']}, {s2['composite']}"),
        ("cloud mask", s2["cloud_mask"]),
        ("DEM", f"{info['dem']['asset']} ({info['dem']['reason']})"),
        ("land cover", f"{info['landcover']['classifier']}: {info['landcover']['training']}"),
        ("Koppen-Geiger", info["assets"]["koppen_geiger"]),
        ("tree height", info["assets"]["tree_height"]),
        ("grid", f"{g['crs']} {g['width']}x{g['height']} px @ {g['resolution']} m, "
                 f"UL ({g['x_min']}, {g['y_max']})"),
        ("bands", ", ".join(info["bands"])),
        ("graph bytes", ", ".join(f"{k} {v:,}" for k, v in info["graph_bytes"].items())),
        ("graph sha256", info["graph_sha256"]),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if json_path is not None:
        console.print(f"wrote the serialized graph of the 15-band stack to {json_path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(auth_app, name="auth")
