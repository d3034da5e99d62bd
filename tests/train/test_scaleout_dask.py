"""Scale-out: the smoke sweep on a local Dask cluster of two workers spreads its runs over both."""

from __future__ import annotations

import pytest
from helpers_project import HARNESS_STARTUP_S
from helpers_stacks import make_project

from gee_landslide.train.runs import list_runs


@pytest.mark.slow
def test_train_flow_on_a_two_worker_dask_cluster(tmp_path):
    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from flows.train import train

    make_project(tmp_path, 2, 1, 1, size=100)
    prof = tmp_path / "tiny.yaml"
    prof.write_text(
        "name: tiny\narchitectures: [Linknet, FPN, Unet, PSPNet]\nlosses: [BCE]\nlearning_rates: [0.001]\n"
        "settings: [s2]\nencoder: tu-mobilenetv3_small_050\ncrop_size: 128\nbatch_size: 2\n"
        "iterations_per_epoch: 2\nmax_epochs: 1\npatience: 1\nnum_threads: 1\n"
        "inference: {tile: 128, overlap: 16, batch: 4}\n")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_S):
        workers = set(cluster.scheduler_info["workers"])
        assert len(workers) == 2
        out = train(profile=str(prof), root=str(tmp_path), dask_address=cluster.scheduler_address)
    assert out["counts"] == {"trained": 4}
    used = {r["worker"] for r in out["results"]}
    assert used == workers, f"runs ran on {used}, cluster workers are {workers}"
    assert len(list_runs(tmp_path / "models" / "runs", "s2")) == 4


@pytest.mark.slow
def test_monitor_tiles_on_a_two_worker_dask_cluster(small_project, tmp_path, monkeypatch):
    from distributed import LocalCluster
    from helpers_project import copy_project
    from prefect.testing.utilities import prefect_test_harness

    from flows.monitor import monitor

    paths = copy_project(small_project, tmp_path / "p")
    monkeypatch.setenv("GEE_LANDSLIDE_ROOT", str(paths.root))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_S):
        summary = monitor(region="norway", date="2025-08-01", source="simulated", threshold=0.05,
                          dask_address=cluster.scheduler_address)
    assert summary["tiles"] >= 4 and summary["alerts"]["new"]
    assert (paths.monitor / "norway" / "2025-08-01" / "probability.tif").exists()
