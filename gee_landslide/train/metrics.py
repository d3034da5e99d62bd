"""Confusion counts and the paper's metrics (Table 6), plus the frequency bias of Roebber (2009).

Metrics are always computed from summed counts (micro-average over events), so combining
events or tiles is exact. An optional evaluation mask restricts the pixels counted: the paper
evaluated only what both sensors see, :func:`visible_mask` excludes Sentinel-1 layover and
shadow pixels (and scene padding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from gee_landslide.core.bands import BAND_NAMES


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def precision(self) -> float:
        d = self.tp + self.fp
        return self.tp / d if d else 0.0

    @property
    def recall(self) -> float:
        d = self.tp + self.fn
        return self.tp / d if d else 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    @property
    def frequency_bias(self) -> float:
        """Predicted positives / observed positives (1 = unbiased, > 1 over-predicting)."""
        d = self.tp + self.fn
        return (self.tp + self.fp) / d if d else float("nan")

    def to_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "frequency_bias": self.frequency_bias,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Counts:
        return cls(int(d["tp"]), int(d["fp"]), int(d["fn"]), int(d["tn"]))


def confusion(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> Counts:
    """Counts of a binary prediction against a binary truth, inside ``mask`` (True = counted)."""
    p = np.asarray(pred).astype(bool)
    t = np.asarray(truth).astype(bool)
    if mask is not None:
        m = np.asarray(mask, bool)
        p, t = p[m], t[m]
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return Counts(tp, fp, fn, int(p.size) - tp - fp - fn)


def edge_band(labels: np.ndarray, radius: int = 1) -> np.ndarray:
    """(H,W) bool: pixels whose (2r+1)² window holds both landslide and background, i.e. within
    ``radius`` px (chessboard distance) of an outline, on either side of it. The numpy twin of
    ``train.losses.boundary_band`` (the ring the loss weighs), so skill on edges is read on the
    same pixels the loss stresses. Outside the image counts as neither class."""
    from scipy import ndimage

    y = np.asarray(labels) == 1
    size = 2 * radius + 1
    grown = ndimage.maximum_filter(y, size=size, mode="nearest")
    shrunk = ndimage.minimum_filter(y, size=size, mode="nearest")
    return grown != shrunk


def edge_counts(prob: np.ndarray, labels: np.ndarray, threshold: float, mask: np.ndarray | None = None,
                radius: int = 1) -> tuple[Counts, Counts]:
    """Counts of ``prob > threshold`` (as every run and ensemble is scored) against ``labels`` on the edge band (:func:`edge_band`) and
    on the other pixels, both within ``mask``; NaN probabilities are never positive.

    Why: a scene's F1 is dominated by the interiors of large slides, where every architecture does
    well. Thin debris flows are mostly edge (3/4 of norway-5's slide pixels), so F1 on the edge band
    of the validation events is what tells a model that draws them from one that draws blobs,
    without looking at the test event (docs/experiments.md, session 34)."""
    pred = np.nan_to_num(np.asarray(prob, np.float32), nan=-1.0) > threshold
    truth = np.asarray(labels) == 1
    valid = np.ones(truth.shape, bool) if mask is None else np.asarray(mask, bool)
    edge = edge_band(labels, radius)
    return confusion(pred, truth, valid & edge), confusion(pred, truth, valid & ~edge)


def visible_mask(stack15: np.ndarray) -> np.ndarray:
    """True where Sentinel-1 sees the ground: not layover and not shadow (NaN counts as visible)."""
    lay = stack15[BAND_NAMES.index("layover")]
    sha = stack15[BAND_NAMES.index("shadow")]
    return ~((lay > 0.5) | (sha > 0.5))


def evaluation_mask(stack15: np.ndarray, kind: str) -> np.ndarray | None:
    """``"none"`` -> None (all pixels); ``"visible"`` -> :func:`visible_mask`."""
    if kind == "none":
        return None
    if kind == "visible":
        return visible_mask(stack15)
    raise ValueError(f"unknown evaluation mask {kind!r}; use 'none' or 'visible'")


# candidate probability thresholds searched on validation events (runs, ensembles, baselines)
PROB_CANDIDATES = tuple(round(float(t), 2) for t in np.arange(0.05, 0.951, 0.05))


class LabelledScene(Protocol):
    stack: np.ndarray  # (15,H,W)
    labels: np.ndarray  # (H,W)


def threshold_curve(scores: Sequence[np.ndarray], scenes: Sequence[LabelledScene], candidates: Sequence[float],
                    eval_mask: str) -> list[tuple[float, Counts]]:
    """The counts of ``score > t`` summed over ``scenes``, for every candidate ``t`` in order.

    NaN scores are never positive. Histograms make it one pass over the pixels whatever the number
    of candidates. Why the whole curve and not only its best point: a curve flat within noise says
    the data cannot rank its thresholds, and the report says so beside the one it took.
    """
    edges = np.asarray(candidates, np.float64)
    pos = np.zeros(len(edges) + 1)
    neg = np.zeros(len(edges) + 1)
    for sc, s in zip(scores, scenes, strict=True):
        m = evaluation_mask(s.stack, eval_mask)
        v = np.asarray(sc, np.float64) if m is None else np.asarray(sc, np.float64)[m]
        lab = (s.labels if m is None else s.labels[m]).astype(bool).ravel()
        v = v.ravel()
        v = np.where(np.isfinite(v), v, -np.inf)
        # bin b holds scores in (edges[b-1], edges[b]]; "score > edges[i]" = bins i+1..end
        b = np.searchsorted(edges, v, side="left")
        pos += np.bincount(b[lab], minlength=len(edges) + 1)
        neg += np.bincount(b[~lab], minlength=len(edges) + 1)
    tp = np.cumsum(pos[::-1])[::-1][1:]
    fp = np.cumsum(neg[::-1])[::-1][1:]
    fn = pos.sum() - tp
    tn = neg.sum() - fp
    return [(float(t), Counts(int(a), int(b_), int(c), int(d)))
            for t, a, b_, c, d in zip(edges, tp, fp, fn, tn, strict=True)]


def best_threshold(scores: Sequence[np.ndarray], scenes: Sequence[LabelledScene], candidates: Sequence[float],
                   eval_mask: str) -> tuple[float, Counts]:
    """The candidate ``t`` maximising summed F1 of ``score > t`` and the counts there
    (:func:`threshold_curve`).

    Ties go to the candidate nearest the middle of the list.
    """
    return best_of_curve(threshold_curve(scores, scenes, candidates, eval_mask))


def best_of_curve(curve: Sequence[tuple[float, Counts]]) -> tuple[float, Counts]:
    """:func:`best_threshold`'s pick from a :func:`threshold_curve`: the best F1, ties to the
    candidate nearest the middle of the list."""
    mid = curve[len(curve) // 2][0]
    return max(curve, key=lambda tc: (round(tc[1].f1, 12), -abs(tc[0] - mid)))
