"""What the skill report scores: one method's result (:class:`MethodResult`), the truth it is scored
on (:class:`Truth`) and a setting's single best and top-K ensembles (:class:`SettingCurve`).

Plain records, apart from :mod:`gee_landslide.train.report` (which computes them) so that the
figures (:mod:`gee_landslide.train.report_figures`) and the benchmarks can read them without
importing the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gee_landslide.train.data import Scene
from gee_landslide.train.metrics import Counts, evaluation_mask
from gee_landslide.train.strata import incidence_labels
from gee_landslide.train.uncertainty import Interval


@dataclass
class MethodResult:
    """One method's scores on the test event(s) and the held-out scenes, at its chosen threshold."""

    method: str  # "dNDVI rule", "boosted trees", "single best", "ensemble K"
    setting: str | None
    k: int | None
    threshold: float
    chosen_on: str
    test: Counts
    heldout: list[Counts] = field(default_factory=list)
    # the detections behind the test counts, per test scene: the objects the test interval redraws
    # (the held-out interval redraws scenes, so their counts are all it needs)
    test_pred: list[np.ndarray] = field(default_factory=list, repr=False)
    test_interval: Interval | None = None  # set by add_intervals
    heldout_interval: Interval | None = None
    # (bins, 2) detected / landslide pixels by the slides' local incidence angle (train.strata)
    incidence_test: np.ndarray | None = field(default=None, repr=False)
    incidence_heldout: np.ndarray | None = field(default=None, repr=False)

    @property
    def heldout_mean_f1(self) -> float | None:
        return float(np.mean([c.f1 for c in self.heldout])) if self.heldout else None

    def to_dict(self) -> dict[str, Any]:
        iv = lambda i: [i.lo, i.hi] if i is not None else None  # noqa: E731
        return {"method": self.method, "setting": self.setting, "k": self.k, "threshold": self.threshold,
                "chosen_on": self.chosen_on, "test": self.test.to_dict(), "test_f1_interval": iv(self.test_interval),
                "heldout_mean_f1": self.heldout_mean_f1, "heldout_f1": [c.f1 for c in self.heldout],
                "heldout_mean_f1_interval": iv(self.heldout_interval),
                "recall_by_incidence": {
                    "bins": incidence_labels(),
                    "test": self.incidence_test.tolist() if self.incidence_test is not None else None,
                    "heldout": self.incidence_heldout.tolist() if self.incidence_heldout is not None else None}}


@dataclass(frozen=True)
class Truth:
    """Labels and evaluation masks of the test scenes: what every method's test detections are scored on."""

    test: list[np.ndarray]
    test_masks: list[np.ndarray | None]

    @classmethod
    def of(cls, test: Sequence[Scene], eval_mask: str) -> Truth:
        return cls([s.labels for s in test], [evaluation_mask(s.stack, eval_mask) for s in test])


@dataclass
class SettingCurve:
    setting: str
    runs: list[dict]
    aggregation: str
    by_k: dict[int, MethodResult]  # K -> the top-K ensemble (K = 1 is the single best run)
    test_scores: dict[int, list[np.ndarray]]  # K -> score map per test scene
    thresholds: dict[int, float]
    test: list[Scene]
    # K -> the same ensemble after the object filter (train.objects); empty when not asked for
    by_k_objects: dict[int, MethodResult] = field(default_factory=dict)
    object_filter: Any = None
    object_note: str | None = None  # why there is no object filter
    # K -> how the "+ objects" row's threshold was chosen (train.ensemble.ThresholdChoice: its plateau)
    objects_thresholds: dict[int, Any] = field(default_factory=dict)
    # each run alone at its own threshold, in the order of validation F1 (members[0] is by_k[1])
    members: list[MethodResult] = field(default_factory=list)
    # the K whose top-K ensemble scores best on the validation events (train.ensemble.k_on_validation,
    # what `ensemble build --choose-k` takes), and that validation F1 for every K; None: not computed
    k_chosen: int | None = None
    val_f1_by_k: dict[int, float] = field(default_factory=dict)

    @property
    def single(self) -> MethodResult:
        return self.by_k[1]
