"""CLI commands: ``orchestrate up|down|status`` and ``demo`` (the local Prefect stack)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from gee_landslide.cli.common import RootOption, console, err_console, get_paths
from gee_landslide.cli.help import command_group
from gee_landslide.ops.supervisor import DEFAULT_FEED_PORT, DEFAULT_PORT, Orchestra

orch_app = command_group(
    "Run the local Prefect server and the deployment process.",
    "gee-landslide orchestrate up",
    "gee-landslide orchestrate status",
    "gee-landslide orchestrate down",
)



def _orch(root: Path | None, port: int) -> Orchestra:
    return Orchestra(get_paths(root), port=port)


@orch_app.command("up")
def up(
    port: int = typer.Option(DEFAULT_PORT, help="Prefect server port"),
    feed_port: int = typer.Option(DEFAULT_FEED_PORT, help="alert feed server port"),
    root: Path | None = RootOption,
) -> None:
    """Start the Prefect server, the deployment process and the feed server; leave them running."""
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.ops.deployments import deployment_specs
    from gee_landslide.ops.supervisor import start_feed, start_serve, start_server, wait_for_deployments

    orch = _orch(root, port)
    t0 = time.perf_counter()
    names = [s.full_name for s in deployment_specs(load_catalog(orch.paths.catalog))]
    steps = [
        (f"starting the Prefect server on {orch.api_url}", lambda: start_server(orch)),
        ("starting the deployment process (flows/serve.py)", lambda: start_serve(orch)),
        (f"waiting for {len(names)} deployments to register", lambda: wait_for_deployments(orch, names)),
        (f"starting the feed server on port {feed_port}", lambda: start_feed(orch, feed_port)),
    ]
    for n, (what, run) in enumerate(steps, 1):
        with console.status(f"[{n}/{len(steps)}] {what}"):
            run()
        console.print(f"[{n}/{len(steps)}] {what}: done ({time.perf_counter() - t0:.0f} s)", highlight=False)
    _configure_profile(orch)
    console.print(f"[green]up[/green] in {time.perf_counter() - t0:.0f} s: Prefect {orch.api_url} "
                  f"(UI http://{orch.host}:{port}), feeds http://127.0.0.1:{feed_port}/")
    console.print("deployments: " + ", ".join(names))
    console.print("try: prefect deployment run monitor/norway --param date=2025-08-01   |   stop: make stop")


def _configure_profile(orch: Orchestra) -> None:
    """Point the user's active Prefect profile at this server so plain `prefect deployment run` works."""
    import subprocess
    import sys

    prefect = str(Path(sys.executable).with_name("prefect"))
    res = subprocess.run([prefect, "config", "set", f"PREFECT_API_URL={orch.api_url}"],
                         capture_output=True, text=True, check=False)
    if res.returncode == 0:
        console.print(f"set PREFECT_API_URL={orch.api_url} in your active Prefect profile")
    else:
        err_console.print(f"could not set the Prefect profile; export PREFECT_API_URL={orch.api_url}")


@orch_app.command("down")
def down(port: int = typer.Option(DEFAULT_PORT), root: Path | None = RootOption) -> None:
    """Stop what ``up`` started, by process id."""
    from gee_landslide.ops.supervisor import stop

    stopped = stop(_orch(root, port))
    for service, pid in stopped.items():
        console.print(f"{service}: {'stopped pid ' + str(pid) if pid else 'not running'}")


