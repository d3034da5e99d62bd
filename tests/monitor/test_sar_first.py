"""SAR-first passes (issue #10): per-pixel model choice by what the sensors saw."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers_project import PROFILE, copy_project
from ruamel.yaml import YAML

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.monitor.pass_context import MonitoringError, prepare_pass
from gee_landslide.monitor.runner import run_pass

RUN_DATE = dt.date(2025, 8, 1)  # landslides injected on 2025-07-20
LOW_THRESHOLD = 0.05


def set_region(paths: ProjectPaths, **fields: object) -> None:
    yaml = YAML(typ="rt")
    raw = yaml.load(paths.catalog.read_text())
    for k, v in fields.items():
        if v is None:
            raw["regions"]["norway"].pop(k, None)
        else:
            raw["regions"]["norway"][k] = v
    with open(paths.catalog, "w") as fh:
        yaml.dump(raw, fh)


@pytest.fixture(scope="module")
def sar_project(small_project, tmp_path_factory) -> ProjectPaths:
    """The small project plus a one-model ``s1`` ensemble, the region set to SAR-first."""
    from gee_landslide.train.ensemble import build_ensemble
    from gee_landslide.train.profile import load_profile
    from gee_landslide.train.sweep import Splits, run_sweep

    paths = copy_project(small_project, tmp_path_factory.mktemp("sar") / "p")
    profile = tmp_path_factory.mktemp("profile") / "tiny_s1.yaml"
    profile.write_text(PROFILE.replace("architectures: [Unet, FPN]", "architectures: [Unet]")
                       .replace("settings: [s1s2]", "settings: [s1]"))
    run_sweep(load_profile(profile), paths.runs, paths.stacks, Splits.from_catalog(load_catalog(paths.catalog)),
              show_progress=False)
    build_ensemble(paths.runs, paths.ensembles, "s1", k=1, name="s1")
    set_region(paths, ensembles={"s1": "s1", "optical": "s1s2"})
    return paths


@pytest.fixture
def project(sar_project, tmp_path) -> ProjectPaths:
    dst = tmp_path / "p"
    shutil.copytree(sar_project.root, dst, ignore=shutil.ignore_patterns("monitor", "alerts"))
    from gee_landslide.core.paths import project_paths

    return project_paths(dst)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def first_tile(project: ProjectPaths, **region: object):
    """The norway region set to ``region``, its pass of RUN_DATE, and that pass's first tile fetched:
    (catalog, context, tile, grid, stack, truth)."""
    from gee_landslide.monitor.tile_inputs import fetch_tile_stack

    set_region(project, **region)
    cat = load_catalog(project.catalog)
    ctx = prepare_pass(cat, project, "norway", RUN_DATE)
    tile = ctx.tiles[0]
    grid = tile.read_grid(ctx.grid)
    stack, truth = fetch_tile_stack(ctx, grid, tile.key)
    return cat, ctx, tile, grid, stack, truth


def test_each_pixel_is_decided_by_the_model_its_sensors_allow(project):
    cat = load_catalog(project.catalog)
    assert prepare_pass(cat, project, "norway", RUN_DATE).strategy == "sar-first"
    result = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    sensors = _read(result.out_dir / "sensors.tif")
    assert set(np.unique(sensors)) <= {1, 2} and 0 < result.optical_share < 1  # some pixels were cloudy
    prob = _read(result.out_dir / "probability.tif")
    summary = json.loads((result.out_dir / "pass.json").read_text())
    assert summary["strategy"] == "sar-first" and summary["optical_share"] == result.optical_share
    # the same date under the single-sensor strategies (their own stores)
    by = {}
    for strategy in ("s1-only", "optical-only"):
        shutil.rmtree(project.alerts, ignore_errors=True)
        r = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD, strategy=strategy)
        by[strategy] = _read(r.out_dir / "probability.tif")
        if strategy == "optical-only":
            assert np.isnan(by[strategy][sensors == 1]).all()  # no detection where S2 saw nothing
    np.testing.assert_array_equal(prob[sensors == 1], by["s1-only"][sensors == 1])
    np.testing.assert_array_equal(prob[sensors == 2], by["optical-only"][sensors == 2])


def test_alerts_say_which_sensors_saw_them(project):
    cat = load_catalog(project.catalog)
    shutil.rmtree(project.alerts, ignore_errors=True)
    result = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    assert result.new
    feed = json.loads((project.alerts / "alerts.geojson").read_text())
    props = [f["properties"] for f in feed["features"]]
    assert props and {p["sensors"] for p in props} <= {"S1", "S1+S2"}
    for p in props:
        assert p["stage"] == "candidate"  # regions confirm on a second look (confirm_looks: 2)
        assert p["model_version"].startswith("optical:") and "+s1:" in p["model_version"]
    # against the simulator's truth, the pass scores its candidates by the ensemble that decided them
    summary = json.loads((result.out_dir / "pass.json").read_text())
    by, total = summary["object_scores_by"], summary["object_scores"]
    assert set(by) == {"S1", "S1+S2"}  # no object filter in this region: no "filter accepts"
    assert sum(v["detections"] for v in by.values()) >= total["detections"] > 0  # touching ones merge in the total
    assert max(v["found_objects"] for v in by.values()) <= total["found_objects"]
    assert 0 <= summary["truth_objects_optical"] <= total["truth_objects"]
    from flows.monitor import alerts_markdown  # the Prefect artifact of the pass shows the same table

    md = alerts_markdown(summary)
    assert f"| S1 | {by['S1']['true_detections']}/{by['S1']['detections']} | {by['S1']['found_objects']} |" in md
    # with one look, what Sentinel-2 saw is confirmed at once
    shutil.rmtree(project.alerts)
    set_region(project, confirm_looks=1)
    run_pass(load_catalog(project.catalog), project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    props = [f["properties"] for f in json.loads((project.alerts / "alerts.geojson").read_text())["features"]]
    assert props and all(p["stage"] == ("candidate" if p["sensors"] == "S1" else "confirmed") for p in props)


def test_pass_scores_each_kind_of_candidate_against_the_truth():
    """pass_scores_by: candidates by the ensemble that decided them, and those the object filter accepts."""
    from gee_landslide.core.grid import grid_around
    from gee_landslide.monitor.alerts import detections_to_candidates
    from gee_landslide.monitor.runner import pass_scores_by

    grid = grid_around(61.48, 6.1, 400.0)  # 40 x 40 px
    mean = np.zeros(grid.shape, np.float32)
    sensors = np.ones(grid.shape, np.uint8)  # Sentinel-1 decided the left half...
    sensors[:, 20:] = 2  # ...the optical ensemble the right half
    truth = np.zeros(grid.shape, np.uint8)
    rejects = np.zeros(grid.shape, bool)
    mean[2:6, 2:6] = 0.9  # S1, on landslide 1
    truth[3:5, 3:5] = 1
    mean[12:16, 2:6] = 0.9  # S1, false, and the filter rejects it
    rejects[12:16, 2:6] = True
    mean[2:6, 24:28] = 0.9  # optical, on landslide 2
    truth[2:4, 24:26] = 1
    truth[30:35, 30:35] = 1  # landslide 3: nobody saw it
    cands = detections_to_candidates(mean, None, None, grid, threshold=0.5, slope=None, landcover=None,
                                     min_area_m2=100.0, min_slope_deg=0.0, sensors=sensors,
                                     object_rejects=rejects, objects_hold=True)
    assert len(cands) == 3
    by = pass_scores_by(cands, grid, truth, 1, filtered=True)
    assert [(k, v.detections, v.true_detections, v.found_objects, v.truth_objects) for k, v in by.items()] == [
        ("S1", 2, 1, 1, 3), ("S1+S2", 1, 1, 1, 3), ("filter accepts", 2, 2, 2, 3)]
    assert set(pass_scores_by(cands, grid, truth, 1, filtered=False)) == {"S1", "S1+S2"}
    # landslides Sentinel-2 saw: half their pixels or more with sensors S1+S2 (landslide 1 has none,
    # 2 and 3 all; a fourth with 1 of its 5 pixels in the clear half does not count)
    from gee_landslide.monitor.evaluate import truth_objects_mostly_in

    assert truth_objects_mostly_in(truth, sensors == 2) == 2
    truth[10:12, 18:20] = 1  # columns 18-19: Sentinel-1 only
    truth[10, 20] = 1  # column 20: clear
    assert truth_objects_mostly_in(truth, sensors == 2) == 2
    assert truth_objects_mostly_in(truth, sensors == 2, share=0.2) == 3
    assert truth_objects_mostly_in(truth, sensors == 2, min_truth_px=5) == 1  # landslides 1 and 2 (4 px) ignored


def test_sar_first_without_an_s1_ensemble_says_how_to_build_it(project):
    shutil.rmtree(project.ensembles / "s1")
    cat = load_catalog(project.catalog)
    with pytest.raises(MonitoringError, match=r"no ensemble 's1'.*ensembles\.s1.*ensemble build --setting s1"):
        prepare_pass(cat, project, "norway", RUN_DATE)
    # the S1 role must hold an S1 model
    set_region(project, ensembles={"s1": "s1s2", "optical": "s1s2"})
    with pytest.raises(MonitoringError, match="holds setting 's1s2', not 's1'"):
        prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    # the old single `ensemble:` still works, and asking for SAR-first without `ensembles:` is explained
    set_region(project, ensembles=None)
    cat = load_catalog(project.catalog)
    assert prepare_pass(cat, project, "norway", RUN_DATE).strategy == "single"
    with pytest.raises(MonitoringError, match="needs `ensembles:"):
        prepare_pass(cat, project, "norway", RUN_DATE, strategy="sar-first")


def test_detections_must_show_the_change_of_the_sensor_that_decided_them(project):
    """With ensembles built from the stacks (train.evidence), SAR-decided pixels are judged on dVH and
    optical ones on dNDVI, each against its own ensemble's limit; a pass drops the unchanged
    detections ("change" in pass.json), and the region can turn the check off."""
    from gee_landslide.monitor.decisions import pass_contrast_limit, pass_evidence
    from gee_landslide.train.ensemble import build_ensemble

    limits = {}
    for setting, k in (("s1", 1), ("s1s2", 2)):
        man = build_ensemble(project.runs, project.ensembles, setting, k=k, name=setting, stacks_dir=project.stacks)
        limits[setting] = json.loads(man.read_text())["evidence"]
    assert (limits["s1"]["band"], limits["s1s2"]["band"]) == ("dVH", "dNDVI")
    # a region that does not ask for the contrast check or the object filter (Region's defaults)
    set_region(project, require_contrast=None, require_objects=None, objects_sensors=None, objects_stage=None)
    cat = load_catalog(project.catalog)
    ctx = prepare_pass(cat, project, "norway", RUN_DATE)
    m = {"sensors": np.array([[1, 2, 0]], np.uint8), "dndvi": np.array([[0.5, -0.4, -0.9]], np.float32),
         "dvh": np.array([[-3.0, 7.0, -9.0]], np.float32)}
    change, limit = pass_evidence(ctx, m)
    assert change[0, :2] == pytest.approx([-3.0, -0.4]) and np.isnan(change[0, 2])
    assert limit[0, :2] == pytest.approx([limits["s1"]["max_object_median"], limits["s1s2"]["max_object_median"]])
    assert np.isnan(limit[0, 2])  # nothing decided that pixel
    assert pass_contrast_limit(ctx, m) is None  # the contrast check is opt-in
    set_region(project, require_contrast=True)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    contrast = pass_contrast_limit(ctx, m)  # how far below its surroundings the change must be
    assert contrast[0, :2] == pytest.approx([limits["s1"]["max_object_contrast"],
                                             limits["s1s2"]["max_object_contrast"]])
    assert np.isnan(contrast[0, 2])

    result = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    summary = json.loads((result.out_dir / "pass.json").read_text())
    assert summary["filtered"]["change"] > 0 and summary["filtered"] == result.filtered

    set_region(project, require_change=False)
    assert pass_evidence(prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE), m) is None
    assert pass_contrast_limit(prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE), m) is None


def test_object_filter_is_opt_in_and_judges_each_pixel_by_the_ensemble_that_decided_it(project):
    """Ensembles built from the stacks carry an object filter (train.objects) and the threshold of
    their filtered members combined; with the region's require_objects a pass uses, where the
    deciding ensemble's filter applies, that filtered score at that threshold: as the detection map
    (objects_stage detect), or to mark the detections it did not keep (confirm)."""
    from gee_landslide.monitor.decisions import pass_object_stage
    from gee_landslide.monitor.pass_context import load_pass_ensembles
    from gee_landslide.train.ensemble import build_ensemble

    for setting, k in (("s1", 1), ("s1s2", 2)):
        build_ensemble(project.runs, project.ensembles, setting, k=k, name=setting, stacks_dir=project.stacks)
    shape = (40, 40)
    m = {"score": np.zeros(shape, np.float32), "objects_score": np.zeros(shape, np.float32),
         "sensors": np.full(shape, 2, np.uint8)}
    m["score"][5:10, 5:30] = 0.9  # a detection the filter keeps...
    m["objects_score"][5:10, 5:30] = 0.95
    m["score"][20:30, 20:30] = 0.9  # ...one it drops...
    m["score"][30:34, 2:6] = 0.3  # ...and pixels only the filtered ensemble's threshold admits
    set_region(project, require_objects=None, objects_sensors=None, objects_stage=None)  # Region's defaults
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    score, thr, rejects, dropped = pass_object_stage(ctx, m, 0.5)
    assert score is m["score"] and thr == 0.5 and rejects is None and dropped == 0  # off by default

    set_region(project, require_objects=True, objects_stage="detect")
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    ens = load_pass_ensembles(ctx)
    assert all(e.object_filter is not None and 0 < e.filtered_threshold < 1 for e in ens.values())
    t_opt = ens["optical"].filtered_threshold
    m["objects_score"][30:34, 2:6] = (t_opt + 1) / 2  # above the filtered threshold
    score, thr, rejects, dropped = pass_object_stage(ctx, m, 0.5)
    assert rejects is None and dropped == 1  # the second detection
    assert np.array_equal(score, m["objects_score"]) and np.all(thr == t_opt)

    set_region(project, objects_stage="confirm")  # detection stays the pass's; what was not kept is marked
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    score, thr, rejects, dropped = pass_object_stage(ctx, m, 0.5)
    assert score is m["score"] and thr == 0.5 and dropped == 0
    expected = np.zeros(shape, bool)
    expected[20:30, 20:30] = True
    assert np.array_equal(rejects, expected)

    # where Sentinel-1 decided, its own ensemble's filter judges, unless objects_sensors: optical
    m["sensors"][:, 20:] = 1
    t_s1 = ens["s1"].filtered_threshold
    set_region(project, objects_stage="detect")
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    _, thr, _, _ = pass_object_stage(ctx, m, 0.5)
    assert np.all(thr[:, :20] == t_opt) and np.all(thr[:, 20:] == t_s1)
    set_region(project, objects_sensors="optical")
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    score, thr, _, dropped = pass_object_stage(ctx, m, 0.5)
    assert np.all(thr[:, 20:] == 0.5) and np.array_equal(score[:, 20:], m["score"][:, 20:]) and dropped == 0


def test_a_pass_computes_the_filtered_score_per_tile_where_the_filter_applies(project):
    """predict_tile gives the deciding ensemble's object-filtered score (members' objects judged one
    by one) where the region's filter applies, and NaN where it does not (Sentinel-1 pixels under
    objects_sensors: optical)."""
    from gee_landslide.monitor.pass_context import load_pass_ensembles
    from gee_landslide.monitor.runner import predict_tile
    from gee_landslide.monitor.tile_inputs import fetch_tile_stack
    from gee_landslide.train.ensemble import build_ensemble

    build_ensemble(project.runs, project.ensembles, "s1s2", k=2, name="s1s2", stacks_dir=project.stacks)
    build_ensemble(project.runs, project.ensembles, "s1", k=1, name="s1", stacks_dir=project.stacks)
    set_region(project, require_objects=True, objects_sensors="optical", objects_stage="detect")
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    tile = ctx.tiles[0]
    stack, truth = fetch_tile_stack(ctx, tile.read_grid(ctx.grid), tile.key)
    r = predict_tile(ctx, tile, stack, truth)
    optical = r.sensors == 2
    assert optical.any() and (~optical).any()
    assert np.isfinite(r.objects_score[optical]).all() and np.isnan(r.objects_score[~optical]).all()
    pred, kept = load_pass_ensembles(ctx)["optical"].predict_with_objects(stack)
    core = tile.core_slices()
    assert np.allclose(r.objects_score[optical], kept[core][optical])
    assert np.allclose(r.mean[optical], pred.mean[core][optical])


def test_stale_optical_pixels_leave_the_decision_to_sentinel1_unless_the_optical_ensemble_detects(project):
    """optical_look_days: where the composite is clear but no clear Sentinel-2 look fell in the
    latest days, the optical ensemble's detections still count, its silence does not (S1 decides)."""
    from gee_landslide.monitor.pass_context import load_pass_ensembles
    from gee_landslide.monitor.runner import predict_tile
    from gee_landslide.monitor.tile_inputs import fetch_tile_look

    _cat, ctx, tile, grid, stack, truth = first_tile(project, optical_look_days=12)
    look = fetch_tile_look(ctx, grid, tile.key)
    assert look is not None and look.shape == stack.shape[1:]
    plain = predict_tile(ctx, tile, stack, truth)  # every clear composite pixel decided by the optical ensemble
    core = tile.core_slices()
    stale = (plain.sensors == 2) & ~look[core]
    fresh = (plain.sensors == 2) & look[core]
    assert stale.any() and fresh.any()  # 2025-08-01: the latest 12 days were cloudy over part of the tile
    # a threshold that splits the stale pixels, so both branches are exercised
    opt_score = plain.score[stale]
    thr = float(np.quantile(opt_score, 0.9))
    ctx = replace(ctx, threshold=thr)
    r = predict_tile(ctx, tile, stack, truth, look=look)
    s1_only = predict_tile(replace(ctx, strategy="s1-only"), tile, stack, truth)
    plain = predict_tile(ctx, tile, stack, truth)
    detects = stale & (plain.score >= thr)
    silent = stale & ~(plain.score >= thr)
    assert detects.any() and silent.any()
    assert (r.sensors[fresh] == 2).all() and np.array_equal(r.mean[fresh], plain.mean[fresh])
    assert (r.sensors[detects] == 2).all() and np.array_equal(r.mean[detects], plain.mean[detects])
    assert (r.sensors[silent] == 1).all() and np.array_equal(r.mean[silent], s1_only.mean[silent])
    cloudy = plain.sensors == 1
    assert (r.sensors[cloudy] == 1).all() and np.array_equal(r.mean[cloudy], s1_only.mean[cloudy])
    # the other strategies ignore the look: optical-only keeps deciding every clear pixel
    o = predict_tile(replace(ctx, strategy="optical-only"), tile, stack, truth, look=look)
    assert (o.sensors[stale] == 2).all()
    assert set(load_pass_ensembles(ctx)) == {"s1", "optical"}


