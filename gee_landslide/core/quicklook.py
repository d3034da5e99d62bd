"""Quick-look PNGs of a stack: what a person checks first (dNDVI, dVV, slope, labels).

Rendered with matplotlib's Agg backend, so they work on a headless server. The change bands use
diverging colour maps centred on zero with robust (2-98 %) limits, because a single bright
outlier would otherwise wash the scene out.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gee_landslide.core.atomic import atomic_path
from gee_landslide.core.stackio import Stack


def _robust_sym_limit(a: np.ndarray) -> float:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return 1.0
    return float(max(np.percentile(np.abs(finite), 98), 1e-6))


def render_quicklook(stack: Stack, out_path: str | Path, title: str | None = None) -> Path:
    """Write a 2x2 panel PNG of dNDVI, dVV, slope and the landslide labels."""
    dndvi, dvv, slope = stack.band("dNDVI"), stack.band("dVV"), stack.band("slope")
    labels = stack.labels if stack.labels is not None else np.zeros(dndvi.shape, np.uint8)
    x0, y0, x1, y1 = stack.grid.bounds
    extent = ((x0 - x0) / 1000, (x1 - x0) / 1000, (y0 - y0) / 1000, (y1 - y0) / 1000)
    fig, axes = plt.subplots(2, 2, figsize=(9, 8.5), constrained_layout=True)
    panels = [
        (dndvi, "dNDVI (post - pre)", "BrBG", _robust_sym_limit(dndvi)),
        (dvv, "dVV (dB, NaN = layover/shadow)", "PRGn", _robust_sym_limit(dvv)),
        (slope, "slope (deg)", "magma", None),
    ]
    for ax, (arr, name, cmap, lim) in zip(axes.flat, panels, strict=False):
        kwargs = {"vmin": -lim, "vmax": lim} if lim is not None else {}
        cm = plt.get_cmap(cmap).copy()
        cm.set_bad("#bbbbbb")
        im = ax.imshow(arr, cmap=cm, extent=extent, interpolation="nearest", **kwargs)
        ax.contour(labels, levels=[0.5], colors="red", linewidths=0.6, extent=extent, origin="upper")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(name)
    ax = axes.flat[3]
    ax.imshow(labels, cmap="gray_r", extent=extent, interpolation="nearest", vmin=0, vmax=1)
    ax.set_title(f"landslide labels ({int(labels.sum())} px)")
    for a in axes.flat:
        a.set_xlabel("km")
    fig.suptitle(title or stack.meta.get("event_id", "stack"))
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out_path


def band_summary(stack: Stack) -> list[dict[str, float | str]]:
    """Per band: min, median, max of finite values and the share of NaN pixels."""
    rows: list[dict[str, float | str]] = []
    for name, arr in zip(stack.band_names, stack.data, strict=True):
        finite = arr[np.isfinite(arr)]
        rows.append(
            {
                "band": name,
                "min": float(finite.min()) if finite.size else float("nan"),
                "median": float(np.median(finite)) if finite.size else float("nan"),
                "max": float(finite.max()) if finite.size else float("nan"),
                "nan_pct": 100.0 * (1 - finite.size / arr.size),
            }
        )
    return rows
