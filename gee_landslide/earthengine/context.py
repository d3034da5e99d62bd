"""What every builder needs to know about one event: its grid, AOI and date windows.

Pure (no server calls). The AOI is the event's 10 m UTM grid (the same grid rules as the
simulated source, :func:`gee_landslide.core.grid.grid_around`) as an ``ee.Geometry`` rectangle in
the grid's own CRS, so clipping and export agree to the pixel.

A context may carry a shorter Sentinel-1 post window (``s1_post``, a monitoring region's
``s1_post_days``): the S1 builders read their windows through :meth:`EventContext.s1_window`,
everything else through :meth:`EventContext.window`. It may also carry the latest days of the post
window whose greenest pixel the Sentinel-2 post composite prefers where they saw the ground
(``s2_post``, a region's ``optical_post_days``; :func:`gee_landslide.earthengine.sentinel2.greenest_pixel`).
Events leave both unset, so their S1 and S2 windows (and graphs) are the same as before.
``s2_post_optional`` (SAR-first tiles) lets the post window hold no Sentinel-2 scene at all (:func:`gee_landslide.earthengine.sentinel2.greenest_pixel`).
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
    # a shorter Sentinel-1 post window ending with ``post`` (None: the whole post window). A SAR
    # median over the latest days shows a new landslide once most of its acquisitions follow it,
    # while the optical composite keeps the whole window for its chance of a clear view
    s1_post: Window | None = None
    # the monitoring region this context stands in for (None: a catalog event); hints name its fields
    region_id: str | None = None
    # a SAR-first monitoring tile: a post window without a single Sentinel-2 scene still gives a
    # post composite (wholly masked), so the tile exports with NaN dNDVI and its S1 ensemble decides
    # it, as with a post window whose scenes are all cloudy. Events need both composites (False)
    s2_post_optional: bool = False
    # an event's training variant (core.variants): the Sentinel-1 post median of its first N scenes
    # of the chosen orbit after the event, as few looks as a monitoring pass gets (None: all)
    s1_post_looks: int | None = None
    # the latest days of ``post`` whose greenest pixel the S2 post composite takes where they saw the ground
    # (None: the whole window everywhere). A greenest-pixel composite keeps a pre-landslide look while one
    # is in its window; that of the latest days cannot keep it long
    s2_post: Window | None = None

    def __post_init__(self) -> None:
        # outside the post window a "post" composite could read pre-event scenes
        for name, w in (("Sentinel-1", self.s1_post), ("Sentinel-2", self.s2_post)):
            if w is not None and not (self.post.start <= w.start and w.end <= self.post.end):
                raise ValueError(f"{name} post window {w.start}..{w.end} is not within the post window "
                                 f"{self.post.start}..{self.post.end}")

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

    def s1_window(self, which: str) -> Window:
        """The Sentinel-1 ``pre`` or ``post`` window: :meth:`window`, or ``s1_post`` when set."""
        w = self.window(which)
        return self.s1_post if which == "post" and self.s1_post is not None else w


def ee_date_range(window: Window) -> tuple[str, str]:
    """``filterDate`` arguments for an inclusive catalog window (EE's end date is exclusive)."""
    return window.start.isoformat(), (window.end + dt.timedelta(days=1)).isoformat()
