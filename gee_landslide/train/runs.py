"""Run records: configuration, run ids, locks (claims), checkpoints and ``run.json``.

A run lives in ``models/runs/<run_id>/``:

- ``run.json`` - the record (config, normalisation, per-epoch validation F1, best epoch, test
  metrics, wall time, weights SHA-256); ``status == "finished"`` marks a complete run.
- ``weights.safetensors`` - the best weights (by validation F1).
- while training: ``checkpoint.safetensors`` (model + optimizer + RNG + epoch + history +
  best-so-far, one atomic file written at each epoch end), ``best-eNNNN.safetensors`` (the best
  weights so far, named by epoch and referenced by the checkpoint) and ``.lock`` (the claim).

``run_id`` is derived from the configuration (SHA-256 of its canonical JSON) with a readable
prefix, e.g. ``s1s2-unetpp-focal-lr0.01-1a2b3c4d``: the same configuration always maps to the
same directory, so a sweep can skip finished runs and resume interrupted ones, and two workers
can never train the same run (the lock is created with O_EXCL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from gee_landslide.core.atomic import write_bytes_atomic
from gee_landslide.ops.processes import pid_alive
from gee_landslide.train.architectures import REFINE_DEPTH, REFINE_WIDTH, architecture
from gee_landslide.train.losses import loss_spec

RUN_FILE = "run.json"
WEIGHTS_FILE = "weights.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
LOCK_FILE = ".lock"
EVAL_PROBS_FILE = "eval_probs.npz"  # validation + test maps of the kept weights


# run options added after runs were made, with the value that reproduces the earlier behaviour
OPTIONS_ADDED_LATER: dict[str, object] = {"augment": "rot90", "crop_object_share": 0.0, "crop_background_share": 0.0,
                                          "crop_stale_optical_share": 0.0, "crop_silent_sar_share": 0.0,
                                          "decoder": "default", "boundary_weight": 0.0, "decoder_dropout": None,
                                          "decoder_norm": True, "refine_width": REFINE_WIDTH,
                                          "refine_depth": REFINE_DEPTH}


class RunConfig(BaseModel):
    """Everything that determines a run's result; its hash is the run id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setting: str
    architecture: str
    loss: str
    learning_rate: float
    encoder: str
    encoder_weights: str | None = None
    crop_size: int
    batch_size: int
    iterations_per_epoch: int
    max_epochs: int | None
    patience: int
    optimizer: str = "adam"
    weight_decay: float = 0.0
    threshold: float = 0.5
    tune_threshold: bool = False
    seed: int = 0
    eval_mask: str = "visible"
    norm: str = "batch"
    refine: bool = False
    refine_width: int = REFINE_WIDTH  # the full-resolution head's channels and layers (architectures.FullResRefine)
    refine_depth: int = REFINE_DEPTH
    decoder: str = "default"
    decoder_dropout: float | None = None  # None: smp's rate; only for architectures with a decoder dropout
    decoder_norm: bool = True  # False: smp's decoder_use_norm=False; only for architectures that have it
    lr_schedule: str = "constant"
    loss_mask: str = "none"
    categorical: str = "scaled"
    augment: str = "rot90"
    crop_object_share: float = 0.0
    crop_background_share: float = 0.0
    crop_stale_optical_share: float = 0.0
    crop_silent_sar_share: float = 0.0
    boundary_weight: float = 0.0
    train_events: tuple[str, ...]
    val_events: tuple[str, ...]
    test_events: tuple[str, ...]

    def canonical_json(self) -> str:
        d = self.model_dump(mode="json")
        # options added after runs existed are left out at their original value, so those runs keep their ids
        for name, original in OPTIONS_ADDED_LATER.items():
            if d[name] == original:
                del d[name]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def run_id(self) -> str:
        arch = architecture(self.architecture).slug
        loss = loss_spec(self.loss).slug
        return f"{self.setting}-{arch}-{loss}-lr{self.learning_rate:g}-{self.config_hash[:8]}"


# the RunConfig fields that decide which weights a model holds: inference must build it with them
MODEL_BUILD_FIELDS = ("norm", "refine", "decoder", "decoder_norm", "refine_width", "refine_depth")


def model_build_options(config: dict[str, Any]) -> dict[str, Any]:
    """``create_model``'s options for a run recorded with ``config`` (its run.json ``config``).

    A field missing from an older record takes RunConfig's default, which is what those runs were
    built with (each option was added with the earlier behaviour as its default)."""
    return {k: config.get(k, RunConfig.model_fields[k].default) for k in MODEL_BUILD_FIELDS}


def training_events(runs: list[dict[str, Any]]) -> tuple[str, ...]:
    """Every training stack the ``runs`` (finished-run records) trained on, in the sweep's order.

    Why not the first run's list: with ``member_events_out`` each run leaves some training events
    out (``sweep.bagged``), and what is fitted for the runs together (their object filter, the
    evidence limits, the baselines) must see all of them; a run's maps of the events it left out
    are then out-of-sample, as the filter will meet them. Without it every list is the same one.
    """
    if not runs:
        raise ValueError("no runs: no training events")
    lists = [tuple(r["config"]["train_events"]) for r in runs]
    if all(x == lists[0] for x in lists):
        return lists[0]
    index = [{e: i for i, e in enumerate(x)} for x in lists]

    def before(a: str, b: str) -> int:
        # each run's list is the sweep's list with some events left out: a list holding both orders them
        for ix in index:
            if a in ix and b in ix:
                return ix[a] - ix[b]
        return (a > b) - (a < b)

    return tuple(sorted(dict.fromkeys(e for x in lists for e in x), key=functools.cmp_to_key(before)))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- records
def read_record(run_dir: Path) -> dict[str, Any] | None:
    p = Path(run_dir) / RUN_FILE
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def is_finished(run_dir: Path) -> bool:
    rec = read_record(run_dir)
    return bool(rec and rec.get("status") == "finished" and (Path(run_dir) / WEIGHTS_FILE).exists())


def list_runs(runs_dir: Path, setting: str | None = None) -> list[dict[str, Any]]:
    """Finished run records (with ``_dir``), best validation F1 first."""
    out = []
    if not Path(runs_dir).exists():
        return out
    for d in sorted(Path(runs_dir).iterdir()):
        if not d.is_dir():
            continue
        rec = read_record(d)
        if not rec or rec.get("status") != "finished":
            continue
        if setting is not None and rec["config"]["setting"] != setting:
            continue
        rec["_dir"] = str(d)
        out.append(rec)
    out.sort(key=lambda r: (-float(r["best_val_f1"]), r["run_id"]))
    return out


# ----------------------------------------------------------------------------- locks
class RunLock:
    """An exclusive claim on a run directory (``.lock`` created with O_CREAT|O_EXCL).

    A lock left by a dead process on this host is taken over; a lock from another host is
    considered stale when it has not been refreshed (at every epoch end) for ``stale_after`` s.
    """

    def __init__(self, run_dir: Path, stale_after: float = 6 * 3600) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.stale_after = stale_after
        self.held = False

    def _owner(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _stale(self) -> bool:
        owner = self._owner()
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if owner is None:
            return age > 60  # half-written lock from a crash
        if owner.get("host") == socket.gethostname():
            return not pid_alive(int(owner.get("pid", -1)))
        return age > self.stale_after

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()
                    continue
                return False
            with os.fdopen(fd, "w") as fh:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}, fh)
            self.held = True
            return True
        return False

    def refresh(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def write_bytes(path: Path, data: bytes) -> str:
    """Write atomically and return the SHA-256."""
    write_bytes_atomic(path, data)
    return sha256_bytes(data)
