"""Tables and figures of the paper's section 4, for whatever runs exist.

- Table 7: runs per setting ranked by validation F1 with their test precision, recall and F1.
- Table 8: test F1 of the single best run vs ensembles of the top K (10, 20, 40), with the
  improvement in %.
- Figure 5: performance diagram (Roebber 2009): precision (success ratio) on x, recall (POD) on
  y, F1 isolines and dashed frequency-bias lines.
- Figure 6: test F1 over the ensemble size K.
- Figure 7: single best vs ensemble on the test event with the paper's colour code.

The figures are drawn by :mod:`gee_landslide.train.report_figures`.

Ensemble curves average the test-probability maps each run saved at the end of training
(``eval_probs.npz``, float16, validation and test events), so a report over hundreds of runs costs no inference; a run
without that file is re-predicted from its weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.atomic import write_text_atomic
from gee_landslide.core.bands import SETTINGS
from gee_landslide.core.variants import events_only
from gee_landslide.train.data import Scene, load_scenes
from gee_landslide.train.ensemble import ensemble_score, objects_threshold, run_threshold, smallest_best_k
from gee_landslide.train.figures import SETTING_LABEL
from gee_landslide.train.filter_cache import NO_CACHE, CachedFilter, cached_filter
from gee_landslide.train.fingerprint import code_digest, digest, runs_digest, stacks_digest
from gee_landslide.train.learning_curves import budget_summary, learning_curves_figure
from gee_landslide.train.metrics import PROB_CANDIDATES, Counts, best_threshold, confusion, evaluation_mask
from gee_landslide.train.objects import filter_maps
from gee_landslide.train.predictions import run_probs
from gee_landslide.train.report_figures import FIG7_COLOURS, comparison_map, f1_vs_k, performance_diagram
from gee_landslide.train.runs import list_runs, training_events
from gee_landslide.train.skill_results import MethodResult, SettingCurve, Truth
from gee_landslide.train.strata import incidence_labels, recall_by_incidence, recall_cells
from gee_landslide.train.uncertainty import (
    DRAWS,
    Interval,
    f1_interval,
    mean_interval,
    paired_difference,
    paired_mean_difference,
)


# ----------------------------------------------------------------------------- Table 7
def leaderboard_rows(runs_dir: Path, settings: list[str] | None = None, top: int | None = None) -> list[dict]:
    rows = []
    for s in settings or list(SETTINGS):
        runs = list_runs(runs_dir, s)
        for rank, r in enumerate(runs[:top] if top else runs, 1):
            c, t = r["config"], r.get("test_metrics", {})
            rows.append({
                "setting": s, "rank": rank, "val_f1": r["best_val_f1"], "loss": c["loss"],
                "learning_rate": c["learning_rate"], "architecture": c["architecture"],
                "precision": t.get("precision"), "recall": t.get("recall"), "f1": t.get("f1"),
                "frequency_bias": t.get("frequency_bias"), "epochs": r.get("epochs"),
                "best_epoch": r.get("best_epoch"), "wall_time_s": r.get("wall_time_s"), "run_id": r["run_id"],
            })
    return rows


def _f(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def leaderboard_markdown(rows: list[dict]) -> str:
    lines = ["| Setting | F1 validation | Loss function | Learning rate | Architecture | Precision (test) "
             "| Recall (test) | F1 (test) | run |",
             "|---|---|---|---|---|---|---|---|---|"]
    by_setting: dict[str, list[dict]] = {}
    for r in rows:
        by_setting.setdefault(r["setting"], []).append(r)
    for s, rs in by_setting.items():
        f1s = [r["f1"] for r in rs if r["f1"] is not None]
        best, worst = (max(f1s), min(f1s)) if len(f1s) > 1 else (None, None)
        for r in rs:
            f1 = _f(r["f1"])
            if r["f1"] is not None and r["f1"] == best:
                f1 = f"**{f1}**"
            elif r["f1"] is not None and r["f1"] == worst:
                f1 = f"<u>{f1}</u>"
            lines.append(f"| {SETTING_LABEL.get(s, s)} | {_f(r['val_f1'])} | {r['loss']} | {r['learning_rate']:g} | "
                         f"{r['architecture']} | {_f(r['precision'])} | {_f(r['recall'])} | {f1} | `{r['run_id']}` |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- probabilities
def incidence_counts(preds: Sequence[np.ndarray], scenes: Sequence[Scene], eval_mask: str) -> np.ndarray | None:
    """Detected and landslide pixels by the slides' local incidence angle (train.strata); None
    without scenes."""
    if not scenes:
        return None
    return recall_by_incidence(preds, [s.stack for s in scenes], [s.labels for s in scenes],
                               [evaluation_mask(s.stack, eval_mask) for s in scenes])


def scored(method: str, setting: str | None, k: int | None, threshold: float, chosen_on: str,
           test_p: list[np.ndarray], test: Sequence[Scene], heldout_p: list[np.ndarray],
           heldout: Sequence[Scene], eval_mask: str) -> MethodResult:
    """A method's result from its binary maps on the test event and the held-out scenes: the counts
    and the recall by incidence angle, made the same way for baselines, runs and ensembles."""
    return MethodResult(method, setting, k, threshold, chosen_on, sum(counts_of(test_p, test, eval_mask), Counts()),
                        counts_of(heldout_p, heldout, eval_mask), test_p,
                        incidence_test=incidence_counts(test_p, test, eval_mask),
                        incidence_heldout=incidence_counts(heldout_p, heldout, eval_mask))


def counts_of(preds: Sequence[np.ndarray], scenes: Sequence[Scene], eval_mask: str) -> list[Counts]:
    """Per-scene counts of binary detections inside the evaluation mask."""
    return [confusion(p, s.labels, evaluation_mask(s.stack, eval_mask)) for p, s in zip(preds, scenes, strict=True)]


def detections(scores: Sequence[np.ndarray], threshold: float) -> list[np.ndarray]:
    """The binary maps ``score > threshold`` (NaN: no detection) that :func:`counts_of` counts."""
    return [np.asarray(sc) > threshold for sc in scores]


# ----------------------------------------------------------------------------- held-out scenes
HELDOUT_SCENES = 8


def heldout_events(catalog: Any, n: int = HELDOUT_SCENES) -> list[Any]:
    """``n`` new events for the simulator: the parameters (place, date, trigger, size) of evenly
    spaced catalog events under new ids, so terrain, cover and landslides are drawn afresh.

    They are never training, validation or threshold data: only the report scores them.
    """
    events = list(catalog.events)
    step = len(events) / n
    picked = [events[int(i * step)] for i in range(n)]
    return [e.model_copy(update={"id": f"heldout-{i + 1}-{e.id}", "split": "test"}) for i, e in enumerate(picked)]


def heldout_scenes(catalog: Any, heldout_dir: Path, n: int = HELDOUT_SCENES,
                   progress: Any = None) -> list[Scene]:
    """Build (once; complete stacks are reused) and load the held-out scenes."""
    from gee_landslide.simulate import build_event_stack

    out = []
    for ev in heldout_events(catalog, n):
        d = Path(heldout_dir) / ev.id
        build_event_stack(ev, catalog.defaults, d, progress=progress)
        out.extend(load_scenes(Path(heldout_dir), [ev.id]))
    return out


# ----------------------------------------------------------------------------- skill of every method
def add_intervals(results: Sequence[MethodResult], truth: Truth, draws: int = DRAWS) -> None:
    """Set each result's test F1 and held-out mean F1 intervals (:mod:`gee_landslide.train.uncertainty`)."""
    for r in results:
        if r.test_pred:
            r.test_interval = f1_interval(r.test_pred, truth.test, truth.test_masks, draws=draws)
        if r.heldout:
            r.heldout_interval = mean_interval([c.f1 for c in r.heldout], draws=draws)


