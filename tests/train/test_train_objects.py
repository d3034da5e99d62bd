"""The object filter: shape features, learning to drop clear-cut-like objects, honest threshold choice."""

from __future__ import annotations

import numpy as np
import pytest

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.train.data import Scene
from gee_landslide.train.objects import (
    PLATEAU_F1,
    Candidates,
    ObjectFilter,
    ObjectFilterError,
    feature_names,
    filter_maps,
    fit_object_filter,
    object_features,
    plateau_top,
)

H = W = 96


def _base(rng: np.random.Generator) -> np.ndarray:
    """A forested slope falling to the east (elevation decreases with x), with noise."""
    st = np.full((len(BAND_NAMES), H, W), np.nan, np.float32)
    _, xx = np.mgrid[:H, :W]
    st[BAND_NAMES.index("elevation")] = 800.0 - 6.0 * xx
    st[BAND_NAMES.index("slope")] = 30.0
    st[BAND_NAMES.index("tree_height")] = 15.0
    st[BAND_NAMES.index("CART_LC_classified")] = 2
    st[BAND_NAMES.index("dNDVI")] = rng.normal(0.0, 0.03, (H, W))
    st[BAND_NAMES.index("dVH")] = rng.normal(0.0, 0.3, (H, W))
    st[BAND_NAMES.index("layover")] = 0
    st[BAND_NAMES.index("shadow")] = 0
    return st


