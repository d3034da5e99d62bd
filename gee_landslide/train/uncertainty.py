"""How far an F1 gap between two methods on the same pixels is from noise: a paired bootstrap.

Why: the skill comparisons (issue #9) are made on one test event and a handful of held-out scenes,
where a whole landslide or one false object moves F1 by a few hundredths. A gap of 0.002 between an
ensemble and boosted trees says nothing on its own; its interval says whether another draw of the
same kind of landslides could have reversed it.

The resampled unit is the *object*, not the pixel: pixels of one landslide or one false detection
are right or wrong together, so treating them as independent would give intervals far too narrow.
For a comparison of methods on a scene, the units are the 8-connected components of the union of
the truth and every compared method's detections inside the evaluation mask. Every true positive,
false positive and false negative lies in one of them (outside, all methods and the truth say
"no landslide": true negatives, which F1 ignores), so F1 of a resample is exactly F1 of the summed
counts of the drawn units. Both methods are scored on the same draws (paired), which cancels
the difficulty of the drawn landslides out of their difference.

- the test event(s): units of all test scenes are drawn together, F1 of the pooled counts (as the
  report scores the test event);
- held-out scenes: the *scenes* are drawn, and the statistic is the mean of their per-scene F1, as
  the report's held-out mean. The scenes are independent draws of the simulator's events, so they are
  the exchangeable units there. Their objects are not: most events hold one large landslide beside a
  few small ones (on one held-out scene 5,071 of 5,420 counted pixels are one unit), and redrawing
  objects within a scene drops that slide from a third of the draws, which no event of the catalog
  would do (the per-scene object bootstrap gave the dNDVI rule's held-out mean an interval of
  0.475-0.813 around 0.786).

Percentile intervals (Efron & Tibshirani 1993, ch. 13) from ``DRAWS`` resamples with a fixed seed,
so the same maps give the same interval on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

DRAWS = 2000
LEVEL = 0.95
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap percentile interval."""

    value: float  # on the maps as they are, not a bootstrap mean
    lo: float
    hi: float

    @property
    def contains_zero(self) -> bool:
        return self.lo <= 0.0 <= self.hi

    def text(self, signed: bool = False) -> str:
        f = "{:+.3f}" if signed else "{:.3f}"
        return f"{f.format(self.value)} ({f.format(self.lo)} to {f.format(self.hi)})"


