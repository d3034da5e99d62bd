"""One training run: train, validate each epoch, early-stop, checkpoint, resume, test.

The protocol is the paper's (section 3.4): an epoch is ``iterations_per_epoch`` steps of
``batch_size`` smart crops; after each epoch the validation F1 (summed confusion counts over the
validation events, inside the evaluation mask) decides whether the weights are the best so far;
training stops after ``patience`` epochs without improvement (or at ``max_epochs``) and the best
weights are kept, then evaluated on the test event(s).

At each epoch end one atomic ``checkpoint.safetensors`` holds the model, the optimizer, the RNG
states (torch and the sampler's NumPy generator), the epoch, the history and the best-so-far
(which names its ``best-eNNNN.safetensors`` file). Killing the process at any moment and calling
:func:`train_run` again continues at the next epoch with the same random stream: nothing is
lost or counted twice.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gee_landslide.core.atomic import write_json_atomic
from gee_landslide.core.bands import setting as get_setting
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.train.architectures import create_model
from gee_landslide.train.constraints import check_batch_size, check_crop, input_multiple, min_side
from gee_landslide.train.data import CropSampler, Normalisation, Scene, load_scenes, normalisation_for
from gee_landslide.train.inference import pick_device, predict
from gee_landslide.train.losses import create_loss
from gee_landslide.train.metrics import PROB_CANDIDATES, Counts, best_threshold, confusion, evaluation_mask
from gee_landslide.train.precision import training_precision
from gee_landslide.train.profile import InferenceOptions
from gee_landslide.train.runs import (
    CHECKPOINT_FILE,
    EVAL_PROBS_FILE,
    RUN_FILE,
    WEIGHTS_FILE,
    RunConfig,
    RunLock,
    model_build_options,
    now_iso,
    read_record,
    sha256_bytes,
    write_bytes,
)


class RunClaimedError(GeeLandslideError, RuntimeError):
    """Another live worker holds this run's lock."""


@dataclass
class EpochInfo:
    run_id: str
    epoch: int
    val_f1: float
    val_precision: float
    val_recall: float
    train_loss: float
    seconds: float
    improved: bool
    best_f1: float
    best_epoch: int


@dataclass
class Hooks:
    """Callbacks for progress bars and tests (an exception raised here aborts the run)."""

    on_start: Callable[[str, int | None, int], None] | None = None  # run_id, total steps, done steps
    on_step: Callable[[float], None] | None = None  # loss
    on_epoch: Callable[[EpochInfo], None] | None = None
    on_finish: Callable[[dict[str, Any]], None] | None = None


# ----------------------------------------------------------------------------- data per setting
@dataclass
class RunData:
    norm: Normalisation
    train: list[Scene]
    val: list[Scene]
    test: list[Scene]
    band_indices: list[int] = field(default_factory=list)

    def raw(self, scene: Scene) -> np.ndarray:
        return scene.stack[self.band_indices]


_DATA: dict[tuple, RunData] = {}
_DATA_LOCK = threading.Lock()


def run_data(cfg: RunConfig, stacks_dir: Path) -> RunData:
    """Scenes and normalisation for a config (cached per setting and split in this process)."""
    key = (str(stacks_dir), cfg.setting, cfg.categorical, cfg.train_events, cfg.val_events, cfg.test_events)
    with _DATA_LOCK:
        if key in _DATA:
            return _DATA[key]
    s = get_setting(cfg.setting)
    train = load_scenes(stacks_dir, cfg.train_events)
    val = load_scenes(stacks_dir, cfg.val_events)
    test = load_scenes(stacks_dir, cfg.test_events)
    data = RunData(normalisation_for(s, train, cfg.categorical), train, val, test, list(s.band_indices))
    with _DATA_LOCK:
        _DATA[key] = data
    return data


def predict_scenes(model: torch.nn.Module, cfg: RunConfig, data: RunData, scenes: list[Scene],
                   device: torch.device, inf: InferenceOptions, amp: bool) -> dict[str, np.ndarray]:
    """One model's probability map per scene (full-image tiled inference)."""
    model.eval()
    return {sc.event_id: predict([model], data.raw(sc), data.norm, tile=inf.tile, overlap=inf.overlap,
                                 batch=inf.batch, device=device, amp=amp, min_size=min_side(cfg.architecture))[0]
            for sc in scenes}


def score_scenes(probs: dict[str, np.ndarray], scenes: list[Scene], threshold: float,
                 eval_mask: str) -> tuple[Counts, dict[str, Counts]]:
    """Summed and per-event counts of ``probs > threshold`` inside the evaluation mask."""
    total, per = Counts(), {}
    for sc in scenes:
        c = confusion(probs[sc.event_id] > threshold, sc.labels, evaluation_mask(sc.stack, eval_mask))
        per[sc.event_id] = c
        total = total + c
    return total, per


