"""Learning curves of a sweep: is the training budget what limits the runs?

Every run records its validation F1 per epoch (``run.json`` ``history``). Two signs that a
profile's budget, not the model, decides the result:

- the best epoch is the last one the run trained (``at_cap``): validation F1 was still rising
  when ``max_epochs`` stopped it;
- early stopping ended a run within a few epochs of its start on a first-epoch peak
  (``early_peak``): with a validation threshold searched per epoch, a barely trained model can
  score a high F1 once, and a small ``patience`` then stops it before it learns.

The report prints these counts beside its learning-curve figure, so a user who changes the profile
sees at once whether the runs had room to converge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.train.figures import pyplot, save_png


@dataclass(frozen=True)
class BudgetSummary:
    """How the runs of one setting used their epochs."""

    setting: str
    runs: int
    max_epochs: int | None
    patience: int | None
    at_cap: int  # best epoch == last epoch == max_epochs: still improving when stopped
    early_peak: int  # stopped early with the best epoch in the first two
    median_best_epoch: float
    median_epochs: float

    def line(self) -> str:
        cap = f"{self.max_epochs}" if self.max_epochs else "none"
        return (f"{self.setting}: {self.runs} runs (max_epochs {cap}, patience {self.patience}): "
                f"{self.at_cap} had their best validation F1 in the last allowed epoch, "
                f"{self.early_peak} stopped early on a peak in epoch 1-2; "
                f"median best epoch {self.median_best_epoch:g} of {self.median_epochs:g} trained")


def budget_summary(setting: str, runs: Sequence[dict[str, Any]]) -> BudgetSummary:
    """Counts of :class:`BudgetSummary` from run records (``list_runs`` output)."""
    cfg = runs[0]["config"] if runs else {}
    cap = cfg.get("max_epochs")
    at_cap = early = 0
    best, trained = [], []
    for r in runs:
        epochs, best_epoch = int(r.get("epochs", 0)), int(r.get("best_epoch", 0))
        best.append(best_epoch)
        trained.append(epochs)
        if cap is not None and epochs >= cap and best_epoch == epochs:
            at_cap += 1
        if (cap is None or epochs < cap) and best_epoch <= 2:
            early += 1
    return BudgetSummary(setting, len(runs), cap, cfg.get("patience"), at_cap, early,
                         float(np.median(best)) if best else 0.0, float(np.median(trained)) if trained else 0.0)


def learning_curves_figure(runs_by_setting: dict[str, Sequence[dict[str, Any]]], path: Path,
                           labels: dict[str, str] | None = None) -> Path:
    """One panel per setting: validation F1 per epoch of every run, its kept epoch marked."""
    plt = pyplot()
    names = [s for s, runs in runs_by_setting.items() if runs]
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5.2 * max(len(names), 1), 4), squeeze=False)
    for ax, s in zip(axes[0], names, strict=False):
        runs = runs_by_setting[s]
        cmap = plt.get_cmap("viridis")
        for i, r in enumerate(runs):  # runs come ranked by validation F1: dark = best
            h = r.get("history") or []
            if not h:
                continue
            col = cmap(i / max(len(runs) - 1, 1))
            ax.plot([e["epoch"] for e in h], [e["val_f1"] for e in h], color=col, lw=1, alpha=0.8)
            ax.scatter([r["best_epoch"]], [r["best_val_f1"]], color=col, s=14, zorder=3)
        cap = runs[0]["config"].get("max_epochs")
        if cap:
            ax.axvline(cap, color="0.4", ls=":", lw=1)
        ax.set(title=f"{(labels or {}).get(s, s)}: validation F1 per epoch ({len(runs)} runs)",
               xlabel="epoch", ylabel="validation F1", ylim=(0, 1))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


__all__ = ["BudgetSummary", "budget_summary", "learning_curves_figure"]
