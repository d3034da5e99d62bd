"""The report's figures: Figure 5 (performance diagram), Figure 6 (F1 over the ensemble size K) and
Figure 7 (single best against ensemble on the test event, in the paper's colour code).

They draw what :mod:`gee_landslide.train.report` has scored (:mod:`gee_landslide.train.skill_results`),
so they compute nothing of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gee_landslide.train.figures import SETTING_COLOUR, SETTING_LABEL, pyplot, save_png
from gee_landslide.train.metrics import evaluation_mask
from gee_landslide.train.skill_results import MethodResult, SettingCurve


def performance_diagram(curves: list[SettingCurve], ks: tuple[int, ...], path: Path,
                        baselines: Sequence[MethodResult] = ()) -> Path:
    """Roebber (2009): x = precision (success ratio), y = recall (POD), F1 isolines, bias lines."""
    plt = pyplot()
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
        pts = [(1, c.single.test)] + [(k, c.by_k[min(k, n)].test) for k in ks]
        for k, cnt in pts:
            ax.scatter(cnt.precision, cnt.recall, marker=markers[k], s=55, color=SETTING_COLOUR[c.setting],
                       edgecolor="k", zorder=3)
    for b in baselines:
        colour = SETTING_COLOUR.get(b.setting or "", "k")
        ax.scatter(b.test.precision, b.test.recall, marker="*" if b.setting is None else "X", s=110,
                   color=colour, edgecolor="k", zorder=4)
    from matplotlib.lines import Line2D

    h = [Line2D([], [], color=SETTING_COLOUR[c.setting], marker="o", ls="", label=SETTING_LABEL[c.setting])
         for c in curves]
    h += [Line2D([], [], color="k", marker=markers[k], ls="", mfc="w",
                 label="single best" if k == 1 else f"ensemble {k}") for k in markers]
    if any(b.setting is None for b in baselines):
        h.append(Line2D([], [], color="k", marker="*", ms=10, ls="", label="dNDVI rule"))
    if any(b.setting is not None for b in baselines):
        h.append(Line2D([], [], color="0.5", marker="X", ms=9, ls="", mec="k", label="boosted trees"))
    ax.legend(handles=h, loc="lower left", fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Precision (success ratio)", ylabel="Recall (probability of detection)",
           title="Performance diagram (test)")
    ax.set_aspect("equal")
    fig.tight_layout()
    return save_png(fig, path)


def f1_vs_k(curves: list[SettingCurve], path: Path, baselines: Sequence[MethodResult] = ()) -> Path:
    """Test F1 (solid) and held-out mean F1 (dashed, with its 95 % interval as a band when the results
    have one) over K, with the baselines as flat lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for c in curves:
        ks = sorted(c.by_k)
        col = SETTING_COLOUR[c.setting]
        ax.plot(ks, [c.by_k[k].test.f1 for k in ks], marker=".", color=col,
                label=f"{SETTING_LABEL[c.setting]} ensemble, test")
        if c.by_k[1].heldout:
            ax.plot(ks, [c.by_k[k].heldout_mean_f1 for k in ks], ls="--", color=col,
                    label=f"{SETTING_LABEL[c.setting]} ensemble, held-out mean")
            if all(c.by_k[k].heldout_interval is not None for k in ks):  # the scenes redrawn (add_intervals)
                ax.fill_between(ks, [c.by_k[k].heldout_interval.lo for k in ks],
                                [c.by_k[k].heldout_interval.hi for k in ks], color=col, alpha=0.12, lw=0,
                                label=f"{SETTING_LABEL[c.setting]} held-out mean, 95 % interval")
    for b in baselines:
        col = SETTING_COLOUR.get(b.setting or "", "k")
        name = b.method if b.setting is None else f"{b.method}"
        ax.axhline(b.test.f1, color=col, ls=":", lw=1.2 if b.setting else 1.6)
        ax.text(1.02, b.test.f1, f"{name}, test", transform=ax.get_yaxis_transform(), fontsize=7,
                color=col, va="center")
    ax.set(xlabel="ensemble size K (top-K by validation F1; threshold chosen on validation)",
           ylabel="F1", title="F1 over ensemble size, beside the baselines", ylim=(0, 1))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.subplots_adjust(right=0.78)
    return save_png(fig, path)


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
    plt = pyplot()
    n = min(k, len(c.runs))
    scenes = c.test
    mask_kind = c.runs[0]["config"].get("eval_mask", "visible")
    fig, axes = plt.subplots(1, len(scenes), figsize=(6 * len(scenes) + 2.5, 6), squeeze=False)
    for i, (ax, sc) in enumerate(zip(axes[0], scenes, strict=True)):
        single = c.test_scores[1][i] > c.thresholds[1]
        ens = c.test_scores[n][i] > c.thresholds[n]
        ax.imshow(comparison_rgb(sc.labels, single, ens, evaluation_mask(sc.stack, mask_kind)),
                  interpolation="nearest")
        ax.set_title(f"{SETTING_LABEL[c.setting]} - {sc.event_id}: single best vs ensemble of {n}", fontsize=9)
        ax.set_axis_off()
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=col, edgecolor="k", label=lab) for col, lab in FIG7_COLOURS.values()]
    handles.append(Patch(facecolor=(0.3, 0.3, 0.3), edgecolor="k", label="dimmed: outside evaluation mask"))
    fig.legend(handles=handles, loc="center right", fontsize=7)
    fig.subplots_adjust(right=0.72 if len(scenes) == 1 else 0.85)
    return save_png(fig, path)

