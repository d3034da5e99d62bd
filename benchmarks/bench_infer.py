"""Inference throughput: the full tiled path vs the bare forward pass on the same tiles, and a
K-member ensemble.

    python benchmarks/bench_infer.py [--size 1024] [--tile 256] [--k 20] [--threads 2]

Overhead of the tiled path (padding, normalisation, tile cutting, Hann blending) over the bare
forward passes must stay under 15 %.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from gee_landslide.core.bands import setting
from gee_landslide.train.architectures import ARCHITECTURES, create_model
from gee_landslide.train.data import Normalisation, prepare
from gee_landslide.train.ensemble import combine
from gee_landslide.train.inference import common_multiple, plan_tiles, predict, ready_for_inference


def bare(models, image: np.ndarray, tile: int, overlap: int, batch: int) -> None:
    """Only the forward passes over the same tiles (tensors cut beforehand)."""
    _, h, w = image.shape
    plan = plan_tiles(h, w, tile, overlap)
    th, tw = plan.tile_h, plan.tile_w
    batches = [torch.from_numpy(np.stack([image[:, r : r + th, c : c + tw] for r, c in plan.origins[i : i + batch]]))
               .to(memory_format=torch.channels_last) for i in range(0, len(plan.origins), batch)]
    t = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            for m in models:
                torch.sigmoid(m(x))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="Unet")
    ap.add_argument("--encoder", default="tu-mobilenetv3_small_100")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = setting("s1s2")
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1, (s.in_channels, a.size, a.size)).astype(np.float32)
    raw[-1, :50, :50] = np.nan
    norm = Normalisation(s.band_names, (0.0,) * s.in_channels, (1.0,) * s.in_channels)
    mpx = a.size * a.size / 1e6
    print(f"torch {torch.__version__}, {a.threads} threads, load avg {os.getloadavg()[0]:.2f}; "
          f"{a.size}x{a.size} px s1s2 scene, tile {a.tile}, overlap {a.overlap}, batch {a.batch}, encoder {a.encoder}")

    model = ready_for_inference(create_model(a.arch, s.in_channels, a.encoder), torch.device("cpu"))
    padded = prepare(raw, norm, multiple=common_multiple([model])).image
    predict([model], raw, norm, tile=a.tile, overlap=a.overlap, batch=a.batch, device="cpu")  # warm-up
    tf, tb = [], []
    for _ in range(a.repeat):
        t = time.perf_counter()
        predict([model], raw, norm, tile=a.tile, overlap=a.overlap, batch=a.batch, device="cpu")
        tf.append(time.perf_counter() - t)
        tb.append(bare([model], padded, a.tile, a.overlap, a.batch))
    full, b = min(tf), min(tb)
    print(f"one {a.arch}: full tiled path {mpx / full:.2f} Mpx/s, bare forward {mpx / b:.2f} Mpx/s, "
          f"overhead {100 * (full - b) / b:.1f}%")

    archs = list(ARCHITECTURES)
    members = [ready_for_inference(create_model(archs[i % len(archs)], s.in_channels, a.encoder), torch.device("cpu"))
               for i in range(a.k)]
    t = time.perf_counter()
    probs = predict(members, raw, norm, tile=a.tile, overlap=a.overlap, batch=a.batch, device="cpu")
    pred = combine(probs, 0.5)
    te = time.perf_counter() - t
    tb = bare(members, padded, a.tile, a.overlap, a.batch)
    assert pred.mean.shape == raw.shape[1:]
    print(f"ensemble K={a.k} (all nine architectures): {mpx / te:.3f} Mpx/s "
          f"({te:.1f} s for {mpx:.2f} Mpx); bare forwards {mpx / tb:.3f} Mpx/s, overhead {100 * (te - tb) / tb:.1f}%")


if __name__ == "__main__":
    main()
