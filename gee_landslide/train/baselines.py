"""Reference models every network result is reported beside, on the same pixels and counts.

A learned model only counts as skilful when it beats what a simpler method gets on the same
events, inside the same evaluation mask. Two references:

- :class:`DndviRule`, HazMapper's idea (Scheip & Wegmann 2021): a landslide strips vegetation,
  so ``dNDVI < t`` marks it. ``t`` is fitted on the training + validation events (never the
  test event): the candidate with the best summed F1. Pixels without an optical observation
  (NaN dNDVI) are never flagged.
- :class:`BoostedTrees`, a per-pixel gradient-boosted trees classifier (scikit-learn's
  ``HistGradientBoostingClassifier``) on the setting's raw bands, trained on a class-balanced
  pixel sample of the training events. Missing values (NaN) go to the trees as they are (the
  model learns a side for them). Its probability threshold is chosen on the validation events.

Both give a *score* per pixel and a threshold, so the report can treat them like any model.
Nothing here is saved to disk: both fit in seconds, so the report refits them from the stacks
(no pickles of fitted estimators are ever written or read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.bands import setting as get_setting
from gee_landslide.train.data import Scene
from gee_landslide.train.metrics import PROB_CANDIDATES, best_threshold

DNDVI = BAND_NAMES.index("dNDVI")
RULE_CANDIDATES = tuple(round(float(t), 3) for t in np.arange(-0.80, 0.0001, 0.01))


@dataclass
class DndviRule:
    """``dNDVI < threshold`` (the score is ``-dNDVI``, so ``score > -threshold`` is the same rule)."""

    threshold: float = -0.2
    fit_f1: float = float("nan")
    fitted_on: tuple[str, ...] = ()
    name: str = "dNDVI rule"

    def fit(self, scenes: Sequence[Scene], eval_mask: str = "visible") -> DndviRule:
        cands = [-t for t in RULE_CANDIDATES]
        t, c = best_threshold([self.score(s.stack) for s in scenes], scenes, sorted(cands), eval_mask)
        self.threshold, self.fit_f1 = -t, c.f1
        self.fitted_on = tuple(s.event_id for s in scenes)
        return self

    @staticmethod
    def score(stack15: np.ndarray) -> np.ndarray:
        return -np.asarray(stack15[DNDVI], np.float32)

    def predict(self, stack15: np.ndarray) -> np.ndarray:
        d = stack15[DNDVI]
        return np.isfinite(d) & (d < self.threshold)

    def describe(self) -> str:
        return f"dNDVI < {self.threshold:.2f} (fitted on {len(self.fitted_on)} train+val events, F1 {self.fit_f1:.3f})"


@dataclass
class BoostedTrees:
    """Per-pixel HistGradientBoostingClassifier on one band setting's raw bands."""

    setting: str
    max_pixels: int = 200_000
    max_iter: int = 200
    seed: int = 0
    threshold: float = 0.5
    val_f1: float = float("nan")
    fitted_on: tuple[str, ...] = ()
    model: object = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"boosted trees ({get_setting(self.setting).name})"

    def _features(self, stack15: np.ndarray) -> np.ndarray:
        idx = list(get_setting(self.setting).band_indices)
        x = np.asarray(stack15[idx], np.float32)
        return x.reshape(len(idx), -1).T

    def fit(self, train: Sequence[Scene], val: Sequence[Scene], eval_mask: str = "visible") -> BoostedTrees:
        """Fit on a class-balanced pixel sample of ``train``; pick the threshold on ``val``."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        rng = np.random.default_rng(self.seed)
        per_scene = max(self.max_pixels // max(len(train), 1), 2)
        xs, ys = [], []
        for s in train:
            x = self._features(s.stack)
            y = s.labels.ravel().astype(np.uint8)
            pos, neg = np.flatnonzero(y), np.flatnonzero(y == 0)
            k = min(per_scene // 2, len(pos))
            take = [rng.choice(pos, k, replace=False),
                    rng.choice(neg, min(per_scene - k, len(neg)), replace=False)]
            sel = np.concatenate(take)
            xs.append(x[sel])
            ys.append(y[sel])
        clf = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
                                             early_stopping=False, random_state=self.seed)
        clf.fit(np.concatenate(xs), np.concatenate(ys))
        self.model = clf
        self.fitted_on = tuple(s.event_id for s in train)
        self.threshold, c = best_threshold([self.score(s.stack) for s in val], val, PROB_CANDIDATES, eval_mask)
        self.val_f1 = c.f1
        return self

    def score(self, stack15: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("BoostedTrees.score called before fit")
        h, w = stack15.shape[1:]
        return self.model.predict_proba(self._features(stack15))[:, 1].reshape(h, w).astype(np.float32)

    def predict(self, stack15: np.ndarray) -> np.ndarray:
        return self.score(stack15) > self.threshold

    def describe(self) -> str:
        return (f"HistGradientBoosting on {get_setting(self.setting).name} bands, "
                f"threshold {self.threshold:.2f} (validation F1 {self.val_f1:.3f})")
