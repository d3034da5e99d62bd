"""The nine segmentation architectures of the paper (Table 4), built with smp.

Names are the paper's (``Unet``, ``Unet++``, ``MAnet``, ``Linknet``, ``FPN``, ``PSPNet``, ``PAN``,
``DeepLabV3``, ``DeepLabV3+``); ``slug`` gives the file-name-safe form used in run ids.
Models are always built with ``encoder_weights=None`` unless weights are asked for explicitly:
there is no hub access here and the stacks are not RGB anyway.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


DECODERS = ("default", "slim")


@dataclass(frozen=True)
class Architecture:
    """One of the paper's architectures: its names, its smp class and its ``slim`` decoder.

    ``slim`` holds the smp keyword arguments of the narrow decoder the laptop profile trains
    (``decoder: slim``). Why: smp's default decoders are sized for ResNet-class encoders
    (256-channel Unet++/MAnet stages, a 512-channel PSP block, an output-stride-8 DeepLabV3).
    Behind MobileNetV3-small they held most of the compute: one training step of Unet++ took
    269 ms with the default decoder and 175 ms with the slim one, DeepLabV3 443 ms against 114 ms
    (1 thread, batch 4, 128 px, 22 bands; ``benchmarks/bench_decoders.py``).

    Empty for Linknet and PAN (no decoder width to narrow) and, by measurement, for Unet and FPN:
    narrowed (Unet stages 64-32-24-16-16, FPN pyramid 64 / segmentation 32) they trained to a
    lower validation F1 in the paired demos of 2026-12-04 (FPN in all five runs, -0.007 to -0.052;
    Unet's Focal runs, which SAR-first monitoring uses, 0.927 -> 0.907 for S1+S2 and 0.872 -> 0.860
    for S1), and the time-to-alert benchmark season with that pair lost recall after
    confirmation (seed 5: 0.79 -> 0.58). A spec here is part of what a run id stands for:
    change one only together with a new decoder name, or old runs will not load.
    """

    name: str
    slug: str
    smp_class: str
    slim: Mapping[str, Any] = field(default_factory=dict)
    # smp's keyword for the dropout inside this architecture's decoder, when it has one (FPN and PSPNet
    # 0.2, the DeepLabs' ASPP 0.5 in smp 0.6); a profile's ``decoder_dropout`` sets it (see create_model)
    dropout_option: str | None = None
    # whether smp's decoder for this architecture takes ``decoder_use_norm`` (the normalisation after
    # each decoder convolution: Unet, Unet++, MAnet, Linknet, PSPNet in smp 0.6); a profile's
    # ``decoder_norm`` switches it off (see create_model)
    has_decoder_norm: bool = False
    # milliseconds per training step, default and slim decoder (benchmarks/bench_decoders.py, 1 thread,
    # batch 4, 128 px, 22 bands, MobileNetV3-small; 2-core Xeon with AMX, 2026-12-04). Only the order
    # matters: a sweep starts its longest runs first (sweep.longest_first)
    step_ms: tuple[float, float] = (0.0, 0.0)

    def options(self, decoder: str = "default") -> dict[str, Any]:
        """The smp keyword arguments of this architecture's ``decoder`` ("default" or "slim")."""
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
        return dict(self.slim) if decoder == "slim" else {}

    def step_cost(self, decoder: str = "default") -> float:
        """Measured milliseconds per training step with ``decoder`` (see ``step_ms``)."""
        self.options(decoder)  # validates the name
        return self.step_ms[DECODERS.index(decoder)]


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("Unet", "unet", "Unet", step_ms=(218, 217), has_decoder_norm=True),
        Architecture("Unet++", "unetpp", "UnetPlusPlus", MappingProxyType({"decoder_channels": (64, 32, 24, 16, 16)}),
                     step_ms=(275, 171), has_decoder_norm=True),
        Architecture("MAnet", "manet", "MAnet",
                     MappingProxyType({"decoder_channels": (64, 32, 24, 16, 16), "decoder_pab_channels": 32}),
                     step_ms=(255, 244), has_decoder_norm=True),
        Architecture("Linknet", "linknet", "Linknet", step_ms=(79, 82), has_decoder_norm=True),
        Architecture("FPN", "fpn", "FPN", step_ms=(151, 150), dropout_option="decoder_dropout"),
        Architecture("PSPNet", "pspnet", "PSPNet", MappingProxyType({"psp_out_channels": 128}), step_ms=(42, 39),
                     dropout_option="psp_dropout", has_decoder_norm=True),
        Architecture("PAN", "pan", "PAN", step_ms=(80, 81)),
        # output stride 16 as DeepLabV3+ has by default; at stride 8 the dilated encoder's last
        # stages ran on 4x the pixels (276 ms against 116 ms a step with the narrow ASPP)
        Architecture("DeepLabV3", "deeplabv3", "DeepLabV3",
                     MappingProxyType({"decoder_channels": 64, "encoder_output_stride": 16}), step_ms=(399, 95),
                     dropout_option="decoder_aspp_dropout"),
        Architecture("DeepLabV3+", "deeplabv3p", "DeepLabV3Plus", MappingProxyType({"decoder_channels": 64}),
                     step_ms=(127, 96), dropout_option="decoder_aspp_dropout"),
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


NORMS = ("batch", "group")
GROUPS = 8


