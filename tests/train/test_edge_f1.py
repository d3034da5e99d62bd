"""Skill on landslide edges against the rest: train.metrics.edge_band / edge_counts and
benchmarks/bench_edge_f1.py on a made-up project root."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_bench import load_benchmark
from helpers_stacks import make_splits

from gee_landslide.train.losses import boundary_band
from gee_landslide.train.metrics import confusion, edge_band, edge_counts


def _flow(size: int = 20) -> np.ndarray:
    """A 2 px wide vertical debris flow beside a 8x8 block."""
    y = np.zeros((size, size), np.uint8)
    y[2:18, 3:5] = 1
    y[6:14, 9:17] = 1
    return y


def test_edge_band_is_the_ring_the_loss_weighs():
    y = _flow()
    band = edge_band(y)
    assert np.array_equal(band, boundary_band(torch.from_numpy(y)[None, None])[0, 0].numpy())
    # the thin flow is edge through and through; the block's centre is not
    assert band[2:18, 3:5].all() and not band[10, 12]
    assert band[10, 8] and band[10, 2]  # background next to an outline counts too, on both sides
    assert not edge_band(np.zeros((5, 5), np.uint8)).any() and not edge_band(np.ones((5, 5), np.uint8)).any()


def test_a_blob_drawn_over_a_thin_flow_loses_on_the_edges_only():
    y = _flow()
    perfect = y.astype(np.float32)
    e, r = edge_counts(perfect, y, 0.5)
    assert e.f1 == 1.0 and r.f1 == 1.0
    assert (e + r) == confusion(perfect > 0.5, y == 1)  # the two parts add up to the whole scene
    from scipy import ndimage

    # slides drawn 1 px too wide all round: every false pixel touches an outline
    blob = ndimage.binary_dilation(y == 1, structure=np.ones((3, 3), bool)).astype(np.float32)
    e, r = edge_counts(blob, y, 0.5)
    assert e.recall == 1.0 and e.precision < 0.6 and r.f1 == 1.0
    # a coarse model that finds the block and not the 2 px flow: the misses are all on the edge band
    coarse = np.zeros(y.shape, np.float32)
    coarse[6:14, 9:17] = 1.0
    e, r = edge_counts(coarse, y, 0.5)
    assert e.recall < 0.7 and r.f1 == 1.0
    # NaN is never positive; the mask drops pixels from both parts
    e, _ = edge_counts(np.full(y.shape, np.nan, np.float32), y, 0.5)
    assert e.tp == 0 and e.fp == 0
    mask = np.zeros(y.shape, bool)
    mask[:, 8:] = True
    e, r = edge_counts(perfect, y, 0.5, mask)
    assert e.tp + e.tn + r.tp + r.tn == mask.sum()


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("bench_edge_f1", monkeypatch)


def _run(runs: Path, run_id: str, arch: str, splits, probs: dict[str, np.ndarray], threshold: float) -> None:
    d = runs / run_id
    d.mkdir(parents=True)
    config = {"setting": "s2", "architecture": arch, "val_events": list(splits.val),
              "test_events": list(splits.test), "eval_mask": "none"}
    (d / "run.json").write_text(json.dumps({"run_id": run_id, "status": "finished", "config": config,
                                            "best_val_f1": 0.9, "threshold": threshold}))
    np.savez(d / "eval_probs.npz", **{k: v.astype(np.float16) for k, v in probs.items()})


def test_bench_scores_each_run_on_its_validation_maps_and_ranks_architectures_by_edges(tmp_path, bench, capsys):
    from gee_landslide.train.data import load_scene

    root = tmp_path / "root"
    splits = make_splits(root / "artifacts" / "stacks", 1, 2, 1, size=64)
    labels = {e: load_scene(root / "artifacts" / "stacks", e).labels for e in splits.val}
    assert all(lab.any() for lab in labels.values())
    exact = {e: lab.astype(np.float32) for e, lab in labels.items()}
    # the test event's map is wrong everywhere: it must not count
    exact[splits.test[0]] = np.ones((64, 64), np.float32)
    from scipy import ndimage

    grown = {e: ndimage.binary_dilation(lab == 1, iterations=2).astype(np.float32) for e, lab in labels.items()}
    runs = root / "models" / "runs"
    _run(runs, "s2-unet-a", "Unet", splits, exact, 0.5)
    _run(runs, "s2-fpn-a", "FPN", splits, grown, 0.5)
    skills = {s.architecture: s for s in bench.root_edge_skill(root, ["s2"])}
    assert skills["Unet"].edge.f1 == 1.0 and skills["Unet"].rest.f1 == 1.0
    assert skills["FPN"].edge.fn == 0 and skills["FPN"].edge.fp > 0  # grown maps miss nothing, they only add
    assert skills["FPN"].edge.f1 < skills["Unet"].edge.f1
    assert bench.main([str(root), "--settings", "s2", "--runs"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| Unet |") or line.startswith("| FPN |")]
    assert rows[0].startswith("| Unet | 1 |") and rows[1].startswith("| FPN | 1 |")  # best edges first
    assert "s2-fpn-a" in out
    with pytest.raises(SystemExit, match=r"models/runs: no finished runs of setting\(s\) s1s2"):
        bench.main([str(root), "--settings", "s1s2"])
