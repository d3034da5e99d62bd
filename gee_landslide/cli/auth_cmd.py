"""CLI commands: ``auth check`` and ``stacks plan`` (the Earth Engine side of the CLI).

``gee-landslide auth check`` says which credentials and Cloud project Earth Engine would use
(service-account key, user OAuth from ``earthengine authenticate``, or application-default
credentials) without printing any secret, then (unless ``--offline``) makes one cheap call to
prove they work.

``gee-landslide stacks plan --event ID`` builds the event's whole Earth Engine recipe with the
offline client (no network, no account) and prints what an export would request;
``--json PATH`` writes the serialized graph of the 15-band stack. ``stacks plan --all`` prints
one 80-column row per catalog event (DEM, windows, Sentinel-2 level and fallback, label source,
risks known offline); ``--all --json PATH`` writes every event's full plan summary.
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
    event: str | None = typer.Option(None, "--event", "-e", help="event id"),
    all_events: bool = typer.Option(False, "--all", help="one table row per catalog event"),
    json_path: Path | None = typer.Option(
        None, "--json", help="write the serialized EE graph here (with --all: every event's plan, '-' = stdout)"
    ),
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
) -> None:
    """Print what the Earth Engine source would request for an event (offline, no account)."""
    from gee_landslide.atomic import write_text_atomic
    from gee_landslide.earthengine.assets import AssetError
    from gee_landslide.earthengine.init import offline
    from gee_landslide.earthengine.planning import risks
    from gee_landslide.earthengine.recipe import build_recipe, graph_json
    from gee_landslide.earthengine.recipe import plan as make_plan

    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    if all_events == (event is not None):
        err_console.print("[red]error[/red] give either --event ID or --all")
        raise typer.Exit(2)
    if all_events:
        _plan_all(cat, paths, json_path)
        return
    try:
        ev = cat.event(event)  # type: ignore[arg-type]
    except KeyError as exc:
        err_console.print(f"[red]error[/red] {exc.args[0]}")
        raise typer.Exit(2) from None
    with offline():
        try:
            recipe = build_recipe(ev, cat.defaults, root=paths.root)
        except AssetError as exc:
            err_console.print(f"[red]error[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        info = make_plan(recipe)
        event_risks = risks(recipe)
        if json_path is not None:
            write_text_atomic(json_path, graph_json(recipe) + "\n")
    table = Table(title=f"Earth Engine plan for {ev.id} (recipe v{info['recipe_version']})", show_header=False)
    s1, s2, g = info["sentinel1"], info["sentinel2"], info["grid"]
    rows = [
        ("pre window", " .. ".join(info["windows"]["pre"])),
        ("post window", " .. ".join(info["windows"]["post"])),
        ("windows because", info["window_reason"]),
        ("Sentinel-1", f"{s1['collection']}  {s1['instrumentMode']} {s1['orbitProperties_pass']} "
                       f"{'+'.join(s1['polarisations'])}"),
        ("relative orbit", str(s1["relative_orbit"])),
        ("terrain flattening", s1["terrain_flattening"]),
        ("Sentinel-2", f"{s2['collection']} ({s2['level']}: {s2['level_reason']}), {s2['composite']}"),
        ("S2 fallback", s2["fallback"]),
        ("cloud mask", s2["cloud_mask"]),
        ("DEM", f"{info['dem']['asset']} ({info['dem']['reason']})"),
        ("land cover", f"{info['landcover']['classifier']}: {info['landcover']['training']}"),
        ("labels because", info["landcover"]["label_source"]),
        ("Koppen-Geiger", info["assets"]["koppen_geiger"]),
        ("tree height", info["assets"]["tree_height"]),
        ("grid", f"{g['crs']} {g['width']}x{g['height']} px @ {g['resolution']} m, "
                 f"UL ({g['x_min']}, {g['y_max']})"),
        ("bands", ", ".join(info["bands"])),
        ("risks", "; ".join(event_risks) or "none known offline"),
        ("graph bytes", ", ".join(f"{k} {v:,}" for k, v in info["graph_bytes"].items())),
        ("graph sha256", info["graph_sha256"]),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if json_path is not None:
        console.print(f"wrote the serialized graph of the 15-band stack to {json_path}")


def _plan_all(cat, paths, json_path: Path | None) -> None:
    """``stacks plan --all``: one row per event, 80 columns wide; ``--json`` for the full rows."""
    from rich.console import Console

    from gee_landslide.atomic import write_text_atomic
    from gee_landslide.earthengine.assets import AssetError
    from gee_landslide.earthengine.init import offline
    from gee_landslide.earthengine.planning import event_summary, table_row
    from gee_landslide.earthengine.recipe import build_recipe

    summaries: list[dict] = []
    failed = False
    with offline():
        for ev in cat.events:
            try:
                summaries.append(event_summary(build_recipe(ev, cat.defaults, root=paths.root)))
            except (AssetError, ValueError) as exc:
                failed = True
                summaries.append({"event_id": ev.id, "error": str(exc)})
    if json_path is not None:
        text = json.dumps(summaries, indent=2)
        if str(json_path) == "-":
            print(text)
            return
        write_text_atomic(json_path, text + "\n")
    from rich import box

    from gee_landslide.earthengine.planning import RISK_CODES

    table = Table(title="Earth Engine plan, every event (offline)", box=box.SIMPLE_HEAD, width=80,
                  padding=(0, 1, 0, 0), pad_edge=False, title_style="bold")
    for col in ("event", "DEM", "win", "pre from", "post to", "S2", "lab"):
        table.add_column(col, no_wrap=True)
    table.add_column("risks", overflow="fold", ratio=1)
    for s in summaries:
        if "error" in s:
            table.add_row(s["event_id"], "", "", "", "", "", "", f"ERROR {s['error']}")
        else:
            table.add_row(*table_row(s))
    out = console if console.width <= 80 else Console(width=80)
    out.print(table)
    legend = ["win: months either side (window_rule). S2: L2A, /L1C = falls back to L1C after the "
              "pre-flight. lab: CART labels from DW (Dynamic World, pre window), WC (WorldCover), "
              "pts (points).", *(f"{k}: {v}" for k, v in RISK_CODES.items()),
              "Reasons per event: stacks plan --event ID, or --json PATH."]
    for line in legend:
        out.print(line, highlight=False)
    if json_path is not None:
        console.print(f"wrote every event's plan to {json_path}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(auth_app, name="auth")