def _scene(seed: int, streaks: int = 3, cuts: int = 2) -> tuple[Scene, np.ndarray]:
    """Streaks down the fall line are landslides (labelled); compact rectangles are clear-cuts
    (real vegetation loss, not labelled). Both lower dNDVI the same; returns the scene and a
    probability map that fires on both, as a model does."""
    rng = np.random.default_rng(seed)
    st = _base(rng)
    lab = np.zeros((H, W), np.uint8)
    change = np.zeros((H, W), bool)
    rows = rng.permutation(np.arange(6, H - 10, 12))[: streaks + cuts]
    for i, r in enumerate(rows):
        c0 = int(rng.integers(4, W // 2))
        if i < streaks:  # 3 px wide, 28-40 px long, along x (downhill)
            length = int(rng.integers(28, 40))
            lab[r:r + 3, c0:c0 + length] = 1
            change[r:r + 3, c0:c0 + length] = True
        else:  # 8-10 px squares
            s = int(rng.integers(8, 11))
            change[r:r + s, c0:c0 + s] = True
            st[BAND_NAMES.index("tree_height"), r:r + s, c0:c0 + s] = 0.5
    st[BAND_NAMES.index("dNDVI")][change] -= 0.45
    prob = np.where(change, 0.9, 0.05).astype(np.float32)
    return Scene(f"ev-{seed}", st, lab), prob


def test_features_tell_a_rectangle_from_a_streak_down_the_fall_line():
    st = _base(np.random.default_rng(0))
    pred = np.zeros((H, W), bool)
    pred[10:20, 10:20] = True  # square
    pred[50:53, 10:50] = True  # streak along x = downhill
    prob = pred.astype(np.float32)
    lab, X = object_features(st, prob, pred, "s2")
    names = feature_names("s2")
    sq, sk = X[lab[15, 15] - 1], X[lab[51, 30] - 1]
    col = names.index
    assert sq[col("rectangle_fill")] > 0.9
    assert sk[col("elongation")] > 5 * sq[col("elongation")]
    assert sk[col("downslope_alignment")] > 0.95
    assert sq[col("tree_height_median")] == pytest.approx(15.0)


def test_shape_features_of_all_objects_at_once_equal_each_objects_own():
    """The vectorised shapes (train.grouped, shapely's array functions) against one object at a time:
    np.cov's inertia, shapely's rotated rectangle of the pixel centres grown by half a pixel."""
    from scipy import ndimage
    from shapely.geometry import MultiPoint

    rng = np.random.default_rng(4)
    st = _base(rng)
    pred = ndimage.binary_opening(rng.random((H, W)) < 0.35) | (rng.random((H, W)) < 0.02)
    pred[88:, :] = False
    pred[91, 5:12] = True  # one-pixel lines: the rotated rectangle degenerates to a line, buffered
    pred[np.arange(89, 95), np.arange(20, 26)] = True
    prob = rng.random((H, W)).astype(np.float32)
    lab, X = object_features(st, prob, pred, "s2")
    col = feature_names("s2").index
    gy, gx = np.gradient(st[BAND_NAMES.index("elevation")].astype(np.float64))
    assert len(X) > 30
    for i, sl in enumerate(ndimage.find_objects(lab)):
        o = lab[sl] == i + 1
        yy, xx = np.nonzero(o)
        row = X[i]
        assert row[col("bbox_px")] == o.size and np.exp(row[col("log_area")]) == pytest.approx(len(yy))
        assert row[col("prob_max")] == pytest.approx(prob[sl][o].max(), abs=1e-9)
        if len(yy) < 3:
            assert (row[col("elongation")], row[col("rectangle_fill")], row[col("downslope_alignment")]) == (1, 1, 0)
            continue
        ev, evec = np.linalg.eigh(np.cov(np.vstack([yy, xx])) + 1e-6 * np.eye(2))
        rect = MultiPoint(np.column_stack([xx, yy]).astype(float)).minimum_rotated_rectangle
        grad = np.array([gy[sl][o].mean(), gx[sl][o].mean()])
        assert row[col("elongation")] == pytest.approx(np.sqrt(ev[1] / max(ev[0], 1e-6)), abs=1e-8)
        assert row[col("rectangle_fill")] == pytest.approx(len(yy) / max(rect.buffer(0.5, join_style="mitre").area, 1))
        assert row[col("downslope_alignment")] == pytest.approx(abs(evec[:, 1] @ grad) / np.linalg.norm(grad), abs=1e-9)


def test_a_sharp_edged_scar_has_a_larger_edge_step_than_a_fading_patch():
    """Residual cloud or shadow in a composite lowers dNDVI softly towards its rim; a scar ends at
    an edge. The edge step tells them apart where the medians are alike."""
    st = _base(np.random.default_rng(0))
    st[BAND_NAMES.index("dNDVI")] = 0.0
    d = st[BAND_NAMES.index("dNDVI")]
    d[10:20, 10:40] = -0.4  # scar: sharp edge
    yy, xx = np.mgrid[:H, :W]
    r = np.hypot(yy - 60, xx - 60)
    d[r < 16] = -0.4 * np.clip((16 - r[r < 16]) / 8, 0, 1)  # patch fading out over 8 px
    pred = d < -0.15
    lab, X = object_features(st, np.where(pred, 0.8, 0.1).astype(np.float32), pred, "s2")
    col = feature_names("s2").index
    scar, patch = X[lab[15, 25] - 1], X[lab[60, 60] - 1]
    assert scar[col("dNDVI_edge_step")] == pytest.approx(0.4, abs=1e-6)
    assert patch[col("dNDVI_edge_step")] < 0.15
    assert patch[col("dNDVI_iqr")] > scar[col("dNDVI_iqr")] == pytest.approx(0.0)


def test_filtering_members_zeroes_the_objects_each_member_map_holds_that_the_filter_rejects():
    train = [_scene(s) for s in range(8)]
    val = [_scene(s) for s in range(100, 102)]
    flt = fit_object_filter("s2", [0.5], {(0, sc.event_id): p for sc, p in train}, [sc for sc, _ in train],
                            {sc.event_id: p[None] for sc, p in val}, [sc for sc, _ in val])
    test, prob = _scene(999)
    # member 2 fires on the landslides only; member 1 on everything
    members = np.stack([prob, np.where(test.labels > 0, prob, 0.05).astype(np.float32)])
    out = flt.apply_members(test.stack, members, np.array([0.5, 0.5]))
    lab = test.labels.astype(bool)
    assert out.shape == members.shape
    assert np.array_equal(out[:, lab], members[:, lab])  # landslide objects untouched in both members
    assert (out[0][(prob > 0.5) & ~lab] == 0).all()  # member 1's clear-cuts are gone
    assert np.array_equal(out[1], members[1] * (members[1] > 0.5))


def test_sar_features_only_for_settings_with_sar():
    assert "dVH_median" not in feature_names("s2")
    assert "dVH_median" in feature_names("s1s2")
    assert "dNDVI_median" not in feature_names("s1")


def test_filter_learns_to_drop_clear_cuts_and_keep_landslides():
    train = [_scene(s) for s in range(8)]
    val = [_scene(s) for s in range(100, 102)]
    flt = fit_object_filter("s2", [0.5], {(0, sc.event_id): p for sc, p in train}, [sc for sc, _ in train],
                            {sc.event_id: p[None] for sc, p in val}, [sc for sc, _ in val])
    assert flt.fitted_on == tuple(sc.event_id for sc, _ in [*train, *val])
    assert flt.fit_f1 > flt.unfiltered_f1
    assert flt.fit_curve[flt.threshold] == flt.fit_f1 >= max(flt.fit_curve.values()) - PLATEAU_F1
    assert flt.fit_curve[0.0] == flt.unfiltered_f1
    lo, hi = flt.plateau()
    assert flt.threshold == hi and f"from {lo:.2f} to {hi:.2f}" in flt.describe()
    test, prob = _scene(999)
    kept = flt.apply(test.stack, prob, 0.5)
    raw = prob > 0.5
    lab = test.labels.astype(bool)
    assert kept[lab].all()  # every landslide pixel survives
    assert not (kept & ~lab).any() and (raw & ~lab).any()  # the clear-cuts are gone


def test_runs_that_left_events_out_fit_the_filter_on_their_out_of_bag_maps_only():
    """A subbagged run's map of an event it trained on is cleaner than its maps of new ground; the
    filter must learn from the maps monitoring resembles: each run's maps of the events it left out."""
    from gee_landslide.train.objects import EVERY_MAP, OUT_OF_BAG, label_objects

    scenes = [_scene(s) for s in range(8)]
    train = [sc for sc, _ in scenes]
    val = [_scene(s) for s in range(100, 102)]
    trained_on = [[sc.event_id for sc in train[:4]], [sc.event_id for sc in train[4:]]]

    def clean(sc: Scene, p: np.ndarray) -> np.ndarray:  # fires on the landslides only, as on training ground
        return np.where(sc.labels > 0, p, 0.05).astype(np.float32)

    # run 0 trained on events 0-3 (clean maps there), run 1 on 4-7; each fires on the clear-cuts elsewhere
    probs = {sc.event_id: np.stack([clean(sc, p) if i < 4 else p, p if i < 4 else clean(sc, p)])
             for i, (sc, p) in enumerate(scenes)}
    val_probs = {sc.event_id: np.stack([p, p]) for sc, p in val}
    vals = [sc for sc, _ in val]
    maps = {(r, e): p[r] for e, p in probs.items() for r in range(2)}
    # only the out-of-bag maps are needed: run 0's of events 4-7, run 1's of events 0-3
    needed = {(r, sc.event_id): maps[(r, sc.event_id)] for r, sc in filter_maps(trained_on, train, 2)}
    assert sorted(needed) == sorted([(0, sc.event_id) for sc in train[4:]] + [(1, sc.event_id) for sc in train[:4]])
    oob = fit_object_filter("s2", [0.5, 0.5], needed, train, val_probs, vals, trained_on=trained_on)
    every = fit_object_filter("s2", [0.5, 0.5], maps, train, val_probs, vals)
    with pytest.raises(ValueError, match=f"no training map for run 2 on {train[0].event_id}"):
        fit_object_filter("s2", [0.5, 0.5], {k: v for k, v in needed.items() if k != (1, train[0].event_id)},
                          train, val_probs, vals, trained_on=trained_on)
    n_objects = [[label_objects(probs[sc.event_id][r] > 0.5)[1] for sc in train] for r in range(2)]
    assert oob.maps == OUT_OF_BAG and every.maps == EVERY_MAP and OUT_OF_BAG in oob.describe()
    assert oob.objects == sum(n_objects[0][4:]) + sum(n_objects[1][:4])  # run 0 on 4-7, run 1 on 0-3
    assert every.objects == sum(map(sum, n_objects))
    assert set(oob.fitted_on) == {sc.event_id for sc in [*train, *vals]}
    test, prob = _scene(999)
    kept = oob.apply(test.stack, prob, 0.5)
    assert kept[test.labels > 0].all() and not (kept & (test.labels == 0)).any()  # learned from both kinds
    # runs that all trained on every event have no out-of-bag maps: every map, the same filter as without
    same = fit_object_filter("s2", [0.5, 0.5], maps, train, val_probs, vals, trained_on=[[sc.event_id for sc in train]] * 2)
    assert same.maps == EVERY_MAP and np.array_equal(same.table[0], every.table[0])


def test_no_objects_or_one_class_is_a_clear_error():
    sc, prob = _scene(1)
    empty = Candidates.of(sc, np.zeros_like(prob), 0.5, "s2")
    with pytest.raises(ObjectFilterError, match="no detected objects"):
        ObjectFilter("s2").fit([empty], [])
    only_slides = Candidates.of(sc, np.where(sc.labels > 0, 0.9, 0.0), 0.5, "s2")
    with pytest.raises(ObjectFilterError, match="all landslides or all not"):
        ObjectFilter("s2").fit([only_slides], [])


def _weighted_table(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object-like features: a log area, continuous shape and change values, a few-valued class,
    some missing values; weights sqrt(area) as the filter uses."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(3.0, 1.2, n), rng.normal(0, 1, n), rng.gamma(2.0, 1.0, n),
                         rng.integers(0, 5, n).astype(float), rng.normal(0, 1, n)])
    X[rng.random(n) < 0.05, 4] = np.nan
    y = (X[:, 1] + 0.5 * X[:, 2] + rng.normal(0, 1, n)) > 1.0
    return X, y, np.sqrt(np.exp(X[:, 0]))


@pytest.mark.parametrize("n", [300, 4000])
def test_weighted_binning_gives_the_plain_classifiers_probabilities(n: int) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from gee_landslide.train.weighted_bins import WeightedBinnedBoosting

    X, y, w = _weighted_table(n, n)
    params = dict(max_iter=60, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=20, random_state=0)
    plain = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=w)
    fast = WeightedBinnedBoosting(**params).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(fast.predict_proba(X), plain.predict_proba(X), rtol=0, atol=1e-9)
    X_new, _, _ = _weighted_table(n + 1, 500)  # unseen values go to the same bins
    np.testing.assert_allclose(fast.predict_proba(X_new), plain.predict_proba(X_new), rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="expected 5 features"):
        fast.predict_proba(X[:, :3])


def test_the_threshold_is_the_top_of_the_plateau_not_the_first_maximum():
    """Thresholds the fitting events cannot tell apart (within PLATEAU_F1) are settled towards
    dropping more objects, since a monitored region holds far fewer landslides per detection."""
    flat = {0.0: 0.80, 0.05: 0.900, 0.25: 0.905, 0.5: 0.899, 0.9: 0.896, 0.95: 0.70}
    assert plateau_top(flat) == 0.9  # 0.896 is within 0.01 of the best, 0.905
    assert plateau_top(flat, tolerance=0.005) == 0.25
    assert plateau_top({0.0: 0.5, 0.3: 0.9, 0.6: 0.85}) == 0.3  # a clear peak stays the choice
    with pytest.raises(ValueError, match="empty fit curve"):
        plateau_top({})
