"""Matplotlib for the report's figures: headless, written atomically.

Shared by :mod:`gee_landslide.train.report` and :mod:`gee_landslide.train.learning_curves` (which
the report imports, so the helpers cannot live in the report). Matplotlib is imported on first
use only: training and monitoring never pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gee_landslide.core.atomic import atomic_path

# how the report's tables and figures name and colour the band settings
SETTING_LABEL = {"s1": "S1", "s2": "S2", "s1s2": "S1+S2", "all": "all"}
SETTING_COLOUR = {"s1": "tab:blue", "s2": "tab:green", "s1s2": "tab:red", "all": "tab:purple"}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display here or on a cluster node)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG (110 dpi) through a temporary file, then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    pyplot().close(fig)
    return Path(path)
