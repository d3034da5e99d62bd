"""Full-image inference: pad to the models' stride, tile with overlap, blend with a Hann window.

Used for validation, test, ensembles and monitoring. Tiles are cut once and fed to every
model of an ensemble (model by model, which keeps each model's kernels hot), the models run in ``channels_last`` under ``torch.inference_mode``
(and autocast on CUDA), and each model's probabilities are blended into its own map. A scene
that fits into one tile is run as one padded tile (no blending).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from gee_landslide.train.constraints import PAD_MULTIPLE, input_multiple, round_up
from gee_landslide.train.data import Normalisation, prepare


def pick_device(device: str | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA if available, else Apple MPS, else CPU."""
    if device not in (None, "auto"):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA only (bf16 when supported, else fp16); a no-op elsewhere."""
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def ready_for_inference(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    model.eval()
    return model.to(device=device, memory_format=torch.channels_last)


@lru_cache(maxsize=16)
def hann_window(th: int, tw: int) -> np.ndarray:
    """A 2-D Hann window that never reaches 0 (sampled at pixel centres)."""
    wy = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(th) + 0.5) / th)
    wx = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(tw) + 0.5) / tw)
    return np.outer(wy, wx).astype(np.float32)


def _starts(n: int, t: int, step: int) -> list[int]:
    s = list(range(0, max(n - t, 0) + 1, step))
    if s[-1] != n - t:
        s.append(n - t)
    return s


@dataclass(frozen=True)
class TilePlan:
    height: int
    width: int
    tile_h: int
    tile_w: int
    origins: tuple[tuple[int, int], ...]

    @property
    def single(self) -> bool:
        return len(self.origins) == 1


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> TilePlan:
    """Tiles of ``tile`` px (clipped to the image) stepping ``tile - overlap``, the last flush with the edge."""
    th, tw = min(tile, height), min(tile, width)
    rows = _starts(height, th, max(th - overlap, 1))
    cols = _starts(width, tw, max(tw - overlap, 1))
    return TilePlan(height, width, th, tw, tuple((r, c) for r in rows for c in cols))


def common_multiple(models: Sequence[torch.nn.Module]) -> int:
    """The padding multiple: at least :data:`PAD_MULTIPLE` so that a model sees the same padded
    scene alone (validation, test) and inside any ensemble (pooling modules such as PSPNet's
    depend on the padded size)."""
    m = PAD_MULTIPLE
    for model in models:
        k = input_multiple(model)
        m = m * k // np.gcd(m, k)
    return int(m)


@torch.inference_mode()
def predict_normalised(
    models: Sequence[torch.nn.Module],
    image: np.ndarray,
    *,
    tile: int = 256,
    overlap: int = 64,
    batch: int = 8,
    device: torch.device | str | None = None,
    amp: bool = True,
    multiple: int | None = None,
) -> np.ndarray:
    """Probabilities (M,H,W) of M ready models for a padded, normalised (C,H,W) image without NaN.

    ``H`` and ``W`` must already be multiples of the models' stride (see :func:`predict`).
    """
    device = pick_device(device) if not isinstance(device, torch.device) else device
    _, h, w = image.shape
    mult = multiple or common_multiple(models)
    tile = round_up(tile, mult)
    plan = plan_tiles(h, w, tile, overlap)
    n_models = len(models)
    out = np.zeros((n_models, h, w), np.float32)
    if plan.single:
        x = torch.from_numpy(np.ascontiguousarray(image[None])).to(device, memory_format=torch.channels_last)
        with autocast(device, amp):
            for i, m in enumerate(models):
                out[i] = torch.sigmoid(m(x).float())[0, 0].cpu().numpy()
        return out
    win = hann_window(plan.tile_h, plan.tile_w)
    wsum = np.zeros((h, w), np.float32)
    th, tw = plan.tile_h, plan.tile_w
    for r, c in plan.origins:
        wsum[r : r + th, c : c + tw] += win
    groups = [plan.origins[b0 : b0 + batch] for b0 in range(0, len(plan.origins), batch)]

    def cut(origins: tuple[tuple[int, int], ...]) -> torch.Tensor:
        x_np = np.stack([image[:, r : r + th, c : c + tw] for r, c in origins])
        return torch.from_numpy(x_np).to(device, memory_format=torch.channels_last)

    # models in the outer loop: each model's kernels stay hot (oneDNN primitive cache) instead of
    # cycling through every member's layers for each batch; the tiles are cut once when they fit
    cached = [cut(g) for g in groups] if n_models > 1 and image.nbytes * 1.3 < 512e6 else None
    with autocast(device, amp):
        for i, m in enumerate(models):
            acc = out[i]
            for gi, origins in enumerate(groups):
                x = cached[gi] if cached is not None else cut(origins)
                p = torch.sigmoid(m(x).float())[:, 0].cpu().numpy()
                for j, (r, c) in enumerate(origins):
                    acc[r : r + th, c : c + tw] += p[j] * win
    out /= wsum[None]
    return out


def predict(
    models: Sequence[torch.nn.Module],
    raw: np.ndarray,
    norm: Normalisation,
    *,
    tile: int = 256,
    overlap: int = 64,
    batch: int = 8,
    device: torch.device | str | None = None,
    amp: bool = True,
    min_size: int = 0,
) -> np.ndarray:
    """Probabilities (M,H,W) for a raw (C,H,W) scene with NaN in ``norm``'s band order."""
    mult = common_multiple(models)
    padded = prepare(raw, norm, min_size=min_size, multiple=mult)
    probs = predict_normalised(models, padded.image, tile=tile, overlap=overlap, batch=batch,
                               device=device, amp=amp, multiple=mult)
    return padded.crop_back(probs)