def test_the_recent_look_is_the_same_from_the_calendar_and_from_a_fetched_tile(project, monkeypatch):
    """The simulator answers from its cloud calendar; any other source (Earth Engine) is asked for the
    tile over the look window, whose dNDVI is finite exactly where both windows had a clear look."""
    from gee_landslide.monitor.tile_inputs import fetch_tile_look, fetch_tile_stack
    from gee_landslide.sources.simulated import SimulatedSource

    set_region(project, optical_look_days=12)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    window = ctx.region.optical_look_window(ctx.post)
    assert window is not None and window.end == ctx.post.end and window.days == 12
    tile = ctx.tiles[0]
    grid = tile.read_grid(ctx.grid)
    from_calendar = fetch_tile_look(ctx, grid, tile.key)
    monkeypatch.delattr(SimulatedSource, "fetch_clear_look")
    from_tile = fetch_tile_look(ctx, grid, tile.key)
    stack, _ = fetch_tile_stack(ctx, grid, tile.key)
    pre_clear = np.isfinite(stack[14])  # dNDVI finite: the pre composite had a clear pixel too
    assert pre_clear.any() and from_calendar[pre_clear].any() and (~from_calendar[pre_clear]).any()
    np.testing.assert_array_equal(from_tile[pre_clear], from_calendar[pre_clear])
    assert not from_tile[~from_calendar].any()  # no finite dNDVI without a clear look
    # no look mask when the option is off, when it spans the whole post window, or for other strategies
    set_region(project, optical_look_days=None)
    assert fetch_tile_look(prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE), grid) is None
    set_region(project, optical_look_days=30)
    assert fetch_tile_look(prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE), grid) is None
    set_region(project, optical_look_days=12)
    s1 = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE, strategy="s1-only")
    assert fetch_tile_look(s1, grid) is None


