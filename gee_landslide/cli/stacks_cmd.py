"""CLI commands: ``stacks build|show|plan``.

``stacks plan --event ID`` builds the event's whole Earth Engine recipe with the offline client
(no network, no account) and prints what an export would request; ``--json PATH`` writes the
serialized graph of the 15-band stack. ``stacks plan --all`` prints one 80-column row per
catalog event (DEM, windows, Sentinel-2 level and fallback, label source, risks known offline);
``--all --json PATH`` writes every event's full plan summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gee_landslide.cli.common import CatalogOption, RootOption, console, err_console, get_catalog, get_paths
from gee_landslide.cli.help import command_group
from gee_landslide.cli.output import Column, fitted_table, print_table
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.variants import parse_variant, stack_id, stack_jobs
from gee_landslide.sources import SOURCES, get_source
from gee_landslide.sources.build import BuildResult, build_one_stack, select_events

stacks_app = command_group(
    "Build and inspect per-event 15-band stacks.",
    "gee-landslide stacks build --source simulated",
    "gee-landslide stacks build --source gee --event norway-5",
    "gee-landslide stacks show norway-5",
    "gee-landslide stacks plan --event norway-5 --json graph.json",
    "gee-landslide stacks plan --all",
)



@stacks_app.command("build")
def build(
    source: str = typer.Option("simulated", help=f"stack source: {' or '.join(SOURCES)}"),
    event: list[str] = typer.Option(None, "--event", "-e", help="event id (repeatable; default: all)"),
    force: bool = typer.Option(False, help="rebuild stacks that are already complete"),
    s1_post_looks: list[int] = typer.Option(
        None, "--s1-post-looks", min=1,
        help="also build each event's variant whose Sentinel-1 post composite takes its first N scenes "
             "(<event>.s1looks<N>; repeatable), besides the catalog's defaults.s1_post_variant_looks"),
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
) -> None:
    """Write stack.tif, labels.tif and meta.json for each event (skips complete stacks)."""
    get_source(source)  # an unknown name fails here, with the list of known ones
    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    events = select_events(cat, event)
    looks = sorted(set(s1_post_looks or []) | set(cat.defaults.s1_post_variant_looks))
    jobs = stack_jobs(events, looks)
    results: list[BuildResult] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{source} stacks", total=len(jobs))
        for ev, n in jobs:
            sid = stack_id(ev.id, n)
            progress.update(task, description=f"{source} stacks: {sid}")
            try:
                results.append(
                    build_one_stack(
                        ev, cat, paths, source, force, s1_post_looks=n,
                        progress=lambda msg, sid=sid: progress.update(task, description=f"{sid}: {msg}"),
                    )
                )
            except Exception as exc:  # one failed event must not stop the others
                results.append(BuildResult(sid, paths.stack_dir(sid), "failed", 0.0, str(exc)))
            progress.advance(task)
    _print_summary(results, cat, paths)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        err_console.print(f"[red]failed[/red] {r.event_id}: {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _print_summary(results: list[BuildResult], cat, paths) -> None:
    from gee_landslide.core.stackio import is_complete, read_labels, read_meta

    columns = [Column("event", keep=True, fold=True), Column("status", keep=True), Column("landslide %", "right"),
               Column("split"), Column("seconds", "right"), Column("size px", "right"), Column("landslide px", "right")]
    rows = []
    for r in results:
        size = ls_px = pct = ""
        if is_complete(r.path):
            grid = read_meta(r.path)["grid"]
            size = f"{grid['width']}x{grid['height']}"
            try:
                labels = read_labels(r.path)
                ls_px = str(int(labels.sum()))
                pct = f"{100 * labels.mean():.2f}"
            except ValueError:
                pass
        rows.append((r.event_id, r.status, pct, cat.event(parse_variant(r.event_id)[0]).split, f"{r.seconds:.1f}",
                     size, ls_px))
    table, dropped = fitted_table(columns, rows, title=f"stacks in {paths.stacks}")
    print_table(table, dropped)


@stacks_app.command("show")
def show(
    event_id: str = typer.Argument(..., help="event id"),
    out: Path | None = typer.Option(None, help="quick-look PNG (default: <stack dir>/quicklook.png)"),
    root: Path | None = RootOption,
) -> None:
    """Print the bands with their ranges and write a quick-look PNG (dNDVI, dVV, slope, labels)."""
    from gee_landslide.core.quicklook import band_summary, render_quicklook
    from gee_landslide.core.stackio import read_stack

    paths = get_paths(root)
    stack_dir = paths.stack_dir(event_id)
    stack = read_stack(stack_dir)
    meta = stack.meta
    table = Table(title=f"{event_id}: {stack.grid.width}x{stack.grid.height} px, {stack.grid.crs}, "
                        f"source {meta.get('source')}")
    for col in ("#", "band", "min", "median", "max", "NaN %"):
        table.add_column(col, justify="left" if col == "band" else "right")
    for i, row in enumerate(band_summary(stack)):
        table.add_row(str(i), str(row["band"]), *(f"{row[k]:.3g}" for k in ("min", "median", "max")),
                      f"{row['nan_pct']:.1f}")
    console.print(table)
    if stack.labels is not None:
        console.print(f"labels: {int(stack.labels.sum())} landslide px ({100 * np.mean(stack.labels):.2f} %)")
    if "windows" in meta:
        console.print(f"windows: pre {meta['windows']['pre']}  post {meta['windows']['post']}")
    png = render_quicklook(stack, out or stack_dir / "quicklook.png", title=f"{event_id} ({meta.get('source')})")
    console.print(f"quick-look: {png}")


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
    from gee_landslide.core.atomic import write_text_atomic
    from gee_landslide.earthengine.init import offline
    from gee_landslide.earthengine.planning import risks
    from gee_landslide.earthengine.recipe import build_recipe, graph_json
    from gee_landslide.earthengine.recipe import plan as make_plan

    if all_events == (event is not None):
        raise GeeLandslideError("give either --event ID or --all",
                                hint="gee-landslide stacks plan --all")
    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    if all_events:
        _plan_all(cat, paths, json_path)
        return
    ev = cat.event(event)  # type: ignore[arg-type]  # an unknown id goes to the error handler (exit 2)
    with offline():
        recipe = build_recipe(ev, cat.defaults, root=paths.root)  # an AssetError goes there too
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
    """``stacks plan --all``: one row per event, 80 columns wide; ``--json`` for the full rows.

    One event that cannot be planned does not stop the others: its row says why, and the
    command exits 1 after printing every row (as ``stacks build`` does).
    """
    from rich import box
    from rich.console import Console

    from gee_landslide.core.atomic import write_text_atomic
    from gee_landslide.earthengine.assets import AssetError
    from gee_landslide.earthengine.init import offline
    from gee_landslide.earthengine.planning import RISK_CODES, event_summary, table_row
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
    if json_path is not None and str(json_path) == "-":
        print(json.dumps(summaries, indent=2))
        if failed:
            raise typer.Exit(1)
        return
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(summaries, indent=2) + "\n")
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
        err_console.print("[red]error[/red] some events cannot be planned (rows marked ERROR)", highlight=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``stacks`` group to the root app."""
    app.add_typer(stacks_app, name="stacks")
