"""The Prefect ``train`` flow on the smoke profile, in a temporary Prefect server."""

from __future__ import annotations

import os
import socket

from helpers_project import HARNESS_STARTUP_S
from helpers_stacks import make_project

from gee_landslide.train.runs import list_runs


def test_train_flow_smoke(tmp_path):
    from prefect.testing.utilities import prefect_test_harness

    from flows.train import train

    make_project(tmp_path, 2, 1, 1, size=100)
    prof = tmp_path / "tiny.yaml"
    prof.write_text(
        "name: tiny\narchitectures: [Linknet, PSPNet]\nlosses: [BCE]\nlearning_rates: [0.001]\n"
        "settings: [s2]\nencoder: tu-mobilenetv3_small_050\ncrop_size: 128\nbatch_size: 2\n"
        "iterations_per_epoch: 2\nmax_epochs: 1\npatience: 1\ninference: {tile: 128, overlap: 16, batch: 4}\n")
    with prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_S):
        out = train(profile=str(prof), root=str(tmp_path), workers=2)
        assert out["runs"] == 2 and out["counts"] == {"trained": 2}
        # two workers are two processes besides this one (torch threads and RNG are per process)
        here = f"{socket.gethostname()}:{os.getpid()}"
        assert here not in {r["worker"] for r in out["results"]}
        again = train(profile=str(prof), root=str(tmp_path))
        assert again["counts"] == {"skipped": 2}
    assert len(list_runs(tmp_path / "models" / "runs", "s2")) == 2
