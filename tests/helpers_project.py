"""A small, complete project for the monitoring and orchestration tests.

Five events of the real catalog (3 train, 1 val, the Norway test event) with simulated stacks,
a two-model smoke sweep and its ``s1s2`` ensemble, and a Norway region shrunk to 2.6 km x 2.6 km
so a pass takes seconds. Built once per test session and copied for each test that writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ruamel.yaml import YAML

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import ProjectPaths, project_paths
from gee_landslide.sources.build import build_one_stack

KEEP_EVENTS = ("iceland-1", "ireland-2", "new-zealand-3", "norway-5", "italy-22")
SMALL_NORWAY_BBOX = [6.085, 61.468, 6.135, 61.491]

PROFILE = """\
name: tiny
description: "tests: two architectures, two iterations"
architectures: [Unet, FPN]
losses: [Dice]
learning_rates: [0.001]
settings: [s1s2]
encoder: tu-mobilenetv3_small_050
crop_size: 128
batch_size: 2
iterations_per_epoch: 2
max_epochs: 1
patience: 1
optimizer: adam
threshold: 0.5
seed: 0
eval_mask: visible
amp: false
num_threads: 2
inference: {tile: 256, overlap: 32, batch: 4}
"""


def write_small_catalog(src: Path, dst: Path) -> None:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    raw = yaml.load(src.read_text())
    events = raw["events"]
    for i in reversed(range(len(events))):
        if events[i]["id"] not in KEEP_EVENTS:
            del events[i]
    raw["regions"]["norway"]["bbox"] = SMALL_NORWAY_BBOX
    raw["regions"]["norway"]["tile_px"] = 128
    raw["regions"]["norway"]["ensemble"] = "s1s2"
    raw["regions"]["norway"].pop("ensembles", None)  # one ensemble: the tiny s1s2 (SAR-first: test_sar_first.py)
    with open(dst, "w") as fh:
        yaml.dump(raw, fh)


def build_small_project(root: Path, repo_catalog: Path) -> ProjectPaths:
    from gee_landslide.train.ensemble import build_ensemble
    from gee_landslide.train.profile import load_profile
    from gee_landslide.train.sweep import Splits, run_sweep

    root.mkdir(parents=True, exist_ok=True)
    paths = project_paths(root)
    write_small_catalog(repo_catalog, paths.catalog)
    catalog = load_catalog(paths.catalog)
    for event in catalog.events:
        build_one_stack(event, catalog, paths, "simulated")
    profile_path = root / "tiny.yaml"
    profile_path.write_text(PROFILE)
    run_sweep(load_profile(profile_path), paths.runs, paths.stacks, Splits.from_catalog(catalog),
              show_progress=False)
    build_ensemble(paths.runs, paths.ensembles, "s1s2", k=2, name="s1s2")
    return paths


def copy_project(src: ProjectPaths, dst: Path) -> ProjectPaths:
    """A writable copy (without monitoring outputs or alerts) of a built project."""
    shutil.copytree(src.root, dst, ignore=shutil.ignore_patterns("monitor", "alerts", "prefect"))
    return project_paths(dst)

# Prefect's ephemeral test server can take minutes to answer on a loaded 2-core machine (CI, or a
# training run beside the suite): wait generously for it rather than fail on a fixed minute.
HARNESS_STARTUP_S = 300
