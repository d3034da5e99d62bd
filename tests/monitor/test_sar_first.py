"""SAR-first passes (issue #10): per-pixel model choice by what the sensors saw."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers_project import PROFILE, copy_project
from ruamel.yaml import YAML

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.monitor.runner import MonitoringError, prepare_pass, run_pass

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
    # with one look, what Sentinel-2 saw is confirmed at once
    shutil.rmtree(project.alerts)
    set_region(project, confirm_looks=1)
    run_pass(load_catalog(project.catalog), project, "norway", RUN_DATE, "simulated", threshold=LOW_THRESHOLD)
    props = [f["properties"] for f in json.loads((project.alerts / "alerts.geojson").read_text())["features"]]
    assert props and all(p["stage"] == ("candidate" if p["sensors"] == "S1" else "confirmed") for p in props)


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
    from gee_landslide.monitor.runner import pass_contrast_limit, pass_evidence
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
    """Ensembles built from the stacks carry an object filter (train.objects); with the region's
    require_objects a pass asks the deciding ensemble's filter about each detected object."""
    from gee_landslide.monitor.runner import load_pass_ensembles, pass_object_rejects
    from gee_landslide.train.ensemble import build_ensemble

    for setting, k in (("s1", 1), ("s1s2", 2)):
        build_ensemble(project.runs, project.ensembles, setting, k=k, name=setting, stacks_dir=project.stacks)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    shape = (40, 40)
    m = {k: np.zeros(shape, np.float32) for k in ("dndvi", "dvv", "dvh", "slope", "elevation", "tree_height",
                                                  "landcover")}
    m["score"] = np.zeros(shape, np.float32)
    m["score"][5:10, 5:30] = 0.9
    m["score"][20:30, 20:30] = 0.9
    m["sensors"] = np.full(shape, 2, np.uint8)
    set_region(project, require_objects=None, objects_sensors=None, objects_stage=None)  # Region's defaults
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    assert pass_object_rejects(ctx, m, 0.5) is None  # off by default
    set_region(project, require_objects=True)
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    ens = load_pass_ensembles(ctx)
    assert all(e.object_filter is not None for e in ens.values())
    rejects = pass_object_rejects(ctx, m, 0.5)
    assert rejects.shape == shape and not (rejects & (m["score"] < 0.5)).any()
    # the optical ensemble's filter decides every detected pixel here, object by object
    from gee_landslide.train.objects import object_features

    flt = ens["optical"].object_filter
    stack = np.full((15, *shape), np.nan, np.float32)
    for band, key in (("dNDVI", "dndvi"), ("dVV", "dvv"), ("dVH", "dvh"), ("slope", "slope"),
                      ("elevation", "elevation"), ("tree_height", "tree_height"), ("CART_LC_classified", "landcover")):
        stack[BAND_NAMES.index(band)] = m[key]
    lab, X = object_features(stack, m["score"], m["score"] >= 0.5, flt.setting)
    drop = flt.object_prob(X) < flt.threshold
    for i in range(len(X)):
        assert bool(rejects[lab == i + 1].all()) == bool(drop[i])
    # objects_sensors: optical leaves the Sentinel-1 decisions alone (its first alerts stay fast)
    m["sensors"][:] = 1
    s1 = ens["s1"].object_filter
    lab, X = object_features(stack, m["score"], m["score"] >= 0.5, s1.setting)
    expected = np.isin(lab, 1 + np.flatnonzero(s1.object_prob(X) < s1.threshold))
    assert np.array_equal(pass_object_rejects(ctx, m, 0.5), expected)
    set_region(project, require_objects=True, objects_sensors="optical")
    ctx = prepare_pass(load_catalog(project.catalog), project, "norway", RUN_DATE)
    assert not pass_object_rejects(ctx, m, 0.5).any()
