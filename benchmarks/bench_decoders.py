"""Training-step time of each architecture with smp's decoder and with the slim one.

    python benchmarks/bench_decoders.py [--encoder tu-mobilenetv3_small_100] [--bands 22] [--steps 20] [--cpu-bf16]

Prints, per architecture, milliseconds per training step (forward, loss, backward, Adam step;
batch 4, 128 px crops, GroupNorm, the full-resolution head, one thread: what one laptop-profile
run does) and parameter counts, for ``decoder: default`` and ``decoder: slim``
(``gee_landslide.train.architectures.Architecture.slim``), then the grid's total. The numbers
behind the laptop profile's choice of the slim decoders; timings vary between machines.
``--cpu-bf16`` trains in the precision a run with ``cpu_bf16: true`` gets on this machine
(``gee_landslide.train.precision``: bfloat16 on CPUs with AMX, float32 on others) and prints it.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def step_ms(arch: str, decoder: str, encoder: str, bands: int, steps: int, crop: int,
            cpu_bf16: bool = False) -> tuple[float, int]:
    """Mean milliseconds per training step after three warm-up steps, and the parameter count."""
    import torch

    from gee_landslide.train.architectures import create_model
    from gee_landslide.train.precision import training_precision

    prec = training_precision(torch.device("cpu"), amp=False, cpu_bf16=cpu_bf16)
    torch.manual_seed(0)
    model = create_model(arch, bands, encoder, None, norm="group", refine=True, decoder=decoder)
    model = model.to(memory_format=prec.memory_format)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(4, bands, crop, crop).to(memory_format=prec.memory_format)
    y = (torch.rand(4, 1, crop, crop) > 0.9).float()
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        opt.zero_grad()
        with prec.autocast():
            out = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * 1000, sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="tu-mobilenetv3_small_100")
    ap.add_argument("--bands", type=int, default=22, help="input channels (S2 with one-hot land cover: 22)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu-bf16", action="store_true", help="train as `cpu_bf16: true` does on this machine")
    a = ap.parse_args()

    import torch

    from gee_landslide.train.architectures import ARCHITECTURES
    from gee_landslide.train.precision import training_precision

    torch.set_num_threads(a.threads)
    print(f"precision: {training_precision(torch.device('cpu'), False, a.cpu_bf16).name}")
    print(f"{'architecture':12s} {'default ms':>10s} {'params':>8s} {'slim ms':>8s} {'params':>8s} {'ratio':>6s}")
    total = {"default": 0.0, "slim": 0.0}
    for name in ARCHITECTURES:
        d_ms, d_n = step_ms(name, "default", a.encoder, a.bands, a.steps, a.crop, a.cpu_bf16)
        s_ms, s_n = step_ms(name, "slim", a.encoder, a.bands, a.steps, a.crop, a.cpu_bf16)
        total["default"] += d_ms
        total["slim"] += s_ms
        print(f"{name:12s} {d_ms:10.0f} {d_n / 1e6:7.2f}M {s_ms:8.0f} {s_n / 1e6:7.2f}M {s_ms / d_ms:6.2f}", flush=True)
    print(f"{'all nine':12s} {total['default']:10.0f} {'':8s} {total['slim']:8.0f} {'':8s} "
          f"{total['slim'] / total['default']:6.2f}")


if __name__ == "__main__":
    main()
