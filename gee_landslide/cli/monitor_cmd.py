"""CLI commands: ``monitor`` (monitoring passes) and ``feed`` (alert feeds: publish, serve, list)."""

from __future__ import annotations

from pathlib import Path

import typer

from gee_landslide.cli.common import CatalogOption, RootOption, console, err_console, get_catalog, get_paths
from gee_landslide.cli.help import command_group
from gee_landslide.cli.output import Column, JsonOption, WideOption, fitted_table, print_json, print_table


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(feed_app, name="feed")


# =============================================================================================
# monitor: monitoring passes
# =============================================================================================
monitor_app = command_group(
    "Watch regions for new landslides.",
    "gee-landslide monitor run --region norway --date 2025-08-01",
    "gee-landslide monitor run --region norway --source simulated --change-gate --json",
    "gee-landslide monitor backfill --region norway --from 2025-07-01 --to 2025-09-30 --every 6d",
    "gee-landslide monitor history norway-u4umg7m2-20250801",
)

StrategyOption = typer.Option(
    None, "--strategy",
    help="sar-first (S1 ensemble where Sentinel-2 saw nothing, optical elsewhere), s1-only, optical-only "
    "or single (default: sar-first when the region names `ensembles:`, else single)",
)


@monitor_app.command("run")
def monitor_run(
    region: str = typer.Option(..., "--region", "-r", help="region id from case_studies.yaml"),
    date: str | None = typer.Option(None, help="run date YYYY-MM-DD (default: today)"),
    source: str | None = typer.Option(None, help="gee or simulated (default: gee when credentials exist)"),
    ensemble: str | None = typer.Option(None, help="ensemble name (default: the region's)"),
    change_gate: bool = typer.Option(False, help="skip tiles showing no sign of change in dNDVI or SAR"),
    threshold: float | None = typer.Option(None, help="probability threshold (default: region / ensemble)"),
    notify_url: str | None = typer.Option(None, help="webhook or Apprise URL to notify of new alerts"),
    strategy: str | None = StrategyOption,
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
    as_json: bool = JsonOption,
) -> None:
    """One monitoring pass: windows from the date, tiles, ensemble, rasters, alerts and feeds."""
    import datetime as dt

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from gee_landslide.core.paths import safe_name
    from gee_landslide.core.urls import redact_url
    from gee_landslide.core.values import check_threshold
    from gee_landslide.monitor.pass_context import GateConfig
    from gee_landslide.monitor.runner import run_pass
    from gee_landslide.sources import resolve_source

    # every option is checked before the catalog, the ensemble or any tile is touched
    if threshold is not None:
        check_threshold(threshold, "--threshold")
    if ensemble is not None:
        safe_name(ensemble, "--ensemble")
    try:
        run_date = dt.date.fromisoformat(date) if date else None
    except ValueError as exc:
        raise typer.BadParameter(f"{date!r} is not a date YYYY-MM-DD ({exc})", param_hint="--date") from None
    if notify_url is not None and "://" not in notify_url:
        raise typer.BadParameter(f"{redact_url(notify_url)} is not a URL (http(s):// webhook or Apprise URL)",
                                 param_hint="--notify-url")
    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    src = resolve_source(source)
    if source is None and src == "simulated" and not as_json:
        console.print("[yellow]no Earth Engine credentials: this pass runs on SIMULATED scenes[/yellow]")
    # the tile count is only known once the pass is planned: until then say so, not "0/None"
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[tiles]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=err_console if as_json else console, transient=as_json) as progress:
        task = progress.add_task(f"monitor {region}", total=None, tiles="planning tiles")

        def on_tile(i: int, n: int) -> None:
            progress.update(task, completed=i, total=n, tiles=f"{i}/{n} tiles")

        result = run_pass(
            cat, paths, region, run_date, src, ensemble, GateConfig(enabled=change_gate), threshold,
            notify_url=notify_url, progress=on_tile, strategy=strategy,
        )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"{result.region_id} {result.run_date}: pre {result.pre.start}..{result.pre.end}, "
        f"post {result.post.start}..{result.post.end}; {result.tiles} tile(s) ({result.gated_tiles} gated), "
        f"{result.area_km2:.1f} km2 in {result.seconds:.1f} s ({result.seconds_per_km2:.2f} s/km2)"
    )
    console.print(f"alerts: {len(result.new)} new, {len(result.updated)} updated ({len(result.confirmed)} confirmed, "
                  f"{len(result.cancelled)} cancelled), {len(result.unchanged)} unchanged; strategy {result.strategy}"
                  + (f", {result.optical_share:.0%} of the area seen by Sentinel-2"
                     if result.optical_share is not None else ""))
    for alert_id in result.new:
        console.print(f"  new  {alert_id}")
    if result.scores is not None:
        s = result.scores
        console.print(f"against the simulator's truth: object precision {s.precision:.2f}, recall {s.recall:.2f} "
                      f"({s.true_detections}/{s.detections} detections real, {s.found_objects}/{s.truth_objects} "
                      f"landslides found)")
        for kind, k in result.scores_by.items():
            console.print(f"  candidates {'the object filter accepts' if kind == 'filter accepts' else 'with sensors ' + kind}: "
                          f"{k.true_detections}/{k.detections} real, {k.found_objects} landslides found", highlight=False)
        if result.optical_truth_objects is not None:
            console.print(f"  Sentinel-2 had a clear view of {result.optical_truth_objects} of the {s.truth_objects} "
                          f"landslides (of half their pixels or more) in this pass", highlight=False)
    console.print(f"rasters and quick-look: {result.out_dir}")
    console.print(f"feeds: {', '.join(str(p) for p in result.feeds.values())}")


