"""Confusion counts and the paper's metrics (Table 6), plus the frequency bias of Roebber (2009).

Metrics are always computed from summed counts (micro-average over events), so combining
events or tiles is exact. An optional evaluation mask restricts the pixels counted: the paper
evaluated only what both sensors see, :func:`visible_mask` excludes Sentinel-1 layover and
shadow pixels (and scene padding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
