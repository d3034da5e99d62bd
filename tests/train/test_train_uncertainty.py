"""The paired object bootstrap behind the skill intervals (gee_landslide.train.uncertainty)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_bench import load_benchmark

from gee_landslide.train.metrics import confusion
from gee_landslide.train.uncertainty import (
    f1_interval,
    mean_interval,
    paired_difference,
    paired_mean_difference,
    unit_counts,
)


def squares(n: int, size: int = 200, side: int = 6, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A truth map of ``n`` separate squares on a grid (so each is one object) and their corners."""
    truth = np.zeros((size, size), bool)
    step = size // int(np.ceil(np.sqrt(n)))
    corners = [(r, c) for r in range(2, size - side, step) for c in range(2, size - side, step)][:n]
    for r, c in corners:
        truth[r:r + side, c:c + side] = True
    return truth, corners


def finding(truth: np.ndarray, corners: list[tuple[int, int]], keep: set[int], side: int = 6) -> np.ndarray:
    """A detection map that finds exactly the squares whose index is in ``keep``."""
    pred = np.zeros_like(truth)
    for i, (r, c) in enumerate(corners):
        if i in keep:
            pred[r:r + side, c:c + side] = True
    return pred


def test_units_hold_every_counted_error_once():
    rng = np.random.default_rng(1)
    truth = rng.random((60, 60)) > 0.9
    a, b = rng.random((60, 60)) > 0.85, rng.random((60, 60)) > 0.8
    mask = rng.random((60, 60)) > 0.2
    u = unit_counts([a, b], truth, mask)
    for j, p in enumerate((a, b)):
        c = confusion(p, truth, mask)
        assert tuple(u[:, j].sum(axis=0)) == (c.tp, c.fp, c.fn)
    # a pixel outside the mask is in no unit: masking everything leaves nothing to draw
    assert unit_counts([a], truth, np.zeros_like(mask)).shape == (0, 1, 3)


def test_a_unit_is_a_connected_object_of_truth_or_detections():
    truth, corners = squares(4)
    pred = finding(truth, corners, {0, 1})
    pred[100:104, 150:154] = True  # a false object apart from every square
    u = unit_counts([pred], truth, None)
    assert len(u) == 5
    assert sorted(map(tuple, u[:, 0])) == sorted([(36, 0, 0), (36, 0, 0), (0, 0, 36), (0, 0, 36), (0, 16, 0)])


def test_a_method_against_itself_differs_by_exactly_nothing():
    truth, corners = squares(25)
    pred = finding(truth, corners, set(range(0, 25, 2)))
    d = paired_difference([pred], [pred], [truth], [None])
    assert (d.value, d.lo, d.hi) == (0.0, 0.0, 0.0)


def test_a_gap_over_many_objects_is_beyond_noise_and_the_same_gap_over_two_is_not():
    truth, corners = squares(36)
    all_found = finding(truth, corners, set(range(36)))
    half = finding(truth, corners, set(range(18)))
    d = paired_difference([all_found], [half], [truth], [None])
    assert d.value == pytest.approx(1.0 - 2 / 3) and d.lo > 0.15 and not d.contains_zero
    few, few_corners = squares(2)
    d2 = paired_difference([finding(few, few_corners, {0, 1})], [finding(few, few_corners, {0})], [few], [None])
    assert d2.value == pytest.approx(d.value) and d2.contains_zero  # one object more or less: a coin toss


def test_intervals_are_reproducible_and_bracket_the_estimate():
    truth, corners = squares(30)
    pred = finding(truth, corners, set(range(20)))
    pred[150:190, 150:190] |= True  # one large false object
    i1 = f1_interval([pred], [truth], [None])
    i2 = f1_interval([pred], [truth], [None])
    assert i1 == i2 and i1.lo <= i1.value <= i1.hi and i1.hi - i1.lo > 0.05


def test_the_held_out_statistic_is_the_mean_of_per_scene_f1_over_redrawn_scenes():
    t1, c1 = squares(9)
    t2, c2 = squares(16, seed=1)
    p1, p2 = finding(t1, c1, {0, 1, 2}), finding(t2, c2, set(range(16)))
    f1s = [confusion(p, t).f1 for p, t in ((p1, t1), (p2, t2))]
    i = mean_interval(f1s, draws=200)
    assert i.value == pytest.approx(np.mean(f1s))
    # a redraw of two scenes holds scene 1 twice, both once, or scene 2 twice: a quarter of the
    # draws at each end, so the 95 % interval runs from scene 1's F1 to scene 2's
    assert (i.lo, i.hi) == pytest.approx((f1s[0], f1s[1]))
    # paired: the same scenes for both methods, so a method against itself differs by exactly 0,
    # and one better on every scene is better on every draw
    same = paired_mean_difference(f1s, f1s)
    assert (same.value, same.lo, same.hi) == (0.0, 0.0, 0.0)
    better = paired_mean_difference([f + 0.1 for f in f1s], f1s)
    assert better.value == pytest.approx(0.1) and better.lo == pytest.approx(0.1) and not better.contains_zero


