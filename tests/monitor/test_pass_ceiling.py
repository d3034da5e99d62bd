"""The ceiling of a ranking of a pass's candidates (monitor.evaluate.ranking_ceiling, truth_hits) and
the scores benchmarks/bench_pass_ceiling.py ranks them by."""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers_bench import load_benchmark

from gee_landslide.monitor.evaluate import ranking_ceiling, truth_hits


def test_the_ceiling_is_the_most_precise_cut_off_that_reaches_the_recall():
    hits = [{1}, set(), {2}, set(), {3}]
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    # top 3: 2 real of 3, 2 of 3 landslides; top 5: 3 of 5, all of them
    c = ranking_ceiling(scores, hits, truth_objects=3, min_recall=0.6)
    assert (c.precision, c.recall, c.kept) == (2 / 3, 2 / 3, 3)
    c = ranking_ceiling(scores, hits, truth_objects=3, min_recall=1.0)
    assert (c.precision, c.recall, c.kept) == (3 / 5, 1.0, 5)
    # a landslide no candidate overlaps caps the recall: no cut-off reaches it
    assert math.isnan(ranking_ceiling(scores, hits, truth_objects=4, min_recall=1.0).precision)


def test_tied_scores_are_cut_together_and_one_landslide_counts_once():
    # the real candidate ties with a false one: no threshold keeps it alone
    c = ranking_ceiling(np.array([0.5, 0.5, 0.1]), [{1}, set(), set()], truth_objects=1, min_recall=1.0)
    assert (c.precision, c.kept) == (0.5, 2)
    # two candidates on the same landslide: both real, one landslide found
    c = ranking_ceiling(np.array([0.9, 0.8]), [{1}, {1}], truth_objects=2, min_recall=0.5)
    assert (c.precision, c.recall, c.kept) == (1.0, 0.5, 1)


def test_truth_hits_names_the_landslides_under_each_footprint_ignoring_small_ones():
    truth = np.zeros((10, 10), np.uint8)
    truth[0:3, 0:3] = 1  # 9 px
    truth[6:10, 6:10] = 1  # 16 px
    truth[0, 9] = 1  # 1 px: under min_truth_px
    a = np.zeros((10, 10), bool)
    a[2:5, 2:5] = True  # overlaps the first
    b = np.zeros((10, 10), bool)
    b[0:2, 8:10] = True  # only the single pixel
    both = np.zeros((10, 10), bool)
    both[2, 2] = both[7, 7] = True
    hits = truth_hits([a, b, both], truth, min_truth_px=4)
    assert [len(h) for h in hits] == [1, 0, 2] and hits[0] < hits[2]


def test_bench_scores_rank_a_stronger_change_higher_and_a_footprint_without_data_last(monkeypatch):
    bench = load_benchmark("bench_pass_ceiling", monkeypatch)
    masks = [np.zeros((4, 4), bool) for _ in range(3)]
    masks[0][0, :] = True
    masks[1][1, :] = True
    masks[2][2, :] = True
    dndvi = np.full((4, 4), np.nan)
    dndvi[0] = -0.4
    dndvi[1] = -0.1  # row 2: cloud, no clear pixel
    m = {"objects_score": np.zeros((4, 4)), "dndvi": dndvi}
    latest = np.full((4, 4), -3.0)
    before = np.full((4, 4), 0.0)
    before[0] = -2.0  # candidate 0's drop held in the look before; 1 and 2 were speckle in the latest look
    cands = [SimpleNamespace(mean_prob=0.6, peak_prob=0.9, agreement=None, area_m2=400.0) for _ in masks]
    s = bench.candidate_scores(cands, masks, m, [latest, before])
    assert s["dNDVI drop (median of clear pixels)"].argsort().tolist() == [2, 1, 0]
    assert s["dVH drop (median), latest look"].tolist() == [3.0, 3.0, 3.0]
    assert s["dVH drop held in each of the latest 2 looks"].tolist() == [2.0, 0.0, 0.0]


def test_a_season_counts_the_passes_that_could_reach_the_target_at_all(monkeypatch):
    bench = load_benchmark("bench_pass_ceiling", monkeypatch)
    Ceiling = bench.Ceiling
    nan = float("nan")

    def counts(n: int, accepted: int, real: int, found: int) -> dict:
        return {"landslides": n, "optical_view": 0, "candidates": 50, "real": real, "accepted": accepted,
                "accepted_real": real, "accepted_found": found}

    rows = [
        (dt.date(2025, 7, 2), counts(0, 0, 0, 0), {"a": Ceiling(nan, nan, 0)}),  # nothing in view: not counted
        (dt.date(2025, 7, 8), counts(10, 8, 7, 7), {"a": Ceiling(0.9, 0.7, 8), "b": Ceiling(0.2, 0.8, 40)}),
        (dt.date(2025, 7, 14), counts(10, 2, 2, 2), {"a": Ceiling(0.1, 0.7, 80), "b": Ceiling(nan, nan, 0)}),
    ]
    text = bench.season_report(rows, 0.7, 0.7)
    assert "2 passes with landslides in view" in text
    assert "reach 0.7 / 0.7 in 1; some threshold of some score could in 1" in text
    assert "| 2025-07-08 | 10 (0) | 50, 7 | 8, 0.88 / 0.70 | 0.90 (a) |" in text
    assert bench.best_ceiling({"b": Ceiling(nan, nan, 0)})[0] == ""


def test_a_season_is_the_time_to_alert_square_with_the_regions_own_options(monkeypatch):
    from helpers_bench import BENCHMARKS

    from gee_landslide.core.catalog import load_catalog

    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the season's square comes from bench_time_to_alert.py
    bench = load_benchmark("bench_pass_ceiling", monkeypatch)
    base = load_catalog(BENCHMARKS.parent / "case_studies.yaml")
    dates = [dt.date(2025, 6, 10), dt.date(2025, 7, 4)]
    catalog, region_id = bench.season_catalog(base, "norway", 7, 3.0, dates, 8)
    region, norway = catalog.regions[region_id], base.regions["norway"]
    assert region_id == "sim" and list(catalog.regions) == ["sim"]
    assert (region.simulation.seed, region.simulation.landslide_dates, region.simulation.landslides_per_date) == (7, dates, 8)
    w, s, e, n = region.bbox
    event = base.event("norway-5")
    assert w < event.lon < e and s < event.lat < n and (n - s) * 111.32 == pytest.approx(3.0)
    same = {k for k in norway.model_dump() if k not in {"bbox", "tile_px", "simulation"}}
    assert {k: getattr(region, k) for k in same} == {k: getattr(norway, k) for k in same}
