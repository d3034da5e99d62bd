"""Training step throughput: the real smart-crop sampler vs the same model on in-memory tensors.

    python benchmarks/bench_train.py [--arch Linknet --arch Unet] [--steps 20] [--threads 2]

The sampler's overhead ((t_sampler - t_tensor) / t_tensor) must stay under 10 %: the model,
not the data, should bound the step time.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from gee_landslide.core.bands import setting
from gee_landslide.train.architectures import create_model
from gee_landslide.train.data import CropSampler, Normalisation, Scene
from gee_landslide.train.losses import create_loss


def scenes(n: int = 16, size: int = 200) -> list[Scene]:
    rng = np.random.default_rng(0)
    out = []
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        st = rng.normal(0, 1, (15, size, size)).astype(np.float32)
        lab = np.zeros((size, size), np.uint8)
        for _ in range(5):
            cy, cx, r = rng.uniform(10, size - 10), rng.uniform(10, size - 10), rng.uniform(3, 9)
            lab |= ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)
        st[14] -= 2 * lab
        st[14, :10, :10] = np.nan
        out.append(Scene(f"e{i}", st, lab))
    return out


def bench(arch: str, encoder: str, crop: int, batch: int, steps: int, sett: str) -> tuple[float, float]:
    s = setting(sett)
    sc = scenes()
    norm = Normalisation.compute([x.stack[list(s.band_indices)] for x in sc], s.band_names)
    sampler = CropSampler(sc, s, norm, crop, batch, np.random.default_rng(0))
    torch.manual_seed(0)
    model = create_model(arch, s.in_channels, encoder).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = create_loss("Focal")
    x0, y0 = sampler.sample()
    xt = torch.from_numpy(x0.copy()).to(memory_format=torch.channels_last)
    yt = torch.from_numpy(y0.copy())

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = loss_fn(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def with_sampler() -> None:  # exactly what the trainer does per step
        xn, yn = sampler.sample()
        step(torch.from_numpy(xn).to(memory_format=torch.channels_last), torch.from_numpy(yn))

    def in_memory() -> None:
        step(xt, yt)

    for _ in range(3):
        in_memory()
        with_sampler()
    times = {"sampler": [], "tensor": []}
    for _ in range(steps):  # interleaved, so a load change on the shared machine hits both
        for name, fn in (("sampler", with_sampler), ("tensor", in_memory)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return float(np.median(times["sampler"])), float(np.median(times["tensor"]))


def sampler_only(crop: int, batch: int, n: int = 200) -> float:
    s = setting("s1s2")
    sc = scenes()
    norm = Normalisation.compute([x.stack[list(s.band_indices)] for x in sc], s.band_names)
    sampler = CropSampler(sc, s, norm, crop, batch, np.random.default_rng(0))
    t = time.perf_counter()
    for _ in range(n):
        sampler.sample()
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", action="append")
    ap.add_argument("--encoder", default="tu-mobilenetv3_small_100")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--setting", default="s1s2")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, load avg {os.getloadavg()[0]:.2f}; "
          f"encoder {a.encoder}, crop {a.crop}, batch {a.batch}, setting {a.setting}")
    print(f"sampler alone: {sampler_only(a.crop, a.batch) * 1e3:.2f} ms per batch")
    print(f"{'arch':12s} {'sampler s/step':>15s} {'tensor s/step':>14s} {'steps/s':>8s} {'overhead':>9s}")
    for arch in a.arch or ["Linknet", "Unet", "DeepLabV3+"]:
        ts, tt = bench(arch, a.encoder, a.crop, a.batch, a.steps, a.setting)
        print(f"{arch:12s} {ts:15.4f} {tt:14.4f} {1 / ts:8.2f} {100 * (ts - tt) / tt:8.1f}%")


if __name__ == "__main__":
    main()
