"""Subbagging of the training events (``member_events_out``): which events each run trains on, and
that what is fitted for the runs together (object filter, evidence, baselines) sees all of them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from helpers_stacks import make_trained_project

from gee_landslide.core.variants import variant_id
from gee_landslide.train.profile import load_profile
from gee_landslide.train.runs import training_events
from gee_landslide.train.sweep import Splits, bagged, expand_grid

SIXTEEN = tuple(f"ev-{i:02d}" for i in range(16))
SPLITS = Splits(SIXTEEN, ("val-a", "val-b"), ("test-a",))


def test_each_run_leaves_out_its_own_events_round_the_list():
    assert bagged(SIXTEEN, 0, 0) == SIXTEEN
    first, second, ninth = bagged(SIXTEEN, 0, 2), bagged(SIXTEEN, 1, 2), bagged(SIXTEEN, 8, 2)
    assert set(SIXTEEN) - set(first) == {"ev-00", "ev-01"}
    assert set(SIXTEEN) - set(second) == {"ev-02", "ev-03"}
    assert set(SIXTEEN) - set(ninth) == {"ev-00", "ev-01"}  # the count goes round the list
    assert [e for e in SIXTEEN if e in first] == list(first)  # the order is kept


def test_an_event_leaves_with_its_sentinel1_variants():
    train = (*SIXTEEN[:4], variant_id("ev-00", 2), variant_id("ev-03", 2))
    assert bagged(train, 0, 1) == ("ev-01", "ev-02", "ev-03", variant_id("ev-03", 2))


def test_a_run_leaves_out_at_most_a_quarter_of_the_events():
    assert len(bagged(SIXTEEN, 0, 16)) == 12
    assert bagged(SIXTEEN[:7], 3, 2) == tuple(e for e in SIXTEEN[:7] if e != "ev-03")  # 7 events: one out
    assert bagged(SIXTEEN[:3], 0, 2) == SIXTEEN[:3]  # fewer than 4 events: every run sees them all


def test_a_small_catalog_trains_every_laptop_run_on_all_its_events():
    """The laptop profile on a catalog of two training events (a user's first project) trains as without it."""
    small = Splits(SIXTEEN[:2], ("val-a",), ("test-a",))
    assert all(r.train_events == SIXTEEN[:2] for r in expand_grid(load_profile("laptop"), small))


def test_the_laptop_profile_bags_its_main_settings_and_not_the_s1_runs():
    runs = expand_grid(load_profile("laptop"), SPLITS)
    main = [r for r in runs if r.setting in ("s2", "s1s2")]
    s1 = [r for r in runs if r.setting == "s1"]
    assert main and s1
    assert all(len(r.train_events) == 14 and r.val_events == SPLITS.val and r.test_events == SPLITS.test
               for r in main)
    assert all(r.train_events == SIXTEEN for r in s1)
    for s in ("s2", "s1s2"):
        runs_s = [r for r in main if r.setting == s]
        assert len({r.train_events for r in runs_s}) == 8  # 9 runs, 8 pairs of 16 events: the ninth repeats the first
        seen = Counter(e for r in runs_s for e in r.train_events)
        assert set(seen) == set(SIXTEEN) and min(seen.values()) >= len(runs_s) - 2
    # different events make different runs: the ids differ from the same runs without subbagging
    plain = expand_grid(load_profile("laptop").model_copy(update={"member_events_out": 0}), SPLITS)
    assert {r.run_id for r in main}.isdisjoint(r.run_id for r in plain)
    assert {r.run_id for r in s1} <= {r.run_id for r in plain}


def _rec(train: tuple[str, ...]) -> dict:
    return {"config": {"train_events": list(train), "val_events": ["val-a"]}}


def test_training_events_of_bagged_runs_are_all_of_them_in_the_sweeps_order():
    runs = [_rec(bagged(SIXTEEN, j, 2)) for j in range(9)]
    assert training_events(runs) == SIXTEEN
    # the first run listed (the best by validation) left ev-02 and ev-03 out: they still come in the sweep's order
    assert training_events([runs[1], runs[0]]) == SIXTEEN
    same = [_rec(SIXTEEN[3:]), _rec(SIXTEEN[3:])]
    assert training_events(same) == SIXTEEN[3:]
    with pytest.raises(ValueError, match="no runs"):
        training_events([])


def test_an_ensemble_of_bagged_runs_fits_its_filter_and_evidence_on_every_training_event(tmp_path, monkeypatch):
    """Each of the two runs left one of the four training events out; the ensemble's evidence must
    still learn from all four, and its object filter from the runs' maps of the events they left out."""
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.train.ensemble import build_ensemble
    from gee_landslide.train.runs import list_runs

    paths, _, _, res = make_trained_project(tmp_path, ["s1s2"], ["Linknet", "PSPNet"], ["BCE"], n_train=4,
                                            member_events_out=1)
    assert len(res.trained) == 2
    catalog = load_catalog(paths.catalog)
    train, val = [e.id for e in catalog.split("train")], [e.id for e in catalog.split("val")]
    runs = list_runs(paths.runs, "s1s2")
    assert sorted(tuple(r["config"]["train_events"]) for r in runs) == sorted((tuple(train[1:]), (train[0], *train[2:])))
    import gee_landslide.train.predictions as predictions

    asked: list[tuple[set[str], list[str]]] = []  # (the run's training events, the events it was asked to map)
    real_run_probs = predictions.run_probs
    monkeypatch.setattr(predictions, "run_probs", lambda rec, scenes: asked.append(
        (set(rec["config"]["train_events"]), [s.event_id for s in scenes])) or real_run_probs(rec, scenes))
    man = json.loads(build_ensemble(paths.runs, paths.ensembles, "s1s2", 2, name="bag",
                                    stacks_dir=paths.stacks).read_text())
    # the filter's maps were predicted for the left-out pairs only: no run mapped an event it trained on
    assert asked and all(not trained & set(ids) for trained, ids in asked), asked
    assert set(train[:2]) <= {e for _, ids in asked for e in ids}
    assert man["evidence"]["fitted_on"] == [*train, *val]
    # the filter learned from the runs' maps of the events each left out (train-0 and train-1), and the validation events
    assert man["objects"]["fitted_maps"] == "out-of-bag maps"
    assert set(train[:1]) | set(val) <= set(man["objects"]["fitted_on"]) <= {*train[:2], *val}, man["objects"]
    # the report's inputs cover a stack that the best run never trained on: changing it changes them
    from gee_landslide.train.report import report_inputs

    left_out = sorted(set(train) - set(runs[0]["config"]["train_events"]))
    assert len(left_out) == 1
    before = report_inputs(paths.runs, paths.stacks, ["s1s2"])["stacks"]
    (paths.stacks / left_out[0] / "meta.json").write_text('{"changed": true}')
    assert report_inputs(paths.runs, paths.stacks, ["s1s2"])["stacks"] != before
