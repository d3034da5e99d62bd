"""Top-K selection, averaging, the public ensemble API, tamper detection, report and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_stacks import make_trained_project
from typer.testing import CliRunner

from gee_landslide.train.ensemble import (
    EnsembleError,
    TamperedWeightsError,
    build_ensemble,
    combine,
    load_ensemble,
    select_top_k,
)
from gee_landslide.train.profile import load_profile
from gee_landslide.train.report import compare, setting_curve, write_report
from gee_landslide.train.runs import list_runs
from gee_landslide.train.sweep import Splits, run_sweep


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    paths, prof, splits, res = make_trained_project(tmp_path_factory.mktemp("proj"), ["s1s2"],
                                                    ["Linknet", "PSPNet", "FPN"], ["BCE", "Dice"])
    assert len(res.trained) == 6
    run_sweep(prof.model_copy(update={"architectures": ["Linknet"], "losses": ["BCE"], "settings": ["s2"]}), paths.runs,
              paths.stacks, splits, ["s2"], show_progress=False, fail_fast=True)
    return paths


def test_top_k_selection_orders_by_validation_f1(project):
    runs = list_runs(project.runs, "s1s2")
    assert len(runs) == 6
    f1s = [r["best_val_f1"] for r in runs]
    assert f1s == sorted(f1s, reverse=True)
    top, note = select_top_k(project.runs, "s1s2", 3)
    assert [r["run_id"] for r in top] == [r["run_id"] for r in runs[:3]] and note is None
    top, note = select_top_k(project.runs, "s1s2", 20)
    assert len(top) == 6 and "only 6" in note
    with pytest.raises(EnsembleError, match="no finished runs"):
        select_top_k(project.runs, "all", 5)


def test_combine_mean_std_agreement():
    probs = np.stack([np.full((2, 2), v, np.float32) for v in (0.2, 0.6, 0.7, 0.9)])
    p = combine(probs, 0.5)
    assert p.mean == pytest.approx(np.full((2, 2), 0.6))
    assert p.std == pytest.approx(np.full((2, 2), np.std([0.2, 0.6, 0.7, 0.9])), abs=1e-6)
    assert p.agreement == pytest.approx(np.full((2, 2), 0.75)) and p.threshold == 0.5


def test_ensemble_api_matches_member_average(project):
    path = build_ensemble(project.runs, project.ensembles, "s1s2", 4)
    assert path == project.ensembles / "s1s2" / "manifest.json"
    man = json.loads(path.read_text())
    assert man["setting"] == "s1s2" and man["k"] == 4 and len(man["members"]) == 4
    assert all(len(m["sha256"]) == 64 for m in man["members"]) and man["normalisation"]["bands"]
    ens = load_ensemble(path, device="cpu")
    assert ens.name == "s1s2" and ens.setting == "s1s2" and len(ens.members) == 4 and len(ens.version) == 12
    from gee_landslide.core.stackio import read_stack

    stack = read_stack(project.stacks / "test-0").data
    stack[14, :5, :5] = np.nan
    pred = ens.predict(stack)
    assert pred.mean.shape == stack.shape[1:] and pred.mean.dtype == np.float32
    assert pred.std.shape == pred.agreement.shape == pred.mean.shape and pred.threshold == 0.5
    assert np.isfinite(pred.mean).all() and ((pred.agreement * 4) % 1 == 0).all()
    members = ens.predict_members(stack)
    assert pred.mean == pytest.approx(members.mean(0), abs=1e-6)
    # the report's cached test maps are the same maps (float16 precision)
    curve = setting_curve(project.runs, project.stacks, "s1s2")
    stack = read_stack(project.stacks / "test-0").data
    cached = curve.test_scores[4][0]  # mean aggregation: the mean of the top-4 members' saved maps
    assert ens.predict(stack).mean == pytest.approx(cached, abs=2e-3)
    with pytest.raises(ValueError, match="15"):
        ens.predict(stack[:11])


def test_k_chosen_on_validation_is_the_best_top_k_there(project):
    from gee_landslide.train.ensemble import EnsembleError, k_on_validation

    path = build_ensemble(project.runs, project.ensembles, "s1s2", 5, name="kval", stacks_dir=project.stacks,
                          choose_k=True)
    man = json.loads(path.read_text())
    choice = man["k_choice"]
    curve = {int(k): f for k, f in choice["val_f1_by_k"].items()}
    assert choice["on"] == "validation" and choice["largest_allowed"] == 5 and sorted(curve) == [1, 2, 3, 4, 5]
    best = max(curve.values())
    assert choice["chosen"] == man["k"] == min(k for k, f in curve.items() if f == best)
    # the members are the top-K by validation F1, and the manifest's threshold scores what the choice saw
    top = [r["run_id"] for r in list_runs(project.runs, "s1s2")][: man["k"]]
    assert [m["run_id"] for m in man["members"]] == top
    assert man["validation_f1_at_threshold"] == pytest.approx(curve[man["k"]])
    assert "K chosen on validation" in man["note"]
    # every K's figure is the top-K ensemble's own validation F1: recomputed here from the members' maps
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.predictions import member_probs

    runs = list_runs(project.runs, "s1s2")[:5]
    val = load_scenes(project.stacks, tuple(runs[0]["config"]["val_events"]))
    chosen, again = k_on_validation(runs, val, member_probs(runs, val))
    assert (chosen, again) == (man["k"], curve)
    # a fixed K is a different build; choosing without the validation events is refused
    fixed = json.loads(build_ensemble(project.runs, project.ensembles, "s1s2", 5, name="k5",
                                      stacks_dir=project.stacks).read_text())
    assert fixed["k"] == 5 and fixed["k_choice"] is None
    with pytest.raises(EnsembleError, match="validation"):
        build_ensemble(project.runs, project.ensembles, "s1s2", 5, name="nostacks", choose_k=True)


def test_tampered_weights_are_refused(project, tmp_path):
    path = build_ensemble(project.runs, project.ensembles, "s1s2", 2, name="tamper")
    man = json.loads(path.read_text())
    wfile = (path.parent / man["members"][1]["weights"]).resolve()
    original = wfile.read_bytes()
    try:
        data = bytearray(original)
        data[-10] ^= 0xFF
        wfile.write_bytes(bytes(data))
        with pytest.raises(TamperedWeightsError, match="SHA-256") as e:
            load_ensemble(path, device="cpu")
        assert str(wfile) in str(e.value) and man["members"][1]["run_id"] in str(e.value)
    finally:
        wfile.write_bytes(original)
    assert len(load_ensemble(path, device="cpu").members) == 2


def test_report_and_cli(project):
    from gee_landslide.core.catalog import load_catalog

    out = write_report(project.runs, project.stacks, project.reports, ks=(2, 4, 10), map_k=4,
                       catalog=load_catalog(project.catalog), n_heldout=2)
    for f in out["figures"]:
        assert f.exists() and f.stat().st_size > 1000
    t8 = out["table8"].read_text()
    assert "S1+S2" in t8 and "F1 ens (10)" in t8 and "†" in t8
    assert any("only 6" in n for n in out["notes"])
    # the baselines stand beside the models, on the test event and the held-out scenes
    skill = out["skill"].read_text()
    assert "dNDVI rule" in skill and "boosted trees (s1s2)" in skill and "single best" in skill
    assert "ensemble 6 (all)" in skill
    held = out["summary"]["heldout_events"]
    assert len(held) == 2 and all(e.startswith("heldout-") for e in held)
    assert not set(held) & {e.id for e in load_catalog(project.catalog).events}
    for b in out["summary"]["baselines"]:
        assert len(b["heldout_f1"]) == 2 and 0.0 <= b["test"]["f1"] <= 1.0
    # every method's F1 comes with the interval of an object bootstrap on the same pixels
    for r in [*out["summary"]["baselines"], *out["summary"]["s1s2"]["methods"].values()]:
        lo, hi = r["test_f1_interval"]
        assert 0.0 <= lo <= hi <= 1.0, r["method"]
        assert len(r["heldout_mean_f1_interval"]) == 2
    rule = next(b for b in out["baselines"] if b.setting is None)
    assert f"{rule.test.f1:.3f} ({rule.test_interval.lo:.3f}-{rule.test_interval.hi:.3f})" in skill
    same_test, same_held = compare(rule, rule, out["truth"])
    assert (same_test.lo, same_test.hi, same_held.lo, same_held.hi) == (0.0, 0.0, 0.0, 0.0)
    # every ensemble threshold of the curve was chosen on validation, never on test
    assert {r["chosen_on"] for k, r in out["summary"]["s1s2"]["methods"].items()
            if not k.startswith("single best")} == {"validation"}
    # every run and ensemble is scored again after the object filter judged each member's objects:
    # the single run at its own threshold, each ensemble at one chosen again on validation
    methods = out["summary"]["s1s2"]["methods"]
    assert "object_filter" in out["summary"]["s1s2"], out["notes"]
    assert methods["single best + objects"]["threshold"] == methods["single best"]["threshold"]
    assert methods["ensemble 6 + objects"]["chosen_on"] == "validation"
    assert "ensemble 6 (all) + objects" in skill and "Object filter" in out["markdown"].read_text()
    # ...and says, for each "+ objects" row, which threshold and how firmly validation chose it
    md = out["markdown"].read_text()
    choice = next(c for c in out["curves"] if c.setting == "s1s2").objects_thresholds[6]
    assert f"- S1+S2 ensemble 6 (all) + objects: {choice.describe()}" in md
    assert choice.threshold == pytest.approx(methods["ensemble 6 + objects"]["threshold"])
    assert (project.reports / "comparison_s1s2.png").exists()
    # recall by the slides' local incidence angle: every slide pixel the test counts is in one bin
    assert "## Recall by the radar's local incidence angle" in out["markdown"].read_text()
    for r in [*out["baselines"], *out["curves"][0].by_k.values()]:
        hits, slides = np.asarray(r.incidence_test).sum(axis=0)
        assert (hits, slides) == (r.test.tp, r.test.tp + r.test.fn), r.method
        assert len(r.incidence_heldout) == 3 and (r.incidence_heldout[:, 0] <= r.incidence_heldout[:, 1]).all()
    assert methods["ensemble 6"]["recall_by_incidence"]["bins"] == ["< 45°", "45-60°", "≥ 60°"]
    # each run alone beside the ensemble of all, scene by scene: the first run is the single best
    alone = out["summary"]["s1s2"]["runs_alone"]
    assert len(alone) == 6 and [a["val_f1"] for a in alone] == sorted((a["val_f1"] for a in alone), reverse=True)
    assert alone[0]["test"] == methods["single best"]["test"] and alone[0]["heldout_f1"] == methods["single best"]["heldout_f1"]
    assert all(len(a["heldout_f1"]) == 2 and a["chosen_on"] for a in alone)
    report_md = out["markdown"].read_text()
    # the skill table names the ensemble whose size validation chose, at that K's own figures
    kv = out["summary"]["s1s2"]["k_on_validation"]
    k = kv["chosen"]
    assert set(kv["val_f1_by_k"]) == {str(i) for i in range(1, 7)}
    assert kv["val_f1_by_k"][str(k)] == max(kv["val_f1_by_k"].values())
    chosen_row = next(line for line in skill.splitlines() if line.startswith("| S1+S2 |") and "K on validation" in line
                      and "objects" not in line)
    assert f"{methods['single best' if k == 1 else f'ensemble {k}']['test']['f1']:.3f}" in chosen_row
    assert "**K on validation**" in report_md
    assert "## Each run on the held-out scenes" in report_md and "| ensemble of all 6 |" in report_md
    assert "Against the best run by validation, scene by scene: ahead on" in report_md
    # the learning curves say whether the budget let the runs converge
    assert "## Learning curves" in out["markdown"].read_text()
    assert {b["setting"] for b in out["summary"]["budget"]} == {"s2", "s1s2"}

    from gee_landslide.cli import app

    r = CliRunner()
    res = r.invoke(app, ["leaderboard", "--root", str(project.root), "--markdown", str(project.root / "t7.md")])
    assert res.exit_code == 0, res.output
    assert "Linknet" in (project.root / "t7.md").read_text()
    res = r.invoke(app, ["ensemble", "build", "--root", str(project.root), "--setting", "s2", "--k", "20"])
    assert res.exit_code == 0, res.output
    assert "fewer than K = 20" in res.output
    res = r.invoke(app, ["ensemble", "build", "--root", str(project.root), "--setting", "s1s2", "--k", "10",
                         "--choose-k", "--name", "kcli"])
    assert res.exit_code == 0, res.output
    assert "K chosen on validation" in res.output and "of up to 6" in res.output
    # the build that monitoring reads chose the size the report's "K on validation" row shows
    assert json.loads((project.ensembles / "kcli" / "manifest.json").read_text())["k"] == k
    assert (project.ensembles / "s2" / "manifest.json").exists()
    res = r.invoke(app, ["ensemble", "report", "--root", str(project.root), "--ks", "2,4"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["train", "--root", str(project.root), "--profile", "smoke", "--dry-run", "-s", "s1s2"])
    assert res.exit_code == 0, res.output and "45 runs" in res.output


def test_threshold_is_tuned_on_validation_events_only(project):
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.stackio import read_stack
    from gee_landslide.train.metrics import PROB_CANDIDATES as THRESHOLD_CANDIDATES
    from gee_landslide.train.metrics import confusion, evaluation_mask

    path = build_ensemble(project.runs, project.ensembles, "s1s2", 3, name="tuned", stacks_dir=project.stacks)
    man = json.loads(path.read_text())
    assert man["threshold_source"] == "validation" and man["threshold"] in THRESHOLD_CANDIDATES
    # recompute the validation F1 of every candidate through the public ensemble API
    ens = load_ensemble(path, device="cpu")
    val_ids = [e.id for e in load_catalog(project.catalog).split("val")]
    stacks = [read_stack(project.stacks / e) for e in val_ids]
    means = [ens.predict(s.data).mean for s in stacks]

    def f1_at(t: float) -> float:
        total = None
        for s, m in zip(stacks, means, strict=True):
            c = confusion(m > t, s.labels, evaluation_mask(s.data, "visible"))
            total = c if total is None else total + c
        return total.f1

    best = max(f1_at(t) for t in THRESHOLD_CANDIDATES)
    assert f1_at(man["threshold"]) == pytest.approx(best, abs=1e-3)
    assert man["validation_f1_at_threshold"] == pytest.approx(best, abs=1e-3)
    # an explicit threshold wins, and without stacks the runs' own threshold is used
    given = json.loads(build_ensemble(project.runs, project.ensembles, "s1s2", 3, name="given",
                                      threshold=0.3).read_text())
    assert (given["threshold"], given["threshold_source"]) == (0.3, "given")
    plain = json.loads(build_ensemble(project.runs, project.ensembles, "s1s2", 3, name="plain").read_text())
    assert (plain["threshold"], plain["threshold_source"]) == (0.5, "runs")


def test_onehot_runs_train_and_their_ensemble_predicts(project, tmp_path):
    """A run with one channel per land-cover class: the model, run.json and manifest agree on 10 inputs."""
    from gee_landslide.core.catalog import load_catalog

    splits = Splits.from_catalog(load_catalog(project.catalog))
    prof = load_profile("smoke").model_copy(update={
        "architectures": ["Linknet"], "losses": ["BCE"], "settings": ["s2"], "iterations_per_epoch": 3,
        "categorical": "onehot"})
    runs_dir = tmp_path / "runs"
    res = run_sweep(prof, runs_dir, project.stacks, splits, ["s2"], show_progress=False, fail_fast=True)
    assert len(res.trained) == 1
    rec = list_runs(runs_dir, "s2")[0]
    assert rec["config"]["categorical"] == "onehot" and "CART_LC_classified" in rec["normalisation"]["onehot"]
    path = build_ensemble(runs_dir, tmp_path / "ensembles", "s2", 1)
    assert json.loads(path.read_text())["members"][0]["in_channels"] == 10
    from gee_landslide.core.stackio import read_stack

    stack = read_stack(project.stacks / "test-0").data
    pred = load_ensemble(path, device="cpu").predict(stack)
    assert pred.mean.shape == stack.shape[1:] and np.isfinite(pred.mean).all()


@pytest.mark.parametrize(("arch", "option", "recorded"), [
    ("PSPNet", {"decoder": "slim"}, {"decoder": "slim"}),
    ("Linknet", {"decoder_norm": {"Linknet": False}}, {"decoder_norm": False}),
    ("Unet", {"refine": True, "refine_depth": 2, "refine_width": 8}, {"refine_depth": 2}),
])
def test_decoder_options_travel_through_the_manifest(project, tmp_path, arch, option, recorded):
    """A run with the narrow decoder, or a decoder without its normalisation: run.json and the
    manifest record it, and loading rebuilds the same model (strict weight loading would fail on
    smp's default decoder: wider, or with normalisation weights the file lacks)."""
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.stackio import read_stack
    from gee_landslide.train.predictions import run_probs

    splits = Splits.from_catalog(load_catalog(project.catalog))
    prof = load_profile("smoke").model_copy(update={
        "architectures": [arch], "losses": ["BCE"], "settings": ["s2"], "iterations_per_epoch": 3, **option})
    runs_dir = tmp_path / "runs"
    run_sweep(prof, runs_dir, project.stacks, splits, ["s2"], show_progress=False, fail_fast=True)
    rec = list_runs(runs_dir, "s2")[0]
    (key, value), = recorded.items()
    assert rec["config"][key] == value
    path = build_ensemble(runs_dir, tmp_path / "ensembles", "s2", 1)
    assert json.loads(path.read_text())["members"][0][key] == value
    stack = read_stack(project.stacks / "test-0").data
    pred = load_ensemble(path, device="cpu").predict(stack)
    assert pred.mean.shape == stack.shape[1:] and np.isfinite(pred.mean).all()
    from gee_landslide.train.data import load_scenes

    # a training event is not in the run's saved maps: its map is predicted from the weights; a
    # validation event's comes from the saved maps, in the same call
    scene, val = load_scenes(project.stacks, [splits.train[0], splits.val[0]])
    probs = run_probs(rec, [scene, val])
    assert probs[scene.event_id].shape == scene.stack.shape[1:] and np.isfinite(probs[scene.event_id]).all()
    with np.load(Path(rec["_dir"]) / "eval_probs.npz") as saved:
        assert scene.event_id not in saved
        np.testing.assert_array_equal(probs[val.event_id], saved[val.event_id].astype(np.float32))


# ----------------------------------------------------------------------------- change evidence (train.evidence)
def test_ensemble_built_with_stacks_fits_evidence_on_train_and_val_events_only(project):
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.evidence import fit_evidence

    catalog = load_catalog(project.catalog)
    fit_ids = [e.id for e in catalog.split("train")] + [e.id for e in catalog.split("val")]
    path = build_ensemble(project.runs, project.ensembles, "s1s2", 2, name="ev", stacks_dir=project.stacks)
    man = json.loads(path.read_text())
    assert man["evidence"]["fitted_on"] == fit_ids
    assert not set(man["evidence"]["fitted_on"]) & {e.id for e in catalog.split("test")}
    expected = fit_evidence(load_scenes(project.stacks, fit_ids), "s1s2")
    assert man["evidence"]["max_object_median"] == expected["max_object_median"]
    assert load_ensemble(path, device="cpu").evidence == man["evidence"]
    # without stacks there is nothing to fit on: no evidence, and passes keep every detection
    plain = build_ensemble(project.runs, project.ensembles, "s1s2", 2, name="plain")
    assert json.loads(plain.read_text())["evidence"] is None


def test_an_all_bands_ensemble_builds_with_evidence(tmp_path):
    """The paper profile sweeps all four settings; an ``all`` (bands 0-14) ensemble built with stacks
    once failed on its evidence (no change band for ``all``). It decides where Sentinel-2 saw, like S1+S2."""
    paths, _, _, res = make_trained_project(tmp_path, ["all"], ["Linknet"], ["BCE"])
    assert len(res.trained) == 1
    path = build_ensemble(paths.runs, paths.ensembles, "all", 1, name="all-ev", stacks_dir=paths.stacks)
    ev = load_ensemble(path, device="cpu").evidence
    assert ev["band"] == "dNDVI" and ev["max_object_median"] < 0


def test_a_manifest_with_a_broken_evidence_block_is_refused_naming_the_field(project):
    path = build_ensemble(project.runs, project.ensembles, "s1s2", 2, name="bad", stacks_dir=project.stacks)
    man = json.loads(path.read_text())
    man["evidence"]["max_object_median"] = "low"
    path.write_text(json.dumps(man))
    with pytest.raises(EnsembleError, match="evidence"):
        load_ensemble(path, device="cpu")


def test_object_filter_travels_with_the_ensemble_and_a_changed_table_is_refused(project):
    """build_ensemble with stacks fits the members' object filter and keeps its training table
    (objects.npz, SHA-256 in the manifest); load_ensemble refits the same filter and refuses a
    changed table or a feature list this version does not compute."""
    from gee_landslide.train.objects import OBJECTS_TABLE_KEYS, feature_names

    path = build_ensemble(project.runs, project.ensembles, "s1s2", 6, name="objs", stacks_dir=project.stacks)
    man = json.loads(path.read_text())
    entry = man["objects"]
    assert entry["features"] == list(feature_names("s1s2")) and entry["objects"] > 0
    c0 = list_runs(project.runs, "s1s2")[0]["config"]
    assert set(entry["fitted_on"]) == {*c0["train_events"], *c0["val_events"]}
    lo, hi = entry["threshold_plateau"]
    assert lo <= entry["threshold"] <= hi
    table = path.parent / entry["file"]
    with np.load(table, allow_pickle=False) as z:
        assert set(z.files) == set(OBJECTS_TABLE_KEYS) and z["X"].shape == (entry["objects"], len(entry["features"]))
    ens = load_ensemble(path, device="cpu")
    again = load_ensemble(path, device="cpu")
    assert ens.object_filter.threshold == entry["threshold"]
    X = np.load(table, allow_pickle=False)["X"]
    assert np.array_equal(ens.object_filter.object_prob(X), again.object_filter.object_prob(X))  # refit is exact
    # the filtered ensemble's threshold is chosen on the validation events from the members' filtered
    # maps (the report's "+ objects" rows call the same function), and travels with the manifest
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.ensemble import objects_threshold
    from gee_landslide.train.predictions import member_probs

    members = list_runs(project.runs, "s1s2")[:6]
    val = load_scenes(project.stacks, tuple(c0["val_events"]))
    probs = member_probs(members, val)
    mt = [m.threshold for m in ens.members]
    filtered = [ens.object_filter.apply_members(s.stack, probs[s.event_id], mt) for s in val]
    expected = objects_threshold(filtered, val, mt, ens.aggregation, c0.get("eval_mask", "visible"))
    assert (entry["ensemble_threshold"], entry["ensemble_val_f1"]) == pytest.approx((expected.threshold, expected.f1))
    assert ens.filtered_threshold == pytest.approx(expected.threshold)
    # the manifest says how loosely validation chose it: the chosen threshold lies on its plateau
    lo, hi = entry["ensemble_threshold_plateau"]
    assert (lo, hi) == pytest.approx(expected.plateau) and lo <= entry["ensemble_threshold"] <= hi
    # `ensemble build` says which threshold the filtered members combined took, and how firmly
    from gee_landslide.cli import app

    res = CliRunner().invoke(app, ["ensemble", "build", "--root", str(project.root), "--setting", "s1s2", "--k", "6",
                                   "--name", "objs"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert f"the filtered members combined: threshold {entry['ensemble_threshold']:.2f}" in said
    assert f"drops objects with p(landslide) < {entry['threshold']:.2f}" in said
    # ... and what the filter learned from: these runs saw every event, so every run's maps
    assert entry["fitted_maps"] == "every run's maps"
    assert f"learned from {entry['objects']} objects of every run's maps" in said
    # predict_with_objects: the plain prediction, and the combined score of the filtered members
    pred, kept = ens.predict_with_objects(val[0].stack)
    assert np.allclose(pred.mean, ens.predict(val[0].stack).mean, atol=1e-6)
    assert np.allclose(kept, filtered[0].mean(0), atol=2e-3)  # forward passes tile the scene alike
    assert (kept <= pred.mean + 1e-6).all()  # the filter only removes

    original = table.read_bytes()
    table.write_bytes(original[:-8] + b"\0" * 8)
    with pytest.raises(TamperedWeightsError, match="object table"):
        load_ensemble(path, device="cpu")
    table.write_bytes(original)
    man["objects"]["features"] = entry["features"][:-1]
    path.write_text(json.dumps(man))
    with pytest.raises(EnsembleError, match="features differ"):
        load_ensemble(path, device="cpu")
    man["objects"] = {**entry, "ensemble_threshold": None}  # a manifest from before the filtered threshold
    path.write_text(json.dumps(man))
    with pytest.raises(EnsembleError, match="ensemble_threshold = None"):
        load_ensemble(path, device="cpu")

