"""Recall by the slides' local incidence angle (train.strata): each slide counted whole in one bin."""

from __future__ import annotations

import numpy as np

from gee_landslide.core.bands import band
from gee_landslide.train.strata import (
    incidence_labels,
    recall_by_incidence,
    recall_cells,
    slide_incidence_bins,
)

LIA = band("liaDeg").index


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """Local incidence 30° on the left half and 70° on the right; three slides: one on each side
    (4x4 px) and one across the boundary, 8 px on the left and 2 on the right (mean 38°)."""
    stack = np.zeros((15, 20, 20), np.float32)
    stack[LIA, :, :10] = 30.0
    stack[LIA, :, 10:] = 70.0
    labels = np.zeros((20, 20), np.uint8)
    labels[2:6, 2:6] = 1  # 30°
    labels[2:6, 14:18] = 1  # 70°
    labels[12:14, 6:10] = 1  # 30° x 8 px ...
    labels[12:14, 10] = 1  # ... + 70° x 2 px: mean 38°, all 10 px in the first bin
    return stack, labels


def test_each_slide_falls_whole_in_the_bin_of_its_mean_angle():
    stack, labels = _scene()
    bins = slide_incidence_bins(stack, labels)
    assert set(np.unique(bins[labels == 0])) == {-1}
    assert (bins[2:6, 2:6] == 0).all() and (bins[2:6, 14:18] == 2).all()
    assert (bins[12:14, 6:11] == 0).all()  # the straddling slide is not split between bins
    stack[LIA, 2:6, 14:18] = np.nan  # no angle: the slide is left out, not put in a bin
    assert (slide_incidence_bins(stack, labels)[2:6, 14:18] == -1).all()


def test_recall_counts_detected_and_slide_pixels_per_bin_inside_the_mask():
    stack, labels = _scene()
    pred = np.zeros_like(labels, bool)
    pred[2:6, 2:6] = True  # the 30° slide found
    pred[2:4, 14:18] = True  # half of the 70° slide
    pred[0, 0] = True  # a false pixel counts nowhere here
    counts = recall_by_incidence([pred], [stack], [labels], [None])
    assert counts.tolist() == [[16, 26], [0, 0], [8, 16]]
    mask = np.ones_like(labels, bool)
    mask[2:4, :] = False  # the evaluation does not count these rows (layover, say)
    counts = recall_by_incidence([pred, pred], [stack, stack], [labels, labels], [mask, None])
    assert counts.tolist() == [[8 + 16, 18 + 26], [0, 0], [0 + 8, 8 + 16]]
    assert recall_cells(counts) == ["0.55 (44 px)", "-", "0.33 (24 px)"]
    assert incidence_labels() == ["< 45°", "45-60°", "≥ 60°"]
