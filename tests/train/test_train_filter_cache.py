"""The ensemble build and the report fit each object filter once (gee_landslide.train.filter_cache)."""

from __future__ import annotations

import json

import pytest
from helpers_stacks import make_trained_project

import gee_landslide.train.objects as objects_mod
from gee_landslide.train.ensemble import build_ensemble, run_threshold
from gee_landslide.train.filter_cache import cache_dir, cached_filter, filter_key
from gee_landslide.train.report import write_report
from gee_landslide.train.runs import list_runs


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_trained_project(tmp_path_factory.mktemp("proj"), ["s2"], ["Linknet", "PSPNet"], ["BCE"])[0]


def _report(project, reports):
    write_report(project.runs, project.stacks, reports, ["s2"], ks=(2,), map_k=2, baselines=False)
    return json.loads((reports / "skill.json").read_text())


def test_the_report_reads_the_filter_the_build_fitted_and_scores_the_same(project, tmp_path, monkeypatch):
    runs = list_runs(project.runs, "s2")
    cache = cache_dir(runs)
    assert cache == project.models.resolve() / "cache" / "object_filters"
    man = json.loads(build_ensemble(project.runs, tmp_path / "ens", "s2", 2, stacks_dir=project.stacks).read_text())
    assert "file" in man["objects"], man["objects"]  # a filter was fitted (else nothing here is tested)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 2 and {p.rsplit(".", 1)[1] for p in entries} == {"json", "npz"}
    flt, _, _ = cached_filter("s2", runs, [run_threshold(r) for r in runs], project.stacks, "visible")
    assert flt is not None and flt.threshold == man["objects"]["threshold"] and flt.objects == man["objects"]["objects"]

    fits = []
    real = objects_mod.fit_object_filter
    monkeypatch.setattr(objects_mod, "fit_object_filter", lambda *a, **k: fits.append(1) or real(*a, **k))
    cached_report = _report(project, tmp_path / "r1")
    assert fits == []  # the report fitted nothing: it read the build's filter
    # the same figures as a report that fits its own filter from scratch
    for p in cache.iterdir():
        p.unlink()
    fresh = _report(project, tmp_path / "r2")
    assert fits == [1] and len(list(cache.iterdir())) == 2  # fitted once, and stored
    cached_report.pop("inputs_digest"), fresh.pop("inputs_digest")
    assert cached_report == fresh


def test_a_changed_table_or_input_is_a_miss(project, tmp_path):
    runs = list_runs(project.runs, "s2")
    mt = [run_threshold(r) for r in runs]
    build_ensemble(project.runs, tmp_path / "ens", "s2", 2, stacks_dir=project.stacks, rebuild=True)
    key = filter_key("s2", runs, mt, project.stacks, "visible")
    assert cached_filter("s2", runs, mt, project.stacks, "visible")[0] is not None
    # another threshold, another order of the runs, another mask: other filters
    assert filter_key("s2", runs, [t + 0.05 for t in mt], project.stacks, "visible") != key
    assert filter_key("s2", runs[::-1], mt[::-1], project.stacks, "visible") != key
    assert filter_key("s2", runs, mt, project.stacks, "none") != key
    # float32 thresholds (as the report holds them) name the same filter
    import numpy as np

    assert filter_key("s2", runs, list(np.asarray(mt, np.float32)), project.stacks, "visible") == key
    # a table that no longer matches its recorded SHA-256 is not trusted
    table = cache_dir(runs) / f"{key}.npz"
    table.write_bytes(table.read_bytes() + b"x")
    assert cached_filter("s2", runs, mt, project.stacks, "visible")[0] is None
    (cache_dir(runs) / f"{key}.json").write_text("{not json")
    assert cached_filter("s2", runs, mt, project.stacks, "visible")[0] is None
