"""Early stopping, best weights kept, crash + resume without loss or duplication, run locks."""

from __future__ import annotations

import json

import pytest
import torch
from helpers_stacks import make_splits
from safetensors.torch import load_file

import gee_landslide.train.trainer as trainer
from gee_landslide.train.metrics import Counts
from gee_landslide.train.profile import load_profile
from gee_landslide.train.runs import CHECKPOINT_FILE, LOCK_FILE, RUN_FILE, WEIGHTS_FILE, RunLock
from gee_landslide.train.sweep import expand_grid
from gee_landslide.train.trainer import Hooks, RunClaimedError, train_run


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    d = tmp_path_factory.mktemp("stacks")
    return d, make_splits(d, 2, 1, 1, size=100)


def _cfg(splits, **upd):
    prof = load_profile("smoke").model_copy(update={"architectures": ["Linknet"], "losses": ["BCE"], **upd})
    return expand_grid(prof, splits)[0]


class Crash(RuntimeError):
    pass


def test_early_stopping_keeps_the_best_epoch(stacks, tmp_path, monkeypatch):
    stacks_dir, splits = stacks
    cfg = _cfg(splits, iterations_per_epoch=1, max_epochs=20, patience=3)
    scripted = iter([0.1, 0.3, 0.2, 0.25, 0.28, 0.9, 0.9])
    def fake(cfg_, probs, scenes):  # the per-epoch validation score, scripted
        f = next(scripted)
        return cfg_.threshold, Counts(tp=1000, fp=round(1000 * (1 - f) / f), fn=round(1000 * (1 - f) / f))

    monkeypatch.setattr(trainer, "validation_threshold", fake)
    rec = train_run(cfg, tmp_path, stacks_dir)
    assert rec["epochs"] == 5 and rec["best_epoch"] == 2
    assert rec["best_val_f1"] == pytest.approx(0.3, abs=1e-3)
    assert "early stopping" in rec["stopped"]
    run_dir = tmp_path / cfg.run_id
    assert trainer.weights_metadata(run_dir / WEIGHTS_FILE)["best_epoch"] == "2"
    assert not (run_dir / CHECKPOINT_FILE).exists() and not list(run_dir.glob("best-e*"))
    assert not (run_dir / LOCK_FILE).exists()


def test_crash_and_resume_continues_without_duplicates(stacks, tmp_path):
    stacks_dir, splits = stacks
    cfg = _cfg(splits, iterations_per_epoch=2, max_epochs=4, patience=10)
    ref = train_run(cfg, tmp_path / "ref", stacks_dir)  # uninterrupted reference

    def crash_at_2(info):
        if info.epoch == 2:
            raise Crash("simulated kill after epoch 2")

    runs = tmp_path / "crash"
    with pytest.raises(Crash):
        train_run(cfg, runs, stacks_dir, hooks=Hooks(on_epoch=crash_at_2))
    run_dir = runs / cfg.run_id
    assert (run_dir / CHECKPOINT_FILE).exists() and not (run_dir / RUN_FILE).exists()
    assert not (run_dir / LOCK_FILE).exists()  # the claim is released on failure

    seen = []
    rec = train_run(cfg, runs, stacks_dir, hooks=Hooks(on_epoch=lambda i: seen.append(i.epoch)))
    assert seen == [3, 4]  # continues at the next epoch, nothing retrained
    assert rec["resumed_from_epoch"] == 2
    assert [h["epoch"] for h in rec["history"]] == [1, 2, 3, 4]
    # same random stream after the restart: identical to the uninterrupted run
    assert [h["val_f1"] for h in rec["history"]] == pytest.approx([h["val_f1"] for h in ref["history"]])
    assert [h["train_loss"] for h in rec["history"]] == pytest.approx(
        [h["train_loss"] for h in ref["history"]], rel=1e-4)
    # identical best weights (the file's bytes may differ: safetensors writes metadata in hash order)
    a = load_file(str(tmp_path / "ref" / cfg.run_id / WEIGHTS_FILE))
    b = load_file(str(run_dir / WEIGHTS_FILE))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a third call skips the finished run
    again = train_run(cfg, runs, stacks_dir, hooks=Hooks(on_epoch=lambda i: seen.append(i.epoch)))
    assert seen == [3, 4] and again["run_id"] == rec["run_id"]
    assert json.loads((run_dir / RUN_FILE).read_text())["status"] == "finished"


def test_a_run_claimed_by_a_live_worker_is_not_trained_twice(stacks, tmp_path):
    stacks_dir, splits = stacks
    cfg = _cfg(splits)
    lock = RunLock(tmp_path / cfg.run_id)
    assert lock.acquire()
    assert not RunLock(tmp_path / cfg.run_id).acquire()
    with pytest.raises(RunClaimedError):
        train_run(cfg, tmp_path, stacks_dir)
    lock.release()
    # a lock left by a dead process on this host is taken over
    (tmp_path / cfg.run_id / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "host": __import__("socket").gethostname()}))
    assert RunLock(tmp_path / cfg.run_id).acquire()


def test_the_same_weights_make_the_same_file_in_any_process(tmp_path):
    """safetensors writes a metadata map in a per-process hash order; weights files must not vary with it."""
    import subprocess
    import sys

    code = (
        "import hashlib, sys, torch\n"
        "from gee_landslide.train.trainer import model_state_bytes\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.Conv2d(3, 4, 3)\n"
        "meta = {k: k.upper() for k in ('run_id', 'architecture', 'encoder', 'in_channels', 'setting', 'best_epoch')}\n"
        "sys.stdout.write(hashlib.sha256(model_state_bytes(m, metadata=meta)).hexdigest())\n"
    )
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
               for _ in range(3)}
    assert len(digests) == 1, digests
