"""The ``gee`` stack source: Sentinel-1/2 and terrain from Google Earth Engine.

A thin adapter over :mod:`gee_landslide.earthengine` (the recipe builders and the exporter);
``ee`` is imported only when a stack is actually built or fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gee_landslide.core.catalog import Defaults, Event, Region, Window
    from gee_landslide.core.grid import Grid


class EarthEngineSource:
    """Stacks exported from Earth Engine with ``ee.data.computePixels``; no truth for new tiles."""

    name = "gee"
    has_truth = False

    @property
    def version(self) -> str:
        from gee_landslide.earthengine import RECIPE_VERSION

        return str(RECIPE_VERSION)

    def build_event_stack(
        self,
        event: Event,
        defaults: Defaults,
        out_dir: Path,
        *,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> Path:
        from gee_landslide.earthengine.event_stack import build_event_stack

        return build_event_stack(event, defaults, out_dir, force=force, progress=progress)

    def fetch_region_tile(
        self,
        region_id: str,
        region: Region,
        pre: Window,
        post: Window,
        grid: Grid,
        *,
        defaults: Defaults,
        cache_dir: Path,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        from gee_landslide.earthengine.region import fetch_grid_stack

        stack = fetch_grid_stack(grid, pre, post, region=region, region_id=region_id,
                                 defaults=defaults, cache_dir=cache_dir)
        return stack, None
