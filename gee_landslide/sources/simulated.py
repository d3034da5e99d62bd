"""The ``simulated`` stack source: the project's own scene simulator (:mod:`gee_landslide.simulate`).

The simulator draws its own landslides (it knows the truth, so passes can be scored). It does
NOT use an event's label inventory: when an event names one, the build says so in its progress
and in the log, and ``labels.tif`` holds the simulated landslides, not the inventory's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_landslide.simulate.scene import SIMULATOR_VERSION

if TYPE_CHECKING:
    from gee_landslide.core.catalog import Defaults, Event, Region, Window
    from gee_landslide.core.grid import Grid

log = logging.getLogger("gee_landslide")

INVENTORY_IGNORED = (
    "{event}: the simulated source ignores the label inventory {labels}: it draws its own "
    "landslides (use --source gee for stacks labelled from the inventory)"
)


class SimulatedSource:
    """Scenes from the embedded simulator: no account, no network, truth known."""

    name = "simulated"
    has_truth = True
    version = SIMULATOR_VERSION

    def build_event_stack(self, event: Event, defaults: Defaults, out_dir: Path, **options: Any) -> Path:
        """See :class:`~gee_landslide.sources.StackSource` (options: ``force``, ``progress``)."""
        from gee_landslide.simulate import build_event_stack

        progress: Callable[[str], None] | None = options.get("progress")
        if event.labels:
            note = INVENTORY_IGNORED.format(event=event.id, labels=event.labels)
            log.warning(note)
            if progress:
                progress(note)
        return build_event_stack(event, defaults, out_dir, **options)

    def fetch_region_tile(self, region_id: str, region: Region, pre: Window, post: Window, grid: Grid,
                          **where: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The simulated region's tile and its truth (``defaults``/``cache_dir`` are not needed)."""
        from gee_landslide.simulate import simulate_region_tile

        scene = simulate_region_tile(region_id, region, pre, post, grid)
        return scene.data, scene.labels

    def fetch_clear_look(self, region_id: str, region: Region, pre: Window, window: Window, grid: Grid,
                         **where: Any) -> np.ndarray | None:
        """Pixels with a clear Sentinel-2 look in ``window``, read from the region's acquisition
        calendar without rendering a stack (:func:`gee_landslide.monitor.tile_inputs.fetch_tile_look`)."""
        from gee_landslide.simulate.scene import region_clear_look

        return region_clear_look(region_id, region, window, grid)
