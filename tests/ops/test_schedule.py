"""Schedules fire: Prefect's own scheduler runs ``monitor/<region>`` by itself and the feed updates.

One real Prefect server and the project's serve process (``flows/serve.py``, started by
``gee_landslide.ops.supervisor`` exactly as ``orchestrate up`` does) for the whole module, over a
scratch copy of the catalog whose ``norway`` region runs every minute. Nothing here triggers a
``norway`` run by hand: every run asserted on was created by the scheduler.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter

import pytest
from helpers_schedule import (
    EVERY_MINUTE,
    Stack,
    add_region,
    deployment_runs,
    log_tail,
    running_stack,
    wait_for,
)
from typer.testing import CliRunner

from gee_landslide.cli import app
from gee_landslide.ops.demo import next_run_line
from gee_landslide.ops.supervisor import read_pid, start_serve, start_server, stop, wait_for_deployments


@pytest.fixture(scope="module")
def stack(small_project, tmp_path_factory):
    with running_stack(small_project, tmp_path_factory.mktemp("schedule")) as s:
        print(f"\nserver healthy and deployments registered in {s.started_s:.0f} s")
        yield s


def _scheduled_norway_run(s: Stack, started_after: dt.datetime | None = None):
    """The first run the scheduler created for monitor/norway that finished (and started after ...)."""
    with s.client() as client:
        dep = client.read_deployment_by_name("monitor/norway")
        for run in deployment_runs(client, dep.id):
            if started_after and (run.start_time is None or run.start_time < started_after):
                continue
            if run.auto_scheduled and run.state and run.state.is_final() and run.state.name != "Skipped":
                return run
    return None


def test_cron_schedule_fires_a_monitoring_pass_that_updates_the_feed(stack: Stack) -> None:
    t0 = time.perf_counter()
    feed = stack.paths.alerts / "alerts.geojson"
    assert not feed.exists(), "the scratch project starts without alerts"
    run = wait_for(lambda: _scheduled_norway_run(stack), 240, "a scheduled run of monitor/norway to finish")
    print(f"first scheduled run finished {time.perf_counter() - t0:.0f} s after the stack was up "
          f"(expected {run.expected_start_time:%H:%M:%S}, ran {run.total_run_time})")
    assert run.state.name == "Completed", f"{run.state.name}: {run.state.message}\n" + log_tail(stack.orch, "serve")
    assert run.auto_scheduled and run.parameters == {"region": "norway"}
    assert run.expected_start_time.second == 0  # on the cron's minute, not "now" as a manual run would be
    features = json.loads(feed.read_text())["features"]
    assert features and all(f["properties"]["region"] == "norway" for f in features)
    pass_dir = stack.paths.monitor / "norway" / run.expected_start_time.date().isoformat()
    summary = json.loads((pass_dir / "pass.json").read_text())
    assert sorted(summary["alerts"]["new"]) == sorted(f["id"] for f in features)


def test_status_shows_schedule_next_run_and_last_state(stack: Stack) -> None:
    wait_for(lambda: _scheduled_norway_run(stack), 240, "a finished scheduled run")
    args = ["orchestrate", "status", "--port", str(stack.orch.port), "--root", str(stack.paths.root)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 80, res.output
    norway = next(line for line in lines if line.startswith("monitor/norway"))
    assert EVERY_MINUTE in norway and ("Completed" in norway or "Running" in norway or "Skipped" in norway)
    assert any(line.startswith("train/sweep") and "on demand" in line for line in lines)

    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["server_healthy"] and data["services"]["serve"] == read_pid(stack.orch, "serve")
    rows = {r["deployment"]: r for r in data["deployments"]}
    assert rows["monitor/norway"]["schedule"] == EVERY_MINUTE
    nxt = dt.datetime.fromisoformat(rows["monitor/norway"]["next_run"])
    assert nxt - dt.datetime.now(dt.timezone.utc) < dt.timedelta(minutes=2)
    assert rows["monitor/norway"]["last_run_state"] in {"Completed", "Running", "Skipped", "Pending"}
    assert rows["ingest/catalog"]["schedule"] is None and rows["ingest/catalog"]["next_run"] is None
    # what the demo prints at its end
    line = next_run_line(stack.orch, "monitor/norway")
    assert line.startswith("next scheduled run of monitor/norway: 20") and EVERY_MINUTE in line


def test_region_added_to_the_catalog_is_scheduled_after_serve_restarts(stack: Stack) -> None:
    """Restarting the serve process brings back every deployment and schedule once, plus the new one."""
    t0 = time.perf_counter()
    add_region(stack.paths.catalog, "alps", "30 5 * * *")
    old_pid = read_pid(stack.orch, "serve")
    stop(stack.orch, ("serve",))
    assert start_serve(stack.orch) != old_pid
    wait_for_deployments(stack.orch, ["monitor/alps"], timeout=240)
    with stack.client() as client:
        alps = client.read_deployment_by_name("monitor/alps")
        runs = wait_for(lambda: [r for r in deployment_runs(client, alps.id) if r.auto_scheduled], 120,
                        "the scheduler to create runs of monitor/alps")
        assert [s.schedule.cron for s in alps.schedules] == ["30 5 * * *"] and not alps.paused
        assert all((r.expected_start_time.hour, r.expected_start_time.minute) == (5, 30) for r in runs)
        assert alps.parameters == {"region": "alps"}
        # no duplicates: one deployment per name, one schedule each, one run per scheduled minute
        flows = {f.id: f.name for f in client.read_flows()}
        names = Counter(f"{flows[d.flow_id]}/{d.name}" for d in client.read_deployments())
        assert max(names.values()) == 1 and {"monitor/norway", "monitor/quiet", "monitor/alps"} <= set(names)
        norway = client.read_deployment_by_name("monitor/norway")
        assert [s.schedule.cron for s in norway.schedules] == [EVERY_MINUTE] and not norway.paused
        starts = Counter(r.expected_start_time for r in deployment_runs(client, norway.id) if r.auto_scheduled)
        assert starts and max(starts.values()) == 1
    print(f"serve restarted, monitor/alps scheduled in {time.perf_counter() - t0:.0f} s")


def test_scheduled_runs_go_on_after_the_prefect_server_restarts(stack: Stack) -> None:
    """The serve process outlives a restart of the server; the next cron run happens by itself."""
    serve_pid = read_pid(stack.orch, "serve")
    t0 = time.perf_counter()
    stop(stack.orch, ("server",))
    # keep it down until Prefect's runner gives up polling (three failures in a row), as it does
    # while a server restarts for a minute on a loaded machine
    log = stack.orch.log_file("serve")
    seen = len(log.read_bytes())
    # (its polling loop reports three failures, or serve() itself ends with the connection error,
    # which flows/serve.py reports as "serving stopped")
    wait_for(lambda: any(m in log.read_bytes()[seen:] for m in (b"Failed the last 3 attempts", b"serving stopped")),
             120, "Prefect's runner to give up polling the stopped server")
    assert "Prefect API unreachable" in log_tail(stack.orch, "serve", 200_000)
    start_server(stack.orch, timeout=300)
    back = dt.datetime.now(dt.timezone.utc)
    print(f"server restarted in {time.perf_counter() - t0:.0f} s")
    # a run that came due during the outage (started late) or the next one on the cron
    run = wait_for(lambda: _scheduled_norway_run(stack, started_after=back), 240,
                   "a scheduled monitor/norway run after the restart")
    print(f"first scheduled run after the restart finished {time.perf_counter() - t0:.0f} s after the stop")
    assert run.state.name == "Completed", f"{run.state.message}\n{log_tail(stack.orch, 'serve')}"
    assert read_pid(stack.orch, "serve") == serve_pid, "the same serve process carried on"
    assert "restarting the runner" in log_tail(stack.orch, "serve", 200_000)