def test_stale_pixels_may_still_retract_a_candidate_first_seen_before_the_post_window(project):
    """The store judges retraction by every clear composite pixel (its own can_judge rule keeps
    silence from counting against a candidate younger than the window); without the option, by the
    pixels the optical ensemble decided, as before."""
    from gee_landslide.monitor.confirm_rules import retraction_view

    sensors = np.array([[2, 1, 1, 0]], np.uint8)
    dndvi = np.array([[-0.1, 0.05, np.nan, 0.2]], np.float32)  # fresh, stale, cloudy, undecided
    m = {"sensors": sensors, "dndvi": dndvi}
    set_region(project, optical_look_days=12)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    np.testing.assert_array_equal(retraction_view(ctx, m), [[2, 2, 1, 0]])
    np.testing.assert_array_equal(retraction_view(replace(ctx, strategy="optical-only"), m), sensors)
    set_region(project, optical_look_days=None)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    np.testing.assert_array_equal(retraction_view(ctx, m), sensors)


def test_the_s1_ensemble_reads_its_own_shorter_sentinel1_window(project):
    """s1_ensemble_post_days: the S1 ensemble decides from a stack whose Sentinel-1 post median covers
    only the latest days; the optical ensemble keeps the pass's stack, and the SAR change an alert reads
    (and the change-evidence check judges) is the deciding ensemble's stack's."""
    from gee_landslide.monitor.runner import predict_tile
    from gee_landslide.monitor.tile_inputs import fetch_tile_s1_stack

    cat, ctx, tile, grid, stack, truth = first_tile(project, s1_ensemble_post_days=6)
    own = fetch_tile_s1_stack(ctx, grid, tile.key)
    assert own is not None and own.shape == stack.shape
    post_sar = [1, 2, 4, 5]  # postVV, dVV, postVH, dVH
    same = [0, 3, 6, 7, 8, 9, 10, 11, 12, 14]  # pre SAR, geometry, terrain, climate, trees, dNDVI
    np.testing.assert_array_equal(own[same], stack[same])
    assert not np.allclose(own[post_sar], stack[post_sar], equal_nan=True)  # one look against two
    r = predict_tile(ctx, tile, stack, truth, s1_stack=own)
    plain = predict_tile(ctx, tile, stack, truth)
    s1_own = predict_tile(replace(ctx, strategy="s1-only"), tile, own, truth)
    s1, opt = r.sensors == 1, r.sensors == 2
    assert s1.any() and opt.any() and np.array_equal(r.sensors, plain.sensors)
    np.testing.assert_array_equal(r.mean[opt], plain.mean[opt])
    np.testing.assert_array_equal(r.mean[s1], s1_own.mean[s1])
    assert not np.array_equal(r.mean[s1], plain.mean[s1])
    core = tile.core_slices()
    np.testing.assert_array_equal(r.dvh[s1], own[5][core][s1])
    np.testing.assert_array_equal(r.dvh[opt], stack[5][core][opt])
    # what persistence asks to hold: the pass's own stack, the full Sentinel-1 post window
    np.testing.assert_array_equal(r.dvh_window, stack[5][core])
    assert plain.dvh_window is None
    # a whole pass runs with it (process_tile fetches the second stack itself)
    result = run_pass(cat, project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    assert set(np.unique(_read(result.out_dir / "sensors.tif"))) == {1, 2}
    # no second stack for a strategy without the S1 ensemble, nor unless the region asks for one
    assert fetch_tile_s1_stack(replace(ctx, strategy="optical-only"), grid, tile.key) is None
    set_region(project, s1_ensemble_post_days=None)
    assert fetch_tile_s1_stack(prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE),
                               grid, tile.key) is None


