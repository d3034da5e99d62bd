"""Which arithmetic a training run uses: float32, or bfloat16/float16 autocast where hardware has it.

- ``amp: true`` (CUDA): autocast to bfloat16 when the GPU supports it, else float16 with a
  gradient scaler;
- ``cpu_bf16: true`` (opt-in) on a CPU with Intel AMX (``amx_bf16``, Sapphire Rapids and later
  Xeons): autocast to bfloat16; oneDNN runs the convolutions on the AMX tiles. Measured on a
  2-core Xeon with AMX (batch 4, 128 px, 22 bands, MobileNetV3-small, one thread,
  ``benchmarks/bench_decoders.py --cpu-bf16``): a training step of Unet 229 -> 159 ms, Unet++
  174 -> 150, MAnet 253 -> 220, FPN 169 -> 145; the light decoders (Linknet, PAN, PSPNet,
  DeepLabV3/V3+) within +-10 %, in a real sweep 8-17 % slower (validation in float32 with
  contiguous weights). The laptop sweep took 723 s against 785 s, with other runs (the profile
  says why it stays off there);
- otherwise float32. Without AMX, bfloat16 is emulated and slower than float32, so
  ``cpu_bf16`` is ignored there.

On the CPU the bfloat16 path keeps tensors in the default (contiguous) memory format: with
autocast, oneDNN's channels-last bfloat16 kernels were slower here than its blocked ones (Unet
228 ms channels-last against 164 ms contiguous), while float32 is fastest in channels-last.

With ``cpu_bf16`` only the training forward pass is autocast; validation, test and monitoring
inference on the CPU stay in float32, so thresholds are chosen on float32 probabilities wherever
the weights were trained (on CUDA, ``amp`` autocasts inference too, as before).
The precision a run used is written to its ``run.json``: runs trained on machines with and
without AMX are not bit-identical (neither are runs on two BLAS builds).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


def cpu_has_amx_bf16() -> bool:
    """True when this CPU has AMX tiles with bfloat16 (what makes CPU autocast faster, not slower)."""
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is None:  # older torch: no way to tell, stay in float32
        return False
    c = caps()
    return bool(c.get("amx_bf16") and c.get("amx_tile"))


@dataclass(frozen=True)
class Precision:
    """The arithmetic of one training run on one device."""

    name: str  # "fp32", "bf16" or "fp16"
    device_type: str
    memory_format: torch.memory_format

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @property
    def scaled(self) -> bool:
        """float16 needs a gradient scaler; bfloat16 has float32's range and does not."""
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def training_precision(device: torch.device, amp: bool, cpu_bf16: bool = False) -> Precision:
    """The precision a run trains in on ``device`` (see the module docstring for why)."""
    if amp and device.type == "cuda":
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return Precision(name, "cuda", torch.channels_last)
    if cpu_bf16 and device.type == "cpu" and cpu_has_amx_bf16():
        return Precision("bf16", "cpu", torch.contiguous_format)
    return Precision("fp32", device.type, torch.channels_last)