def test_methods_need_a_map_per_scene():
    truth, _ = squares(4)
    with pytest.raises(ValueError, match="one map per scene"):
        paired_difference([truth], [truth, truth], [truth], [None])
    with pytest.raises(ValueError, match="one figure per scene"):
        paired_mean_difference([0.5], [0.5, 0.6])
    with pytest.raises(ValueError, match="shape"):
        unit_counts([truth[:10]], truth, None)


def test_bench_skill_calls_a_target_clear_only_when_its_interval_stays_on_one_side(monkeypatch):
    from gee_landslide.train.uncertainty import Interval

    Check = load_benchmark("bench_skill", monkeypatch).Check
    assert Check("met", True, Interval(0.05, 0.01, 0.09)).clear
    assert not Check("met by luck", True, Interval(0.01, -0.02, 0.04)).clear
    assert Check("missed", False, Interval(-0.06, -0.09, -0.03)).clear
    assert not Check("missed by a hair", False, Interval(-0.002, -0.07, 0.10)).clear
    # the S1+S2 check has a margin: -0.007 (-0.131 to +0.091) meets ">= -0.02" but not beyond noise
    assert not Check("s1s2", True, Interval(-0.007, -0.131, 0.091), -0.02).clear
    assert Check("s1s2", True, Interval(0.055, 0.007, 0.093), -0.02).clear
    assert "within noise" in Check("x", False, Interval(-0.002, -0.07, 0.10)).line()
    assert not Check("no maps", True, None).clear


def test_bench_skill_counts_each_distinct_ensemble_once(monkeypatch):
    target_ks = load_benchmark("bench_skill", monkeypatch).target_ks
    assert target_ks(40) == [(10, "K=10"), (20, "K=20")]
    assert target_ks(18) == [(10, "K=10"), (18, "K=18 (all runs; K = 20 asked)")]
    assert target_ks(9) == [(9, "K=9 (all runs; K = 10 and 20 asked)")]  # one ensemble, one set of targets


def test_bench_skill_sets_the_ensembles_against_the_single_best_run_on_the_held_out_mean(monkeypatch):
    from gee_landslide.train.metrics import Counts
    from gee_landslide.train.skill_results import MethodResult, SettingCurve

    bench = load_benchmark("bench_skill", monkeypatch)

    def result(k: int, held_tp: list[int]) -> MethodResult:
        # each held-out scene: 100 landslide pixels, tp of them found, no false ones
        return MethodResult("x", "s1s2", k, 0.5, "validation", Counts(10, 0, 0, 90),
                            heldout=[Counts(tp, 0, 100 - tp, 900) for tp in held_tp])

    single, ens = result(1, [80, 70, 90, 60]), result(9, [85, 75, 95, 58])
    curve = SettingCurve("s1s2", runs=[], aggregation="mean", by_k={1: single, 9: ens}, test_scores={},
                         thresholds={}, test=[], by_k_objects={1: result(1, [90] * 4), 9: result(9, [80] * 4)})
    checks = bench.heldout_against_single([curve], {"s1s2": [(9, "K=9")]})
    assert [ch.ok for ch in checks] == [True, False]  # plain ahead, filtered behind its filtered best run
    assert "held-out mean F1" in checks[0].text and "+ objects" in checks[1].text
    assert checks[0].diff is not None and checks[0].diff.value > 0 > checks[1].diff.value
    assert bench.heldout_against_single([curve], {"s2": [(9, "K=9")]}) == []  # other setting


def test_bootstrap_over_items_brackets_a_proportion_and_skips_undefined_draws():
    from gee_landslide.train.uncertainty import bootstrap_interval

    hits = np.array([1.0] * 7 + [0.0] * 3)  # 7 of 10 landslides found
    i = bootstrap_interval(hits, np.mean)
    assert i.value == pytest.approx(0.7) and 0.3 < i.lo < 0.6 and 0.85 < i.hi <= 1.0
    assert bootstrap_interval(np.repeat(hits, 10), np.mean).hi - bootstrap_interval(np.repeat(hits, 10), np.mean).lo \
        < (i.hi - i.lo) / 2  # ten times the landslides: an interval about a third as wide
    # a median over the alerted ones only: draws with none alerted are undefined and left out
    days = np.array([6.0, 12.0, np.nan, np.nan])
    med = bootstrap_interval(days, lambda d: np.nanmedian(d) if np.isfinite(d).any() else np.nan)
    assert med.value == 9.0 and med.lo == 6.0 and med.hi == 12.0
    empty = bootstrap_interval(np.array([]), np.mean)
    assert np.isnan(empty.lo) and np.isnan(empty.value)


