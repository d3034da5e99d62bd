"""Detection skill of the trained runs beside the baselines: prints the figures and the targets.

Run after a sweep (e.g. ``make demo`` or ``gee-landslide train --profile laptop``)::

    python benchmarks/bench_skill.py [--root .] [--settings s2,s1s2] [--heldout 8] [--aggregation mean]

It scores, on the test event and on held-out scenes the simulator draws for new event ids
(never used for training, selection or thresholds), the one-band dNDVI rule, boosted trees,
the single best run by validation F1 and the top-K ensembles, all at thresholds chosen
without the test event, and prints whether each target of the skill issue holds:

- each ensemble (K = 10, 20) beats the rule and the boosted trees on the test event and on
  the held-out mean;
- K = 10 and K = 20 beat the single best run (by validation F1) on the test event, each against
  the single best run treated alike (with the object filter for the ``+ objects`` rows);
- S1+S2 is not worse than S2 by more than 0.02 F1.

It prints the same targets again for the ensemble whose size K was chosen on the validation events
(``ensemble build --choose-k``), and counts them apart from the issue's. Beside each set, not counted,
it prints the same ensembles against the single best run on the held-out mean
(:func:`heldout_against_single`).

A setting with fewer runs than a K ensembles all of them (the laptop profile's 9 runs per setting:
K = 10 and 20 are one 9-member ensemble), and its targets are counted once (:func:`target_ks`).

Each ensemble check is printed twice: as trained, and after the object filter
(``gee_landslide.train.objects``; rows ``+ objects``). Beside each, the difference it is about with
the paired 95 % bootstrap interval (``gee_landslide.train.uncertainty``: the test event's objects
redrawn, or the held-out scenes): one test event and eight held-out scenes hold few landslides, and
a gap inside that interval could have gone the other way on another draw of them. The last line counts the targets met and missed
beyond that noise.

It writes the full report (``ensemble report``) under ``artifacts/reports/`` as a side effect.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from gee_landslide.train.report import compare
from gee_landslide.train.skill_results import MethodResult, Truth
from gee_landslide.train.uncertainty import Interval, paired_mean_difference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".")
    ap.add_argument("--settings", default="s2,s1s2")
    ap.add_argument("--heldout", type=int, default=8)
    ap.add_argument("--aggregation", default="mean", choices=["mean", "vote"])
    ap.add_argument("--ks", default="5,10,20")
    a = ap.parse_args()

    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.paths import project_paths
    from gee_landslide.train.report import incidence_markdown, write_report

    paths = project_paths(a.root)
    t0 = time.perf_counter()
    ks = tuple(int(k) for k in a.ks.split(","))
    out = write_report(paths.runs, paths.stacks, paths.reports, a.settings.split(","), ks=ks,
                       catalog=load_catalog(paths.catalog), n_heldout=a.heldout, aggregation=a.aggregation)
    print(f"report in {time.perf_counter() - t0:.0f} s -> {out['markdown']}\n")
    print(out["skill"].read_text())
    for c in out["curves"]:
        if c.object_filter is not None:
            print(c.object_filter.describe())
    print("\nrecall of the slide pixels by the slides' local incidence angle (train.strata):")
    print(incidence_markdown(out["curves"], out["baselines"]))
    print("training budget (learning curves in the report):")
    for b in out["budget"]:
        print(f"  {b.line()}")
    print()

    base = out["baselines"]
    truth = out["truth"]
    rule = next(b for b in base if b.setting is None)
    asked = {c.setting: target_ks(len(c.runs)) for c in out["curves"]}
    on_val = {c.setting: [(c.k_chosen, f"K={c.k_chosen} on validation")] for c in out["curves"]
              if c.k_chosen is not None}
    for title, sizes in (("the issue's targets (K = 10 and 20)", asked),
                         ("the same targets at the K chosen on validation (ensemble build --choose-k)", on_val)):
        checks = skill_checks(out["curves"], sizes, rule, base, truth)
        print(f"{title}; difference with its paired 95 % bootstrap interval (test-event objects or held-out "
              "scenes redrawn, gee_landslide.train.uncertainty; 'within noise': the interval reaches the "
              "target's margin):")
        for ch in checks:
            print(f"  {ch.line()}")
        met = [ch for ch in checks if ch.ok]
        missed = [ch for ch in checks if not ch.ok]
        print(f"\n{len(met)}/{len(checks)} targets met ({sum(ch.clear for ch in met)} of them beyond noise); "
              f"of the {len(missed)} missed, {sum(not ch.clear for ch in missed)} within noise, "
              f"{sum(ch.clear for ch in missed)} missed beyond it\n")
        beside = heldout_against_single(out["curves"], sizes)
        if beside:
            print("beside them, not counted: the same ensembles against the single best run on the held-out mean")
            for ch in beside:
                print(f"  {ch.line()}")
            print()


def skill_checks(curves: list, sizes: dict[str, list[tuple[int, str]]], rule: MethodResult,
                 base: list[MethodResult], truth: Truth) -> list[Check]:
    """The skill issue's targets for the ensembles of ``sizes`` (setting -> [(K, label)]): each beats
    the rule and the boosted trees (test event, held-out mean) and the single best run treated alike
    (test event); S1+S2 is not worse than S2 by more than 0.02 at the last size."""
    checks: list[Check] = []
    f1 = {}
    for c in curves:
        if c.setting not in sizes:
            continue
        trees = next((b for b in base if b.setting == c.setting), None)
        for suffix, by_k in (("", c.by_k), (" + objects", c.by_k_objects)):
            if not by_k:
                continue
            # the reference is the single best run treated alike: an ensemble with the object filter
            # is held against the single best run with the same filter, not against the plain one
            single = by_k[1]
            for k, label in sizes[c.setting]:
                e = by_k[k]
                tag = f"{c.setting} {label}{suffix}"
                refs = [rule] + ([trees] if trees else [])
                for r in refs:
                    d_test, d_held = compare(e, r, truth)
                    checks.append(Check(f"{tag} test F1 {e.test.f1:.3f} > {r.method} {r.test.f1:.3f}",
                                        e.test.f1 > r.test.f1, d_test))
                    if e.heldout and r.heldout:
                        checks.append(Check(f"{tag} held-out mean F1 {e.heldout_mean_f1:.3f} > {r.method} "
                                            f"{r.heldout_mean_f1:.3f}", e.heldout_mean_f1 > r.heldout_mean_f1,
                                            d_held))
                if k > 1:  # K = 1 on validation is the single best run itself
                    checks.append(Check(f"{tag} test F1 {e.test.f1:.3f} > single best{suffix} {single.test.f1:.3f}",
                                        e.test.f1 > single.test.f1, compare(e, single, truth)[0]))
        k_last, label = sizes[c.setting][-1]
        f1[c.setting] = (label, c.by_k[k_last])
    if "s1s2" in f1 and "s2" in f1:
        (label, s1s2), (label2, s2) = f1["s1s2"], f1["s2"]
        if label2 != label:
            label = f"{label} against {label2}"
        d_test, d_held = compare(s1s2, s2, truth)
        d = s1s2.test.f1 - s2.test.f1
        checks.append(Check(f"S1+S2 minus S2 ({label}, test) = {d:+.3f} >= -0.02", d >= -0.02, d_test, -0.02))
        if s1s2.heldout:
            dh = s1s2.heldout_mean_f1 - s2.heldout_mean_f1
            checks.append(Check(f"S1+S2 minus S2 ({label}, held-out mean) = {dh:+.3f} >= -0.02", dh >= -0.02,
                                d_held, -0.02))
    return checks


def heldout_against_single(curves: list, sizes: dict[str, list[tuple[int, str]]]) -> list[Check]:
    """The ensembles of ``sizes`` against the single best run treated alike, on the held-out mean.

    Why printed apart from the targets: the issue asks K = 10 and 20 to beat the single best run
    without naming the measure, and the targets read it on the test event, where one event's false
    objects decide much (docs/experiments.md, session 40). The held-out scenes are the other measure
    the report has; shown beside the targets and not counted, the count stays the issue's list.
    """
    out: list[Check] = []
    for c in curves:
        if c.setting not in sizes:
            continue
        for suffix, by_k in (("", c.by_k), (" + objects", c.by_k_objects)):
            single = by_k.get(1)
            if single is None or not single.heldout:
                continue
            for k, label in sizes[c.setting]:
                e = by_k.get(k)
                if k == 1 or e is None or not e.heldout:
                    continue
                out.append(Check(f"{c.setting} {label}{suffix} held-out mean F1 {e.heldout_mean_f1:.3f} > single "
                                 f"best{suffix} {single.heldout_mean_f1:.3f}",
                                 e.heldout_mean_f1 > single.heldout_mean_f1,
                                 paired_mean_difference([x.f1 for x in e.heldout], [x.f1 for x in single.heldout])))
    return out


TARGET_KS = (10, 20)  # the ensemble sizes


def target_ks(n_runs: int) -> list[tuple[int, str]]:
    """The distinct ensemble sizes the targets hold, with how to name them, for ``n_runs`` runs.

    Why distinct: a setting with fewer runs than a target K ensembles all of them, and with 9 runs
    K = 10 and K = 20 are the same 9-member ensemble; counting its targets twice would inflate
    both the met and the missed.
    """
    out: dict[int, list[int]] = {}
    for k in TARGET_KS:
        out.setdefault(min(k, n_runs), []).append(k)
    return [(k, f"K={k}" if asked == [k] else f"K={k} (all runs; K = {' and '.join(map(str, asked))} asked)")
            for k, asked in out.items()]


@dataclass
class Check:
    """One target: whether it holds, and the paired interval of the difference it is about."""

    text: str
    ok: bool
    diff: Interval | None
    margin: float = 0.0  # the target is diff > margin (>= for the S1+S2 check)

    @property
    def clear(self) -> bool:
        """True when the whole interval lies on the side of ``margin`` the point estimate is on."""
        if self.diff is None:
            return False
        return self.diff.lo > self.margin if self.ok else self.diff.hi < self.margin

    def line(self) -> str:
        head = f"[{'ok' if self.ok else 'MISS'}] {self.text}"
        if self.diff is None:
            return head
        return f"{head}  | diff {self.diff.text(signed=True)}{'' if self.clear else ' within noise'}"

if __name__ == "__main__":
    main()
