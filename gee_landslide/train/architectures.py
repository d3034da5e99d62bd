"""The nine segmentation architectures of the paper (Table 4), built with smp.

Names are the paper's (``Unet``, ``Unet++``, ``MAnet``, ``Linknet``, ``FPN``, ``PSPNet``, ``PAN``,
``DeepLabV3``, ``DeepLabV3+``); ``slug`` gives the file-name-safe form used in run ids.
Models are always built with ``encoder_weights=None`` unless weights are asked for explicitly:
there is no hub access here and the stacks are not RGB anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Architecture:
    name: str
    slug: str
    smp_class: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("Unet", "unet", "Unet"),
        Architecture("Unet++", "unetpp", "UnetPlusPlus"),
        Architecture("MAnet", "manet", "MAnet"),
        Architecture("Linknet", "linknet", "Linknet"),
        Architecture("FPN", "fpn", "FPN"),
        Architecture("PSPNet", "pspnet", "PSPNet"),
        Architecture("PAN", "pan", "PAN"),
        Architecture("DeepLabV3", "deeplabv3", "DeepLabV3"),
        Architecture("DeepLabV3+", "deeplabv3p", "DeepLabV3Plus"),
    )
}
_ALIASES = {a.slug: a.name for a in ARCHITECTURES.values()} | {
    a.smp_class.lower(): a.name for a in ARCHITECTURES.values()
}


def architecture(name: str) -> Architecture:
    """Look an architecture up by paper name, slug or smp class name (case-insensitive)."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    key = _ALIASES.get(name.lower().replace(" ", ""))
    if key is None:
        for a in ARCHITECTURES.values():
            if a.name.lower() == name.lower():
                return a
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[key]


def create_model(
    arch: str,
    in_channels: int,
    encoder: str = "resnet34",
    encoder_weights: str | None = None,
) -> torch.nn.Module:
    """One binary segmentation model (1 output channel, logits)."""
    import segmentation_models_pytorch as smp

    a = architecture(arch)
    cls = getattr(smp, a.smp_class)
    return cls(encoder_name=encoder, encoder_weights=encoder_weights, in_channels=in_channels, classes=1)