def unit_counts(preds: Sequence[np.ndarray], truth: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(units, methods, 3) true positive, false positive and false negative pixels per unit.

    ``preds``: one binary map per method, all of ``truth``'s shape; ``mask``: pixels counted
    (None: all). Units: 8-connected components of ``truth | preds[0] | preds[1] ...`` inside ``mask``.
    """
    t = np.asarray(truth, bool)
    ps = [np.asarray(p, bool) for p in preds]
    if any(p.shape != t.shape for p in ps):
        raise ValueError(f"prediction shapes {[p.shape for p in ps]} differ from the truth's {t.shape}")
    counted = np.ones(t.shape, bool) if mask is None else np.asarray(mask, bool)
    union = t.copy()
    for p in ps:
        union |= p
    units, n = ndimage.label(union & counted, structure=_EIGHT)
    out = np.zeros((n, len(ps), 3), np.int64)
    if n == 0:
        return out
    lab = units.ravel()
    for j, p in enumerate(ps):
        pv, tv = p.ravel(), t.ravel()
        for c, kind in enumerate((pv & tv, pv & ~tv, ~pv & tv)):
            out[:, j, c] = np.bincount(lab, weights=kind, minlength=n + 1)[1:].astype(np.int64)
    return out


def _f1(counts: np.ndarray) -> np.ndarray:
    """F1 over the last axis (tp, fp, fn); 0 where there is nothing to find and nothing found."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    d = 2 * tp + fp + fn
    return np.where(d > 0, 2 * tp / np.maximum(d, 1), 0.0)


def _draw_sums(units: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """(draws, methods, 3) counts summed over ``len(units)`` units drawn with replacement."""
    n = len(units)
    if n == 0:
        return np.zeros((draws, units.shape[1], 3))
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(np.float64)  # (draws, n)
    return np.einsum("bn,nmc->bmc", w, units.astype(np.float64))


def _interval(value: float, samples: np.ndarray, level: float) -> Interval:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [a, 1.0 - a])
    return Interval(float(value), float(lo), float(hi))


def _finite_interval(value: float, samples: np.ndarray, level: float) -> Interval:
    """The percentile interval of the draws where the statistic is defined (NaN if none is)."""
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return Interval(value, float("nan"), float("nan"))
    return _interval(value, samples, level)


def _scene_units(preds: Sequence[Sequence[np.ndarray]], truths: Sequence[np.ndarray],
                 masks: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Per scene, the units of all methods' maps of it (``preds[method][scene]``)."""
    if len({len(p) for p in preds} | {len(truths), len(masks)}) != 1:
        raise ValueError("every method needs one map per scene, and every scene a truth and a mask")
    return [unit_counts([p[i] for p in preds], truths[i], masks[i]) for i in range(len(truths))]


def pooled_f1_samples(preds: Sequence[Sequence[np.ndarray]], truths: Sequence[np.ndarray],
                      masks: Sequence[np.ndarray | None], draws: int = DRAWS,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """F1 of each method on the pooled scenes: (methods,) as they are, (draws, methods) resampled."""
    per_scene = _scene_units(preds, truths, masks)
    units = np.concatenate(per_scene) if per_scene else np.zeros((0, len(preds), 3), np.int64)
    rng = np.random.default_rng(seed)
    return _f1(units.sum(axis=0)), _f1(_draw_sums(units, rng, draws))


def f1_interval(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                draws: int = DRAWS, seed: int = 0, level: float = LEVEL) -> Interval:
    """One method's F1 over the pooled scenes with the interval of redrawn objects."""
    value, samples = pooled_f1_samples([preds], truths, masks, draws, seed)
    return _interval(float(value[0]), samples[:, 0], level)


def paired_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                      masks: Sequence[np.ndarray | None], draws: int = DRAWS, seed: int = 0,
                      level: float = LEVEL) -> Interval:
    """F1 of method ``a`` minus F1 of ``b`` over the same pooled scenes, with its paired interval."""
    value, samples = pooled_f1_samples([a, b], truths, masks, draws, seed)
    return _interval(float(value[0] - value[1]), samples[:, 0] - samples[:, 1], level)


def mean_interval(per_scene: Sequence[float], draws: int = DRAWS, seed: int = 0, level: float = LEVEL) -> Interval:
    """The mean of per-scene figures (the held-out mean F1) with the interval of redrawn scenes."""
    return bootstrap_interval(np.asarray(per_scene, float), np.mean, draws, seed, level)


def paired_mean_difference(a: Sequence[float], b: Sequence[float], draws: int = DRAWS, seed: int = 0,
                           level: float = LEVEL) -> Interval:
    """Mean of ``a`` minus mean of ``b`` (per-scene figures of two methods on the same scenes), with
    the interval of redrawn scenes, the same scenes for both."""
    if len(a) != len(b):
        raise ValueError(f"every method needs one figure per scene: {len(a)} against {len(b)}")
    pairs = np.column_stack([np.asarray(a, float), np.asarray(b, float)])
    return bootstrap_interval(pairs, lambda v: float(v[:, 0].mean() - v[:, 1].mean()), draws, seed, level)


def bootstrap_interval(values: np.ndarray, statistic: Callable[[np.ndarray], float], draws: int = DRAWS,
                       seed: int = 0, level: float = LEVEL) -> Interval:
    """``statistic`` of ``values`` with the percentile interval over rows (axis 0) drawn with replacement.

    For figures over independent items rather than maps, e.g. a season's landslides (recall, the
    median time to alert) or its alerts (precision). Draws where the statistic is undefined (NaN,
    e.g. no alerted landslide drawn) are left out of the interval; all NaN gives a NaN interval.
    """
    v = np.asarray(values)
    value = float(statistic(v)) if len(v) else float("nan")
    if len(v) == 0:
        return Interval(value, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    samples = np.array([statistic(v[rng.integers(0, len(v), len(v))]) for _ in range(draws)], float)
    return _finite_interval(value, samples, level)


def clustered_bootstrap_interval(groups: Sequence[np.ndarray], statistic: Callable[[np.ndarray], float],
                                 draws: int = DRAWS, seed: int = 0, level: float = LEVEL) -> Interval:
    """``statistic`` of the pooled items of several groups, with a two-stage percentile interval:
    the groups are drawn with replacement, then the items within each drawn group.

    For figures pooled over simulated seasons (the time-to-alert benchmark's ``--seeds``): the
    landslides or alerts of one season share its clouds, terrain and confounders, so drawing the
    pooled items as if independent would call a difference between seasons noise-free. Drawing the
    seasons as well widens the interval by as much as the seasons disagree; with identical seasons
    it is close to the plain item bootstrap of :func:`bootstrap_interval`.
    """
    gs = [np.asarray(g) for g in groups if len(g)]
    if not gs:
        return Interval(float("nan"), float("nan"), float("nan"))
    value = float(statistic(np.concatenate(gs)))
    rng = np.random.default_rng(seed)
    samples = np.empty(draws)
    for i in range(draws):
        picked = [gs[j] for j in rng.integers(0, len(gs), len(gs))]
        samples[i] = statistic(np.concatenate([g[rng.integers(0, len(g), len(g))] for g in picked]))
    return _finite_interval(value, samples, level)
