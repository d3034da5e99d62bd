"""Ensembles and the report are kept when nothing they are computed from changed, and redone when anything did."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers_stacks import make_trained_project

import gee_landslide.train.ensemble as ensemble_mod
import gee_landslide.train.report as report_mod
from gee_landslide.core.catalog import load_catalog
from gee_landslide.train.ensemble import build_ensemble, build_ensemble_if_changed
from gee_landslide.train.fingerprint import code_digest, stacks_digest
from gee_landslide.train.report import write_report_if_changed


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_trained_project(tmp_path_factory.mktemp("proj"), ["s2"], ["Linknet", "PSPNet"], ["BCE"])[0]


def _stamp(path):
    man = json.loads(path.read_text())
    return path.stat().st_mtime_ns, man["created"], man["inputs_digest"]


def test_an_ensemble_is_kept_while_its_inputs_hold_and_rebuilt_when_one_changes(project, tmp_path, monkeypatch):
    ens = tmp_path / "ensembles"
    path = build_ensemble(project.runs, ens, "s2", 2, stacks_dir=project.stacks)
    first = _stamp(path)
    assert build_ensemble(project.runs, ens, "s2", 2, stacks_dir=project.stacks) == path
    assert _stamp(path) == first  # same members, weights, stacks, options, code: not rewritten
    assert build_ensemble_if_changed(project.runs, ens, "s2", 2, stacks_dir=project.stacks) == (path, False)
    # each of these changes what the manifest would hold, so each rebuilds
    assert build_ensemble_if_changed(project.runs, ens, "s2", 2, stacks_dir=project.stacks, threshold=0.4) == (path, True)
    second = _stamp(path)
    assert second[2] != first[2] and json.loads(path.read_text())["threshold"] == 0.4
    monkeypatch.setattr(ensemble_mod, "code_digest", lambda: "other code")
    build_ensemble(project.runs, ens, "s2", 2, stacks_dir=project.stacks, threshold=0.4)
    third = _stamp(path)
    assert third[2] != second[2]
    # a lost object table is rebuilt even with the same inputs; rebuild=True always rebuilds
    table = path.parent / json.loads(path.read_text())["objects"]["file"]
    table.unlink()
    build_ensemble(project.runs, ens, "s2", 2, stacks_dir=project.stacks, threshold=0.4)
    assert _stamp(path)[0] != third[0] and table.exists()
    before = _stamp(path)
    build_ensemble(project.runs, ens, "s2", 2, stacks_dir=project.stacks, threshold=0.4, rebuild=True)
    assert _stamp(path)[0] != before[0] and _stamp(path)[2] == before[2]


def test_stacks_digest_sees_a_changed_byte_and_another_event(project, tmp_path):
    stacks = tmp_path / "stacks"
    shutil.copytree(project.stacks, stacks)
    events = sorted(p.name for p in stacks.iterdir() if p.is_dir())
    d0 = stacks_digest(stacks, events)
    assert stacks_digest(stacks, events) == d0 and stacks_digest(stacks, events[:-1]) != d0
    f = stacks / events[0] / "stack.tif"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    assert stacks_digest(stacks, events) != d0
    assert len(code_digest()) == 64


def test_the_report_is_kept_while_its_inputs_hold(project, monkeypatch):
    options = {"settings": ["s2"], "ks": (2,), "map_k": 2, "catalog": load_catalog(project.catalog),
               "n_heldout": 1, "baselines": False, "objects": False}
    md, written = write_report_if_changed(project.runs, project.stacks, project.reports, **options)
    assert written and md.exists()
    digest = json.loads((project.reports / "skill.json").read_text())["inputs_digest"]
    calls = []
    real = report_mod.write_report
    monkeypatch.setattr(report_mod, "write_report", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert write_report_if_changed(project.runs, project.stacks, project.reports, **options) == (md, False)
    assert not calls
    # another option, a rebuild request, or a report whose digest is missing: written again
    assert write_report_if_changed(project.runs, project.stacks, project.reports, **{**options, "n_heldout": 2})[1]
    assert json.loads((project.reports / "skill.json").read_text())["inputs_digest"] != digest
    assert write_report_if_changed(project.runs, project.stacks, project.reports, rebuild=True, **options)[1]
    (project.reports / "skill.json").write_text("{}")
    assert write_report_if_changed(project.runs, project.stacks, project.reports, **options)[1]
    assert len(calls) == 3
