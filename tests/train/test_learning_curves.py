"""The budget diagnosis of a sweep: runs still rising at the cap, runs stopped on an early peak."""

from __future__ import annotations

from gee_landslide.train.learning_curves import budget_summary, learning_curves_figure


def _run(f1s: list[float], cap: int | None = 6, patience: int = 2) -> dict:
    best = max(range(len(f1s)), key=lambda i: (f1s[i], -i)) + 1
    return {"config": {"max_epochs": cap, "patience": patience}, "epochs": len(f1s), "best_epoch": best,
            "best_val_f1": max(f1s), "history": [{"epoch": i + 1, "val_f1": v} for i, v in enumerate(f1s)]}


def test_counts_runs_at_the_cap_and_runs_stopped_on_an_early_peak():
    runs = [
        _run([0.5, 0.6, 0.7, 0.75, 0.8, 0.82]),  # still rising at the cap
        _run([0.87, 0.80, 0.85]),  # patience 2 ended it on its epoch-1 peak
        _run([0.5, 0.7, 0.9, 0.85, 0.86, 0.88]),  # converged before the cap: neither
    ]
    b = budget_summary("s2", runs)
    assert (b.runs, b.at_cap, b.early_peak) == (3, 1, 1)
    assert b.median_best_epoch == 3 and b.median_epochs == 6
    assert "1 had their best validation F1 in the last allowed epoch" in b.line()


def test_without_a_cap_no_run_counts_as_at_the_cap():
    b = budget_summary("s1s2", [_run([0.5, 0.6, 0.7], cap=None, patience=50)])
    assert b.at_cap == 0 and "max_epochs none" in b.line()


def test_figure_draws_a_panel_per_setting(tmp_path):
    out = learning_curves_figure({"s2": [_run([0.5, 0.7, 0.8])], "s1s2": [_run([0.6, 0.65])]},
                                 tmp_path / "lc.png")
    assert out.exists() and out.stat().st_size > 5000
