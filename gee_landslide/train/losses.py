"""The five loss functions of the paper (Table 5), all from smp.losses, binary mode, on logits.

Dice and Jaccard give zero loss and zero gradient on a batch without any positive pixel; the
smart crop makes such batches impossible, and :mod:`gee_landslide.train.constraints` guards
against them anyway (see :func:`constraints.guard_empty_batches`).

``boundary_weight`` (a profile option, off in the paper's protocol): BCE and Focal weigh each pixel
within :data:`BOUNDARY_RADIUS_PX` of a landslide's edge, on either side, ``1 + boundary_weight``
times. Why: on the test event norway-5 (thin debris flows, 76 % of their pixels on an edge) the S2
ensemble lost to per-pixel boosted trees on the edges, drawing slides about a pixel too wide and
missing parts of the 2-4 px flows (docs/experiments.md, issue #9), while a mean loss over a crop
is dominated by interior and background pixels that are easy. The idea is U-Net's weight map
(Ronneberger et al. 2015, eq. 2), here a flat band, not a function of the distance to two cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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


BOUNDARY_RADIUS_PX = 1
PIXEL_WEIGHTED = ("bce", "focal")  # the losses that are a mean over pixels, so a pixel can weigh more


def boundary_band(target: torch.Tensor, radius: int = BOUNDARY_RADIUS_PX) -> torch.Tensor:
    """(B,1,H,W) bool: pixels whose (2r+1)² neighbourhood holds both landslide and background,
    i.e. within ``radius`` px (chessboard distance) of an edge, on either side of it."""
    t = target.float()
    k = 2 * radius + 1
    grown = F.max_pool2d(t, k, stride=1, padding=radius)
    shrunk = -F.max_pool2d(-t, k, stride=1, padding=radius)
    return grown != shrunk


def create_loss(name: str, boundary_weight: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss as a callable ``(logits (B,1,H,W), target (B,1,H,W) float 0/1) -> scalar``; with
    ``boundary_weight`` > 0 (BCE and Focal only) pixels near an edge weigh more (module docstring)."""
    from segmentation_models_pytorch import losses as L

    from gee_landslide.train.constraints import guard_empty_batches

    spec = loss_spec(name)
    if boundary_weight < 0:
        raise ValueError(f"boundary_weight {boundary_weight!r}: use 0 (off) or a positive number")
    if boundary_weight > 0:
        if spec.slug not in PIXEL_WEIGHTED:
            raise ValueError(f"boundary_weight {boundary_weight!r} needs a per-pixel loss (BCE or Focal), "
                             f"not {spec.name}: Dice, Jaccard and Lovász are not means over pixels")
        per_pixel = (L.SoftBCEWithLogitsLoss(reduction="none") if spec.slug == "bce"
                     else L.FocalLoss("binary", reduction="none"))

        def weighted(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            w = 1.0 + boundary_weight * boundary_band(target).to(logits.dtype)
            return (per_pixel(logits, target).reshape(w.shape) * w).mean()

        return weighted
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