def test_time_to_alert_benchmark_gives_each_season_figure_its_interval(monkeypatch):
    mod = load_benchmark("bench_time_to_alert", monkeypatch)
    # 10 landslides: 9 alerted after 6-24 days, 7 confirmed; 40 alerts of which 10 hit, 8 confirmed of 7 hit
    tta = np.array([6, 6, 12, 12, 12, 18, 18, 24, 24, np.nan])
    s = {"per_slide": {"tta": tta, "confirmed": np.array([1.0] * 7 + [0.0] * 3)},
         "per_alert": {"hit": np.array([1.0] * 10 + [0.0] * 30), "confirmed_hit": np.array([1.0] * 7 + [0.0])}}
    iv = mod.season_intervals(s)
    assert iv["tta_median"].value == 12.0 and iv["tta_median"].lo <= 12.0 <= iv["tta_median"].hi
    assert iv["tta_median"].lo >= 6.0 and iv["tta_median"].hi <= 24.0
    assert iv["recall_first"].value == pytest.approx(0.9) and iv["recall_confirmed"].value == pytest.approx(0.7)
    assert iv["precision_first"].value == pytest.approx(0.25)
    assert iv["precision_confirmed"].value == pytest.approx(7 / 8)
    # on 10 landslides, recall 0.7 cannot tell a 0.8 target met from missed
    assert iv["recall_confirmed"].lo < 0.5 and iv["recall_confirmed"].hi >= 0.9


def test_a_pooled_figure_over_seasons_that_disagree_gets_a_wider_interval_than_its_items_alone():
    from gee_landslide.train.uncertainty import bootstrap_interval, clustered_bootstrap_interval

    good, bad = np.array([1.0] * 19 + [0.0]), np.array([1.0] * 10 + [0.0] * 10)  # recall 0.95 and 0.50
    seasons = [good, bad, good, bad]
    pooled = clustered_bootstrap_interval(seasons, np.mean)
    flat = bootstrap_interval(np.concatenate(seasons), np.mean)
    assert pooled.value == pytest.approx(flat.value) == pytest.approx(0.725)
    assert pooled.hi - pooled.lo > 1.3 * (flat.hi - flat.lo)  # drawing the seasons adds their disagreement
    alike = [good] * 4
    same = clustered_bootstrap_interval(alike, np.mean)
    plain = bootstrap_interval(np.concatenate(alike), np.mean)
    assert abs((same.hi - same.lo) - (plain.hi - plain.lo)) < 0.04  # alike seasons: about the item bootstrap
    assert clustered_bootstrap_interval([good, bad], np.mean, seed=3) == clustered_bootstrap_interval([good, bad], np.mean, seed=3)
    assert np.isnan(clustered_bootstrap_interval([np.array([])], np.mean).value)


def test_time_to_alert_benchmark_pools_seasons_over_their_landslides_and_alerts(monkeypatch):
    mod = load_benchmark("bench_time_to_alert", monkeypatch)

    def season(tta, confirmed, hit, chit, cancelled):
        tta = np.array(tta, float)
        return {"SAR-first": {"landslides": len(tta), "alerted": int(np.isfinite(tta).sum()), "alerts": len(hit),
                              "confirmed": len(chit), "cancelled": cancelled,
                              "tta_median": float(np.nanmedian(tta)), "precision_confirmed": float(np.mean(chit)),
                              "recall_confirmed": float(np.mean(confirmed)),
                              "per_slide": {"tta": tta, "confirmed": np.array(confirmed, float)},
                              "per_alert": {"hit": np.array(hit, float), "confirmed_hit": np.array(chit, float),
                                            "confirmed_route": ["Sentinel-2"] * len(chit)}}}

    a = season([3, 3, 9, np.nan], [1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1], 2)  # P conf 1.00, R conf 0.75
    b = season([6, 12], [1, 0], [1, 0, 0, 0], [1, 0], 1)  # P conf 0.50, R conf 0.50
    p = mod.pooled_scores([a, b])["SAR-first"]
    assert (p["seasons"], p["landslides"], p["alerted"], p["alerts"], p["confirmed"], p["cancelled"]) == (2, 6, 5, 10, 5, 3)
    assert p["precision_confirmed"].value == pytest.approx(4 / 5)  # over all confirmed alerts, not the mean of 1.0 and 0.5
    assert p["recall_confirmed"].value == pytest.approx(4 / 6)
    assert p["recall_first"].value == pytest.approx(5 / 6) and p["precision_first"].value == pytest.approx(4 / 10)
    assert p["tta_median"].value == 6.0  # the median of 3, 3, 6, 9, 12 (the alerted ones)
    assert p["per_season"]["precision_confirmed"] == [1.0, 0.5]
    assert p["precision_confirmed"].lo < 0.8 < p["precision_confirmed"].hi