def validation_threshold(cfg: RunConfig, probs: dict[str, np.ndarray], scenes: list[Scene]) -> tuple[float, Counts]:
    """The run's threshold and its validation counts.

    With ``tune_threshold`` the threshold is the candidate with the best validation F1: a model
    whose probabilities drift between epochs (Dice makes them over- or under-confident) is
    then judged on how well it ranks pixels, not on where its 0.5 happens to fall, and the
    same threshold travels with the weights to test, ensembles and monitoring.
    """
    if cfg.tune_threshold:
        return best_threshold([probs[sc.event_id] for sc in scenes], scenes, PROB_CANDIDATES, cfg.eval_mask)
    return cfg.threshold, score_scenes(probs, scenes, cfg.threshold, cfg.eval_mask)[0]


# ----------------------------------------------------------------------------- (de)serialisation
WEIGHTS_METADATA_KEY = "gee_landslide"


def model_state_bytes(model: torch.nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The model's weights as safetensors bytes; ``metadata`` goes in as one key of sorted JSON.

    Why one key: safetensors writes the metadata map in its Rust hash map's order, which changes
    from process to process, so the same weights with several metadata keys got another SHA-256 in
    every sweep (demos of the same code trained byte-identical best-epoch files, whose SHA-256s
    matched, and final files whose SHA-256s did not). With one key the same weights are the same file.
    """
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return st_save(sd, metadata={WEIGHTS_METADATA_KEY: json.dumps(metadata, sort_keys=True)} if metadata else None)


def weights_metadata(path: Path) -> dict[str, str]:
    """The metadata :func:`model_state_bytes` wrote into a weights file (older files: their keys)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta[WEIGHTS_METADATA_KEY]) if WEIGHTS_METADATA_KEY in meta else dict(meta)


def _checkpoint_bytes(model, optimizer, scaler, rng: np.random.Generator, state: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
    }
    osd = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {
        **state,
        "optimizer_param_groups": osd["param_groups"],
        "optimizer_scalars": scalars,
        "numpy_rng": rng.bit_generator.state,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
    }
    return st_save(tensors, metadata={"state": json.dumps(meta, default=str)})


def _load_checkpoint(path: Path, model, optimizer, scaler, rng: np.random.Generator,
                     device: torch.device) -> dict[str, Any]:
    data = path.read_bytes()
    tensors = st_load(data)
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["state"])
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v.to(device)
    for k, v in meta["optimizer_scalars"].items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    rng.bit_generator.state = meta["numpy_rng"]
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    return meta


def _make_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.learning_rate, momentum=0.9,
                           weight_decay=cfg.weight_decay)


def make_scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule, stepped once per training step.

    ``constant`` keeps the optimizer's rate (the paper's protocol). Over the
    ``max_epochs * iterations_per_epoch`` steps of a short budget, ``cosine`` anneals from
    ``learning_rate`` to 1/100 of it and ``onecycle`` first warms up over 30 % of the steps: the
    weights of the last epochs are then settled ones, instead of the epoch-to-epoch swings a
    constant rate gives (validation F1 0.80 -> 0.43 -> 0.80 seen on the laptop profile).
    """
    if cfg.lr_schedule == "constant":
        return None
    if cfg.max_epochs is None:
        raise ValueError(f"lr_schedule {cfg.lr_schedule!r} needs max_epochs (the schedule spans the whole budget)")
    total = cfg.max_epochs * cfg.iterations_per_epoch
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.learning_rate / 100)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.learning_rate, total_steps=total,
                                               pct_start=0.3, div_factor=25.0, final_div_factor=40.0)


UNCOUNTED_LOGIT = -30.0


def mask_uncounted(logits: torch.Tensor, target: torch.Tensor,
                   counted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Take pixels outside ``counted`` out of the loss, for all five losses alike.

    Such a pixel becomes a certain, correct negative (logit -30, target 0), a constant without
    gradient: it adds ~0 to BCE and Focal, nothing to Dice/Jaccard's intersection and
    cardinalities, and a zero hinge to Lovász. The smp losses take no weight map, so this is
    how padding and pixels the evaluation never counts (S1 layover/shadow) stop steering training.
    """
    if bool(counted.all()):
        return logits, target
    fill = torch.full_like(logits, UNCOUNTED_LOGIT)
    return torch.where(counted, logits, fill), target * counted


def write_probs(path: Path, probs: dict[str, np.ndarray]) -> None:
    """Per-event probability maps as float16 arrays in one atomic ``.npz`` (no pickles)."""
    from gee_landslide.core.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{k: v.astype(np.float16) for k, v in probs.items()})