@monitor_app.command("backfill")
def monitor_backfill(
    region: str = typer.Option(..., "--region", "-r", help="region id from case_studies.yaml"),
    from_: str = typer.Option(..., "--from", help="first run date YYYY-MM-DD"),
    to: str = typer.Option(..., "--to", help="last run date YYYY-MM-DD (included when on the step)"),
    every: str = typer.Option("6d", "--every", help="days between passes, e.g. 6d (one Sentinel-1 repeat)"),
    source: str | None = typer.Option(None, help="gee or simulated (default: gee when credentials exist)"),
    ensemble: str | None = typer.Option(None, help="ensemble name (default: the region's)"),
    threshold: float | None = typer.Option(None, help="probability threshold (default: region / ensemble)"),
    strategy: str | None = StrategyOption,
    force: bool = typer.Option(False, "--force", help="rerun passes that already finished"),
    catalog: Path | None = CatalogOption,
    root: Path | None = RootOption,
    as_json: bool = JsonOption,
) -> None:
    """The passes of a past period in date order, as the schedule would have run them (resumable:
    finished passes are skipped on a re-run)."""
    import datetime as dt

    from gee_landslide.monitor.backfill import parse_every, run_backfill
    from gee_landslide.monitor.pass_context import PassResult
    from gee_landslide.monitor.runner import run_pass
    from gee_landslide.sources import resolve_source

    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    try:
        start, end = dt.date.fromisoformat(from_), dt.date.fromisoformat(to)
    except ValueError:
        raise typer.BadParameter(f"--from and --to must be YYYY-MM-DD, got {from_!r} and {to!r}") from None
    days = parse_every(every)
    src = resolve_source(source)
    out = err_console if as_json else console

    def one(day: dt.date) -> PassResult:
        return run_pass(cat, paths, region, day, src, ensemble, None, threshold, strategy=strategy)

    def said(day: dt.date, r: PassResult | None) -> None:
        if r is None:
            out.print(f"{day}: finished before, skipped", highlight=False)
        else:
            out.print(f"{day}: {len(r.new)} new, {len(r.confirmed)} confirmed, {len(r.cancelled)} cancelled, "
                      f"{len(r.updated)} updated ({r.seconds:.1f} s)", highlight=False)

    result = run_backfill(paths, region, start, end, days, one, force=force, on_pass=said)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"{region}: {len(result.done)} pass(es) run, {len(result.skipped)} skipped "
                  f"({start}..{end} every {days} d)", highlight=False)


@monitor_app.command("history")
def monitor_history(
    alert_id: str = typer.Argument(..., help="an alert id, as `feed list` shows it"),
    root: Path | None = RootOption,
    as_json: bool = JsonOption,
) -> None:
    """Why an alert is where it is: every pass that created, updated, confirmed or cancelled it,
    with its windows and which ensemble decided the alert's footprint in that pass."""
    from gee_landslide.monitor.history import alert_history
    from gee_landslide.monitor.store import AlertStore

    paths = get_paths(root)
    alert = AlertStore(paths.alerts).get(alert_id)
    events = alert_history(paths.monitor, alert)
    if as_json:
        print_json({"alert": {"id": alert.alert_id, **alert.properties()}, "passes": [e.to_dict() for e in events]})
        return

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:.0%}"

    how = f" by {alert.confirmed_by}" if alert.stage == "confirmed" and alert.confirmed_by else ""
    console.print(f"{alert.alert_id}: {alert.stage}{how}, seen with {alert.sensors or '–'}, revision {alert.revision}, "
                  f"{alert.area_m2:,.0f} m²", highlight=False)
    if not events:
        console.print(f"no pass under {paths.monitor / alert.region} mentions it", highlight=False)
        return
    columns = [Column("pass", keep=True), Column("change", keep=True), Column("post window"),
               Column("S1 decided", "right"), Column("optical decided", "right")]
    rows = [(e.run_date, e.change, f"{e.post[0]}..{e.post[1]}", pct(e.s1_share), pct(e.optical_share))
            for e in events]
    table, dropped = fitted_table(columns, rows, wide=True)
    print_table(table, dropped, wide=True)


