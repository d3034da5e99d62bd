"""Detection skill over several draws of one sweep: each method's mean and range, and each architecture's.

One sweep is one draw of the training randomness (initial weights, crop order). With four validation
events, which run validation calls best changes from draw to draw, and a single draw cannot say
whether an ensemble's lead or loss against that run is typical. Train the same profile with other
``seed:`` values on the same stacks (each in its own root, docs/experiments.md session 33), run
``benchmarks/bench_skill.py --root ROOT`` on each, then::

    python benchmarks/bench_skill_draws.py ROOT [ROOT ...]

It reads each root's ``artifacts/reports/skill.json`` (written by ``bench_skill.py`` or ``ensemble
report``) and prints, as Markdown, test F1 / held-out mean F1:

- per method (baselines, single best by validation, K = 5, the ensemble of all runs, the ensemble at
  the K chosen on validation, each with and without the object filter): every draw, the mean of the
  draws and their range;
- per setting, how often and by how much the ensemble of all runs beat the single best run;
- per architecture: the mean over its runs of all draws (validation F1, test F1 and its range,
  held-out mean F1), which shows whether the architecture or the draw decides a run's skill.

The roots must score the same held-out scenes with the same test-event baselines (the same stacks),
or the means would mix different questions; the script refuses them otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gee_landslide.train.figures import SETTING_LABEL


class DrawsError(ValueError):
    """The roots cannot be compared; the message names the file and what differs."""


@dataclass(frozen=True)
class Score:
    """Test F1 on the test event(s) and mean F1 over the held-out scenes."""

    test: float
    heldout: float

    @classmethod
    def of(cls, method: dict[str, Any]) -> Score:
        return cls(float(method["test"]["f1"]), float(method["heldout_mean_f1"]))


def load_skill(root: Path) -> dict[str, Any]:
    """A root's ``skill.json``, or a :class:`DrawsError` saying how to make it."""
    path = Path(root) / "artifacts" / "reports" / "skill.json"
    if not path.is_file():
        raise DrawsError(f"{path}: missing; run `python benchmarks/bench_skill.py --root {root}` first")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DrawsError(f"{path}: not JSON ({exc})") from None


def method_scores(skill: dict[str, Any], setting: str) -> dict[str, Score]:
    """The methods of one setting in one draw, named alike across draws: ``ensemble of all runs``
    and ``K on validation`` stand for ``ensemble N`` at that draw's run count or chosen K."""
    block = skill[setting]
    methods = block["methods"]
    chosen = (block.get("k_on_validation") or {}).get("chosen")
    pairs = [("single best", "single best"), ("ensemble 5", "ensemble 5"),
             (f"ensemble {block['runs']}", "ensemble of all runs")]
    if chosen is not None:
        pairs.append(("single best" if chosen == 1 else f"ensemble {chosen}", "ensemble, K on validation"))
    out: dict[str, Score] = {}
    for source, name in pairs:
        for suffix in ("", " + objects"):
            if source + suffix in methods:
                out[name + suffix] = Score.of(methods[source + suffix])
    return out


def check_comparable(skills: Sequence[dict[str, Any]], roots: Sequence[Path]) -> None:
    """The same held-out scenes and the same baseline scores in every root, else :class:`DrawsError`."""
    first = skills[0]
    for skill, root in zip(skills[1:], roots[1:], strict=True):
        path = Path(root) / "artifacts" / "reports" / "skill.json"
        if skill.get("heldout_events") != first.get("heldout_events"):
            raise DrawsError(f"{path}: field heldout_events {skill.get('heldout_events')} differs from "
                             f"{roots[0]}'s {first.get('heldout_events')}: not the same held-out scenes")
        names, first_names = ([x["method"] for x in s.get("baselines", [])] for s in (skill, first))
        if names != first_names:
            raise DrawsError(f"{path}: field baselines holds {names}, {roots[0]}'s {first_names}")
        for a, b in zip(skill.get("baselines", []), first.get("baselines", []), strict=True):
            if abs(a["test"]["f1"] - b["test"]["f1"]) > 1e-9:
                raise DrawsError(f"{path}: field baselines, {a['method']} test F1 {a['test']['f1']:.4f} differs from "
                                 f"{roots[0]}'s {b['test']['f1']:.4f}: not the same stacks")


def _cell(s: Score) -> str:
    return f"{s.test:.3f} / {s.heldout:.3f}"


def _summary(scores: Sequence[Score]) -> tuple[str, str]:
    t = [s.test for s in scores]
    h = [s.heldout for s in scores]
    mean = f"{statistics.fmean(t):.3f} / {statistics.fmean(h):.3f}"
    return mean, f"{min(t):.3f}-{max(t):.3f} / {min(h):.3f}-{max(h):.3f}"