def _best_name(epoch: int) -> str:
    return f"best-e{epoch:04d}.safetensors"


def _clean_best_files(run_dir: Path, keep: str | None) -> None:
    for p in run_dir.glob("best-e*.safetensors"):
        if p.name != keep:
            p.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- the run
def train_run(
    cfg: RunConfig,
    runs_dir: Path,
    stacks_dir: Path,
    *,
    device: str | None = None,
    amp: bool = True,
    cpu_bf16: bool = False,
    num_threads: int | None = None,
    inference: InferenceOptions | None = None,
    hooks: Hooks | None = None,
    profile_name: str | None = None,
) -> dict[str, Any]:
    """Train (or resume, or skip) one run; returns its ``run.json`` record.

    Raises :class:`RunClaimedError` when another live worker holds the run.
    """
    hooks = hooks or Hooks()
    inf = inference or InferenceOptions()
    run_id = cfg.run_id
    run_dir = Path(runs_dir) / run_id
    rec = read_record(run_dir)
    if rec and rec.get("status") == "finished" and (run_dir / WEIGHTS_FILE).exists():
        return rec
    check_batch_size(cfg.batch_size)
    check_crop(cfg.architecture, cfg.crop_size, decoder=cfg.decoder)
    if num_threads:
        torch.set_num_threads(num_threads)
    lock = RunLock(run_dir)
    if not lock.acquire():
        raise RunClaimedError(f"run {run_id} is being trained by another worker ({lock.path})")
    with lock:
        return _train_locked(cfg, run_dir, stacks_dir, pick_device(device), amp, cpu_bf16, inf, hooks, lock,
                             profile_name)


