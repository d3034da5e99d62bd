"""Prefect flow ``monitor``: one monitoring pass over a region (deployed as ``monitor/<region>``).

Thin by design: :func:`gee_landslide.monitor.pass_context.prepare_pass`,
:func:`gee_landslide.monitor.runner.process_tile` and ``finish_pass`` do the work, exactly as ``gee-landslide monitor run`` does. The flow maps the
tiles over a task runner: a local thread pool by default, or a Dask cluster when
``dask_address`` (or ``$GEE_LANDSLIDE_DASK_ADDRESS``) names a scheduler. New alerts are
summarised in a Prefect markdown artifact.

Faults: a tile whose fetch fails transiently (Earth Engine 5xx, quota, time-outs) is retried by
Prefect; a pass that still fails (or cannot start: no ensemble, bad region) ends Failed and
sends a failure notification, and the feeds keep their last good state (the pass writes them
only at its end). A scheduled run that a later due run of the same deployment supersedes
(missed schedules after the machine slept) ends ``Skipped`` without a pass; two runs of one
region never overlap (the deployment's concurrency limit, see ``flows/serve.py``).

Backfill: with ``backfill_from`` (and ``backfill_to``, default ``date`` or today; ``every``,
default ``6d``) the run makes the passes of that period in date order, skipping passes that
finished before (:mod:`gee_landslide.monitor.backfill`), each through the same three steps.

    python -m flows.monitor --region norway --date 2025-08-01
    prefect deployment run monitor/norway --param backfill_from=2025-07-01 --param backfill_to=2025-09-30
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.logging.loggers import flow_run_logger
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import project_paths
from gee_landslide.core.settings import get_settings
from gee_landslide.monitor.backfill import parse_every, run_backfill
from gee_landslide.monitor.notify import Notifier, notifier_for_url
from gee_landslide.monitor.pass_context import GateConfig, PassContext, PassResult, TileResult, prepare_pass
from gee_landslide.monitor.runner import finish_pass, process_tile
from gee_landslide.monitor.tiling import Tile
from gee_landslide.ops.scheduling import find_superseding_run
from gee_landslide.sources import resolve_source


def _retry_transient(task_obj: Any, task_run: Any, state: Any) -> bool:
    """Retry a tile only for errors that may pass (5xx, quota, time-outs), not for bad input."""
    try:
        state.result()
    except Exception as exc:
        from gee_landslide.earthengine.export import classify_error

        return classify_error(exc) == "transient" or isinstance(exc, (OSError, TimeoutError))
    return False


@task(name="monitor-tile", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      retry_condition_fn=_retry_transient, task_run_name="tile {tile.key}", cache_policy=NO_CACHE)
def monitor_tile(ctx: PassContext, tile: Tile) -> TileResult:
    return process_tile(ctx, tile)


def notify_failed_pass(flow_obj: Any, flow_run: Any, state: State) -> None:
    """Flow hook: a pass that failed or crashed is announced, not only recorded in Prefect."""
    params = flow_run.parameters or {}
    url = params.get("notify_url") or get_settings().notify_url
    notifier = notifier_for_url(url) if url else Notifier.from_env()
    region = params.get("region", "?")
    title = f"Monitoring pass over {region} {state.name.lower()}"
    body = f"flow run {flow_run.name} ({flow_run.id}) ended {state.name}: {state.message or ''}".strip()
    flow_run_logger(flow_run).error("%s; %s", title, body)
    notifier.notify_failure(title, body, {"region": region, "flow_run": str(flow_run.id),
                                          "flow_run_name": flow_run.name, "state": state.name,
                                          "date": params.get("date")})


def superseded_state() -> State | None:
    """``Skipped`` when a later due run of this deployment makes this run redundant."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return None
    try:
        with get_client(sync_client=True) as client:
            newer = find_superseding_run(ctx.flow_run, client)
    except Exception as exc:  # a redundant pass is better than a missed one
        get_run_logger().warning("could not check for later runs (%s); running the pass", exc)
        return None
    if newer is None:
        return None
    return Completed(name="Skipped", message=f"superseded by the later run {newer.name} "
                                             f"(expected {newer.expected_start:%Y-%m-%d %H:%M} UTC)")


def _map_tiles(ctx: PassContext) -> list[TileResult]:
    futures = monitor_tile.map(unmapped(ctx), list(ctx.tiles))
    return [f.result() for f in futures]


@flow(name="monitor-tiles-local", task_runner=ThreadPoolTaskRunner(max_workers=2))
def tiles_local(ctx: PassContext) -> list[TileResult]:
    return _map_tiles(ctx)