@orch_app.command("status")
def status_cmd(
    port: int = typer.Option(DEFAULT_PORT),
    root: Path | None = RootOption,
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
) -> None:
    """Which parts of the local stack run; each deployment's schedule, next run and last run."""
    import json

    from gee_landslide.ops.scheduling import deployment_overview
    from gee_landslide.ops.supervisor import server_healthy, status

    orch = _orch(root, port)
    services = status(orch)
    healthy = server_healthy(orch)
    rows = deployment_overview(orch.api_url) if healthy else []
    if as_json:
        console.print_json(json.dumps({"api_url": orch.api_url, "server_healthy": healthy, "services": services,
                                       "deployments": [r.to_dict() for r in rows]}))
        return
    console.print("  ".join(f"{name} {pid or '-'}" for name, pid in services.items())
                  + f"   Prefect {orch.api_url}: {'healthy' if healthy else 'not answering'}", highlight=False)
    if not healthy:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("deployment", "schedule", "next run (UTC)", "last run (UTC)"):
        table.add_column(col, overflow="fold")
    for r in rows:
        schedule = "paused" if r.paused else (r.schedule or "on demand")
        nxt = f"{r.next_run:%m-%d %H:%M}" if r.next_run else "-"
        if r.next_run_state and r.next_run_state != "Scheduled":
            nxt += f" {r.next_run_state}"
        last = f"{r.last_run_state} {r.last_run:%m-%d %H:%M}" if r.last_run_state and r.last_run else "-"
        table.add_row(r.deployment, schedule, nxt, last)
    console.print(table, width=min(console.width, 80))


def demo(
    port: int = typer.Option(DEFAULT_PORT, help="Prefect server port"),
    feed_port: int = typer.Option(DEFAULT_FEED_PORT, help="alert feed server port"),
    profile: str = typer.Option("laptop", help="training profile"),
    root: Path | None = RootOption,
) -> None:
    """The whole system end to end on simulated scenes, through Prefect deployments.

    Each deployment's progress is shown while it runs (stacks built, runs trained of the sweep,
    with an ETA). Example: gee-landslide demo --profile smoke
    """
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from gee_landslide.ops.demo import run_demo

    orch = _orch(root, port)
    t0 = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
               TimeElapsedColumn(), TextColumn("{task.fields[eta]}"))
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, tuple[TaskID, float]] = {}  # deployment -> (its row, elapsed at the last poll)

        def on_progress(name: str, done: int, total: int | None, elapsed: float, eta: float | None) -> None:
            if name not in tasks or elapsed < tasks[name][1]:  # a new run of this deployment: a new row
                tasks[name] = (bar.add_task(name, total=total, count="", eta=""), elapsed)
            tasks[name] = (tasks[name][0], elapsed)
            unit = "runs" if name.startswith("train") else "stacks" if name.startswith("ingest") else ""
            count = f"{done}/{total} {unit}" if total else "running"
            eta_text = f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}" if eta is not None else ""
            bar.update(tasks[name][0], completed=done if total else 0, total=total, count=count, eta=eta_text)

        def say(msg: str) -> None:
            bar.console.print(msg, highlight=False)

        try:
            steps = run_demo(orch, say=say, feed_port=feed_port, profile=profile, progress=on_progress)
        except (RuntimeError, TimeoutError) as exc:
            err_console.print(f"[red]demo failed[/red]: {exc}")
            raise typer.Exit(1) from None
    paths = orch.paths
    table = Table(title=f"demo finished in {time.perf_counter() - t0:.0f} s")
    for col in ("deployment", "state", "seconds"):
        table.add_column(col)
    for s in steps:
        table.add_row(s.deployment, s.state, f"{s.seconds:.0f}")
    console.print(table)
    console.print(f"alerts (GeoPackage, open in QGIS): {paths.alerts / 'alerts.gpkg'}")
    console.print(f"feeds: {paths.alerts} (alerts.geojson, alerts.atom, cap/)")
    console.print(f"monitoring rasters and quick-looks: {paths.monitor / 'norway'}")
    console.print(f"ensemble report: {paths.reports}")
    console.print(f"feed server and web map: http://127.0.0.1:{feed_port}/   Prefect UI: http://127.0.0.1:{port}")
    console.print("stop everything with: make stop")


def register(app: typer.Typer) -> None:
    app.add_typer(orch_app, name="orchestrate")
    app.command("demo")(demo)
