"""Recall of the landslides by the radar's local incidence angle on them.

Why: whether a slide brightens or darkens the Sentinel-1 backscatter depends on how its slope faces
the radar. A bare scar is far more sensitive to the local incidence angle than the vegetation it
replaced, so a slide facing the radar brightens VV and one turned away darkens it, as a fresh
clear-cut darkens it anywhere. A model that reads Sentinel-1 can therefore be strong on one side of
a valley and blind on the other, and a single F1 hides that; the S2 models, which see no
backscatter, are the reference beside it (docs/experiments.md, session 23: the demo's S1+S2
ensemble found 0.47 of norway-5's slide pixels above 60 degrees where the S2 ensemble found 0.90).

A slide's angle is the mean ``liaDeg`` over its pixels (one value per connected landslide, so a
slide is counted in one bin as a whole); its pixels are counted where the evaluation counts them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from gee_landslide.core.bands import band

INCIDENCE_EDGES_DEG: tuple[float, ...] = (45.0, 60.0)


def incidence_labels(edges: Sequence[float] = INCIDENCE_EDGES_DEG) -> list[str]:
    """Column names of the bins: ``< 45°``, ``45-60°``, ``≥ 60°`` for the default edges."""
    e = [f"{x:g}" for x in edges]
    return [f"< {e[0]}°", *[f"{a}-{b}°" for a, b in itertools.pairwise(e)], f"≥ {e[-1]}°"]


def slide_incidence_bins(stack: np.ndarray, labels: np.ndarray,
                         edges: Sequence[float] = INCIDENCE_EDGES_DEG) -> np.ndarray:
    """(H,W) int: each landslide pixel's bin by the mean local incidence angle of its slide, -1
    elsewhere (and on slides with no finite angle)."""
    lia = stack[band("liaDeg").index].astype(np.float64)
    objects, n = ndimage.label(labels > 0)
    out = np.full(labels.shape, -1, np.int64)
    if n == 0:
        return out
    finite = np.isfinite(lia)
    idx = np.arange(1, n + 1)
    total = ndimage.sum(np.where(finite, lia, 0.0), objects, idx)
    count = ndimage.sum(finite, objects, idx)
    mean = np.divide(total, count, out=np.full(n, np.nan), where=count > 0)
    per_object = np.where(np.isfinite(mean), np.digitize(mean, edges), -1)
    out[objects > 0] = per_object[objects[objects > 0] - 1]
    return out


def recall_by_incidence(preds: Sequence[np.ndarray], stacks: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                        masks: Sequence[np.ndarray | None],
                        edges: Sequence[float] = INCIDENCE_EDGES_DEG) -> np.ndarray:
    """(bins, 2) int: detected landslide pixels and landslide pixels per bin, summed over scenes
    (``masks``: where the evaluation counts; None = everywhere)."""
    out = np.zeros((len(edges) + 1, 2), np.int64)
    for pred, stack, lab, mask in zip(preds, stacks, labels, masks, strict=True):
        bins = slide_incidence_bins(stack, lab, edges)
        counted = bins >= 0 if mask is None else (bins >= 0) & mask
        hit = counted & np.asarray(pred, bool)
        out[:, 0] += np.bincount(bins[hit], minlength=len(out))
        out[:, 1] += np.bincount(bins[counted], minlength=len(out))
    return out


def recall_cells(counts: np.ndarray | None) -> list[str]:
    """Table cells ``0.87 (678 px)`` per bin (``-`` where a bin holds no slide pixel)."""
    if counts is None:
        return []
    return [f"{h / n:.2f} ({n} px)" if n else "-" for h, n in counts]
