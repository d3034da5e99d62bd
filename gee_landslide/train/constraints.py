"""The ONE place that knows smp's input constraints and pads scenes to meet them.

Measured here with smp 0.6 (see tests/test_train_models.py):

- Input sides must be multiples of the model's output stride when
  ``model.requires_divisible_input_shape`` is true: 32 for Unet++, MAnet, Linknet, FPN
  (resnet/mobilenet encoders), 16 for PAN and DeepLabV3+, 8 for PSPNet and DeepLabV3 (dilated
  encoders); Unet interpolates and accepts any size. We read the stride from the model itself.
- PAN needs at least 8 feature pixels at stride 16, i.e. sides >= 128 px (112 fails).
- BatchNorm in train mode fails on a batch of 1 (PAN, DeepLab): batches are always full
  (the sampler only yields complete batches: the ``drop_last`` rule) and ``batch_size >= 2``.
- Dice and Jaccard give zero loss and zero gradient on an all-empty batch: the smart crop
  avoids it, and :func:`guard_empty_batches` falls back to BCE for such a batch anyway.

Scenes smaller than the crop or not a multiple of the stride (the 200x200 px event scenes) are
padded here, and only here, by :func:`pad_scene`: image with NaN (then the NaN policy of
:mod:`gee_landslide.train.data` turns it into 0 = band mean), labels with 0, plus a ``valid``
mask that is False on padding (it is excluded from evaluation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gee_landslide.train.architectures import architecture

# inference pads every scene to a multiple of this (the largest output stride of the nine
# architectures), whatever the model, so results do not depend on which models run together
PAD_MULTIPLE = 32

# fallback table (encoder depth 5) when no model instance is at hand
_STRIDE = {"PAN": 16, "DeepLabV3+": 16, "DeepLabV3": 8, "PSPNet": 8, "Unet": 1}
_MIN_SIDE = {"PAN": 128}


def input_multiple(model_or_arch: torch.nn.Module | str, decoder: str = "default") -> int:
    """The multiple input sides must have (1 = any size).

    For a name, ``decoder`` says which decoder options apply (a slim DeepLabV3 has stride 16).
    """
    if isinstance(model_or_arch, str):
        a = architecture(model_or_arch)
        return int(a.options(decoder).get("encoder_output_stride", _STRIDE.get(a.name, 32)))
    model = model_or_arch
    if not getattr(model, "requires_divisible_input_shape", True):
        return 1
    if hasattr(model, "output_stride"):  # a wrapper (architectures.FullResRefine)
        return int(model.output_stride)
    encoder = getattr(model, "encoder", None)
    return int(getattr(encoder, "output_stride", 32) or 32)


def min_side(arch: str) -> int:
    """The smallest input side an architecture accepts."""
    return _MIN_SIDE.get(architecture(arch).name, 32)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple if multiple > 1 else n


def check_crop(arch: str, crop: int, multiple: int | None = None, decoder: str = "default") -> None:
    """Raise a clear error when a training crop size breaks the architecture's constraints."""
    m = multiple or input_multiple(arch, decoder)
    if crop % max(m, 1) != 0:
        raise ValueError(f"crop size {crop} is not a multiple of {arch}'s output stride {m}")
    if crop < min_side(arch):
        raise ValueError(f"crop size {crop} is below {arch}'s minimum input side {min_side(arch)}")


def check_batch_size(batch_size: int) -> None:
    if batch_size < 2:
        raise ValueError("batch_size must be >= 2: BatchNorm in train mode fails on a batch of 1")


@dataclass
class Padded:
    image: np.ndarray  # (C, H', W') with NaN on padding
    labels: np.ndarray | None  # (H', W') uint8 with 0 on padding
    valid: np.ndarray  # (H', W') bool, False on padding
    height: int  # original rows
    width: int  # original cols

    def crop_back(self, arr: np.ndarray) -> np.ndarray:
        """Cut a (..., H', W') array back to the original scene."""
        return arr[..., : self.height, : self.width]


def pad_scene(
    image: np.ndarray,
    labels: np.ndarray | None = None,
    min_size: int = 0,
    multiple: int = 1,
) -> Padded:
    """Pad (bottom/right) a (C,H,W) scene to sides >= ``min_size`` and multiples of ``multiple``."""
    _, h, w = image.shape
    ph = round_up(max(h, min_size), multiple)
    pw = round_up(max(w, min_size), multiple)
    if (ph, pw) == (h, w):
        valid = np.ones((h, w), bool)
        return Padded(image, labels, valid, h, w)
    out = np.full((image.shape[0], ph, pw), np.nan, np.float32)
    out[:, :h, :w] = image
    valid = np.zeros((ph, pw), bool)
    valid[:h, :w] = True
    lab = None
    if labels is not None:
        lab = np.zeros((ph, pw), np.uint8)
        lab[:h, :w] = labels
    return Padded(out, lab, valid, h, w)


def guard_empty_batches(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Wrap Dice/Jaccard so that a batch with no positive pixel still has a gradient (BCE)."""

    def guarded(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not bool(target.any()):
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return loss(logits, target)

    guarded.__wrapped__ = loss  # type: ignore[attr-defined]
    return guarded