def to_group_norm(model: torch.nn.Module, groups: int = GROUPS) -> torch.nn.Module:
    """Replace every BatchNorm2d by a GroupNorm over the same channels (in place; returns the model).

    Why: with batches of 4 smart crops, BatchNorm's running statistics follow the last few
    batches, and evaluation with them shifts every output. On the laptop profile the mean
    validation probability swung 0.09 -> 0.57 between epochs in eval mode (validation F1
    0.80 -> 0.28) while the same weights with batch statistics stayed at F1 0.76-0.80.
    GroupNorm normalises each sample by itself, so training and inference compute the same
    function whatever the batch. ``gcd(C, groups)`` groups keep every channel count valid.
    """
    for name, child in list(model.named_children()):
        if isinstance(child, torch.nn.BatchNorm2d):
            c = child.num_features
            # a one-channel map (PAN's pyramid attention) normalised by itself is a constant on
            # its 1x1 pooled level (and GroupNorm refuses a single value): leave it unnormalised
            new = torch.nn.Identity() if c == 1 else torch.nn.GroupNorm(math.gcd(c, groups), c, eps=child.eps)
            setattr(model, name, new)
        else:
            to_group_norm(child, groups)
    return model


# The refinement head every run had before its shape became an option; runs, ensemble members and
# profiles that do not name a shape mean this one, so their weights keep loading.
REFINE_WIDTH = 16
REFINE_DEPTH = 1


class FullResRefine(torch.nn.Module):
    """An smp model plus a small full-resolution head that sees the input bands again.

    Why: every encoder here starts with a stride-2 stem, so the decoders rebuild the finest
    detail from half-resolution features. The simulated debris flows are 2-4 pixels wide, and
    the networks drew them as blobs (boundary pixels are most of such a scar), while a
    per-pixel dNDVI rule draws them exactly. The head, ``depth`` 3x3 convolutions of ``width``
    channels on ``[base logits, input bands]`` at full resolution and a 3x3 convolution to one
    channel, added to the base logits, lets the network sharpen its own map with the pixels
    themselves. ``depth=1, width=16`` (~3k parameters on 19 bands) is the head every run had
    before the option existed; a second layer widens what the head sees from 5x5 to 7x7 pixels,
    enough to tell a speckled Sentinel-1 change from a scar's (docs/experiments.md, session 38).
    """

    def __init__(self, base: torch.nn.Module, in_channels: int, width: int = REFINE_WIDTH,
                 depth: int = REFINE_DEPTH) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"the refinement head needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
        self.base = base
        layers: list[torch.nn.Module] = []
        channels = in_channels + 1
        for _ in range(depth):
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1),
                       torch.nn.GroupNorm(math.gcd(width, GROUPS), width),
                       torch.nn.ReLU(inplace=True)]
            channels = width
        layers.append(torch.nn.Conv2d(width, 1, 3, padding=1))
        self.refine = torch.nn.Sequential(*layers)
        torch.nn.init.zeros_(self.refine[-1].weight)  # starts as the base model exactly
        torch.nn.init.zeros_(self.refine[-1].bias)

    @property
    def requires_divisible_input_shape(self) -> bool:
        return bool(getattr(self.base, "requires_divisible_input_shape", True))

    @property
    def output_stride(self) -> int:
        return int(getattr(getattr(self.base, "encoder", None), "output_stride", 32) or 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.base(x)
        return logits + self.refine(torch.cat([logits, x], dim=1))


def create_model(
    arch: str,
    in_channels: int,
    encoder: str = "resnet34",
    encoder_weights: str | None = None,
    norm: str = "batch",
    refine: bool = False,
    decoder: str = "default",
    decoder_dropout: float | None = None,
    decoder_norm: bool = True,
    refine_width: int = REFINE_WIDTH,
    refine_depth: int = REFINE_DEPTH,
) -> torch.nn.Module:
    """One binary segmentation model (1 output channel, logits).

    ``norm="group"`` swaps every BatchNorm for GroupNorm (:func:`to_group_norm`); the paper's
    models use BatchNorm (``"batch"``). ``refine`` adds the full-resolution head of
    :class:`FullResRefine` (not in the paper). ``decoder="slim"`` builds the narrow decoder of
    :attr:`Architecture.slim` (not in the paper); ``"default"`` is smp's. ``decoder_dropout``
    sets the dropout rate inside the decoder of an architecture that has one
    (:attr:`Architecture.dropout_option`; None keeps smp's). Dropout holds no weights and is off
    in evaluation, so a model built for inference need not know the rate it was trained with.
    ``decoder_norm=False`` builds the decoder without its normalisation layers (smp's
    ``decoder_use_norm=False``; :attr:`Architecture.has_decoder_norm`). Unlike the dropout this
    changes the weights a model holds, so inference must build it the way it was trained.
    ``refine_width`` and ``refine_depth`` shape that head (:class:`FullResRefine`); they too change
    the weights, and every model made before they existed has width 16, depth 1.
    """
    import segmentation_models_pytorch as smp

    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")
    a = architecture(arch)
    cls = getattr(smp, a.smp_class)
    options = a.options(decoder)
    if decoder_dropout is not None:
        if a.dropout_option is None:
            raise ValueError(f"{a.name} has no decoder dropout to set (decoder_dropout={decoder_dropout})")
        if not 0.0 <= decoder_dropout < 1.0:
            raise ValueError(f"decoder_dropout {decoder_dropout} must be in [0, 1)")
        options[a.dropout_option] = decoder_dropout
    if not decoder_norm:
        if not a.has_decoder_norm:
            raise ValueError(f"{a.name} has no decoder normalisation to switch off (decoder_norm=False)")
        options["decoder_use_norm"] = False
    model = cls(encoder_name=encoder, encoder_weights=encoder_weights, in_channels=in_channels, classes=1, **options)
    if norm == "group":
        to_group_norm(model)
    return FullResRefine(model, in_channels, refine_width, refine_depth) if refine else model