def compare(a: MethodResult, b: MethodResult, truth: Truth,
            draws: int = DRAWS) -> tuple[Interval | None, Interval | None]:
    """F1 of ``a`` minus F1 of ``b`` on the test event(s) and on the held-out mean, each with the
    paired object-bootstrap interval (None where either lacks its detections)."""
    test = (paired_difference(a.test_pred, b.test_pred, truth.test, truth.test_masks, draws=draws)
            if a.test_pred and b.test_pred else None)
    held = (paired_mean_difference([c.f1 for c in a.heldout], [c.f1 for c in b.heldout], draws=draws)
            if a.heldout and b.heldout else None)
    return test, held


def setting_curve(runs_dir: Path, stacks_dir: Path, setting: str, max_k: int | None = None,
                  heldout: Sequence[Scene] = (), aggregation: str = "mean",
                  objects: bool = False) -> SettingCurve | None:
    """Single best and every top-K ensemble of a setting, each at the threshold chosen on validation.

    With ``objects``, an object filter (:mod:`gee_landslide.train.objects`) is fitted on the
    runs' maps of the training events (threshold: out-of-fold train + validation) and every
    ensemble is scored again with it (``by_k_objects``).
    """
    runs = list_runs(runs_dir, setting)
    if not runs:
        return None
    if max_k:
        runs = runs[:max_k]
    c0 = runs[0]["config"]
    mask = c0.get("eval_mask", "visible")
    val = load_scenes(stacks_dir, tuple(c0["val_events"]))
    test = load_scenes(stacks_dir, tuple(c0["test_events"]))
    mt = np.array([run_threshold(r) for r in runs], np.float32)
    sets = {"val": val, "test": test, "heldout": list(heldout)}
    cached = cached_filter(setting, runs, mt, stacks_dir, mask) if objects else NO_CACHE
    # the training events' maps only to fit an object filter that no ensemble build has fitted yet
    train = load_scenes(stacks_dir, training_events(runs)) if objects and cached.found is None else []
    # each run's model is built once for the evaluation scenes and the training maps its filter learns from
    pairs = filter_maps([r["config"]["train_events"] for r in runs], train, len(runs))  # none without train
    per_run = [run_probs(r, [*val, *test, *heldout, *(s for j, s in pairs if j == i)]) for i, r in enumerate(runs)]
    probs: dict[str, dict[str, np.ndarray]] = {
        name: {s.event_id: np.stack([p[s.event_id] for p in per_run]) for s in sc} for name, sc in sets.items()}
    train_maps = {(i, s.event_id): per_run[i][s.event_id] for i, s in pairs}
    by_k: dict[int, MethodResult] = {}
    test_scores: dict[int, list[np.ndarray]] = {}
    thresholds: dict[int, float] = {}
    val_f1_by_k: dict[int, float] = {}  # each K at its own validation threshold, as k_on_validation scores it
    for k in range(1, len(runs) + 1):
        score = {name: [ensemble_score(probs[name][s.event_id][:k], aggregation, mt[:k]) for s in sc]
                 for name, sc in sets.items()}
        thr, val_counts = best_threshold(score["val"], val, PROB_CANDIDATES, mask)
        val_f1_by_k[k] = val_counts.f1
        if k == 1:
            thr, chosen = float(mt[0]), runs[0].get("threshold_source", "config")
        else:
            chosen = "validation"
        by_k[k] = scored("single best" if k == 1 else f"ensemble {k}", setting, k, thr, chosen,
                         detections(score["test"], thr), test, detections(score["heldout"], thr), list(heldout), mask)
        test_scores[k] = score["test"]
        thresholds[k] = thr
    members = [scored(f"run {i + 1}", setting, 1, float(mt[i]), r.get("threshold_source", "config"),
                      detections([probs["test"][s.event_id][i] for s in test], float(mt[i])), test,
                      detections([probs["heldout"][s.event_id][i] for s in heldout], float(mt[i])),
                      list(heldout), mask)
               for i, r in enumerate(runs)]
    curve = SettingCurve(setting, runs, aggregation, by_k, test_scores, thresholds, test, members=members,
                         k_chosen=smallest_best_k(val_f1_by_k), val_f1_by_k=val_f1_by_k)
    if objects:
        add_object_filter(curve, train, val, list(heldout), probs, mt, cached, train_maps)
    return curve


