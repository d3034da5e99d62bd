"""Tables and figures of the paper's section 4, for whatever runs exist.

- Table 7: runs per setting ranked by validation F1 with their test precision, recall and F1.
- Table 8: test F1 of the single best run vs ensembles of the top K (10, 20, 40), with the
  improvement in %.
- Figure 5: performance diagram (Roebber 2009): precision (success ratio) on x, recall (POD) on
  y, F1 isolines and dashed frequency-bias lines.
- Figure 6: test F1 over the ensemble size K.
- Figure 7: single best vs ensemble on the test event with the paper's colour code.

Ensemble curves average the test-probability maps each run saved at the end of training
(``test_probs.npz``, float16), so a report over hundreds of runs costs no inference; a run
without that file is re-predicted from its weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.atomic import atomic_path, write_text_atomic
from gee_landslide.core.bands import SETTINGS
from gee_landslide.train.data import Normalisation, load_scenes
from gee_landslide.train.metrics import Counts, confusion, evaluation_mask
from gee_landslide.train.runs import TEST_PROBS_FILE, list_runs

SETTING_LABEL = {"s1": "S1", "s2": "S2", "s1s2": "S1+S2", "all": "all"}
SETTING_COLOUR = {"s1": "tab:blue", "s2": "tab:green", "s1s2": "tab:red", "all": "tab:purple"}


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


# ----------------------------------------------------------------------------- test probabilities
@dataclass
class TestSet:
    event_ids: tuple[str, ...]
    labels: dict[str, np.ndarray]
    masks: dict[str, np.ndarray | None]
    stacks: dict[str, np.ndarray]


def test_set(stacks_dir: Path, event_ids: tuple[str, ...], eval_mask: str) -> TestSet:
    scenes = load_scenes(stacks_dir, event_ids)
    return TestSet(tuple(event_ids), {s.event_id: s.labels for s in scenes},
                   {s.event_id: evaluation_mask(s.stack, eval_mask) for s in scenes},
                   {s.event_id: s.stack for s in scenes})


def run_test_probs(rec: dict, ts: TestSet) -> dict[str, np.ndarray]:
    """A run's test probability maps: from its ``test_probs.npz``, else predicted from its weights."""
    p = Path(rec["_dir"]) / TEST_PROBS_FILE
    if p.exists():
        with np.load(p) as z:
            if all(e in z for e in ts.event_ids):
                return {e: z[e].astype(np.float32) for e in ts.event_ids}
    import torch
    from safetensors.torch import load_file

    from gee_landslide.core.bands import setting as get_setting
    from gee_landslide.train.architectures import create_model
    from gee_landslide.train.constraints import min_side
    from gee_landslide.train.inference import predict, ready_for_inference

    c = rec["config"]
    model = create_model(c["architecture"], get_setting(c["setting"]).in_channels, c["encoder"], None)
    model.load_state_dict(load_file(str(Path(rec["_dir"]) / rec["weights"]["file"])))
    model = ready_for_inference(model, torch.device("cpu"))
    norm = Normalisation.from_dict(rec["normalisation"])
    return {e: predict([model], norm.select(ts.stacks[e]), norm, min_size=min_side(c["architecture"]))[0]
            for e in ts.event_ids}


def counts_of(probs: dict[str, np.ndarray], ts: TestSet, threshold: float) -> Counts:
    total = Counts()
    for e in ts.event_ids:
        total = total + confusion(probs[e] > threshold, ts.labels[e], ts.masks[e])
    return total


@dataclass
class SettingCurve:
    setting: str
    runs: list[dict]
    single: Counts
    by_k: dict[int, Counts]  # K -> counts of the top-K ensemble (K = 1..n)
    probs: list[dict[str, np.ndarray]]
    threshold: float
    ts: TestSet


def setting_curve(runs_dir: Path, stacks_dir: Path, setting: str, max_k: int | None = None) -> SettingCurve | None:
    runs = list_runs(runs_dir, setting)
    if not runs:
        return None
    if max_k:
        runs = runs[:max_k]
    c0 = runs[0]["config"]
    thr = float(c0.get("threshold", 0.5))
    ts = test_set(stacks_dir, tuple(c0["test_events"]), c0.get("eval_mask", "visible"))
    probs = [run_test_probs(r, ts) for r in runs]
    running = {e: np.zeros_like(probs[0][e]) for e in ts.event_ids}
    by_k = {}
    for k, p in enumerate(probs, 1):
        for e in ts.event_ids:
            running[e] += p[e]
        by_k[k] = counts_of({e: running[e] / k for e in ts.event_ids}, ts, thr)
    return SettingCurve(setting, runs, by_k[1], by_k, probs, thr, ts)