def test_time_to_alert_benchmark_scores_each_pass_alone_against_the_single_pass_target(monkeypatch):
    """Issue #9's single-pass target (object P and R >= 0.7) counted over a season's passes, as
    ``pass.json`` scores them; a pass without landslides cannot reach it, and seasons pool by sum."""
    mod = load_benchmark("bench_time_to_alert", monkeypatch)

    def scores(det, real, truth, found):
        return {"detections": det, "true_detections": real, "truth_objects": truth, "found_objects": found,
                "precision": real / det if det else 0.0, "recall": found / truth if truth else 0.0}

    passes = [
        {"object_scores": scores(20, 2, 3, 3), "object_scores_by": {"filter accepts": scores(3, 3, 3, 3)}},  # on target
        {"object_scores": scores(10, 1, 2, 1), "object_scores_by": {"filter accepts": scores(2, 1, 2, 1)}},  # P, R 0.5
        {"object_scores": scores(5, 0, 0, 0), "object_scores_by": {"filter accepts": scores(0, 0, 0, 0)}},  # no landslide
        {"object_scores": scores(4, 4, 4, 4)},  # a pass without the filter: only "all"
    ]
    c = mod.single_pass_counts(passes)
    assert c["filter accepts"] == {"passes": 3, "detections": 5, "real": 4, "landslides": 5, "found": 4,
                                   "passes_with_landslides": 2, "passes_on_target": 1}
    assert c["all"]["passes"] == 4 and c["all"]["passes_with_landslides"] == 3 and c["all"]["passes_on_target"] == 1
    assert (c["all"]["detections"], c["all"]["real"]) == (39, 7)
    text = mod.single_pass_text(c)
    assert "P 0.80 (4 of 5 real), R 0.80 (4 of 5 landslide-passes); 1 of 2 passes" in text
    pooled = mod.pooled_single_pass([c, c])
    assert pooled["filter accepts"]["detections"] == 10 and pooled["filter accepts"]["passes_on_target"] == 2
    assert mod.single_pass_text({}) == "no pass scored against truth"


def test_time_to_alert_benchmark_counts_an_alert_grown_over_a_landslide_as_its_first_notice(monkeypatch, tmp_path):
    """A landslide beside an older alert is first alerted by that alert growing over it: the benchmark
    counts it as noticed then (subscribers are told), while the first *new* alert misses it."""
    import datetime as dt
    import json
    from types import SimpleNamespace

    from shapely.geometry import box

    from gee_landslide.monitor.alert_gpkg import write_alerts
    from gee_landslide.monitor.alert_record import Alert
    from gee_landslide.monitor.alerts import to_lonlat

    mod = load_benchmark("bench_time_to_alert", monkeypatch)
    crs = "EPSG:32632"
    first, second = box(330_000, 6_820_000, 330_100, 6_820_100), box(330_100, 6_820_000, 330_250, 6_820_100)
    slides = [SimpleNamespace(id="a", onset=dt.date(2025, 6, 25), polygon=lambda: first),
              SimpleNamespace(id="b", onset=dt.date(2025, 7, 3), polygon=lambda: second)]
    footprint = to_lonlat(first.union(second), crs)
    alert = Alert(alert_id="sim-1", region="sim", status="updated", stage="candidate", sensors="S1", revision=2,
                  first_seen="2025-07-01T06:00:00Z", last_seen="2025-07-07T06:00:00Z", pre_start="2025-04-09",
                  pre_end="2025-06-07", post_start="2025-06-08", post_end="2025-07-07", area_m2=25_000.0,
                  mean_prob=0.8, peak_prob=0.9, agreement=None, spread=None, mean_slope_deg=None, landcover=None,
                  centroid_lon=footprint.centroid.x, centroid_lat=footprint.centroid.y, model_version="m",
                  threshold=0.5, quicklook="", geometry=footprint, detections=2, grown_on="2025-07-07T06:00:00Z")
    paths = SimpleNamespace(alerts=tmp_path / "alerts", monitor=tmp_path / "monitor")
    paths.alerts.mkdir()
    write_alerts(paths.alerts / "alerts.gpkg", [alert])
    for day, lists in (("2025-07-01", {"new": ["sim-1"]}), ("2025-07-07", {"grown": ["sim-1"]})):
        (paths.monitor / "sim" / day).mkdir(parents=True)
        summary = {"alerts": {"new": [], "updated": [], "confirmed": [], "cancelled": [], "grown": [], **lists}}
        (paths.monitor / "sim" / day / "pass.json").write_text(json.dumps(summary))
    s = mod.score(SimpleNamespace(paths=paths), slides, dt.date(2025, 6, 1), crs)
    assert (s["alerted"], s["tta_median"]) == (1, 6.0)  # "b" happened after the alert's first pass
    assert (s["noticed"], s["notice_median"]) == (2, 5.0)  # ... and the growth told of it 4 days later