def add_object_filter(curve: SettingCurve, train: Sequence[Scene], val: Sequence[Scene], heldout: Sequence[Scene],
                      probs: dict[str, dict[str, np.ndarray]], mt: np.ndarray,
                      cached: CachedFilter = NO_CACHE,
                      train_maps: dict[tuple[int, str], np.ndarray] | None = None) -> None:
    """Fit the setting's object filter on its runs' training-event maps; score every K with it.

    The filter judges each member's objects (what it was trained on: one run's map at that run's
    threshold), then the filtered members are combined and the ensemble's threshold is chosen on
    the validation events again (``probs``: the runs' (M,H,W) maps per event, under ``val``,
    ``test`` and ``heldout``; ``train_maps``: the training maps the filter learns from, keyed by run
    index and event, :func:`gee_landslide.train.objects.filter_maps`). Filtering the combined map instead judges objects unlike any the
    filter saw (an averaged map merges and smooths the members' objects): on the demo's runs that
    left the ensembles below their best member.

    ``cached``: :func:`gee_landslide.train.filter_cache.cached_filter`'s answer for these runs: the
    filter an ensemble build already fitted from the same inputs (then ``train`` may be empty), or
    where to store this one.
    """
    from gee_landslide.train.objects import ObjectFilterError, fit_object_filter

    runs = curve.runs
    c0 = runs[0]["config"]
    mask = c0.get("eval_mask", "visible")
    try:
        flt = cached.or_fit(lambda: fit_object_filter(curve.setting, mt, train_maps or {}, train, probs["val"], val, mask,
                                                      trained_on=[r["config"]["train_events"] for r in runs]))
    except ObjectFilterError as e:
        curve.object_note = f"{SETTING_LABEL[curve.setting]}: no object filter ({e})"
        return
    curve.object_filter = flt
    sets = {"val": val, "test": curve.test, "heldout": list(heldout)}
    kept = {name: {s.event_id: flt.apply_members(s.stack, probs[name][s.event_id], mt) for s in sc}
            for name, sc in sets.items()}
    for k, r in curve.by_k.items():
        score = {name: [ensemble_score(kept[name][s.event_id][:k], curve.aggregation, mt[:k]) for s in sc]
                 for name, sc in sets.items() if name != "val"}
        choice = objects_threshold([kept["val"][s.event_id][:k] for s in val], val, mt[:k], curve.aggregation, mask)
        curve.objects_thresholds[k] = choice
        thr = choice.threshold
        curve.by_k_objects[k] = scored(f"{r.method} + objects", r.setting, k, thr, r.chosen_on,
                                       detections(score["test"], thr), curve.test,
                                       detections(score["heldout"], thr), sets["heldout"], mask)


