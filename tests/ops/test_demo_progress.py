"""The demo's progress: counts from the project's files, and an ETA from the rate so far."""

from __future__ import annotations

import shutil

import numpy as np

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.grid import grid_around
from gee_landslide.core.paths import project_paths
from gee_landslide.core.stackio import write_stack
from gee_landslide.ops.demo import eta_seconds, step_counter
from gee_landslide.ops.supervisor import Orchestra


def test_eta_from_the_rate_since_the_step_started():
    assert eta_seconds(0, 5, 10, 50.0) == 50.0  # 5 done in 50 s: 5 more take 50 s
    assert eta_seconds(3, 3, 10, 50.0) is None  # nothing finished yet: no guess
    assert eta_seconds(0, 2, None, 10.0) is None


def test_step_counters_count_stacks_and_runs(tmp_path, catalog_path):
    shutil.copy(catalog_path, tmp_path / "case_studies.yaml")
    text = (tmp_path / "case_studies.yaml").read_text()
    assert "  # s1_post_variant_looks: [2]\n" in text
    (tmp_path / "case_studies.yaml").write_text(text.replace("  # s1_post_variant_looks: [2]\n", "  s1_post_variant_looks: [2]\n"))
    orch = Orchestra(project_paths(tmp_path), port=1)
    ingest = step_counter(orch, "ingest/catalog")
    cat = load_catalog(tmp_path / "case_studies.yaml")
    n_stacks = len(cat.events) * (1 + len(cat.defaults.s1_post_variant_looks))  # events and their variants
    assert cat.defaults.s1_post_variant_looks and ingest() == (0, n_stacks)
    grid = grid_around(61.48, 6.1, 100.0)
    for sid in ("norway-5", "iceland-1", "norway-5.s1looks2"):
        write_stack(orch.paths.stack_dir(sid), np.zeros((15, *grid.shape), np.float32), grid, None, {})
    assert ingest() == (3, n_stacks)
    train = step_counter(orch, "train/sweep", profile="smoke")
    done, total = train()
    assert done == 0 and total > 0
    assert step_counter(orch, "monitor/norway") is None


def test_a_pid_file_is_believed_only_for_the_process_that_wrote_it(tmp_path):
    import os

    import psutil

    from gee_landslide.ops.processes import pid_file_owner

    f = tmp_path / "serve.pid"
    f.write_text(f"{os.getpid()}\n")
    assert pid_file_owner(f) == os.getpid()
    # the same number in a file written before this process started: a reused pid, not ours
    before = psutil.Process().create_time() - 60
    os.utime(f, (before, before))
    assert pid_file_owner(f) is None
    f.write_text("999999999\n")
    assert pid_file_owner(f) is None
    f.write_text("not a pid\n")
    assert pid_file_owner(f) is None