def test_a_detection_is_a_second_optical_look_by_the_regions_rule(project):
    """confirm_rules.optical_look_of, by the region's optical_confirm_look: ``recent`` = most of the
    detection's optical pixels had a clear image in the latest optical_look_days; ``new`` = that, from
    a pass that many days after the earlier detection (without a look raster: a whole Sentinel-2 post
    window after it); ``any`` and S1-only passes: no rule. A pass of any strategy that reads Sentinel-2
    carries the look raster into its tiles where its rule uses it."""
    from types import SimpleNamespace

    from shapely.geometry import box

    from gee_landslide.monitor.confirm_rules import optical_look_of
    from gee_landslide.monitor.runner import process_tile
    from gee_landslide.monitor.tile_inputs import fetch_tile_look

    def ctx_with(**region: object):
        set_region(project, **region)
        return prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)

    ctx = ctx_with(optical_look_days=12, optical_confirm_look="new")
    h, w = ctx.grid.shape
    x0, y0, x1, y1 = ctx.grid.bounds
    mid = (x0 + x1) / 2
    left = SimpleNamespace(geometry=box(x0 + 50, y0 + 50, mid - 50, y1 - 50))
    right = SimpleNamespace(geometry=box(mid + 50, y0 + 50, x1 - 50, y1 - 50))
    look = np.zeros((h, w), np.float32)
    look[:, : w // 2] = 1.0
    sensors = np.full((h, w), 2, np.uint8)
    m = {"sensors": sensors, "look": look}
    rule = optical_look_of(ctx, m)
    assert rule.span_days == 12
    assert rule.fresh([left]) and not rule.fresh([right])
    assert rule.fresh([left, right]) == (look[sensors == 2].mean() >= 0.5)
    # pixels the S1 ensemble decided do not count: a detection over none of the optical ones is not stale
    assert optical_look_of(ctx, {"sensors": np.where(look > 0, 2, 1).astype(np.uint8), "look": look}).fresh([right])
    no_raster = optical_look_of(ctx, {"sensors": sensors, "look": np.full((h, w), np.nan, np.float32)})
    assert no_raster.span_days == ctx.region.s2_post_window(ctx.post).days and no_raster.fresh([right])
    assert optical_look_of(replace(ctx, strategy="s1-only"), m) is None

    recent = optical_look_of(ctx_with(optical_confirm_look="recent"), m)
    assert recent.span_days == 0 and recent.fresh([left]) and not recent.fresh([right])
    assert optical_look_of(ctx_with(optical_confirm_look=None), m) is None  # the default: any
    off = ctx_with(optical_look_days=None, optical_confirm_look="new")
    assert optical_look_of(off, m).span_days == off.region.s2_post_window(off.post).days

    ctx_with(optical_look_days=12, optical_confirm_look="recent")
    optical = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE, strategy="optical-only")
    tile = optical.tiles[0]
    expected = fetch_tile_look(optical, tile.read_grid(optical.grid), tile.key)
    result = process_tile(optical, tile)
    np.testing.assert_array_equal(result.look, expected[tile.core_slices()].astype(np.float32))
    # with any later look, nothing reads the mask outside SAR-first: it is not fetched
    ctx_with(optical_look_days=12, optical_confirm_look=None)
    optical = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE, strategy="optical-only")
    assert fetch_tile_look(optical, tile.read_grid(optical.grid), tile.key) is None
    assert process_tile(optical, tile).look is None
