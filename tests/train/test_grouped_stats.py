"""Per-object statistics in one pass equal NumPy's object by object (the object filter's features)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gee_landslide.train import grouped


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = 40
    labels = rng.integers(0, n + 1, size=(60, 70))
    labels[labels == 7] = 0  # an empty group
    values = np.round(rng.normal(size=labels.shape), 2)  # ties, as in quantised bands
    values[rng.random(labels.shape) < 0.2] = np.nan
    values[labels == 9] = np.nan  # a group with no finite value
    values[labels == 11] = 0.5  # a group of one repeated value
    return labels, values, n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_medians_and_percentiles_equal_numpys_bit_for_bit(seed: int) -> None:
    labels, values, n = _case(seed)
    g = grouped.Groups(labels, values, n)
    med, pct, mx = g.median(), g.percentiles((10, 25, 75)), g.max()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups
        for i in range(1, n + 1):
            v = values[labels == i]
            v = v[np.isfinite(v)]
            if v.size == 0:
                assert np.isnan(med[i - 1]) and np.isnan(pct[i - 1]).all() and np.isnan(mx[i - 1])
                continue
            assert med[i - 1] == np.median(v)
            assert np.array_equal(pct[i - 1], np.percentile(v, [10, 25, 75]))
            assert mx[i - 1] == v.max()


def test_means_std_and_counts_match_numpy() -> None:
    labels, values, n = _case(3)
    mean, std = grouped.nanmean(labels, values, n), grouped.nanstd(labels, values, n)
    counts = grouped.count(labels, n)
    finite = grouped.count(labels, n, np.isfinite(values))
    for i in range(1, n + 1):
        v = values[labels == i]
        assert counts[i - 1] == v.size and finite[i - 1] == np.isfinite(v).sum()
        if np.isfinite(v).any():
            assert mean[i - 1] == pytest.approx(np.nanmean(v), rel=1e-12)
            assert std[i - 1] == pytest.approx(np.nanstd(v), rel=1e-9, abs=1e-12)
        else:
            assert np.isnan(mean[i - 1]) and np.isnan(std[i - 1])
