"""Object-level second stage: keep a detected object only if it looks like a landslide.

Why. On the test event norway-5 the best S2 run found 1,709 of 1,942 landslide pixels, and
its 1,194 false pixels were mostly in *whole false objects*, not on the edges of true ones:
196 false pixels within 3 px of a landslide against 998 farther away, nearly all in a 277 px
fresh clear-cut (a rotated rectangle in forest, dNDVI -0.56) and a 920 px patch of diffuse
NDVI loss that swallowed two small slides. The dNDVI rule and boosted trees make the same
mistakes (P 0.60 and 0.63): these are real vegetation losses, so no per-pixel threshold can
reject them. What sets them apart is what a photo-interpreter looks at: shape (rectangular,
compact, not elongated down the fall line), setting (flat forest, tall trees around) and
contrast with the surroundings.

How. Each connected object (8-connected) of a model's binary map gets the features of
:data:`FEATURES` (shape, terrain, tree height and land cover, the change bands inside and in a
ring around it, the model's probability). A gradient-boosted trees classifier (scikit-learn's
``HistGradientBoostingClassifier``) learns ``object is mostly landslide`` from the objects the
setting's runs detect on the **training** events (every run's map at its own threshold, so the
filter sees the shapes all ensembles produce; objects weighted by the square root of their
area). Where runs left training events out (``member_events_out``), only each run's maps of the
events it left out: maps of ground the run never trained on, as monitoring's are
(:func:`fit_object_filter`). The probability below which an object is dropped is chosen on out-of-fold predictions
over the training events (grouped by event) plus the validation events, the highest of those
within 0.01 F1 of the best (:func:`plateau_top`): never the test event nor the held-out scenes.

The filter uses only the setting's change bands (no dVH for S2), plus terrain (elevation,
slope), tree height and land cover, which monitoring reads anyway for its slope and cover
filters. It is refitted from the stacks in seconds, like the baselines, so no fitted estimator is
ever written to or read from disk. An ensemble keeps the filter's *training table* instead
(``objects.npz``: features, labels and weights, read with ``allow_pickle=False``, its SHA-256 in
the manifest) and refits the same deterministic classifier when it loads (under a second).
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage
from sklearn.model_selection import GroupKFold

from gee_landslide.core.atomic import write_bytes_atomic
from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.bands import setting as get_setting
from gee_landslide.train import grouped
from gee_landslide.train.data import Scene
from gee_landslide.train.evidence import RING_PX  # the same ring as the contrast check
from gee_landslide.train.metrics import Counts, confusion, evaluation_mask
from gee_landslide.train.runs import sha256_bytes
from gee_landslide.train.weighted_bins import WeightedBinnedBoosting

FOREST, HERBACEOUS = 2, 3  # land-cover codes (core.landcover): clear-cuts are in forest
TRUTH_SHARE = 0.5  # an object is a landslide when at least half its pixels are
OBJECTS_TABLE_KEYS = ("X", "y", "w")  # the arrays of an ensemble's objects.npz
# features are rounded to 1e-9: a last-bit difference (another BLAS in np.cov, the sum order of a
# mean) otherwise changed the trees and the reported F1 by up to 0.017 (bench_skill on the demo's
# runs, per-object against vectorised features: elongation differing by 3e-14). Rounded, both
# gave identical figures
FEATURE_DECIMALS = 9
THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.0, 0.91, 0.05))
FOLDS = 4
PLATEAU_F1 = 0.01  # fit F1 this close to the best counts as equally good (ObjectFilter.plateau)
# which runs' maps of the training events the filter learned from (fit_object_filter)
EVERY_MAP, OUT_OF_BAG = "every run's maps", "out-of-bag maps"

SHAPE_FEATURES = ("log_area", "elongation", "rectangle_fill", "downslope_alignment", "bbox_px")
TERRAIN_FEATURES = ("slope_median", "elevation_std", "tree_height_median", "ring_tree_height_median",
                    "forest_share", "herbaceous_share")
OPTICAL_FEATURES = ("dNDVI_median", "dNDVI_p10", "ring_dNDVI_median", "dNDVI_contrast", "dNDVI_missing_share",
                    "dNDVI_iqr", "dNDVI_edge_step")
SAR_FEATURES = ("dVH_median", "ring_dVH_median")
SCORE_FEATURES = ("prob_mean", "prob_max")


class ObjectFilterError(ValueError):
    """The training events give nothing to learn an object filter from."""


class ObjectTableDigestError(ObjectFilterError):
    """A stored object table is not the one its record names (changed or swapped)."""


def feature_names(setting: str) -> tuple[str, ...]:
    """The features of a setting's filter: a change band enters only if the setting has it."""
    bands = {BAND_NAMES[i] for i in get_setting(setting).band_indices}
    out = SHAPE_FEATURES + TERRAIN_FEATURES
    if "dNDVI" in bands:
        out += OPTICAL_FEATURES
    if "dVH" in bands:
        out += SAR_FEATURES
    return out + SCORE_FEATURES