def methods_table(skills: Sequence[dict[str, Any]], settings: Sequence[str]) -> list[str]:
    """Markdown rows: every method present in all draws, per draw, mean and range."""
    n = len(skills)
    lines = ["| method | " + " | ".join(f"draw {i + 1}" for i in range(n)) + " | mean | range |",
             "|---|" + "---|" * (n + 2)]
    for b in skills[0].get("baselines", []):
        s = Score.of(b)
        lines.append(f"| {b['method']} | " + " | ".join(_cell(s) for _ in range(n)) + f" | {_cell(s)} | |")
    for setting in settings:
        per_draw = [method_scores(sk, setting) for sk in skills]
        for name in per_draw[0]:
            if all(name in d for d in per_draw):
                scores = [d[name] for d in per_draw]
                mean, rng = _summary(scores)
                lines.append(f"| {SETTING_LABEL.get(setting, setting)} {name} | "
                             + " | ".join(_cell(s) for s in scores) + f" | {mean} | {rng} |")
    return lines


def ensemble_against_single(skills: Sequence[dict[str, Any]], settings: Sequence[str]) -> list[str]:
    """Per setting: the ensemble of all runs minus the single best run, per draw and on average; and
    the same with the object filter on both, where every draw has it.

    Why both: issue #9 checks the pair with and without the filter, and on the demo's profile they
    part ways (session 42: the plain S1+S2 ensemble ahead of its best run on average, the filtered S2
    ensemble behind its filtered best run on all four draws). One line each shows which is systematic.
    """
    lines = []
    for setting in settings:
        label = SETTING_LABEL.get(setting, setting)
        per_draw = [method_scores(sk, setting) for sk in skills]
        for suffix in ("", " + objects"):
            ens, single = "ensemble of all runs" + suffix, "single best" + suffix
            if not all(ens in m and single in m for m in per_draw):
                continue
            diffs = [Score(m[ens].test - m[single].test, m[ens].heldout - m[single].heldout) for m in per_draw]
            ahead = sum(d.test > 0 for d in diffs)
            what = "the ensemble of all runs minus the single best" + (", both + objects" if suffix else "")
            lines.append(f"- {label}: {what}, test / held-out: "
                         f"{', '.join(f'{d.test:+.3f} / {d.heldout:+.3f}' for d in diffs)}; ahead on the test "
                         f"event in {ahead} of {len(diffs)} draws; mean "
                         f"{statistics.fmean(d.test for d in diffs):+.3f} / "
                         f"{statistics.fmean(d.heldout for d in diffs):+.3f}")
    return lines


def architecture_table(skills: Sequence[dict[str, Any]], setting: str) -> list[str]:
    """Markdown rows: each architecture's runs over all draws, best mean test F1 first."""
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for sk in skills:
        for run in sk[setting].get("runs_alone", []):
            by_arch.setdefault(run["architecture"], []).append(run)
    rows = []
    for arch, runs in by_arch.items():
        tests = [r["test"]["f1"] for r in runs]
        rows.append((statistics.fmean(tests), arch, len(runs), statistics.fmean(r["val_f1"] for r in runs),
                     min(tests), max(tests), statistics.fmean(r["heldout_mean_f1"] for r in runs)))
    lines = [f"| {SETTING_LABEL.get(setting, setting)} architecture | runs | validation F1 | test F1 (range) | held-out mean F1 |",
             "|---|---|---|---|---|"]
    for test, arch, n, val, lo, hi, held in sorted(rows, reverse=True):
        lines.append(f"| {arch} | {n} | {val:.3f} | {test:.3f} ({lo:.3f}-{hi:.3f}) | {held:.3f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="project roots, one per draw, each with its skill.json")
    ap.add_argument("--settings", default="s2,s1s2")
    a = ap.parse_args(argv)
    settings = a.settings.split(",")
    try:
        skills = [load_skill(r) for r in a.roots]
        check_comparable(skills, a.roots)
        for s in settings:
            for sk, root in zip(skills, a.roots, strict=True):
                if s not in sk:
                    raise DrawsError(f"{root}/artifacts/reports/skill.json: no setting {s!r} (has "
                                     f"{', '.join(k for k in sk if k in SETTING_LABEL)})")
    except DrawsError as exc:
        print(f"error: {exc}")
        return 2
    print(f"{len(skills)} draws: " + ", ".join(str(r) for r in a.roots))
    print("\ntest F1 on the test event / mean F1 on the held-out scenes\n")
    print("\n".join(methods_table(skills, settings)))
    print()
    print("\n".join(ensemble_against_single(skills, settings)))
    for s in settings:
        print()
        print("\n".join(architecture_table(skills, s)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
