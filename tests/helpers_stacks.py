"""Tiny synthetic stacks for the training tests (used until/besides the scene simulator).

Each scene is a small 15-band stack (Table 2 order) with a few elliptical landslide blobs that
lower dNDVI and post-event VH (and a little VV), some layover/shadow pixels, a NaN patch, and
categorical land-cover/climate codes, so a model can learn something in a few steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.grid import Grid
from gee_landslide.core.stackio import write_stack

B = {n: i for i, n in enumerate(BAND_NAMES)}


def synthetic_scene(seed: int, size: int = 96, n_slides: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    labels = np.zeros((h, w), np.uint8)
    for _ in range(n_slides):
        cy, cx = rng.uniform(8, h - 8), rng.uniform(8, w - 8)
        ry, rx = rng.uniform(3, 8), rng.uniform(2, 5)
        labels |= (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.uint8)
    slide = labels.astype(np.float32)
    s = np.zeros((15, h, w), np.float32)
    s[B["preVV"]] = rng.normal(-10, 1.5, (h, w))
    s[B["postVV"]] = s[B["preVV"]] + rng.normal(0, 0.7, (h, w)) - 1.5 * slide
    s[B["dVV"]] = s[B["postVV"]] - s[B["preVV"]]
    s[B["preVH"]] = rng.normal(-17, 1.5, (h, w))
    s[B["postVH"]] = s[B["preVH"]] + rng.normal(0, 0.7, (h, w)) - 3.0 * slide
    s[B["dVH"]] = s[B["postVH"]] - s[B["preVH"]]
    lay = np.zeros((h, w), np.float32)
    lay[: h // 10, : w // 6] = 1
    sha = np.zeros((h, w), np.float32)
    sha[-h // 12 :, -w // 8 :] = 1
    s[B["layover"]], s[B["shadow"]] = lay, sha
    s[B["liaDeg"]] = rng.uniform(25, 55, (h, w))
    s[B["elevation"]] = 300 + 2.0 * yy + rng.normal(0, 2, (h, w))
    s[B["slope"]] = np.clip(rng.normal(22, 6, (h, w)) + 8 * slide, 0, 70)
    s[B["KG_climate"]] = float(rng.integers(1, 30))
    s[B["tree_height"]] = np.clip(rng.normal(12, 6, (h, w)) * (1 - 0.7 * slide), 0, 40)
    s[B["CART_LC_classified"]] = (1 + (xx // max(w // 3, 1)) + 3 * (yy > h / 2)).astype(np.float32)
    s[B["dNDVI"]] = rng.normal(0.0, 0.05, (h, w)) - 0.35 * slide
    r0 = int(rng.integers(0, h - 10))
    s[B["dNDVI"], r0 : r0 + 6, 2:12] = np.nan  # a cloud gap
    return s, labels


def write_synthetic_stack(out_dir: Path, seed: int, size: int = 96) -> Path:
    data, labels = synthetic_scene(seed, size)
    grid = Grid("EPSG:32633", 500000.0 + 10000 * seed, 7000000.0, size, size, 10.0)
    return write_stack(out_dir, data, grid, labels, {"source": "test-fixture", "seed": seed})


def make_stacks(stacks_dir: Path, event_ids: list[str], size: int = 96) -> list[Path]:
    """Write one synthetic stack per event id (seeded by position) into ``stacks_dir/<id>``."""
    return [write_synthetic_stack(Path(stacks_dir) / e, i + 1, size) for i, e in enumerate(event_ids)]


def make_splits(stacks_dir: Path, n_train: int = 3, n_val: int = 2, n_test: int = 1, size: int = 96):
    """Write stacks for a small split; returns ``gee_landslide.train.sweep.Splits``."""
    from gee_landslide.train.sweep import Splits

    train = tuple(f"train-{i}" for i in range(n_train))
    val = tuple(f"val-{i}" for i in range(n_val))
    test = tuple(f"test-{i}" for i in range(n_test))
    make_stacks(stacks_dir, [*train, *val, *test], size)
    return Splits(train, val, test)


def make_project(root: Path, n_train: int = 3, n_val: int = 2, n_test: int = 1, size: int = 96):
    """A throw-away project root: a small ``case_studies.yaml`` plus stacks for its events."""
    root = Path(root)
    splits = make_splits(root / "artifacts" / "stacks", n_train, n_val, n_test, size)
    lines = ["version: 1", "split_seed: 1", "events:"]
    for split, ids in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        for i, e in enumerate(ids):
            lines += [f"  - id: {e}", f"    name: {e}", "    country: Testland", f"    lat: {60 + i * 0.1}",
                      "    lon: 10.0", "    trigger: R", "    size_km: [1.0, 1.0]", "    date: 2022-06-01",
                      f"    split: {split}"]
    (root / "case_studies.yaml").write_text("\n".join(lines) + "\n")
    return splits


def make_trained_project(root: Path, settings: list[str], architectures: list[str], losses: list[str],
                         iterations_per_epoch: int = 3, size: int = 100, n_train: int = 2, **profile_options):
    """A project (``n_train`` train, 1 val, 1 test events) with smoke-profile runs of the given grid
    trained (``profile_options``: more profile fields); returns ``(paths, profile, splits, sweep result)``."""
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.paths import project_paths
    from gee_landslide.train.profile import load_profile
    from gee_landslide.train.sweep import Splits, run_sweep

    make_project(root, n_train, 1, 1, size=size)
    paths = project_paths(root)
    splits = Splits.from_catalog(load_catalog(paths.catalog))
    prof = load_profile("smoke").model_copy(update={
        "architectures": architectures, "losses": losses, "settings": settings,
        "iterations_per_epoch": iterations_per_epoch, **profile_options})
    res = run_sweep(prof, paths.runs, paths.stacks, splits, settings, show_progress=False, fail_fast=True)
    return paths, prof, splits, res