def baseline_results(train: Sequence[Scene], val: Sequence[Scene], test: Sequence[Scene],
                     heldout: Sequence[Scene], settings: Sequence[str], eval_mask: str) -> list[MethodResult]:
    """The dNDVI rule (fitted on train+val) and boosted trees per setting (train; threshold on val)."""
    from gee_landslide.train.baselines import BoostedTrees, DndviRule

    out = []
    rule = DndviRule().fit([*train, *val], eval_mask)
    models: list[tuple[Any, str | None, str]] = [(rule, None, "train+val")]
    for s in settings:
        models.append((BoostedTrees(s).fit(train, val, eval_mask), s, "validation"))
    for m, s, chosen in models:
        out.append(scored(m.name, s, None, float(m.threshold), chosen,
                          [np.asarray(m.predict(sc.stack), bool) for sc in test], test,
                          [np.asarray(m.predict(sc.stack), bool) for sc in heldout], heldout, eval_mask))
    return out


def skill_markdown(curves: list[SettingCurve], baselines: list[MethodResult], ks: Sequence[int],
                   n_heldout: int) -> str:
    """Every method on the same pixels: test event and the mean over the held-out scenes."""
    head = ("| Setting | Method | Threshold (chosen on) | Precision (test) | Recall (test) | F1 (test, 95 % interval) | "
            f"F1 held-out (mean of {n_heldout}, 95 % interval) |")
    lines = [head, "|---|---|---|---|---|---|---|"]

    def row(setting: str, r: MethodResult) -> str:
        ho = _f(r.heldout_mean_f1) if r.heldout else "-"
        if r.heldout and r.heldout_interval is not None:
            ho += f" ({_f(r.heldout_interval.lo)}-{_f(r.heldout_interval.hi)})"
        f1 = _f(r.test.f1) + (f" ({_f(r.test_interval.lo)}-{_f(r.test_interval.hi)})" if r.test_interval else "")
        return (f"| {setting} | {r.method} | {r.threshold:.2f} ({r.chosen_on}) | {_f(r.test.precision)} | "
                f"{_f(r.test.recall)} | {f1} | {ho} |")

    for b in baselines:
        if b.setting is None:
            lines.append(row("-", b))
    for c in curves:
        label = SETTING_LABEL[c.setting]
        lines += [row(label, b) for b in baselines if b.setting == c.setting]
        rows = fixed_k_rows(c, ks)
        lines += [row(label, replace(c.by_k[k], method=name)) for k, name in rows]
        lines += [row(label, replace(o, method=f"{name} + objects")) for k, name in rows
                  if (o := c.by_k_objects.get(k)) is not None]
        if (k := c.k_chosen) is not None:
            lines.append(row(label, replace(c.by_k[k], method=chosen_k_name(k))))
            if (o := c.by_k_objects.get(k)) is not None:
                lines.append(row(label, replace(o, method=chosen_k_name(k) + " + objects")))
    return "\n".join(dict.fromkeys(lines)) + "\n"


def objects_threshold_lines(curves: list[SettingCurve], ks: Sequence[int]) -> list[str]:
    """One line per "+ objects" row of the skill table (the same K and names): its threshold, its
    validation F1 and the range of thresholds the validation events cannot rank
    (:class:`gee_landslide.train.ensemble.ThresholdChoice`)."""
    lines = []
    for c in curves:
        named = dict(fixed_k_rows(c, ks))
        if (k := c.k_chosen) is not None and k not in named:
            named[k] = chosen_k_name(k)
        lines += [f"- {SETTING_LABEL[c.setting]} {name} + objects: {c.objects_thresholds[k].describe()}"
                  for k, name in named.items() if k in c.objects_thresholds]
    return lines


def fixed_k_rows(c: SettingCurve, ks: Sequence[int]) -> list[tuple[int, str]]:
    """The skill table's fixed-size rows of a setting, (K, name): the single best, each asked K below
    the number of runs, and the ensemble of all runs. The table and :func:`objects_threshold_lines`
    name their rows alike from it."""
    n = len(c.runs)
    return [(k, c.by_k[k].method if k != n or k == 1 else f"ensemble {k} (all)") for k in [1, *[k for k in ks if k < n], n]]


def chosen_k_name(k: int) -> str:
    """How the skill table names the ensemble whose size was chosen on validation."""
    return f"ensemble {k} (K on validation)" if k > 1 else "single best (K = 1 on validation)"


