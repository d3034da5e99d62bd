"""Prefect flow ``train``: the training sweep of a profile, one task per run.

The flow expands the profile into run configurations (deterministic run ids, derived from each
configuration) and fans the runs out over a task runner: a local thread pool by default
(``workers`` at a time, each in its own process: torch's thread pool and random generator are
per process, so a run computes what it would alone), or a Dask cluster when ``dask_address`` is given
(``prefect_dask.DaskTaskRunner(address=...)``; the project root must then be on a filesystem
every worker sees). Each task calls the same library code as ``gee-landslide train``; a run's
lock file (created with O_EXCL) guarantees that two workers never train the same run, finished
runs are skipped and an interrupted run resumes from its last checkpoint.

    python -m flows.train --profile laptop --setting s1s2
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import project_paths
from gee_landslide.train.profile import Profile, load_profile
from gee_landslide.train.runs import RunConfig
from gee_landslide.train.sweep import Splits, check_stacks, expand_grid, longest_first, run_one


@task(name="train-run", task_run_name="train-{run_id}", cache_policy=NO_CACHE)
def train_run_task(run_id: str, config: dict[str, Any], profile: dict[str, Any], root: str,
                   device: str | None = None) -> dict[str, Any]:
    """Train (or skip, or resume) one run; returns its status and scores."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = RunConfig.model_validate(config)
    assert cfg.run_id == run_id, "the run id must follow from the configuration"
    paths = project_paths(root)
    status, rec = run_one(cfg, paths.runs, paths.stacks, Profile.model_validate(profile), device=device)
    out: dict[str, Any] = {"run_id": run_id, "status": status}
    if rec is None and status == "skipped":
        from gee_landslide.train.runs import read_record

        rec = read_record(paths.runs / run_id)
    if rec:
        out.update(val_f1=rec["best_val_f1"], test_f1=rec["test_metrics"]["f1"], epochs=rec["epochs"],
                   wall_time_s=rec["wall_time_s"])
    out["worker"] = _worker_name()
    get_run_logger().info("%s: %s on %s", run_id, status, out["worker"])
    return out


def _worker_name() -> str:
    """Where a run trained: the Dask worker's address, else host:pid (shows the fan-out)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _runner(dask_address: str | None, workers: int):
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    if workers > 1:  # a process per worker: torch's threads and random generator are per process
        return ProcessPoolTaskRunner(max_workers=workers)
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="train-runs")
def train_runs(configs: list[dict[str, Any]], profile: dict[str, Any], root: str,
               device: str | None = None) -> list[dict[str, Any]]:
    futures = [train_run_task.submit(RunConfig.model_validate(c).run_id, c, profile, root, device)
               for c in configs]
    wait(futures)
    out = []
    for f, c in zip(futures, configs, strict=True):
        try:
            out.append(f.result())
        except Exception as exc:  # one failed run does not lose the others
            out.append({"run_id": RunConfig.model_validate(c).run_id, "status": "failed", "error": str(exc)})
    return out


@flow(name="train", log_prints=True)
def train(
    profile: str = "laptop",
    settings: list[str] | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    root: str | None = None,
    catalog: str | None = None,
    device: str | None = None,
    max_runs: int | None = None,
) -> dict[str, Any]:
    """Train every run of ``profile`` (optionally only ``settings``) that is not finished yet.

    ``workers`` (default: the profile's ``workers``) runs train at once, each in its own process.
    """
    logger = get_run_logger()
    paths = project_paths(root)
    cat = load_catalog(catalog or paths.catalog)
    prof = load_profile(profile)
    workers = workers or prof.workers
    splits = Splits.from_catalog(cat)
    check_stacks(paths.stacks, splits)
    configs = longest_first(expand_grid(prof, splits, settings)[: max_runs or None])
    logger.info("profile %s: %d runs (%s)", prof.name, len(configs),
                f"Dask at {dask_address}" if dask_address else f"{workers} local worker(s)")
    results = train_runs.with_options(task_runner=_runner(dask_address, workers))(
        [c.model_dump(mode="json") for c in configs], prof.model_dump(mode="json"), str(paths.root), device)
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    create_table_artifact(
        key="train-sweep",
        table=[{k: r.get(k) for k in ("run_id", "status", "val_f1", "test_f1", "epochs")} for r in results],
        description=f"profile {prof.name}: {counts}",
    )
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed: " + "; ".join(f"{r['run_id']}: {r['error']}" for r in failed))
    return {"profile": prof.name, "runs": len(results), "counts": counts, "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--setting", action="append", dest="settings")
    ap.add_argument("--dask-address")
    ap.add_argument("--workers", type=int, default=None, help="default: the profile's")
    ap.add_argument("--root")
    ap.add_argument("--device")
    a = ap.parse_args()
    train(profile=a.profile, settings=a.settings, dask_address=a.dask_address, workers=a.workers,
          root=a.root or str(Path.cwd()), device=a.device)


if __name__ == "__main__":
    main()
