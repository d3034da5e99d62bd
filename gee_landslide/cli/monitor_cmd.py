"""CLI commands: ``monitor`` (monitoring passes) and ``feed`` (alert feeds: publish, serve, list)."""

from __future__ import annotations

from pathlib import Path

import typer

from gee_landslide.cli.common import RootOption, console, err_console, get_paths


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(feed_app, name="feed")
    # (the `monitor` group is registered here too once it exists)


# =============================================================================================
# monitor: monitoring passes (reserved for the monitoring-pass issue)
# =============================================================================================


# =============================================================================================
# feed: the published alerts (GeoPackage store -> GeoJSON, Atom + GeoRSS, CAP; HTTP server)
# =============================================================================================
feed_app = typer.Typer(
    help="Publish and serve the landslide alert feeds (GeoJSON, Atom + GeoRSS, CAP 1.2) and map.",
    no_args_is_help=True,
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
    from gee_landslide.monitor.feeds import publish_feeds, resolve_base_url
    from gee_landslide.monitor.store import read_alerts

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
    from gee_landslide.monitor.server import make_server

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
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@feed_app.command("list")
def feed_list(
    region: str | None = typer.Option(None, "--region", "-r", help="only this region"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="show at most N alerts, newest first"),
    root: Path | None = RootOption,
) -> None:
    """List the stored alerts, newest first."""
    from rich.table import Table

    from gee_landslide.monitor.store import read_alerts

    store_dir = get_paths(root).alerts
    alerts = [a for a in read_alerts(store_dir / "alerts.gpkg") if region is None or a.region == region]
    alerts.sort(key=lambda a: (a.updated, a.alert_id), reverse=True)
    if not alerts:
        console.print(f"no alerts in {store_dir}", highlight=False)
        return
    table = Table("alert", "status", "area m²", "p mean", "p peak", "agree", "last seen")
    for a in alerts[:limit]:
        table.add_row(
            a.alert_id, f"{a.status} r{a.revision}", f"{a.area_m2:,.0f}", f"{a.mean_prob:.2f}",
            f"{a.peak_prob:.2f}", "–" if a.agreement is None else f"{a.agreement:.0%}", a.last_seen,
        )
    console.print(table)
    if len(alerts) > limit:
        console.print(f"… and {len(alerts) - limit} more", highlight=False)