def tiles_on_dask(ctx: PassContext, address: str) -> list[TileResult]:
    """Run the tiles as a sub-flow whose task runner is the Dask cluster at ``address``."""
    from prefect_dask import DaskTaskRunner

    sub = flow(name="monitor-tiles-dask", task_runner=DaskTaskRunner(address=address))(_map_tiles)
    return sub(ctx)


def alerts_markdown(summary: dict[str, Any]) -> str:
    a = summary["alerts"]
    lines = [
        f"# Monitoring pass: {summary['region']} on {summary['run_date']}",
        "",
        f"pre window {summary['windows']['pre'][0]}..{summary['windows']['pre'][1]}, post window "
        f"{summary['windows']['post'][0]}..{summary['windows']['post'][1]}; {summary['tiles']} tile(s), "
        f"{summary['area_km2']:.1f} km2 in {summary['seconds']:.0f} s",
        "",
        f"**{len(a['new'])} new**, {len(a['updated'])} updated, {len(a['unchanged'])} unchanged alert(s).",
        "",
    ]
    if a["new"]:
        lines += ["| new alert |", "|---|", *[f"| `{i}` |" for i in a["new"]], ""]
    scores = summary.get("object_scores")
    if scores:  # a source with truth (the simulator)
        lines += [f"Against the simulator's truth: {scores['true_detections']}/{scores['detections']} detections "
                  f"real, {scores['found_objects']}/{scores['truth_objects']} landslides found.", ""]
        by = summary.get("object_scores_by") or {}
        if by:
            lines += ["| candidates | real | landslides found |", "|---|---|---|",
                      *[f"| {k} | {v['true_detections']}/{v['detections']} | {v['found_objects']} |" for k, v in by.items()],
                      ""]
    feeds = summary.get("feeds") or {}
    if feeds:
        lines += ["Feeds: " + ", ".join(f"{k}: `{v}`" for k, v in feeds.items())]
    return "\n".join(lines)


@flow(name="monitor", log_prints=True, on_failure=[notify_failed_pass], on_crashed=[notify_failed_pass])
def monitor(
    region: str = "norway",
    date: str | None = None,
    source: str | None = None,
    ensemble: str | None = None,
    change_gate: bool = False,
    threshold: float | None = None,
    dask_address: str | None = None,
    notify_url: str | None = None,
    strategy: str | None = None,
    backfill_from: str | None = None,
    backfill_to: str | None = None,
    every: str = "6d",
) -> dict[str, Any] | State:
    """One monitoring pass: windows from ``date`` (default today), tiles, ensemble, alerts, feeds
    (or, with ``backfill_from``, every pass of a period in order)."""
    log = get_run_logger()
    skipped = superseded_state()
    if skipped is not None:
        log.info("no pass: %s", skipped.message)
        return skipped
    paths = project_paths()
    catalog = load_catalog(paths.catalog)
    source = resolve_source(source)
    settings = get_settings()
    address = dask_address or settings.dask_address

    def one_pass(run_date: dt.date | None) -> PassResult:
        ctx = prepare_pass(catalog, paths, region, run_date, source, ensemble, GateConfig(enabled=change_gate),
                           threshold, strategy=strategy)
        log.info("region %s %s: %d tile(s), %.1f km2, source %s, strategy %s", region, ctx.run_date,
                 len(ctx.tiles), ctx.grid.area_km2, source, ctx.strategy)
        results = tiles_on_dask(ctx, address) if address else tiles_local(ctx)
        return finish_pass(ctx, results, paths, notify_url=notify_url or settings.notify_url)

    if backfill_from:
        start = dt.date.fromisoformat(backfill_from)
        end = dt.date.fromisoformat(backfill_to or date or dt.date.today().isoformat())
        done = run_backfill(paths, region, start, end, parse_every(every), one_pass)
        log.info("backfill %s..%s: %d pass(es) run, %d skipped", start, end, len(done.done), len(done.skipped))
        return done.to_dict()
    result = one_pass(dt.date.fromisoformat(date) if date else None)
    summary = result.to_dict()
    create_markdown_artifact(alerts_markdown(summary), key=f"monitor-{region}", description="new landslide alerts")
    log.info("%d new, %d updated alert(s); outputs in %s", len(result.new), len(result.updated), result.out_dir)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--region", default="norway")
    p.add_argument("--date")
    p.add_argument("--source")
    p.add_argument("--change-gate", action="store_true")
    p.add_argument("--strategy")
    p.add_argument("--backfill-from")
    p.add_argument("--backfill-to")
    p.add_argument("--every", default="6d")
    a = p.parse_args()
    print(monitor(region=a.region, date=a.date, source=a.source, change_gate=a.change_gate, strategy=a.strategy,
                  backfill_from=a.backfill_from, backfill_to=a.backfill_to, every=a.every))


if __name__ == "__main__":
    main()
