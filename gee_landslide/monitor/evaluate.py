"""Object-level scores of a monitoring pass against known truth (the simulator's inventory).

Pixel F1 says little to someone reading an alert feed; what matters is how many alerts are real
landslides (precision) and how many landslides raised an alert (recall). A detection counts as
correct when it overlaps a truth landslide by at least one pixel; a landslide counts as found
when any detection overlaps it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ObjectScores:
    detections: int
    true_detections: int
    truth_objects: int
    found_objects: int

    @property
    def precision(self) -> float:
        return self.true_detections / self.detections if self.detections else float("nan")

    @property
    def recall(self) -> float:
        return self.found_objects / self.truth_objects if self.truth_objects else float("nan")

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


EIGHT = np.ones((3, 3), bool)  # 8-connectivity: diagonal neighbours are one object


def truth_labels(truth: np.ndarray, min_truth_px: int = 1) -> np.ndarray:
    """The truth's 8-connected objects, labelled 1..n, with those under ``min_truth_px`` set to 0:
    the objects every score here counts."""
    lab, n = ndimage.label(np.asarray(truth, bool), structure=EIGHT)
    if n:
        small = np.nonzero(np.bincount(lab.ravel(), minlength=n + 1) < min_truth_px)[0]
        small = small[small > 0]
        if small.size:
            lab[np.isin(lab, small)] = 0
    return lab


def object_scores(detected: np.ndarray, truth: np.ndarray, min_truth_px: int = 1) -> ObjectScores:
    """Compare two binary masks as 8-connected objects (truth objects under ``min_truth_px`` ignored)."""
    det_lab, n_det = ndimage.label(np.asarray(detected, bool), structure=EIGHT)
    tru_lab = truth_labels(truth, min_truth_px)
    overlap = (det_lab > 0) & (tru_lab > 0)
    true_dets = np.unique(det_lab[overlap]).size
    found = np.unique(tru_lab[overlap]).size
    n_truth = np.unique(tru_lab[tru_lab > 0]).size
    return ObjectScores(int(n_det), int(true_dets), int(n_truth), int(found))


def truth_objects_mostly_in(truth: np.ndarray, where: np.ndarray, min_truth_px: int = 1, share: float = 0.5) -> int:
    """How many truth objects (8-connected, under ``min_truth_px`` ignored) have at least ``share`` of
    their pixels in ``where``, e.g. where Sentinel-2 had a clear view. Why a share and not one pixel:
    a slide whose edge pixels fall in a clear patch of an otherwise cloudy window is not one an
    optical model could be expected to see."""
    lab = truth_labels(truth, min_truth_px)
    index = np.unique(lab[lab > 0])
    if not index.size:
        return 0
    inside = ndimage.mean(np.asarray(where, np.float64), lab, index)
    return int(np.count_nonzero(np.asarray(inside) >= share))


@dataclass(frozen=True)
class Ceiling:
    """The best a ranking of a pass's candidates can do at a recall floor (:func:`ranking_ceiling`)."""

    precision: float  # NaN: no cut-off of the ranking reaches the recall floor
    recall: float
    kept: int  # candidates above the cut-off


def ranking_ceiling(scores: np.ndarray, hits: list[set[int]], truth_objects: int, min_recall: float) -> Ceiling:
    """The highest object precision of any cut-off of ``scores`` (candidates ranked high to low) that
    finds at least ``min_recall`` of the ``truth_objects``; ``hits[i]``: the truth labels candidate i
    overlaps (:func:`truth_hits`).

    The cut-off is chosen on the truth itself, so this is an upper bound on any threshold of that
    score, not a result: where it stays below a target, no threshold of that evidence reaches it.
    Ties are cut together (a threshold cannot split them)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    ranked = np.asarray(scores, np.float64)[order]
    best = Ceiling(float("nan"), float("nan"), 0)
    found: set[int] = set()
    real = 0
    for n, i in enumerate(order, 1):
        found |= hits[i]
        real += bool(hits[i])
        if n < len(order) and ranked[n] == ranked[n - 1]:
            continue  # the next candidate ties with this one: no cut-off between them
        p, r = real / n, len(found) / truth_objects if truth_objects else float("nan")
        if r >= min_recall and not p <= best.precision:
            best = Ceiling(p, r, n)
    return best


def truth_hits(masks: list[np.ndarray], truth: np.ndarray, min_truth_px: int = 1) -> list[set[int]]:
    """Per candidate footprint (a boolean mask each), the labels of the truth objects it overlaps
    (:func:`truth_labels`), as :func:`object_scores` counts them."""
    lab = truth_labels(truth, min_truth_px)
    return [set(np.unique(lab[m & (lab > 0)]).tolist()) for m in masks]
