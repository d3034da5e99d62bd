"""A real local Prefect stack (server + the project's serve process) over a scratch catalog.

The tests that watch schedules fire use the project's own code to start it
(:mod:`gee_landslide.ops.supervisor`), on an ephemeral port of 127.0.0.1, with the database and
logs in a temporary project. Only Prefect's own loop periods are shortened (scheduler loop,
runner poll, deployment concurrency back-off) so a test waits seconds rather than minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers_project import copy_project
from ruamel.yaml import YAML

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.ops.deployments import deployment_specs
from gee_landslide.ops.supervisor import (
    Orchestra,
    free_port,
    start_serve,
    start_server,
    stop,
    wait_for_deployments,
)

EVERY_MINUTE = "* * * * *"
NEVER_DURING_TESTS = "0 0 1 1 *"  # 1 January, 00:00: runs of `quiet` are only the ones a test makes
LOW_THRESHOLD = 0.05  # the tiny test ensemble is barely trained: a low threshold guarantees detections
# about 1.2 km x 1.2 km: two 128 px tiles, a pass takes seconds (the shrunk norway of the
# small project takes ~40 s on a loaded 2-core machine, most of a one-minute cron period)
TINY_BBOX = [6.085, 61.468, 6.107, 61.479]

# Prefect's own loop periods, shortened (defaults: 60 s, 10 s, 30 s)
FAST_PREFECT = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "5",
}

T = TypeVar("T")


def yaml_rt() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def write_scratch_catalog(path: Path, norway_schedule: str = EVERY_MINUTE, today: dt.date | None = None) -> None:
    """The project catalog with ``norway`` on ``norway_schedule`` and a ``quiet`` region run by hand.

    Both cover a tiny bbox with the tiny ``s1s2`` ensemble at a low threshold, and the simulator
    injects landslides ten days before today, so a pass over today's windows (what a scheduled
    run does) finds some.
    """
    today = today or dt.date.today()
    yaml = yaml_rt()
    raw = yaml.load(path.read_text())
    norway = raw["regions"]["norway"]
    norway["schedule"] = norway_schedule
    norway["threshold"] = LOW_THRESHOLD
    norway["bbox"] = TINY_BBOX
    norway["simulation"]["landslide_dates"].append(today - dt.timedelta(days=10))
    quiet = yaml.load(yaml_dump(yaml, norway))
    quiet["name"] = "Quiet test region (run by hand)"
    quiet["schedule"] = NEVER_DURING_TESTS
    raw["regions"]["quiet"] = quiet
    with open(path, "w") as fh:
        yaml.dump(raw, fh)


def add_region(path: Path, region_id: str, schedule: str) -> None:
    """Append a region (a copy of ``quiet`` with another schedule) to the catalog."""
    yaml = yaml_rt()
    raw = yaml.load(path.read_text())
    region = yaml.load(yaml_dump(yaml, raw["regions"]["quiet"]))
    region["name"] = f"Test region {region_id}"
    region["schedule"] = schedule
    raw["regions"][region_id] = region
    with open(path, "w") as fh:
        yaml.dump(raw, fh)


def yaml_dump(yaml: YAML, data: Any) -> str:
    import io

    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


@dataclass
class Stack:
    orch: Orchestra
    paths: ProjectPaths
    started_s: float  # server healthy + deployments registered, from nothing

    def client(self) -> contextlib.AbstractContextManager[Any]:
        return prefect_client(self.orch.api_url)


@contextlib.contextmanager
def prefect_client(api_url: str) -> Iterator[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


@contextlib.contextmanager
def running_stack(small_project: ProjectPaths, tmp: Path, norway_schedule: str = EVERY_MINUTE) -> Iterator[Stack]:
    """Copy the small project, write the scratch catalog, start server + serve; always stop them."""
    paths = copy_project(small_project, tmp / "p")
    write_scratch_catalog(paths.catalog, norway_schedule)
    orch = Orchestra(paths, port=free_port())
    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_PREFECT.items():
            mp.setenv(key, value)
        try:
            start_server(orch, timeout=300)
            start_serve(orch)
            wait_for_deployments(orch, [s.full_name for s in deployment_specs(load_catalog(paths.catalog))],
                                 timeout=300)
            yield Stack(orch, paths, time.perf_counter() - t0)
        finally:
            stop(orch)


def wait_for(fn: Callable[[], T | None], timeout: float, what: str, poll: float = 1.0) -> T:
    """Poll ``fn`` until it returns something truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def deployment_runs(client: Any, deployment_id: Any) -> list[Any]:
    """Every top-level flow run of a deployment, oldest expected start first."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200,
    )


def log_tail(orch: Orchestra, service: str, n: int = 4000) -> str:
    try:
        return orch.log_file(service).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def explain_runs(stack: Stack, ids: list[Any], n: int = 6000) -> str:
    """What a failing wait needs to be understood afterwards: each run's states in order, its own
    log lines from the API, and the serve and server logs without the runner's repeated
    "Aborted submission" lines (which, while a run waits for its deployment's slot, fill any tail)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    out: list[str] = []
    with contextlib.suppress(Exception), stack.client() as client:
        for i in ids:
            run = client.read_flow_run(i)
            states = " -> ".join(f"{st.name}@{st.timestamp:%H:%M:%S}" for st in client.read_flow_run_states(i))
            out.append(f"run {run.name} ({i}) expected {run.expected_start_time:%H:%M:%S}: {states}")
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[i])), limit=40)
            out += [f"    {lg.timestamp:%H:%M:%S} {lg.message[:300]}" for lg in logs]
    for service in ("serve", "server"):
        lines = [ln for ln in log_tail(stack.orch, service, 1_000_000).splitlines() if "Aborted submission" not in ln]
        out.append(f"--- {service} log without 'Aborted submission' lines (last {n} characters)")
        out.append("\n".join(lines)[-n:])
    return "\n".join(out)