def _train_locked(cfg: RunConfig, run_dir: Path, stacks_dir: Path, device: torch.device, amp: bool, cpu_bf16: bool,
                  inf: InferenceOptions, hooks: Hooks, lock: RunLock, profile_name: str | None) -> dict:
    t_start = time.perf_counter()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels
    data = run_data(cfg, stacks_dir)
    s = get_setting(cfg.setting)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = create_model(cfg.architecture, data.norm.out_channels, cfg.encoder, cfg.encoder_weights,
                         decoder_dropout=cfg.decoder_dropout, **model_build_options(cfg.model_dump()))
    precision = training_precision(device, amp, cpu_bf16)
    model = model.to(device=device, memory_format=precision.memory_format)
    optimizer = _make_optimizer(cfg, model)
    loss_fn = create_loss(cfg.loss, cfg.boundary_weight)
    use_amp = amp and device.type == "cuda"  # inference: autocast on CUDA only (precision.py says why)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.scaled) if device.type == "cuda" else None
    sampler = CropSampler(data.train, s, data.norm, cfg.crop_size, cfg.batch_size, rng,
                          loss_mask=cfg.loss_mask, augment=cfg.augment,
                          object_share=cfg.crop_object_share, background_share=cfg.crop_background_share,
                          stale_optical_share=cfg.crop_stale_optical_share,
                          silent_sar_share=cfg.crop_silent_sar_share)
    scheduler = make_scheduler(cfg, optimizer)

    epoch, best_f1, best_epoch, best_file = 0, -1.0, 0, None
    history: list[dict[str, Any]] = []
    elapsed_before, started = 0.0, now_iso()
    ckpt = run_dir / CHECKPOINT_FILE
    resumed_from = None
    if ckpt.exists():
        meta = _load_checkpoint(ckpt, model, optimizer, scaler, rng, device)
        if scheduler is not None:
            scheduler.load_state_dict(meta["scheduler"])
        epoch, best_f1, best_epoch = meta["epoch"], meta["best_f1"], meta["best_epoch"]
        best_file, history = meta["best_file"], meta["history"]
        elapsed_before, started = meta["elapsed_s"], meta["started"]
        resumed_from = epoch
        _clean_best_files(run_dir, best_file)

    def stop_reason() -> str | None:
        if epoch > 0 and epoch - best_epoch >= cfg.patience:
            return f"early stopping: {cfg.patience} epochs without improvement"
        if cfg.max_epochs is not None and epoch >= cfg.max_epochs:
            return f"max_epochs {cfg.max_epochs} reached"
        return None

    total = cfg.max_epochs * cfg.iterations_per_epoch if cfg.max_epochs else None
    if hooks.on_start:
        hooks.on_start(cfg.run_id, total, epoch * cfg.iterations_per_epoch)
    while (reason := stop_reason()) is None:
        t0 = time.perf_counter()
        model.train()
        loss_sum = 0.0
        for _ in range(cfg.iterations_per_epoch):
            x_np, y_np, w_np = sampler.sample()
            x = torch.from_numpy(x_np).to(device, memory_format=precision.memory_format, non_blocking=True)
            y = torch.from_numpy(y_np).to(device, non_blocking=True)
            w = torch.from_numpy(w_np).to(device, non_blocking=True)
            with precision.autocast():
                logits = model(x)
            logits, y = mask_uncounted(logits.float(), y, w)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None and scaler.is_enabled():
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            lv = float(loss.detach())
            loss_sum += lv
            if hooks.on_step:
                hooks.on_step(lv)
        val_probs = predict_scenes(model, cfg, data, data.val, device, inf, use_amp)
        val_threshold, val = validation_threshold(cfg, val_probs, data.val)
        epoch += 1
        improved = val.f1 > best_f1
        if improved:
            best_f1, best_epoch, best_file = val.f1, epoch, _best_name(epoch)
            write_bytes(run_dir / best_file, model_state_bytes(model))
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch, "val_f1": val.f1, "val_precision": val.precision,
                        "val_recall": val.recall, "val_threshold": val_threshold,
                        "train_loss": loss_sum / cfg.iterations_per_epoch,
                        "seconds": round(seconds, 3), "val_counts": val.to_dict()})
        state = {"run_id": cfg.run_id, "epoch": epoch, "best_f1": best_f1, "best_epoch": best_epoch,
                 "best_file": best_file, "history": history, "started": started,
                 "scheduler": scheduler.state_dict() if scheduler is not None else None,
                 "elapsed_s": elapsed_before + time.perf_counter() - t_start}
        write_bytes(run_dir / CHECKPOINT_FILE, _checkpoint_bytes(model, optimizer, scaler, rng, state))
        _clean_best_files(run_dir, best_file)
        lock.refresh()
        if hooks.on_epoch:
            hooks.on_epoch(EpochInfo(cfg.run_id, epoch, val.f1, val.precision, val.recall,
                                     loss_sum / cfg.iterations_per_epoch, seconds, improved, best_f1,
                                     best_epoch))

    # ---- finish: best weights -> weights.safetensors, test metrics, run.json (last)
    best_bytes = (run_dir / best_file).read_bytes()
    model.load_state_dict(st_load(best_bytes))
    weights = model_state_bytes(model, metadata={
        "run_id": cfg.run_id, "architecture": cfg.architecture, "encoder": cfg.encoder,
        "in_channels": str(data.norm.out_channels), "setting": cfg.setting, "best_epoch": str(best_epoch)})
    sha = write_bytes(run_dir / WEIGHTS_FILE, weights)
    best_val = next(h for h in history if h["epoch"] == best_epoch)
    threshold = float(best_val.get("val_threshold", cfg.threshold))
    # validation and test maps of the kept weights: the report and ensembles average these
    # instead of re-running every member (val decides ensemble thresholds, test is only scored)
    eval_probs = predict_scenes(model, cfg, data, data.val + data.test, device, inf, use_amp)
    test_total, test_per = score_scenes(eval_probs, data.test, threshold, cfg.eval_mask)
    write_probs(run_dir / EVAL_PROBS_FILE, eval_probs)
    import segmentation_models_pytorch as smp

    record = {
        "run_id": cfg.run_id,
        "status": "finished",
        "profile": profile_name,
        "config": cfg.model_dump(mode="json"),
        "config_hash": cfg.config_hash,
        "normalisation": data.norm.to_dict(),
        "inference": inf.model_dump(),
        "input_multiple": input_multiple(model),
        "min_side": min_side(cfg.architecture),
        "history": history,
        "epochs": epoch,
        "best_epoch": best_epoch,
        "best_val_f1": best_f1,
        "val_counts": best_val["val_counts"],
        "stopped": reason,
        "resumed_from_epoch": resumed_from,
        "test": {"all": test_total.to_dict(), **{k: v.to_dict() for k, v in test_per.items()}},
        "threshold": threshold,
        "threshold_source": "validation" if cfg.tune_threshold else "config",
        "test_metrics": {"precision": test_total.precision, "recall": test_total.recall,
                         "f1": test_total.f1, "frequency_bias": test_total.frequency_bias},
        "weights": {"file": WEIGHTS_FILE, "sha256": sha, "bytes": len(weights),
                    "best_file_sha256": sha256_bytes(best_bytes)},
        "eval_probs": EVAL_PROBS_FILE,
        "wall_time_s": round(elapsed_before + time.perf_counter() - t_start, 2),
        "started": started,
        "finished": now_iso(),
        "device": str(device),
        "precision": precision.name,
        "versions": {"torch": torch.__version__, "smp": smp.__version__, "python": platform.python_version()},
    }
    write_json_atomic(run_dir / RUN_FILE, record)
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    _clean_best_files(run_dir, None)
    if hooks.on_finish:
        hooks.on_finish(record)
    return record
