"""The five loss functions of the paper (Table 5), all from smp.losses, binary mode, on logits.

Dice and Jaccard give zero loss and zero gradient on a batch without any positive pixel; the
smart crop makes such batches impossible, and :mod:`gee_landslide.train.constraints` guards
against them anyway (see :func:`constraints.guard_empty_batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossSpec:
    name: str
    slug: str
    zero_on_empty: bool  # Dice/Jaccard: no gradient when the batch has no positive pixel


LOSSES: dict[str, LossSpec] = {
    s.name: s
    for s in (
        LossSpec("BCE", "bce", False),
        LossSpec("Dice", "dice", True),
        LossSpec("Focal", "focal", False),
        LossSpec("Jaccard", "jaccard", True),
        LossSpec("Lovasz", "lovasz", False),
    )
}


def loss_spec(name: str) -> LossSpec:
    """Look a loss up by name (``BCE``, ``Dice``, ``Focal``, ``Jaccard``, ``Lovasz``; also ``DiceLoss``...)."""
    key = name.lower().removesuffix("loss").replace("á", "a")
    for s in LOSSES.values():
        if s.slug == key:
            return s
    raise KeyError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")


def create_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss as a callable ``(logits (B,1,H,W), target (B,1,H,W) float 0/1) -> scalar``."""
    from segmentation_models_pytorch import losses as L

    from gee_landslide.train.constraints import guard_empty_batches

    spec = loss_spec(name)
    if spec.slug == "bce":
        fn = L.SoftBCEWithLogitsLoss()
    elif spec.slug == "dice":
        fn = L.DiceLoss("binary", from_logits=True)
    elif spec.slug == "focal":
        fn = L.FocalLoss("binary")
    elif spec.slug == "jaccard":
        fn = L.JaccardLoss("binary", from_logits=True)
    else:
        fn = L.LovaszLoss("binary", from_logits=True)
    return guard_empty_batches(fn) if spec.zero_on_empty else fn