# ----------------------------------------------------------------------------- Table 8
def table8_markdown(curves: list[SettingCurve], ks: tuple[int, ...]) -> tuple[str, list[str]]:
    head = "| Setting | F1 single | " + " | ".join(f"F1 ens ({k})" for k in ks) + " |"
    lines = [head, "|---|---|" + "---|" * len(ks)]
    notes = []
    for c in curves:
        n = len(c.runs)
        s1 = c.single.f1
        vals = [c.by_k[min(k, n)].f1 for k in ks]
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


# ----------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def performance_diagram(curves: list[SettingCurve], ks: tuple[int, ...], path: Path) -> Path:
    """Roebber (2009): x = precision (success ratio), y = recall (POD), F1 isolines, bias lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    p = np.linspace(0.001, 1, 400)
    for f1 in np.arange(0.1, 1.0, 0.1):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = f1 * p / (2 * p - f1)
        ok = (r > 0) & (r <= 1) & (2 * p > f1)
        ax.plot(p[ok], r[ok], color="0.6", lw=0.8)
        i = np.argmin(np.abs(p - 0.97)) if np.any(ok) else None
        if i is not None and ok[i]:
            ax.text(0.975, r[i], f"{f1:.1f}", fontsize=7, color="0.4", va="center")
    for b in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0):
        ax.plot(p, b * p, ls="--", color="0.3", lw=0.7)
        x_end = min(1.0, 1.0 / b)
        ax.text(x_end * 0.98 if b >= 1 else 0.985, min(b * 0.985, 1) if b < 1 else 0.99,
                f"{b:g}", fontsize=7, ha="right", va="top")
    markers = {1: "o", **dict(zip(ks, ["s", "^", "D", "v", "P"], strict=False))}
    for c in curves:
        n = len(c.runs)
        pts = [(1, c.single)] + [(k, c.by_k[min(k, n)]) for k in ks]
        for k, cnt in pts:
            ax.scatter(cnt.precision, cnt.recall, marker=markers[k], s=55, color=SETTING_COLOUR[c.setting],
                       edgecolor="k", zorder=3)
    from matplotlib.lines import Line2D

    h = [Line2D([], [], color=SETTING_COLOUR[c.setting], marker="o", ls="", label=SETTING_LABEL[c.setting])
         for c in curves]
    h += [Line2D([], [], color="k", marker=markers[k], ls="", mfc="w",
                 label="single best" if k == 1 else f"ensemble {k}") for k in markers]
    ax.legend(handles=h, loc="lower left", fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Precision (success ratio)", ylabel="Recall (probability of detection)",
           title="Performance diagram (test)")
    ax.set_aspect("equal")
    fig.tight_layout()
    return _save(fig, path)


def f1_vs_k(curves: list[SettingCurve], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in curves:
        ks = sorted(c.by_k)
        ax.plot(ks, [c.by_k[k].f1 for k in ks], marker=".", color=SETTING_COLOUR[c.setting],
                label=SETTING_LABEL[c.setting])
    ax.set(xlabel="ensemble size K (top-K by validation F1)", ylabel="F1 (test)",
           title="Test F1 over ensemble size")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


# the paper's Figure 7 colour code, indexed by truth*4 + single*2 + ensemble
FIG7_COLOURS = {
    (0, 0, 0): ((0, 0, 0), "both correct (no landslide)"),
    (0, 1, 0): ((1, 0, 0), "red: false alarm prediction (single)"),
    (1, 0, 0): ((0, 0.75, 0), "green: both prediction and ensemble missed"),
    (0, 0, 1): ((0, 0.3, 1), "blue: false alarm ensemble"),
    (1, 1, 0): ((1, 1, 0), "yellow: prediction correct, ensemble missed"),
    (0, 1, 1): ((1, 0, 1), "magenta: both prediction and ensemble false alarm"),
    (1, 0, 1): ((0, 1, 1), "cyan: prediction missed, ensemble correct"),
    (1, 1, 1): ((1, 1, 1), "white: both prediction and ensemble correct"),
}


def comparison_rgb(truth: np.ndarray, single: np.ndarray, ens: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    rgb = np.zeros((*truth.shape, 3), np.float32)
    t, s, e = truth.astype(bool), single.astype(bool), ens.astype(bool)
    for (ti, si, ei), (col, _) in FIG7_COLOURS.items():
        sel = (t == bool(ti)) & (s == bool(si)) & (e == bool(ei))
        rgb[sel] = col
    if mask is not None:
        rgb[~mask] = rgb[~mask] * 0.35 + 0.15  # outside the evaluation mask: dimmed
    return rgb


def comparison_map(c: SettingCurve, k: int, path: Path) -> Path:
    plt = _plt()
    n = min(k, len(c.runs))
    events = c.ts.event_ids
    fig, axes = plt.subplots(1, len(events), figsize=(6 * len(events) + 2.5, 6), squeeze=False)
    for ax, e in zip(axes[0], events, strict=True):
        single = c.probs[0][e] > c.threshold
        ens = np.mean([p[e] for p in c.probs[:n]], axis=0) > c.threshold
        ax.imshow(comparison_rgb(c.ts.labels[e], single, ens, c.ts.masks[e]), interpolation="nearest")
        ax.set_title(f"{SETTING_LABEL[c.setting]} - {e}: single best vs ensemble of {n}", fontsize=9)
        ax.set_axis_off()
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=col, edgecolor="k", label=lab) for col, lab in FIG7_COLOURS.values()]
    handles.append(Patch(facecolor=(0.3, 0.3, 0.3), edgecolor="k", label="dimmed: outside evaluation mask"))
    fig.legend(handles=handles, loc="center right", fontsize=7)
    fig.subplots_adjust(right=0.72 if len(events) == 1 else 0.85)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    plt = _plt()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------- the whole report
def write_report(runs_dir: Path, stacks_dir: Path, reports_dir: Path, settings: list[str] | None = None,
                 ks: tuple[int, ...] = (10, 20, 40), map_k: int = 20, top: int = 10) -> dict[str, Any]:
    """Write Table 7, Table 8 and Figures 5-7 under ``reports_dir``; returns paths and numbers."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    settings = settings or list(SETTINGS)
    curves = [c for s in settings if (c := setting_curve(runs_dir, stacks_dir, s)) is not None]
    if not curves:
        raise ValueError(f"no finished runs in {runs_dir} for settings {settings}")
    t7 = leaderboard_markdown(leaderboard_rows(runs_dir, [c.setting for c in curves], top))
    t8, notes = table8_markdown(curves, ks)
    fig5 = performance_diagram(curves, ks, reports_dir / "performance_diagram.png")
    fig6 = f1_vs_k(curves, reports_dir / "f1_vs_k.png")
    fig7 = {c.setting: comparison_map(c, map_k, reports_dir / f"comparison_{c.setting}.png") for c in curves}
    write_text_atomic(reports_dir / "table7.md", t7)
    write_text_atomic(reports_dir / "table8.md", t8)
    rel = lambda p: os.path.relpath(p, reports_dir)  # noqa: E731
    md = ["# Ensemble report", "",
          f"Runs: {', '.join(f'{SETTING_LABEL[c.setting]} {len(c.runs)}' for c in curves)} finished. "
          f"Test event(s): {', '.join(curves[0].ts.event_ids)}; evaluation mask: "
          f"`{curves[0].runs[0]['config'].get('eval_mask', 'visible')}`; threshold {curves[0].threshold}.", "",
          f"## Table 7 - top {top} single models per setting (by validation F1)", "", t7,
          "## Table 8 - single best vs ensembles (test F1, improvement over the single best)", "", t8]
    md += [f"- {n}" for n in notes]
    md += ["", "Improvement = (F1 ens - F1 single) / F1 single. (The paper's Table 8 percentages match "
           "(F1 ens - F1 single) / F1 ens.)", "",
           "## Figure 5 - performance diagram", "", f"![performance diagram]({rel(fig5)})", "",
           "## Figure 6 - test F1 over ensemble size", "", f"![F1 over K]({rel(fig6)})", "",
           f"## Figure 7 - single best vs ensemble of {map_k} on the test event", ""]
    md += [f"![{s}]({rel(p)})" for s, p in fig7.items()]
    md += ["", "Colours: " + "; ".join(lab for _, lab in FIG7_COLOURS.values()) + ".", ""]
    md_path = write_text_atomic(reports_dir / "ensemble_report.md", "\n".join(md))
    summary = {c.setting: {"runs": len(c.runs), "single": c.single.to_dict(),
                           **{f"ens{k}": c.by_k[min(k, len(c.runs))].to_dict() for k in ks}} for c in curves}
    return {"markdown": md_path, "table7": reports_dir / "table7.md", "table8": reports_dir / "table8.md",
            "figures": [fig5, fig6, *fig7.values()], "summary": summary, "notes": notes}
