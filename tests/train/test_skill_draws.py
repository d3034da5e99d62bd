"""benchmarks/bench_skill_draws.py: several draws of a sweep summarised per method and per architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_bench import load_benchmark


@pytest.fixture
def draws(monkeypatch):
    return load_benchmark("bench_skill_draws", monkeypatch)


def _method(test: float, held: float) -> dict:
    return {"test": {"f1": test}, "heldout_mean_f1": held}


def _run(arch: str, val: float, test: float, held: float) -> dict:
    return {"architecture": arch, "val_f1": val, "test": {"f1": test}, "heldout_mean_f1": held}


def _root(tmp_path: Path, name: str, single: float, ens: float, chosen: int, runs: list[dict],
          heldout: list[str] | None = None) -> Path:
    root = tmp_path / name
    (root / "artifacts" / "reports").mkdir(parents=True)
    skill = {
        "heldout_events": heldout or ["h1", "h2"],
        "baselines": [{"method": "dNDVI rule", **_method(0.60, 0.70)}],
        "s1s2": {"runs": 3, "k_on_validation": {"chosen": chosen}, "runs_alone": runs,
                 "methods": {"single best": _method(single, 0.80), "ensemble 2": _method(0.71, 0.81),
                             "ensemble 3": _method(ens, 0.90), "ensemble 3 + objects": _method(ens + 0.1, 0.95),
                             "single best + objects": _method(single + 0.05, 0.97)}},
    }
    (root / "artifacts" / "reports" / "skill.json").write_text(json.dumps(skill))
    return root


def test_draws_are_summarised_per_method_and_per_architecture(draws, tmp_path, capsys):
    a = _root(tmp_path, "a", single=0.80, ens=0.70, chosen=2,
              runs=[_run("Unet", 0.9, 0.80, 0.85), _run("FPN", 0.8, 0.50, 0.70)])
    b = _root(tmp_path, "b", single=0.60, ens=0.74, chosen=3,
              runs=[_run("Unet", 0.8, 0.70, 0.75), _run("FPN", 0.9, 0.60, 0.80)])
    assert draws.main([str(a), str(b), "--settings", "s1s2"]) == 0
    out = capsys.readouterr().out
    # the ensemble of all 3 runs: 0.70 and 0.74, mean 0.720, range 0.700-0.740
    assert "| S1+S2 ensemble of all runs | 0.700 / 0.900 | 0.740 / 0.900 | 0.720 / 0.900 | 0.700-0.740 / 0.900-0.900 |" in out
    # K on validation is each draw's own K: ensemble 2 on draw a, ensemble 3 on draw b
    assert "| S1+S2 ensemble, K on validation | 0.710 / 0.810 | 0.740 / 0.900 |" in out
    assert "the single best, test / held-out: -0.100 / +0.100, +0.140 / +0.100; ahead on the test event in 1 of 2 draws; mean +0.020 / +0.100" in out
    # with the object filter on both: 0.80 - 0.85 and 0.84 - 0.65, held-out 0.95 - 0.97
    assert ("the single best, both + objects, test / held-out: -0.050 / -0.020, +0.190 / -0.020; ahead on the test "
            "event in 1 of 2 draws; mean +0.070 / -0.020") in out
    # architectures over both draws, the best mean test F1 first
    unet = out.index("| Unet | 2 | 0.850 | 0.750 (0.700-0.800) | 0.800 |")
    fpn = out.index("| FPN | 2 | 0.850 | 0.550 (0.500-0.600) | 0.750 |")
    assert unet < fpn


def test_draws_of_other_stacks_are_refused(draws, tmp_path, capsys):
    a = _root(tmp_path, "a", 0.8, 0.7, 2, [])
    b = _root(tmp_path, "b", 0.8, 0.7, 2, [], heldout=["h1", "h3"])
    assert draws.main([str(a), str(b), "--settings", "s1s2"]) == 2
    out = capsys.readouterr().out
    assert str(b / "artifacts" / "reports" / "skill.json") in out and "heldout_events" in out


def test_a_root_without_a_report_says_how_to_make_one(draws, tmp_path, capsys):
    a = _root(tmp_path, "a", 0.8, 0.7, 2, [])
    assert draws.main([str(a), str(tmp_path / "empty")]) == 2
    out = capsys.readouterr().out
    assert "skill.json: missing" in out and "bench_skill.py --root" in out
