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

Each ensemble check is printed twice: as trained, and after the object filter
(``gee_landslide.train.objects``; rows ``+ objects``).

It writes the full report (``ensemble report``) under ``artifacts/reports/`` as a side effect.
"""

from __future__ import annotations

import argparse
import time


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
    from gee_landslide.train.report import write_report

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
    print("training budget (learning curves in the report):")
    for b in out["budget"]:
        print(f"  {b.line()}")
    print()

    base = out["baselines"]
    rule = next(b for b in base if b.setting is None)
    checks: list[tuple[str, bool]] = []
    f1 = {}
    for c in out["curves"]:
        n = len(c.runs)
        trees = next((b for b in base if b.setting == c.setting), None)
        for suffix, by_k in (("", c.by_k), (" + objects", c.by_k_objects)):
            if not by_k:
                continue
            # the reference is the single best run treated alike: an ensemble with the object filter
            # is held against the single best run with the same filter, not against the plain one
            single = by_k[1]
            for k in (10, 20):
                e = by_k[min(k, n)]
                tag = f"{c.setting} K={min(k, n)}{suffix}"
                refs = [rule] + ([trees] if trees else [])
                for r in refs:
                    checks.append((f"{tag} test F1 {e.test.f1:.3f} > {r.method} {r.test.f1:.3f}",
                                   e.test.f1 > r.test.f1))
                    if e.heldout and r.heldout:
                        checks.append((f"{tag} held-out mean F1 {e.heldout_mean_f1:.3f} > {r.method} "
                                       f"{r.heldout_mean_f1:.3f}", e.heldout_mean_f1 > r.heldout_mean_f1))
                checks.append((f"{tag} test F1 {e.test.f1:.3f} > single best{suffix} {single.test.f1:.3f}",
                               e.test.f1 > single.test.f1))
        f1[c.setting] = c.by_k[min(20, n)]
    if "s1s2" in f1 and "s2" in f1:
        d = f1["s1s2"].test.f1 - f1["s2"].test.f1
        checks.append((f"S1+S2 minus S2 (K=20, test) = {d:+.3f} >= -0.02", d >= -0.02))
        if f1["s1s2"].heldout:
            dh = f1["s1s2"].heldout_mean_f1 - f1["s2"].heldout_mean_f1
            checks.append((f"S1+S2 minus S2 (K=20, held-out mean) = {dh:+.3f} >= -0.02", dh >= -0.02))
    print("targets:")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {text}")
    print(f"\n{sum(ok for _, ok in checks)}/{len(checks)} targets met")


if __name__ == "__main__":
    main()
