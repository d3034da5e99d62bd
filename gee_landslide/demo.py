"""The one-command demo: the whole system on simulated scenes, driven through Prefect.

Starts (or reuses) the local Prefect server and the deployment process, then runs the
deployments in order exactly as a user would with ``prefect deployment run``: ``ingest/catalog``
(simulated stacks), ``train/sweep`` (laptop profile), ``ensemble/select`` and
``monitor/norway``, and finally starts the feed server. A second run reuses everything the first
built (complete stacks and finished runs are skipped), so it takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gee_landslide.orchestrate import (
    DEFAULT_FEED_PORT,
    Orchestra,
    start_feed,
    start_serve,
    start_server,
    wait_for_deployments,
)

DEMO_DATE = "2025-08-01"  # the simulated Norway region has landslides injected on 2025-07-20


@dataclass(frozen=True)
class StepResult:
    deployment: str
    state: str
    seconds: float
    flow_run_id: str


def run_and_wait(orch: Orchestra, name: str, parameters: dict[str, Any] | None = None,
                 timeout: float = 3600.0) -> StepResult:
    """``prefect deployment run NAME`` and wait for the flow run to finish."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    t0 = time.perf_counter()
    with temporary_settings(updates={PREFECT_API_URL: orch.api_url}):
        flow_run = run_deployment(name, parameters=parameters or {}, timeout=timeout, poll_interval=2,
                                  as_subflow=False)
    state = flow_run.state.type.value if flow_run.state else "UNKNOWN"
    return StepResult(name, state, time.perf_counter() - t0, str(flow_run.id))


def run_demo(orch: Orchestra, say: Callable[[str], None] = print, feed_port: int = DEFAULT_FEED_PORT,
             profile: str = "laptop", region: str = "norway") -> list[StepResult]:
    say(f"Prefect server: {orch.api_url} (database under {orch.home})")
    start_server(orch)
    start_serve(orch)
    steps = [
        ("ingest/catalog", {"source": "simulated"}),
        ("train/sweep", {"profile": profile}),
        ("ensemble/select", {"setting": "s1s2", "k": 20, "report": False}),
        ("ensemble/select", {"setting": "s2", "k": 20}),  # the Norway region's ensemble; writes the report
        (f"monitor/{region}", {"date": DEMO_DATE, "source": "simulated"}),
    ]
    wait_for_deployments(orch, [n for n, _ in steps])
    results: list[StepResult] = []
    for name, params in steps:
        say(f"prefect deployment run {name} " + " ".join(f"--param {k}={v}" for k, v in params.items()))
        result = run_and_wait(orch, name, params)
        results.append(result)
        say(f"  -> {result.state} in {result.seconds:.0f} s (flow run {result.flow_run_id})")
        if result.state != "COMPLETED":
            raise RuntimeError(f"{name} ended {result.state}; see {orch.log_file('serve')} and the Prefect UI")
    start_feed(orch, feed_port)
    say(next_run_line(orch, f"monitor/{region}"))
    return results


def next_run_line(orch: Orchestra, deployment: str) -> str:
    """One line saying when Prefect's scheduler will next run ``deployment`` by itself."""
    from gee_landslide.scheduling import next_scheduled_run

    row = next_scheduled_run(orch.api_url, deployment)
    if row is None or row.next_run is None:
        why = "not deployed" if row is None else ("paused" if row.paused else "no schedule")
        return f"next scheduled run of {deployment}: none ({why})"
    return f"next scheduled run of {deployment}: {row.next_run:%Y-%m-%d %H:%M} UTC (schedule {row.schedule})"