def label_objects(pred: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected objects of a binary map (labels 1..n)."""
    lab, n = ndimage.label(np.asarray(pred, bool), structure=np.ones((3, 3), bool))
    return lab, int(n)


def _shapes(lab: np.ndarray, slices: Sequence[tuple[slice, slice]], area: np.ndarray,
            grad_y: np.ndarray, grad_x: np.ndarray) -> np.ndarray:
    """``(n, 3)``: each object's elongation (sqrt of the inertia eigenvalue ratio), fill of its
    minimum rotated rectangle (1 = a rectangle, as clear-cuts are) and |cos| between its long
    axis and the fall line (the mean elevation gradient inside it). Objects under 3 pixels get
    ``(1, 1, 0)``. All objects at once: coordinates relative to each object's bounding box
    (``slices``, from ``ndimage.find_objects``), covariances from per-object sums over ``area``
    pixels, shapely's vectorised rectangles."""
    ys, xs = np.nonzero(lab)
    lab_px = lab[ys, xs]
    order = np.argsort(lab_px, kind="stable")  # row-major within each object
    ys, xs, lab_px = ys[order], xs[order], lab_px[order]
    idx = lab_px - 1
    n = len(slices)
    y0 = np.array([sl[0].start for sl in slices])
    x0 = np.array([sl[1].start for sl in slices])
    yy, xx = (ys - y0[idx]).astype(np.float64), (xs - x0[idx]).astype(np.float64)
    my, mx = np.bincount(idx, yy, n) / area, np.bincount(idx, xx, n) / area
    dy, dx = yy - my[idx], xx - mx[idx]
    dof = np.maximum(area - 1, 1)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = np.bincount(idx, dy * dy, n) / dof + 1e-6
    cov[:, 1, 1] = np.bincount(idx, dx * dx, n) / dof + 1e-6
    cov[:, 0, 1] = cov[:, 1, 0] = np.bincount(idx, dy * dx, n) / dof
    ev, evec = np.linalg.eigh(cov)
    elong = np.sqrt(ev[:, 1] / np.maximum(ev[:, 0], 1e-6))
    rects = shapely.oriented_envelope(shapely.multipoints(np.column_stack([xx, yy]), indices=idx))
    fill = area / np.maximum(shapely.area(shapely.buffer(rects, 0.5, quad_segs=16, join_style="mitre")), 1.0)
    g = np.hypot(grad_y, grad_x)
    with np.errstate(invalid="ignore", divide="ignore"):
        align = np.where(g > 0, np.abs(evec[:, 0, 1] * grad_y + evec[:, 1, 1] * grad_x) / g, 0.0)
    small = area < 3
    return np.column_stack([np.where(small, 1.0, elong), np.where(small, 1.0, fill), np.where(small, 0.0, align)])


def object_features(stack15: np.ndarray, prob: np.ndarray, pred: np.ndarray,
                    setting: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, X)``: the object labels of ``pred`` and one row of :func:`feature_names` per object.

    Every statistic is computed for all objects at once (:mod:`gee_landslide.train.grouped`):
    object by object it was ~200 NumPy calls per object, most of a report's time."""
    names = feature_names(setting)
    lab, n = label_objects(pred)
    if n == 0:
        return lab, np.zeros((0, len(names)))
    band = {b: np.asarray(stack15[BAND_NAMES.index(b)], np.float64) for b in
            ("dNDVI", "dVH", "slope", "elevation", "tree_height", "CART_LC_classified")}
    gy, gx = np.gradient(np.nan_to_num(band["elevation"]))
    near = ndimage.binary_dilation(lab > 0, iterations=RING_PX[0])
    far = ndimage.binary_dilation(lab > 0, iterations=RING_PX[1])
    _, (iy, ix) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    ring_lab = np.where(far & ~near, lab[iy, ix], 0)  # each ring pixel goes to its nearest object
    # a scar ends at a sharp edge; residual cloud or shadow in a composite fades out: the step in
    # dNDVI from an object's outermost pixels to the pixel just outside tells them apart
    edge_out = np.where(ndimage.binary_dilation(lab > 0, structure=np.ones((3, 3), bool)) & (lab == 0), lab[iy, ix], 0)
    edge_in = np.where(ndimage.binary_erosion(lab > 0, structure=np.ones((3, 3), bool), border_value=1), 0, lab)

    area = grouped.count(lab, n)
    slices = ndimage.find_objects(lab)
    bbox = np.array([(sl[0].stop - sl[0].start) * (sl[1].stop - sl[1].start) for sl in slices], np.float64)
    shapes = _shapes(lab, slices, area, grouped.nanmean(lab, gy, n), grouped.nanmean(lab, gx, n))
    lc = band["CART_LC_classified"]
    d_in = grouped.Groups(lab, band["dNDVI"], n)
    d_q = d_in.percentiles((10, 25, 75))
    d_count = grouped.count(lab, n, np.isfinite(band["dNDVI"]))
    prob = np.asarray(prob, np.float64)
    f = {"log_area": np.log(area), "elongation": shapes[:, 0], "rectangle_fill": shapes[:, 1],
         "downslope_alignment": shapes[:, 2], "bbox_px": bbox,
         "slope_median": grouped.Groups(lab, band["slope"], n).median(),
         "elevation_std": np.where(area > 1, grouped.nanstd(lab, band["elevation"], n), 0.0),
         "tree_height_median": grouped.Groups(lab, band["tree_height"], n).median(),
         "ring_tree_height_median": grouped.Groups(ring_lab, band["tree_height"], n).median(),
         "forest_share": grouped.count(lab, n, lc == FOREST) / area,
         "herbaceous_share": grouped.count(lab, n, lc == HERBACEOUS) / area,
         "prob_mean": grouped.nanmean(lab, prob, n), "prob_max": grouped.Groups(lab, prob, n).max(),
         "dNDVI_median": d_in.median(), "dNDVI_p10": d_q[:, 0],
         "ring_dNDVI_median": grouped.Groups(ring_lab, band["dNDVI"], n).median(),
         "dNDVI_missing_share": 1.0 - d_count / area, "dNDVI_iqr": d_q[:, 2] - d_q[:, 1],
         "dNDVI_edge_step": (grouped.Groups(edge_out, band["dNDVI"], n).median()
                             - grouped.Groups(edge_in, band["dNDVI"], n).median()),
         "dVH_median": grouped.Groups(lab, band["dVH"], n).median(),
         "ring_dVH_median": grouped.Groups(ring_lab, band["dVH"], n).median()}
    f["dNDVI_contrast"] = f["dNDVI_median"] - f["ring_dNDVI_median"]
    return lab, np.round(np.column_stack([np.asarray(f[k], np.float64) for k in names]), FEATURE_DECIMALS)


@dataclass
class Candidates:
    """One binary map's objects on a labelled scene: what the filter trains and is scored on."""

    scene: Scene
    pred: np.ndarray
    labels: np.ndarray
    X: np.ndarray
    truth_share: np.ndarray

    @classmethod
    def of(cls, scene: Scene, prob: np.ndarray, threshold: float, setting: str) -> Candidates:
        pred = np.asarray(prob) > threshold
        lab, X = object_features(scene.stack, prob, pred, setting)
        share = (ndimage.mean(scene.labels.astype(np.float64), lab, np.arange(1, len(X) + 1))
                 if len(X) else np.zeros(0))
        return cls(scene, pred, lab, X, np.asarray(share, np.float64))


def kept(pred: np.ndarray, labels: np.ndarray, object_prob: np.ndarray, threshold: float) -> np.ndarray:
    """``pred`` without the objects whose landslide probability is below ``threshold``."""
    drop = np.concatenate([[False], np.asarray(object_prob) < threshold])
    return np.asarray(pred, bool) & ~drop[labels]


def _counts(cands: Sequence[Candidates], probs: Sequence[np.ndarray], threshold: float, eval_mask: str) -> Counts:
    return sum((confusion(kept(c.pred, c.labels, p, threshold), c.scene.labels,
                          evaluation_mask(c.scene.stack, eval_mask)) for c, p in zip(cands, probs, strict=True)),
               Counts())


def _classifier() -> WeightedBinnedBoosting:
    # shallow, strongly regularised: a few thousand correlated objects from ~16 events; binned by
    # weighted quantiles up front, which is what sklearn does, ~10x faster (weighted_bins)
    return WeightedBinnedBoosting(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                  min_samples_leaf=20, random_state=0)


@dataclass
class ObjectFilter:
    """A fitted object classifier and the probability below which objects are dropped."""

    setting: str
    threshold: float = 0.0
    fit_f1: float = float("nan")  # pixel F1 at ``threshold``: out-of-fold train + validation
    unfiltered_f1: float = float("nan")
    fitted_on: tuple[str, ...] = ()
    objects: int = 0
    maps: str = EVERY_MAP  # which maps of the training events it learned from (fit_object_filter)
    model: WeightedBinnedBoosting | None = field(default=None, repr=False)
    table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    # threshold -> pixel F1 (out-of-fold train + validation) of every candidate: how sharp the choice was
    fit_curve: dict[float, float] = field(default_factory=dict, repr=False)

    @classmethod
    def from_table(cls, setting: str, X: np.ndarray, y: np.ndarray, w: np.ndarray, threshold: float) -> ObjectFilter:
        """The filter refitted from its saved training table (the same classifier: fixed seed)."""
        X, y, w = np.asarray(X, np.float64), np.asarray(y, bool), np.asarray(w, np.float64)
        names = feature_names(setting)
        if X.ndim != 2 or X.shape[1] != len(names) or len(y) != len(X) or len(w) != len(X):
            raise ObjectFilterError(f"object table of shape {X.shape} with {len(y)} labels and {len(w)} weights "
                                    f"does not match the {len(names)} features of setting {setting!r}")
        if len(np.unique(y)) < 2:
            raise ObjectFilterError("the object table holds one class only")
        return cls(setting, threshold=float(threshold), objects=len(y),
                   model=_classifier().fit(X, y, sample_weight=w), table=(X, y, w))

    def save_table(self, path: Path) -> Path:
        """Write the training table (``X``, ``y``, ``w``) atomically as ``.npz``; returns the path."""
        if self.table is None:
            raise ValueError("object filter not fitted")
        X, y, w = self.table
        buf = io.BytesIO()
        np.savez(buf, X=X, y=y, w=w)
        return write_bytes_atomic(Path(path), buf.getvalue())

    @staticmethod
    def load_table(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return z["X"], z["y"], z["w"]

    @classmethod
    def from_stored_table(cls, setting: str, data: bytes, sha256: str | None, threshold: float) -> ObjectFilter:
        """The filter refitted from a stored table whose SHA-256 its record gives.

        Why the check: the table is the filter's training set, so a changed file would silently
        change which detections become alerts. The ensemble manifests and the filter cache both
        store tables this way; raises :class:`ObjectTableDigestError` on a mismatch and
        :class:`ObjectFilterError` (or ``ValueError``) on an unreadable table.
        """
        if sha256_bytes(data) != sha256:
            raise ObjectTableDigestError(f"object table SHA-256 {sha256_bytes(data)[:16]}... is not the recorded "
                                         f"{str(sha256)[:16]}...")
        return cls.from_table(setting, *cls.load_table(data), threshold)

    def fit(self, train: Sequence[Candidates], val: Sequence[Candidates], eval_mask: str = "visible") -> ObjectFilter:
        """Learn on the training events' objects; choose the threshold on out-of-fold training
        predictions (grouped by event) plus the validation events."""
        train = [c for c in train if len(c.X)]
        if not train:
            raise ObjectFilterError("no detected objects on the training events: nothing to learn an object filter from")
        X = np.vstack([c.X for c in train])
        y = np.concatenate([c.truth_share for c in train]) >= TRUTH_SHARE
        w = np.sqrt(np.exp(X[:, 0]))  # sqrt(area): big objects weigh more, as in pixel F1
        events = np.unique([c.scene.event_id for c in train], return_inverse=True)[1]
        groups = np.concatenate([[events[i]] * len(c.X) for i, c in enumerate(train)])
        if len(np.unique(y)) < 2:
            raise ObjectFilterError("the training objects are all landslides or all not: no object filter to learn")
        oof = np.zeros(len(y))
        folds = min(FOLDS, len(np.unique(groups)))
        if folds >= 2:
            for a, b in GroupKFold(folds).split(X, y, groups):
                if len(np.unique(y[a])) < 2:
                    oof[b] = float(y[a][0])
                    continue
                oof[b] = _classifier().fit(X[a], y[a], sample_weight=w[a]).predict_proba(X[b])[:, 1]
        self.model = _classifier().fit(X, y, sample_weight=w)
        self.table = (X, y, w)
        if folds < 2:
            oof = self.model.predict_proba(X)[:, 1]
        split = np.cumsum([len(c.X) for c in train])[:-1]
        oof_per = np.split(oof, split)
        val_per = [self.object_prob(c.X) for c in val]

        def score(t: float) -> Counts:
            return _counts(train, oof_per, t, eval_mask) + _counts(val, val_per, t, eval_mask)

        f1 = [score(t).f1 for t in THRESHOLDS]
        self.fit_curve = dict(zip(THRESHOLDS, f1, strict=True))
        self.threshold = plateau_top(self.fit_curve)
        self.fit_f1, self.unfiltered_f1 = self.fit_curve[self.threshold], f1[0]
        self.fitted_on = tuple(dict.fromkeys(c.scene.event_id for c in [*train, *val]))
        self.objects = len(y)
        return self

    def object_prob(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError("object filter not fitted")
        return self.model.predict_proba(X)[:, 1] if len(X) else np.zeros(0)

    def apply(self, stack15: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
        """The binary map ``prob > threshold`` with the objects that do not look like landslides removed."""
        pred = np.asarray(prob) > threshold
        lab, X = object_features(stack15, prob, pred, self.setting)
        return kept(pred, lab, self.object_prob(X), self.threshold)

    def apply_members(self, stack15: np.ndarray, probs: np.ndarray, member_thresholds: Sequence[float]) -> np.ndarray:
        """Members' ``(M,H,W)`` probabilities with the objects each member's own map (at its own
        threshold) holds that the filter rejects set to 0: the members' objects judged one by one,
        as the filter was trained, before they are combined."""
        return np.stack([p * self.apply(stack15, p, float(t)) for p, t in zip(probs, member_thresholds, strict=True)])

    def plateau(self, tolerance: float = PLATEAU_F1) -> tuple[float, float] | None:
        """The lowest and highest threshold whose fit F1 is within ``tolerance`` of the best.

        Why: on the demo's S2 runs the curve was flat (0.845-0.847 from 0.05 to 0.45), so the
        argmax moved from 0.80 to 0.05 between two sweeps whose runs differed only in rounding,
        and the held-out F1 with the filter moved with it (0.928 -> 0.851). A wide plateau says
        the choice is not determined by the fitting data; the report prints it.
        """
        return plateau_range(self.fit_curve, tolerance) if self.fit_curve else None

    def describe(self) -> str:
        flat = self.plateau()
        return (f"object filter ({self.setting}): {self.objects} training objects ({self.maps}), drops objects with "
                f"p(landslide) < {self.threshold:.2f} (pixel F1 out-of-fold train + validation "
                f"{self.unfiltered_f1:.3f} -> {self.fit_f1:.3f}"
                + (f"; within {PLATEAU_F1} of it from {flat[0]:.2f} to {flat[1]:.2f}" if flat else "") + ")")


def plateau_range(curve: dict[float, float], tolerance: float = PLATEAU_F1) -> tuple[float, float]:
    """The lowest and highest threshold of ``curve`` (threshold -> fit F1) whose F1 is within
    ``tolerance`` of the best: the range the fitting data cannot rank (:meth:`ObjectFilter.plateau`)."""
    if not curve:
        raise ValueError("empty fit curve: no threshold to choose")
    best = max(curve.values())
    near = [t for t, f in curve.items() if f >= best - tolerance]
    return min(near), max(near)


def plateau_top(curve: dict[float, float], tolerance: float = PLATEAU_F1) -> float:
    """The highest threshold of ``curve`` (threshold -> fit F1) whose F1 is within ``tolerance`` of
    the best.

    Why the top and not the argmax: the fitting events cannot tell the plateau's thresholds apart
    (on four of the five filters of two demos, with and without the edge weight, the fit F1 stayed
    within 0.01 of its best from 0.05 to 0.90), but a monitored region can. The training events
    are drawn around landslides, so 18-44 % of the objects their runs detect are landslides (56-74 %
    weighted by area), while a region's passes detect mostly clear-cuts, snow and noise (precision
    at first alert 0.01-0.07 on the `monitor/norway` season): with landslides that much rarer, a
    classifier's best threshold rises (the prior-shift correction of Saerens et al. 2002). The
    argmax, ties broken towards the lowest, kept whatever the fit's noise put first: 0.25 for the
    edge-weighted S1+S2 runs of a demo on a 2-core AMD EPYC, whose filter then let a fresh
    clear-cut and two patches of weak change be confirmed over that season (docs/experiments.md,
    issue #9). The top costs at most ``tolerance`` of fit F1.
    """
    return plateau_range(curve, tolerance)[1]


def out_of_bag_maps(trained_on: Sequence[Collection[str]] | None, train: Sequence[Scene]) -> list[tuple[int, Scene]]:
    """The (run index, training scene) pairs where the run did not train on the scene: its out-of-bag
    maps (``trained_on``: each run's training events; none without it or when every run saw every event)."""
    if trained_on is None:
        return []
    return [(i, s) for i, events in enumerate(trained_on) for s in train if s.event_id not in set(events)]


def filter_maps(trained_on: Sequence[Collection[str]] | None, train: Sequence[Scene],
                n_runs: int) -> list[tuple[int, Scene]]:
    """The (run index, training scene) maps an object filter learns from: the runs' out-of-bag maps
    where they left events out (:func:`out_of_bag_maps`), else every run's map of every training event.

    Callers predict exactly these (:func:`gee_landslide.train.predictions.pair_probs`): with 9 runs
    that each left 2 of 16 events out, 18 maps instead of 144."""
    return out_of_bag_maps(trained_on, train) or [(i, s) for i in range(n_runs) for s in train]


def fit_object_filter(setting: str, thresholds: Sequence[float], train_maps: Mapping[tuple[int, str], np.ndarray],
                      train: Sequence[Scene], val_probs: dict[str, np.ndarray], val: Sequence[Scene],
                      eval_mask: str = "visible", trained_on: Sequence[Collection[str]] | None = None) -> ObjectFilter:
    """Fit a setting's filter from its runs' maps on the training and the validation events, each
    run's map taken at its own threshold (``thresholds``, M of them). ``train_maps`` holds the
    training maps as ``{(run index, event id): (H,W) probabilities}``, at least those
    :func:`filter_maps` names; ``val_probs`` the validation maps as ``{event id: (M,H,W)}``
    (:func:`gee_landslide.train.predictions.member_probs`).

    ``trained_on`` (each run's training events): where runs left training events out
    (``member_events_out``), the filter learns only from their maps of the events they left out,
    the way a stacked second stage learns from its first stage's out-of-sample output. Why: a run's
    map of an event it trained on is cleaner than any map it makes of new ground (on the demo's
    S1+S2 runs 21 % of in-sample objects are landslides against 13 % out of bag), so a filter
    trained on those maps is too sure of the objects monitoring meets: scored on held-out events'
    out-of-bag objects at its 0.9 cut-off it kept 19 false and 93 real ones, trained on out-of-bag
    objects alone 6 and 102 (grouped by event; docs/experiments.md, session 44). Without left-out
    events every map is used, as before.
    """
    oob = out_of_bag_maps(trained_on, train)
    pairs = filter_maps(trained_on, train, len(thresholds))
    missing = [f"run {i + 1} on {s.event_id}" for i, s in pairs if (i, s.event_id) not in train_maps]
    if missing:
        raise ValueError(f"fit_object_filter: no training map for {', '.join(missing)}")
    fitted = ObjectFilter(setting).fit(
        [Candidates.of(s, train_maps[(i, s.event_id)], float(thresholds[i]), setting) for i, s in pairs],
        [Candidates.of(s, val_probs[s.event_id][i], float(t), setting) for i, t in enumerate(thresholds) for s in val],
        eval_mask)
    fitted.maps = OUT_OF_BAG if oob else EVERY_MAP
    return fitted
