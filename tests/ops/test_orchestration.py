"""Orchestration: deployments derived from the catalog, and a real Prefect server end to end."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import pytest
from helpers_project import copy_project

from gee_landslide.core.catalog import append_event, load_catalog
from gee_landslide.ops.deployments import deployment_specs
from gee_landslide.ops.supervisor import (
    Orchestra,
    free_port,
    pid_alive,
    read_pid,
    start_serve,
    start_server,
    stop,
)


def test_every_region_gets_a_scheduled_monitor_deployment(tmp_path: Path, catalog_path: Path) -> None:
    cat = load_catalog(catalog_path)
    specs = {s.full_name: s for s in deployment_specs(cat)}
    assert {"ingest/catalog", "train/sweep", "ensemble/select", "monitor/norway"} <= set(specs)
    assert specs["monitor/norway"].cron == cat.regions["norway"].schedule
    assert specs["monitor/norway"].parameters == {"region": "norway"}
    assert specs["train/sweep"].cron is None
    # a region added to the catalog gets its own deployment
    text = catalog_path.read_text() + (
        "  alps:\n    name: Test Alps\n    bbox: [11.80, 46.43, 11.86, 46.47]\n    schedule: \"30 5 * * 1\"\n"
    )
    path = tmp_path / "case_studies.yaml"
    path.write_text(text)
    specs = {s.full_name: s for s in deployment_specs(load_catalog(path))}
    assert specs["monitor/alps"].cron == "30 5 * * 1"
    # adding an event does not change the deployments (ingest/train read the catalog at run time)
    ev = load_catalog(path).event("norway-5").model_copy(update={"id": "norway-extra"})
    append_event(path, ev)
    assert {s.full_name for s in deployment_specs(load_catalog(path))} == set(specs)


@pytest.mark.slow
def test_prefect_server_serves_and_runs_monitor_norway(small_project, tmp_path: Path) -> None:
    """`prefect deployment run monitor/norway` through a real local server and serve process."""
    paths = copy_project(small_project, tmp_path / "p")
    os.symlink(Path(__file__).resolve().parents[2] / "flows", paths.root / "flows")
    orch = Orchestra(paths, port=free_port())
    try:
        server_pid = start_server(orch)
        serve_pid = start_serve(orch)
        assert pid_alive(server_pid) and pid_alive(serve_pid)
        from gee_landslide.ops.demo import run_and_wait
        from gee_landslide.ops.supervisor import wait_for_deployments

        wait_for_deployments(orch, ["monitor/norway", "ingest/catalog", "train/sweep", "ensemble/select"])
        # exactly what `prefect deployment run monitor/norway --param ...` sends to the API
        env = orch.env()
        prefect = str(Path(sys.executable).with_name("prefect"))
        import subprocess

        res = subprocess.run(
            [prefect, "deployment", "run", "monitor/norway", "--param", "date=2025-08-01",
             "--param", "source=simulated", "--param", "threshold=0.05", "--watch", "--watch-timeout", "300"],
            env=env, capture_output=True, text=True, timeout=360, cwd=paths.root,
        )
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert "Completed" in res.stdout or "COMPLETED" in res.stdout
        alerts = paths.alerts / "alerts.geojson"
        assert alerts.exists() and '"Feature"' in alerts.read_text()
        assert (paths.monitor / "norway" / "2025-08-01" / "probability.tif").exists()
        # the Python API path the demo uses gives the same answer (and nothing new: idempotent)
        step = run_and_wait(orch, "monitor/norway", {"date": "2025-08-01", "source": "simulated",
                                                     "threshold": 0.05}, timeout=300)
        assert step.state == "COMPLETED"
    finally:
        stopped = stop(orch)
        assert all(pid is None or not pid_alive(pid) for pid in stopped.values())
        assert read_pid(orch, "server") is None and read_pid(orch, "serve") is None
        shutil.rmtree(orch.home / "tmp", ignore_errors=True)
    assert dt.date.today() >= dt.date(2025, 8, 1)
