"""The one-command demo: the whole system on simulated scenes, driven through Prefect.

Starts (or reuses) the local Prefect server and the deployment process, then runs the
deployments in order exactly as a user would with ``prefect deployment run``: ``ingest/catalog``
(simulated stacks), ``train/sweep`` (laptop profile), ``ensemble/select`` and
``monitor/norway``, and finally starts the feed server. A second run reuses everything the first
built (complete stacks and finished runs are skipped), so it takes minutes.

While a deployment runs, the demo polls its flow run and reports progress counted from the
project's own files (stacks complete of the catalog's events; finished runs of the sweep's
grid, whose run ids follow from the configuration), with an ETA from the rate so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gee_landslide.ops.supervisor import (
    DEFAULT_FEED_PORT,
    Orchestra,
    start_feed,
    start_serve,
    start_server,
    wait_for_deployments,
)

DEMO_DATE = "2025-08-01"  # the simulated Norway region has landslides injected on 2025-07-20


# (deployment name, done, total or None, seconds elapsed, ETA seconds or None)
ProgressFn = Callable[[str, int, "int | None", float, "float | None"], None]
Counter = Callable[[], tuple[int, int]]


@dataclass(frozen=True)
class StepResult:
    deployment: str
    state: str
    seconds: float
    flow_run_id: str


def step_counter(orch: Orchestra, name: str, profile: str = "laptop") -> Counter | None:
    """How far a deployment's flow run has come, counted from files: ``() -> (done, total)``.

    ``ingest/catalog``: complete stacks of the catalog's events and of their Sentinel-1 variants
    (core.variants); ``train/sweep``: finished runs of the profile's grid. Other deployments have no
    count (the caller shows elapsed time).
    """
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.stackio import is_complete
    from gee_landslide.core.variants import with_variants

    paths = orch.paths
    flow_name = name.split("/")[0]
    if flow_name == "ingest":
        cat = load_catalog(paths.catalog)
        ids = with_variants([e.id for e in cat.events], cat.defaults.s1_post_variant_looks)
        return lambda: (sum(is_complete(paths.stack_dir(i)) for i in ids), len(ids))
    if flow_name == "train":
        from gee_landslide.train.profile import load_profile
        from gee_landslide.train.runs import is_finished
        from gee_landslide.train.sweep import Splits, expand_grid

        run_ids = [c.run_id for c in expand_grid(load_profile(profile), Splits.from_catalog(load_catalog(paths.catalog)))]
        return lambda: (sum(is_finished(paths.runs / r) for r in run_ids), len(run_ids))
    return None


def eta_seconds(done0: int, done: int, total: int | None, elapsed: float) -> float | None:
    """Seconds left at the rate since the step started (None until something finished)."""
    if total is None or done <= done0 or elapsed <= 0:
        return None
    return (total - done) * elapsed / (done - done0)


def run_and_wait(orch: Orchestra, name: str, parameters: dict[str, Any] | None = None,
                 timeout: float = 3600.0, *, counter: Counter | None = None,
                 progress: ProgressFn | None = None, poll_s: float = 2.0) -> StepResult:
    """``prefect deployment run NAME`` and wait for the flow run to finish, reporting progress."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    t0 = time.perf_counter()
    with temporary_settings(updates={PREFECT_API_URL: orch.api_url}):
        flow_run = run_deployment(name, parameters=parameters or {}, timeout=0, as_subflow=False)
        done0 = counter()[0] if counter else 0
        with get_client(sync_client=True) as client:
            while True:
                flow_run = client.read_flow_run(flow_run.id)
                elapsed = time.perf_counter() - t0
                if progress is not None:
                    done, total = counter() if counter else (0, None)
                    progress(name, done, total, elapsed, eta_seconds(done0, done, total, elapsed))
                if flow_run.state is not None and flow_run.state.is_final():
                    break
                if elapsed > timeout:
                    raise TimeoutError(f"{name} did not finish within {timeout:.0f} s (flow run {flow_run.id})")
                time.sleep(poll_s)
    state = flow_run.state.type.value if flow_run.state else "UNKNOWN"
    return StepResult(name, state, time.perf_counter() - t0, str(flow_run.id))


def run_demo(orch: Orchestra, say: Callable[[str], None] = print, feed_port: int = DEFAULT_FEED_PORT,
             profile: str = "laptop", region: str = "norway",
             progress: ProgressFn | None = None) -> list[StepResult]:
    say(f"Prefect server: {orch.api_url} (database under {orch.home})")
    start_server(orch)
    start_serve(orch)
    steps = [
        ("ingest/catalog", {"source": "simulated"}),
        ("train/sweep", {"profile": profile}),
        # the Norway region's optical ensemble: all 9 runs, not the K chosen on validation (`choose_k`), which
        # lost one landslide's confirmation on a second training draw (README, Results, session 31)
        ("ensemble/select", {"setting": "s1s2", "k": 20, "report": False}),
        ("ensemble/select", {"setting": "s1", "k": 4, "report": False}),  # SAR-first: where clouds hide S2
        ("ensemble/select", {"setting": "s2", "k": 20}),  # `--strategy single`'s ensemble; writes the report
        (f"monitor/{region}", {"date": DEMO_DATE, "source": "simulated"}),
    ]
    wait_for_deployments(orch, [n for n, _ in steps])
    results: list[StepResult] = []
    for name, params in steps:
        say(f"prefect deployment run {name} " + " ".join(f"--param {k}={v}" for k, v in params.items()))
        result = run_and_wait(orch, name, params, counter=step_counter(orch, name, profile), progress=progress)
        results.append(result)
        say(f"  -> {result.state} in {result.seconds:.0f} s (flow run {result.flow_run_id})")
        if result.state != "COMPLETED":
            raise RuntimeError(f"{name} ended {result.state}; see {orch.log_file('serve')} and the Prefect UI")
    start_feed(orch, feed_port)
    say(next_run_line(orch, f"monitor/{region}"))
    return results


def next_run_line(orch: Orchestra, deployment: str) -> str:
    """One line saying when Prefect's scheduler will next run ``deployment`` by itself."""
    from gee_landslide.ops.scheduling import next_scheduled_run

    row = next_scheduled_run(orch.api_url, deployment)
    if row is None or row.next_run is None:
        why = "not deployed" if row is None else ("paused" if row.paused else "no schedule")
        return f"next scheduled run of {deployment}: none ({why})"
    return f"next scheduled run of {deployment}: {row.next_run:%Y-%m-%d %H:%M} UTC (schedule {row.schedule})"
