"""The ``gee`` stack source: Sentinel-1/2 and terrain from Google Earth Engine.

A thin adapter over :mod:`gee_landslide.earthengine` (the recipe builders and the exporter);
``ee`` is imported only when a stack is actually built or fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_landslide.earthengine import RECIPE_VERSION

if TYPE_CHECKING:
    from gee_landslide.core.catalog import Defaults, Event, Region, Window
    from gee_landslide.core.grid import Grid


class EarthEngineSource:
    """Stacks exported from Earth Engine with ``ee.data.computePixels``; no truth for new tiles."""

    name = "gee"
    has_truth = False
    version = RECIPE_VERSION  # the package's __init__ holds only constants: no `ee` import here

    def build_event_stack(self, event: Event, defaults: Defaults, out_dir: Path, **options: Any) -> Path:
        """See :class:`~gee_landslide.sources.StackSource` (options: ``force``, ``progress``)."""
        from gee_landslide.earthengine.event_stack import build_event_stack

        return build_event_stack(event, defaults, out_dir, **options)

    def fetch_region_tile(self, region_id: str, region: Region, pre: Window, post: Window, grid: Grid,
                          **where: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The exported tile (``where``: ``defaults``, ``cache_dir``); no truth for new scenes."""
        from gee_landslide.earthengine.region import fetch_grid_stack

        return fetch_grid_stack(grid, pre, post, region=region, region_id=region_id, **where), None