# =============================================================================================
# feed: the published alerts (GeoPackage store -> GeoJSON, Atom + GeoRSS, CAP; HTTP server)
# =============================================================================================
feed_app = command_group(
    "Publish and serve the landslide alert feeds (GeoJSON, Atom + GeoRSS, CAP 1.2) and map.",
    "gee-landslide feed serve --port 8080",
    "gee-landslide feed publish --base-url https://alerts.example.org",
    "gee-landslide feed list --region norway --json",
    "gee-landslide feed list --region norway --stage confirmed",
)


@feed_app.command("publish")
def feed_publish(
    base_url: str | None = typer.Option(
        None, "--base-url",
        help="public URL the feeds are served from (remembered; default: last used, "
        "$GEE_LANDSLIDE_FEED_BASE_URL or http://127.0.0.1:8080)",
    ),
    root: Path | None = RootOption,
) -> None:
    """Regenerate alerts.geojson, alerts.atom and cap/*.xml from artifacts/alerts/alerts.gpkg."""
    from gee_landslide.core.urls import check_http_url
    from gee_landslide.monitor.alert_gpkg import read_alerts
    from gee_landslide.monitor.feeds import publish_feeds, resolve_base_url

    if base_url is not None:
        check_http_url(base_url, "--base-url")
    store_dir = get_paths(root).alerts
    out = publish_feeds(store_dir, base_url=base_url)
    n = len(read_alerts(store_dir / "alerts.gpkg"))
    console.print(f"published {n} alert(s) for {resolve_base_url(store_dir)}", highlight=False)
    for name, path in out.items():
        console.print(f"  {name:8s} {path}", highlight=False)


@feed_app.command("serve")
def feed_serve(
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535, help="TCP port"),
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0 = all)"),
    root: Path | None = RootOption,
) -> None:
    """Serve the feeds and the web map read-only over HTTP (GET/HEAD) until Ctrl-C."""
    import logging

    from gee_landslide.monitor.feeds import GEOJSON_FILE, publish_feeds
    from gee_landslide.monitor.server import make_server, run_until_interrupted

    store_dir = get_paths(root).alerts
    if (store_dir / "alerts.gpkg").exists() and not (store_dir / GEOJSON_FILE).exists():
        publish_feeds(store_dir)  # a store that was never published: publish once before serving
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        server = make_server(store_dir, host, port)
    except OSError as exc:
        err_console.print(f"[red]error[/red] cannot listen on {host}:{port}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    h, p = server.server_address[:2]
    console.print(f"serving {store_dir} at http://{h}:{p}/  (Ctrl-C to stop)", highlight=False)
    run_until_interrupted(server)


@feed_app.command("list")
def feed_list(
    region: str | None = typer.Option(None, "--region", "-r", help="only this region"),
    stage: str | None = typer.Option(
        None, "--stage",
        help="only these stages, comma-separated: candidate, confirmed, cancelled (confirmed also lists "
        "the cancellations of confirmed alerts, as the served ?stage=confirmed feed does)",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="show at most N alerts, newest first"),
    root: Path | None = RootOption,
    wide: bool = WideOption,
    as_json: bool = JsonOption,
) -> None:
    """List the stored alerts, newest first."""
    from gee_landslide.monitor.alert_gpkg import read_alerts
    from gee_landslide.monitor.feeds import select_alerts

    store_dir = get_paths(root).alerts
    alerts = select_alerts(read_alerts(store_dir / "alerts.gpkg"), region=region, stage=stage)
    alerts.sort(key=lambda a: (a.updated, a.alert_id), reverse=True)
    if as_json:
        print_json([{"id": a.alert_id, **a.properties()} for a in alerts[:limit]])
        return
    if not alerts:
        console.print(f"no alerts in {store_dir}", highlight=False)
        return
    columns = [
        Column("alert", keep=True, fold=True), Column("status", keep=True), Column("area m²", "right", keep=True),
        Column("sensors"),
        Column("p mean", "right"), Column("last seen"), Column("p peak", "right"), Column("agree", "right"),
    ]
    rows = [
        (a.alert_id, f"{a.stage} r{a.revision}", f"{a.area_m2:,.0f}", a.sensors or "–", f"{a.mean_prob:.2f}",
         a.last_seen,
         f"{a.peak_prob:.2f}", "–" if a.agreement is None else f"{a.agreement:.0%}")
        for a in alerts[:limit]
    ]
    table, dropped = fitted_table(columns, rows, wide=wide)
    print_table(table, dropped, wide=wide)
    if len(alerts) > limit:
        console.print(f"… and {len(alerts) - limit} more", highlight=False)