def _f1_cells(m: MethodResult, best_test: float | None = None, best_held: float | None = None) -> list[str]:
    """Test F1, held-out mean F1 and each held-out scene's F1; "(best run)" where a run's figure is
    the best of its setting (``best_*`` None: an ensemble's row, never marked)."""
    def mark(v: float | None, best: float | None) -> str:
        return " (best run)" if best is not None and v == best else ""

    return [_f(m.test.f1) + mark(m.test.f1, best_test),
            _f(m.heldout_mean_f1) + mark(m.heldout_mean_f1 if m.heldout else None, best_held),
            *(_f(x.f1, 2) for x in m.heldout)]


def members_markdown(curves: list[SettingCurve]) -> str:
    """Every run beside the ensemble of all of them, on the test event and each held-out scene.

    Why: an ensemble that does not beat its best member is either pulled down by weaker members
    (the best run by validation is also the best on new scenes) or beaten by one event's luck (it
    is not). One event cannot tell these apart; the held-out scenes, scene by scene, can.
    """
    lines: list[str] = []
    for c in curves:
        if not c.members:
            continue
        ens = c.by_k[max(c.by_k)]
        held = c.members[0].heldout
        names = [f"held-out {i + 1}" for i in range(len(held))]
        head = ["Run (by validation F1)", "Architecture", "F1 validation", "F1 test", "F1 held-out mean", *names]
        lines += [f"**{SETTING_LABEL[c.setting]}**", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        best_test = max(m.test.f1 for m in c.members)
        best_held = max((m.heldout_mean_f1 for m in c.members if m.heldout), default=None)
        for i, (r, m) in enumerate(zip(c.runs, c.members, strict=True)):
            row = [str(i + 1), r["config"]["architecture"], _f(r.get("best_val_f1")),
                   *_f1_cells(m, best_test, best_held)]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("| " + " | ".join([f"ensemble of all {len(c.runs)}", "-", "-", *_f1_cells(ens)]) + " |")
        mean_test = float(np.mean([m.test.f1 for m in c.members]))
        text = (f"The ensemble of all {len(c.runs)}: test F1 {_f(ens.test.f1)} against the runs' mean "
                f"{_f(mean_test)} and their best {_f(best_test)}")
        if held and ens.heldout:
            first = c.members[0]
            ahead = sum(e.f1 > f.f1 for e, f in zip(ens.heldout, first.heldout, strict=True))
            behind = sum(e.f1 < f.f1 for e, f in zip(ens.heldout, first.heldout, strict=True))
            mean_held = float(np.mean([m.heldout_mean_f1 for m in c.members]))
            text += (f"; held-out mean {_f(ens.heldout_mean_f1)} against {_f(mean_held)} and {_f(best_held)}. "
                     f"Against the best run by validation, scene by scene: ahead on {ahead}, behind on "
                     f"{behind} of {len(held)} held-out scenes")
        lines += ["", text + ".", ""]
    return "\n".join(lines)


def incidence_markdown(curves: list[SettingCurve], baselines: list[MethodResult]) -> str:
    """Recall of the slide pixels by the slides' local incidence angle (train.strata), test event and
    held-out scenes pooled apart: the baselines, and per setting the single best run and the ensemble
    of all its runs, plain and with the object filter."""
    bins = incidence_labels()
    head = ("| Setting | Method | " + " | ".join(f"test {b}" for b in bins) + " | "
            + " | ".join(f"held-out {b}" for b in bins) + " |")
    lines = [head, "|---|---|" + "---|" * (2 * len(bins))]

    def row(setting: str, name: str, r: MethodResult) -> str:
        cells = [*recall_cells(r.incidence_test), *recall_cells(r.incidence_heldout)]
        cells += ["-"] * (2 * len(bins) - len(cells))
        return f"| {setting} | {name} | " + " | ".join(cells) + " |"

    lines += [row("-", b.method, b) for b in baselines if b.setting is None]
    for c in curves:
        label, n = SETTING_LABEL[c.setting], len(c.runs)
        lines += [row(label, b.method, b) for b in baselines if b.setting == c.setting]
        lines.append(row(label, "single best", c.single))
        if n > 1:
            lines.append(row(label, f"ensemble {n} (all)", c.by_k[n]))
        for k in dict.fromkeys((1, n)):
            if (o := c.by_k_objects.get(k)) is not None:
                lines.append(row(label, "single best + objects" if k == 1 else f"ensemble {k} (all) + objects", o))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- Table 8
def table8_markdown(curves: list[SettingCurve], ks: tuple[int, ...]) -> tuple[str, list[str]]:
    head = "| Setting | F1 single | " + " | ".join(f"F1 ens ({k})" for k in ks) + " |"
    lines = [head, "|---|---|" + "---|" * len(ks)]
    notes = []
    for c in curves:
        n = len(c.runs)
        s1 = c.single.test.f1
        vals = [c.by_k[min(k, n)].test.f1 for k in ks]
        order = sorted([s1, *vals], reverse=True)
        cells = [_cell(s1, order)]
        for k, v in zip(ks, vals, strict=True):
            pct = (v - s1) / s1 * 100 if s1 > 0 else None
            cells.append(_cell(v, order, pct, capped=k > n))
        lines.append(f"| {_setting_title(c.setting)} | " + " | ".join(cells) + " |")
        if any(k > n for k in ks):
            notes.append(f"{SETTING_LABEL[c.setting]}: only {n} finished run(s); ensembles marked † use all {n}.")
    return "\n".join(lines) + "\n", notes


def _cell(v: float, order: list[float], pct: float | None = None, capped: bool = False) -> str:
    """A Table 8 cell: best of the row in bold, second best underlined (as in the paper)."""
    txt = f"{v:.2f}" + (f" ({pct:+.0f}%)" if pct is not None else "") + ("†" if capped else "")
    if v == order[0]:
        return f"**{txt}**"
    if len(order) > 1 and v == order[1] and order[1] != order[0]:
        return f"<u>{txt}</u>"
    return txt


def _setting_title(s: str) -> str:
    return f"{SETTINGS[s].number}) {SETTING_LABEL[s]}"


# ----------------------------------------------------------------------------- the whole report
def report_inputs(runs_dir: Path, stacks_dir: Path, settings: list[str] | None = None,
                  ks: tuple[int, ...] = (5, 10, 20), map_k: int = 20, top: int = 10, catalog: Any = None,
                  n_heldout: int = HELDOUT_SCENES, aggregation: str = "mean", baselines: bool = True,
                  objects: bool = True) -> dict[str, Any]:
    """Everything :func:`write_report` computes its figures from, with :func:`write_report`'s arguments:
    the runs (ids and weights), the stacks of their events, the held-out events' parameters, the
    options and the code (:mod:`gee_landslide.train.fingerprint`). Its digest goes into ``skill.json``."""
    settings = settings or list(SETTINGS)
    runs = {s: list_runs(runs_dir, s) for s in settings}
    c0 = next((r[0]["config"] for r in runs.values() if r), {})
    # every run's training events (runs.training_events: with member_events_out no one run holds them all)
    train = dict.fromkeys(e for r in runs.values() if r for e in training_events(r))
    events = [*train, *c0.get("val_events", ()), *c0.get("test_events", ())]
    heldout = ([e.model_dump(mode="json") for e in heldout_events(catalog, n_heldout)]
               + [catalog.defaults.model_dump(mode="json")] if catalog is not None and n_heldout > 0 else [])
    return {"code": code_digest(), "runs": {s: runs_digest(r) for s, r in runs.items()},
            "stacks": stacks_digest(stacks_dir, events), "heldout": heldout, "ks": list(ks), "map_k": map_k,
            "top": top, "aggregation": aggregation, "baselines": baselines, "objects": objects}


def write_report_if_changed(runs_dir: Path, stacks_dir: Path, reports_dir: Path, rebuild: bool = False,
                            **options: Any) -> tuple[Path, bool]:
    """:func:`write_report` unless ``reports_dir`` holds a report of the same inputs; returns the
    report's path and whether it was written. Why: the report is the slowest part of building
    ensembles (about 30 s in the demo, a minute before it read the builds' object filters), and a
    scheduled or repeated build usually changes nothing."""
    md = Path(reports_dir) / "ensemble_report.md"
    if not rebuild and md.is_file():
        try:
            old = json.loads((Path(reports_dir) / "skill.json").read_text()).get("inputs_digest")
        except (OSError, ValueError, AttributeError):
            old = None
        if old == digest(report_inputs(runs_dir, stacks_dir, **options)):
            return md, False
    return write_report(runs_dir, stacks_dir, reports_dir, **options)["markdown"], True


def write_report(runs_dir: Path, stacks_dir: Path, reports_dir: Path, settings: list[str] | None = None,
                 ks: tuple[int, ...] = (5, 10, 20), map_k: int = 20, top: int = 10, catalog: Any = None,
                 heldout_dir: Path | None = None, n_heldout: int = HELDOUT_SCENES,
                 aggregation: str = "mean", baselines: bool = True, objects: bool = True) -> dict[str, Any]:
    """Write Table 7, Table 8 (with the baselines) and Figures 5-7 under ``reports_dir``.

    With a ``catalog``, ``n_heldout`` held-out scenes are simulated for new event ids (under
    ``heldout_dir``, default ``<stacks_dir>/../heldout``) and every method is scored on them too.
    With ``objects`` every single run and ensemble is also scored after the object filter of
    :mod:`gee_landslide.train.objects` (rows ``+ objects``).
    Returns paths and every number (``summary``).
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    inputs_digest = digest(report_inputs(runs_dir, stacks_dir, settings, ks, map_k, top, catalog, n_heldout,
                                         aggregation, baselines, objects))
    settings = settings or list(SETTINGS)
    have = [s for s in settings if list_runs(runs_dir, s)]
    if not have:
        raise ValueError(f"no finished runs in {runs_dir} for settings {settings}")
    runs0 = list_runs(runs_dir, have[0])
    c0 = runs0[0]["config"]
    mask = c0.get("eval_mask", "visible")
    heldout: list[Scene] = []
    if catalog is not None and n_heldout > 0:
        heldout = heldout_scenes(catalog, heldout_dir or Path(stacks_dir).parent / "heldout", n_heldout)
    curves = [c for s in have if (c := setting_curve(runs_dir, stacks_dir, s, heldout=heldout,
                                                          aggregation=aggregation, objects=objects)) is not None]
    base: list[MethodResult] = []
    if baselines:
        # the catalog's events alone: a setting trained on few-look variants (core.variants) must not
        # hand the baselines, fitted once for every setting, a second copy of each event
        train = load_scenes(stacks_dir, events_only(training_events(runs0)))
        base = baseline_results(train, load_scenes(stacks_dir, events_only(c0["val_events"])), curves[0].test,
                                heldout, [c.setting for c in curves], mask)
    truth = Truth.of(curves[0].test, mask)
    add_intervals([*base, *[r for c in curves for r in [*c.by_k.values(), *c.by_k_objects.values()]]], truth)
    t7 = leaderboard_markdown(leaderboard_rows(runs_dir, [c.setting for c in curves], top))
    t8, notes = table8_markdown(curves, ks)
    skill = skill_markdown(curves, base, ks, len(heldout))
    fig5 = performance_diagram(curves, ks, reports_dir / "performance_diagram.png", base)
    fig6 = f1_vs_k(curves, reports_dir / "f1_vs_k.png", base)
    fig7 = {c.setting: comparison_map(c, map_k, reports_dir / f"comparison_{c.setting}.png") for c in curves}
    budget = [budget_summary(c.setting, c.runs) for c in curves]
    fig_lc = learning_curves_figure({c.setting: c.runs for c in curves}, reports_dir / "learning_curves.png",
                                    SETTING_LABEL)
    write_text_atomic(reports_dir / "table7.md", t7)
    write_text_atomic(reports_dir / "table8.md", t8)
    write_text_atomic(reports_dir / "skill.md", skill)
    rel = lambda p: os.path.relpath(p, reports_dir)  # noqa: E731
    md = ["# Ensemble report", "",
          f"Runs: {', '.join(f'{SETTING_LABEL[c.setting]} {len(c.runs)}' for c in curves)} finished. "
          f"Test event(s): {', '.join(s.event_id for s in curves[0].test)}; evaluation mask: `{mask}`; "
          f"ensembles: `{aggregation}` aggregation.", "",
          "**Thresholds.** Every threshold below was chosen without the test event or the held-out scenes: "
          "each run's on the validation events (its best validation F1), each ensemble's on the validation "
          "events for that K (averaging pulls probabilities towards the middle, so the members' own "
          "thresholds would leave it under-predicting), the dNDVI rule's on the training + validation "
          "events, the boosted trees' on the validation events; rows `+ objects` have their own, chosen on the "
          "validation events after the object filter judged each member's objects. The ensemble manifests, "
          "the leaderboard and monitoring use the same thresholds.", "",
          f"**Held-out scenes.** {len(heldout)} scenes the simulator drew for new event ids "
          + (f"({', '.join(s.event_id for s in heldout)}) " if heldout else "")
          + "with the catalog's parameters: never used for training, selection or thresholds.", "",
          "## Skill - every method on the same pixels", "",
          "In brackets: 95 % bootstrap intervals (`gee_landslide.train.uncertainty`). On the test event "
          "they redraw its objects (the connected landslides and detections, which are right or wrong as "
          "a whole); for the held-out mean they redraw the scenes. With one test event and a few held-out "
          "scenes they are wide, and two methods' intervals overlap more than their difference varies "
          "(both are scored on the same draws): `benchmarks/bench_skill.py` prints the paired interval "
          "of each difference it checks.", "", skill,
          "**K on validation** (rows `K on validation`): the ensemble size whose top-K ensemble scores best "
          "on the validation events (ties to the smaller K; `ensemble build --choose-k`). With few runs a "
          "setting, a fixed K of 10 or 20 takes every run, weak ones included; the paper's K = 10 and 20 were "
          "the top 11-22 % of 90 runs. Validation F1 by K: "
          + "; ".join(f"{SETTING_LABEL[c.setting]} " + ", ".join(f"{k}: {f:.3f}" for k, f in c.val_f1_by_k.items())
                      + f" (chosen: {c.k_chosen})" for c in curves if c.k_chosen is not None) + ".", "",
          *([("**Object filter** (rows `+ objects`). Most false pixels on the test event are whole "
              "false objects (fresh clear-cuts, diffuse NDVI loss), real vegetation losses no per-pixel "
              "threshold rejects. A classifier of object shape, terrain, cover and change, trained on "
              "the objects the runs detect on the training events (where runs left events out, only on "
              "each run's maps of the events it left out: maps of ground it never trained on, like "
              "monitoring's), drops the objects unlike a landslide "
              "from each member's map before the members are combined; each K's threshold is then chosen "
              "on the validation events again (`gee_landslide.train.objects`):"), "",
             *[f"- {c.object_filter.describe()}" for c in curves if c.object_filter is not None], "",
             "How firmly the validation events chose each `+ objects` row's threshold (the lowest and highest "
             "candidate within 0.01 of its validation F1; sessions 35 and 36 measured the plateau's top "
             "instead of the argmax, which confirmed fewer landslides over the monitored seasons, "
             "docs/experiments.md):", "",
             *objects_threshold_lines(curves, ks), ""]
            if any(c.object_filter is not None for c in curves) else []),
          "## Recall by the radar's local incidence angle", "",
          "A slide's Sentinel-1 change depends on how its slope faces the radar: a bare scar brightens "
          "the backscatter on slopes facing it and darkens it on slopes turned away, as a clear-cut darkens "
          "it anywhere. Recall of the slide pixels by the mean local incidence angle of each slide "
          "(`gee_landslide.train.strata`), beside the S2 models that see no backscatter: a model reading "
          "Sentinel-1 that falls behind them in one column has learned that column's change as something "
          "else.", "", incidence_markdown(curves, base),
          f"## Table 7 - top {top} single models per setting (by validation F1)", "", t7,
          "## Each run on the held-out scenes - is the best run by validation the best on new scenes?", "",
          "Each run at its own validation threshold, and the ensemble of all of them at its own, on the "
          "test event and on each held-out scene (in the order of the skill table's held-out scenes). "
          "Where the best run by validation also leads on most held-out scenes, an ensemble that stays "
          "below it is pulled down by weaker members, not by the test event's luck.", "",
          members_markdown(curves),
          "## Table 8 - single best vs ensembles (test F1, improvement over the single best)", "", t8]
    notes += [c.object_note for c in curves if c.object_note]
    md += [f"- {n}" for n in notes]
    md += ["", "Improvement = (F1 ens - F1 single) / F1 single. (The paper's Table 8 percentages match "
           "(F1 ens - F1 single) / F1 ens.)", "",
           "## Figure 5 - performance diagram (test)", "", f"![performance diagram]({rel(fig5)})", "",
           "## Figure 6 - F1 over ensemble size", "", f"![F1 over K]({rel(fig6)})", "",
           f"## Figure 7 - single best vs ensemble of {map_k} on the test event", ""]
    md += [f"![{s}]({rel(p)})" for s, p in fig7.items()]
    md += ["", "Colours: " + "; ".join(lab for _, lab in FIG7_COLOURS.values()) + ".", ""]
    md += ["## Learning curves - did the runs have room to converge?", "",
           *[f"- {b.line()}" for b in budget], "", f"![learning curves]({rel(fig_lc)})", ""]
    md_path = write_text_atomic(reports_dir / "ensemble_report.md", "\n".join(md))
    summary: dict[str, Any] = {
        c.setting: {"runs": len(c.runs), "single": c.single.test.to_dict(),
                    **{f"ens{k}": c.by_k[min(k, len(c.runs))].test.to_dict() for k in ks},
                    "methods": {r.method: r.to_dict() for r in [*c.by_k.values(), *c.by_k_objects.values()]},
                    "k_on_validation": {"chosen": c.k_chosen,
                                        "val_f1_by_k": {str(k): f for k, f in c.val_f1_by_k.items()}},
                    "runs_alone": [{"run_id": r["run_id"], "architecture": r["config"]["architecture"],
                                    "val_f1": r.get("best_val_f1"), **m.to_dict()}
                                   for r, m in zip(c.runs, c.members, strict=True)],
                    **({"object_filter": {"threshold": c.object_filter.threshold, "fit_f1": c.object_filter.fit_f1,
                                          "unfiltered_f1": c.object_filter.unfiltered_f1,
                                          "objects": c.object_filter.objects}}
                       if c.object_filter is not None else {})}
        for c in curves}
    summary["baselines"] = [b.to_dict() for b in base]
    summary["heldout_events"] = [s.event_id for s in heldout]
    summary["budget"] = [asdict(b) for b in budget]
    summary["inputs_digest"] = inputs_digest  # written last of all files: see write_report_if_changed
    write_text_atomic(reports_dir / "skill.json", json.dumps(summary, indent=1))
    return {"markdown": md_path, "table7": reports_dir / "table7.md", "table8": reports_dir / "table8.md",
            "skill": reports_dir / "skill.md", "figures": [fig5, fig6, *fig7.values(), fig_lc], "summary": summary,
            "notes": notes, "curves": curves, "baselines": base, "budget": budget, "truth": truth}