def test_time_to_alert_benchmark_says_what_confirmed_each_alert_and_whether_it_was_real(monkeypatch, tmp_path):
    """Confirmed alerts are counted by their route (a second Sentinel-2 look, Sentinel-1 persistence),
    each with how many lie over a landslide, per season and summed over seasons: the routes have their
    own thresholds and filters, so a change must say which route it moved."""
    import dataclasses
    import datetime as dt
    import json
    from types import SimpleNamespace

    from shapely.geometry import box

    from gee_landslide.monitor.alert_gpkg import write_alerts
    from gee_landslide.monitor.alert_record import CONFIRMED_BY_PERSISTENCE, CONFIRMED_BY_S2, Alert
    from gee_landslide.monitor.alerts import to_lonlat

    mod = load_benchmark("bench_time_to_alert", monkeypatch)
    crs = "EPSG:32632"
    slide = box(330_000, 6_820_000, 330_100, 6_820_100)
    slides = [SimpleNamespace(id="a", onset=dt.date(2025, 6, 25), polygon=lambda: slide)]

    def alert(aid: str, geom, by: str) -> Alert:
        fp = to_lonlat(geom, crs)
        return Alert(alert_id=aid, region="sim", status="updated", stage="confirmed", sensors="S1", revision=2,
                     first_seen="2025-07-01T06:00:00Z", last_seen="2025-07-07T06:00:00Z", pre_start="2025-04-09",
                     pre_end="2025-06-07", post_start="2025-06-08", post_end="2025-07-07", area_m2=10_000.0,
                     mean_prob=0.8, peak_prob=0.9, agreement=None, spread=None, mean_slope_deg=None, landcover=None,
                     centroid_lon=fp.centroid.x, centroid_lat=fp.centroid.y, model_version="m", threshold=0.5,
                     quicklook="", geometry=fp, detections=4, confirmed_by=by)

    far = box(331_000, 6_821_000, 331_100, 6_821_100)
    alerts = [alert("sim-1", slide, CONFIRMED_BY_S2), alert("sim-2", far, CONFIRMED_BY_PERSISTENCE),
              alert("sim-3", slide, CONFIRMED_BY_PERSISTENCE)]
    alerts.append(dataclasses.replace(alert("sim-4", far, ""), stage="candidate"))  # not confirmed: not counted
    paths = SimpleNamespace(alerts=tmp_path / "alerts", monitor=tmp_path / "monitor")
    paths.alerts.mkdir()
    write_alerts(paths.alerts / "alerts.gpkg", alerts)
    (paths.monitor / "sim" / "2025-07-07").mkdir(parents=True)
    summary = {"alerts": {"new": ["sim-1", "sim-2", "sim-3", "sim-4"], "updated": [], "confirmed": [],
                          "cancelled": [], "grown": []}}
    (paths.monitor / "sim" / "2025-07-07" / "pass.json").write_text(json.dumps(summary))
    s = mod.score(SimpleNamespace(paths=paths), slides, dt.date(2025, 6, 1), crs)
    assert s["confirmed_by"] == {CONFIRMED_BY_S2: {"alerts": 1, "real": 1},
                                 CONFIRMED_BY_PERSISTENCE: {"alerts": 2, "real": 1}}
    assert mod.confirmed_by_text(s["confirmed_by"]) == "Sentinel-1 persistence 2 (1 real), Sentinel-2 1 (1 real)"
    pooled = mod.pooled_scores([{"SAR-first": s}, {"SAR-first": s}])["SAR-first"]
    assert pooled["confirmed_by"][CONFIRMED_BY_PERSISTENCE] == {"alerts": 4, "real": 2}
    assert mod.confirmed_by_text({}) == "none"
