"""Skill on landslide edges against the rest, per architecture, on the validation events only.

A run's validation F1 is dominated by the interiors of large slides, where every architecture does
well. The test event's thin debris flows are mostly edge, so a model that draws blobs can rank high
on validation and low on the test event. This splits each finished run's validation pixels into the
edge band (within 1 px of an outline, on either side: the ring the loss's ``boundary_weight``
stresses, ``train.metrics.edge_band``) and the rest, and scores the run on both at its own threshold
inside its evaluation mask. It reads the maps each run saved at training (``eval_probs.npz``), so it
takes seconds; it never reads the test event's labels.

    python benchmarks/bench_edge_f1.py ROOT [ROOT ...] [--settings s2,s1s2] [--runs]

Several roots (draws of one sweep, docs/experiments.md session 33) are averaged per architecture:
the mean over runs of validation F1, edge F1 and the rest's F1. ``--runs`` also prints every run.
Session 34 used it to find that FPN drew edges worst, and to check the change it led to.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.paths import project_paths
from gee_landslide.train.data import Scene, load_scenes
from gee_landslide.train.metrics import Counts, edge_counts, evaluation_mask
from gee_landslide.train.predictions import run_probs
from gee_landslide.train.runs import list_runs


@dataclass(frozen=True)
class EdgeSkill:
    """One run's validation skill, split into the edge band and the other pixels."""

    root: str
    run_id: str
    setting: str
    architecture: str
    val_f1: float
    edge: Counts
    rest: Counts


def run_edge_skill(rec: dict, scenes: Sequence[Scene], root: str = "") -> EdgeSkill:
    """Score one finished run on its validation ``scenes``, edges and the rest apart."""
    c = rec["config"]
    probs = run_probs(rec, scenes)
    edge, rest = Counts(), Counts()
    for sc in scenes:
        e, r = edge_counts(probs[sc.event_id], sc.labels, float(rec["threshold"]),
                           evaluation_mask(sc.stack, c.get("eval_mask", "visible")))
        edge, rest = edge + e, rest + r
    return EdgeSkill(root, rec["run_id"], c["setting"], c["architecture"], float(rec["best_val_f1"]), edge, rest)


def root_edge_skill(root: Path, settings: Sequence[str]) -> list[EdgeSkill]:
    """Every finished run of ``settings`` under ``root``; a root without any is an error naming it.
    The runs of a sweep share their validation events, so each set of them is read once."""
    paths = project_paths(root)
    scenes: dict[tuple[str, ...], list[Scene]] = {}
    out = []
    for s in settings:
        for rec in list_runs(paths.runs, s):
            val = tuple(rec["config"]["val_events"])
            if val not in scenes:
                scenes[val] = load_scenes(paths.stacks, val)
            out.append(run_edge_skill(rec, scenes[val], str(root)))
    if not out:
        raise GeeLandslideError(f"{paths.runs}: no finished runs of setting(s) {', '.join(settings)}")
    return out


def architecture_table(skills: Sequence[EdgeSkill], setting: str) -> list[str]:
    """Markdown rows of ``setting``'s architectures (means over their runs), the best on edges first."""
    groups: dict[str, list[EdgeSkill]] = defaultdict(list)
    for s in skills:
        if s.setting == setting:
            groups[s.architecture].append(s)
    means = {arch: (statistics.fmean(x.val_f1 for x in g), statistics.fmean(x.edge.f1 for x in g),
                    statistics.fmean(x.rest.f1 for x in g), len(g)) for arch, g in groups.items()}
    head = ["| architecture | runs | validation F1 | F1 on edge pixels | F1 on the other pixels |",
            "|---|---|---|---|---|"]
    return head + [f"| {arch} | {n} | {val:.3f} | {edge:.3f} | {rest:.3f} |"
                   for arch, (val, edge, rest, n) in sorted(means.items(), key=lambda kv: -kv[1][1])]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="project roots holding models/runs and artifacts/stacks")
    ap.add_argument("--settings", default="s2,s1s2", help="comma list of settings (default s2,s1s2)")
    ap.add_argument("--runs", action="store_true", help="also print every run")
    a = ap.parse_args(argv)
    settings = [s.strip() for s in a.settings.split(",") if s.strip()]
    try:
        skills = [s for root in a.roots for s in root_edge_skill(root, settings)]
    except GeeLandslideError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{len(a.roots)} root(s): {', '.join(map(str, a.roots))}; validation events only, each run at its "
          "own threshold; edge = within 1 px of an outline, either side")
    for setting in settings:
        print(f"\n{setting}:\n" + "\n".join(architecture_table(skills, setting)))
    if a.runs:
        print("\n| root | run | validation F1 | edge F1 | other F1 |\n|---|---|---|---|---|")
        for s in skills:
            print(f"| {s.root} | {s.run_id} | {s.val_f1:.3f} | {s.edge.f1:.3f} | {s.rest.f1:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
