"""Prefect flow ``ingest``: build the 15-band stack of every catalog event (or the ones named).

A thin flow over :func:`gee_landslide.sources.build.build_one_stack`: one task per event, mapped over
the catalog, so an event added to ``case_studies.yaml`` is built by the next run and the others
are skipped. Caching: a task's cache key is (source, event id, recipe version); it is only
offered while the stack on disk is complete, so deleted or half-written stacks are rebuilt,
and ``force=True`` refreshes the cache. An interrupted run resumes: complete stacks are
skipped and the Earth Engine exporter reuses its finished tiles. Transient Earth Engine failures
(quota, time-outs, 5xx) are retried by the exporter's one retry policy
(:class:`gee_landslide.earthengine.export.RetryPolicy`), not again by Prefect; configuration
errors (an empty window, a bad catalog) fail at once. A table artifact summarises what was built.

    python -m flows.ingest --source simulated --event norway-5
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext
from prefect.futures import wait

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import project_paths
from gee_landslide.core.stackio import is_complete, read_meta
from gee_landslide.core.variants import stack_id, stack_jobs
from gee_landslide.sources import SOURCES, get_source, resolve_source
from gee_landslide.sources.build import build_one_stack, select_events


def recipe_version(source: str) -> str:
    """The version of the recipe that builds a source's stacks (part of the cache key)."""
    return get_source(source).version


def stack_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """Cache by source + stack id + recipe version, but only while the stack files exist."""
    paths = project_paths(parameters.get("root"))
    sid = stack_id(parameters["event_id"], parameters.get("s1_post_looks"))
    out = paths.stack_dir(sid)
    source = parameters["source"]
    if not is_complete(out):
        return None  # missing or unfinished stack: always run
    try:
        if read_meta(out).get("source") != source:
            return None
    except (OSError, ValueError):
        return None
    return f"ingest-{source}-{sid}-{recipe_version(source)}"


@task(
    name="build-stack",
    task_run_name="build-stack-{source}-{event_id}",
    cache_key_fn=stack_cache_key,
    persist_result=True,
)
def build_stack_task(
    event_id: str, source: str, force: bool = False, root: str | None = None, catalog: str | None = None,
    s1_post_looks: int | None = None,
) -> dict[str, Any]:
    logger = get_run_logger()
    paths = project_paths(root)
    cat = load_catalog(catalog or paths.catalog)
    event = cat.event(event_id)
    result = build_one_stack(event, cat, paths, source, force, progress=logger.info, s1_post_looks=s1_post_looks)
    logger.info("%s: %s in %.1f s -> %s", result.event_id, result.status, result.seconds, result.path)
    meta = read_meta(result.path) if is_complete(result.path) else {}
    return {
        "event_id": result.event_id,
        "status": result.status,
        "seconds": round(result.seconds, 2),
        "path": str(result.path),
        "source": meta.get("source", source),
        "labels": meta.get("labels", "file"),
    }


@flow(name="ingest", log_prints=True)
def ingest(
    source: str | None = None,
    events: list[str] | None = None,
    force: bool = False,
    root: str | None = None,
    catalog: str | None = None,
) -> list[dict[str, Any]]:
    """Build the stacks of the catalog's events (all, or ``events``) from ``source``.

    Without a ``source``: ``gee`` when Earth Engine credentials are configured, else ``simulated``
    (said once in the log).
    """
    logger = get_run_logger()
    source = resolve_source(source)
    paths = project_paths(root)
    cat = load_catalog(catalog or paths.catalog)
    # each event, then its variants with a monitoring pass's few Sentinel-1 looks (core.variants)
    jobs = stack_jobs([e.id for e in select_events(cat, events)], cat.defaults.s1_post_variant_looks)
    logger.info("ingest: %d stack(s) from %s source into %s", len(jobs), source, paths.stacks)
    task_fn = build_stack_task.with_options(refresh_cache=True) if force else build_stack_task
    futures = [
        task_fn.with_options(task_run_name=f"build-stack-{source}-{stack_id(eid, looks)}").submit(
            eid, source, force, str(paths.root), str(catalog) if catalog else None, looks)
        for eid, looks in jobs
    ]
    wait(futures)
    rows: list[dict[str, Any]] = []
    for (eid, looks), fut in zip(jobs, futures, strict=True):
        state = fut.state
        if state.is_completed():
            row = dict(fut.result())
            if state.name == "Cached":
                row["status"] = "cached"
        else:
            sid = stack_id(eid, looks)
            row = {"event_id": sid, "status": "failed", "seconds": None, "path": str(paths.stack_dir(sid)),
                   "source": source, "labels": None, "error": str(state.message)}
            logger.error("%s failed: %s", eid, state.message)
        rows.append(row)
    create_table_artifact(
        table=rows,
        key=f"ingest-{source}",
        description=f"Stacks built by the ingest flow ({source} source, {len(rows)} event(s)).",
    )
    failed = [r for r in rows if r["status"] == "failed"]
    logger.info(
        "ingest done: %d built, %d skipped/cached, %d failed",
        sum(r["status"] == "built" for r in rows),
        sum(r["status"] in ("skipped", "cached") for r in rows),
        len(failed),
    )
    if failed:
        raise RuntimeError(f"{len(failed)} event(s) failed: {', '.join(r['event_id'] for r in failed)}")
    return rows


def main() -> None:  # pragma: no cover - thin CLI
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="simulated", choices=list(SOURCES))
    ap.add_argument("--event", action="append", dest="events")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--root", type=Path)
    args = ap.parse_args()
    ingest(args.source, args.events, args.force, str(args.root) if args.root else None)


if __name__ == "__main__":  # pragma: no cover
    main()
