"""What every builder needs to know about one event: its grid, AOI and date windows.

Pure (no server calls). The AOI is the event's 10 m UTM grid (the same grid rules as the
simulated source, :func:`gee_landslide.core.grid.grid_around`) as an ``ee.Geometry`` rectangle in
the grid's own CRS, so clipping and export agree to the pixel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ee

from gee_landslide.core.catalog import Defaults, Event, Window
from gee_landslide.core.grid import Grid, grid_around
from gee_landslide.earthengine.seasons import choose_windows


@dataclass(frozen=True)
class EventContext:
    event: Event
    defaults: Defaults
    grid: Grid
    pre: Window
    post: Window
    window_reason: str = "given by the caller"

    @classmethod
    def of(cls, event: Event, defaults: Defaults) -> EventContext:
        grid = grid_around(event.lat, event.lon, event.aoi_m(defaults), defaults.resolution_m)
        choice = choose_windows(event, defaults)
        return cls(event, defaults, grid, choice.pre, choice.post, choice.reason)

    @property
    def orbit_pass(self) -> str:
        return self.event.orbit_pass or self.defaults.orbit_pass

    def aoi(self) -> ee.Geometry:
        """The grid's footprint as a planar rectangle in the grid CRS."""
        x0, y0, x1, y1 = self.grid.bounds
        return ee.Geometry.Rectangle([x0, y0, x1, y1], self.grid.crs, False)

    def window(self, which: str) -> Window:
        if which not in ("pre", "post"):
            raise ValueError(f"window must be 'pre' or 'post', not {which!r}")
        return self.pre if which == "pre" else self.post


def ee_date_range(window: Window) -> tuple[str, str]:
    """``filterDate`` arguments for an inclusive catalog window (EE's end date is exclusive)."""
    return window.start.isoformat(), (window.end + dt.timedelta(days=1)).isoformat()
