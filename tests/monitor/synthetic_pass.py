"""A small synthetic monitoring pass (for tests, demos and trying the feeds and the map offline).

``synthetic_pass`` builds, on a 10 m UTM grid, the arrays a monitoring pass hands to the alert
code: ensemble mean / std / agreement, slope, land cover, dNDVI and dVV, with rectangular or
elliptical "landslides" where you put them, a flat plain and a lake to exercise the filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gee_landslide.core.grid import Grid, grid_around
from gee_landslide.core.landcover import WATER_CODE


@dataclass(frozen=True)
class Slide:
    """A synthetic detection: a pixel box (row0, col0, row1, col1) or the ellipse inscribed in it."""

    row0: int
    col0: int
    row1: int
    col1: int
    prob: float = 0.9
    ellipse: bool = False

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        m = np.zeros(shape, dtype=bool)
        if not self.ellipse:
            m[self.row0:self.row1, self.col0:self.col1] = True
            return m
        rr, cc = np.mgrid[0:shape[0], 0:shape[1]]
        cr, cc0 = (self.row0 + self.row1 - 1) / 2, (self.col0 + self.col1 - 1) / 2
        ar, ac = max((self.row1 - self.row0) / 2, 0.5), max((self.col1 - self.col0) / 2, 0.5)
        return ((rr - cr) / ar) ** 2 + ((cc - cc0) / ac) ** 2 <= 1.0


@dataclass
class SyntheticPass:
    grid: Grid
    mean: np.ndarray
    std: np.ndarray
    agreement: np.ndarray
    slope: np.ndarray
    landcover: np.ndarray
    dndvi: np.ndarray
    dvv: np.ndarray
    slides: list[Slide] = field(default_factory=list)


def demo_grid(size_px: int = 200, lat: float = 61.55, lon: float = 7.35) -> Grid:
    return grid_around(lat, lon, size_m=size_px * 10.0)


def synthetic_pass(
    slides: list[Slide],
    *,
    grid: Grid | None = None,
    seed: int = 0,
    flat: tuple[int, int, int, int] | None = None,
    water: tuple[int, int, int, int] | None = None,
    slope_deg: float = 28.0,
) -> SyntheticPass:
    """Arrays of one pass with ``slides``; ``flat`` (slope 2°) and ``water`` are pixel boxes."""
    grid = grid or demo_grid()
    h, w = grid.shape
    rng = np.random.default_rng(seed)
    mean = (0.05 + 0.2 * rng.random((h, w))).astype(np.float32)
    agreement = np.zeros((h, w), np.float32)
    slope = np.full((h, w), slope_deg, np.float32) + rng.normal(0, 2.0, (h, w)).astype(np.float32)
    landcover = np.full((h, w), 2, np.float32)  # forest
    dndvi = rng.normal(0.0, 0.05, (h, w)).astype(np.float32)
    dvv = rng.normal(0.0, 0.6, (h, w)).astype(np.float32)
    if flat is not None:
        r0, c0, r1, c1 = flat
        slope[r0:r1, c0:c1] = 2.0
        landcover[r0:r1, c0:c1] = 4  # pasture
    if water is not None:
        r0, c0, r1, c1 = water
        landcover[r0:r1, c0:c1] = WATER_CODE
        slope[r0:r1, c0:c1] = 25.0  # steep enough: only the water filter can drop it
    for s in slides:
        m = s.mask((h, w))
        mean[m] = np.float32(s.prob) + rng.normal(0, 0.01, int(m.sum())).astype(np.float32)
        agreement[m] = 0.8
        dndvi[m] -= 0.45
        dvv[m] += 2.5
    mean = np.clip(mean, 0, 1)
    std = (0.05 + 0.1 * (1 - np.abs(mean - 0.5) * 2)).astype(np.float32)
    return SyntheticPass(grid, mean, std, agreement, slope, landcover, dndvi, dvv, list(slides))


def demo_store(store_dir: str | Path, *, n_passes: int = 2) -> list:
    """Fill ``store_dir`` with a few passes of synthetic alerts (new, then updated) and publish."""
    from gee_landslide.monitor.alerts import detections_to_candidates
    from gee_landslide.monitor.chips import ChipSource
    from gee_landslide.monitor.feeds import merge_and_publish
    from gee_landslide.monitor.store import AlertStore

    store = AlertStore(store_dir)
    slides_1 = [
        Slide(30, 40, 48, 52, 0.93), Slide(110, 120, 124, 150, 0.78, ellipse=True),
        Slide(150, 30, 160, 38, 0.66), Slide(60, 150, 70, 156, 0.58),
    ]
    slides_2 = [
        Slide(30, 40, 54, 54, 0.95), Slide(110, 120, 124, 150, 0.8, ellipse=True),
        Slide(150, 30, 160, 38, 0.66), Slide(170, 160, 185, 172, 0.88, ellipse=True),
    ]
    results = []
    run = dt.date(2024, 6, 1)
    for k, slides in enumerate([slides_1, slides_2][:n_passes]):
        p = synthetic_pass(slides, seed=k, flat=(0, 100, 40, 200), water=(185, 0, 200, 60))
        cands = detections_to_candidates(
            p.mean, p.std, p.agreement, p.grid, threshold=0.5, slope=p.slope, landcover=p.landcover,
            min_area_m2=400, min_slope_deg=10,
        )
        run_date = run + dt.timedelta(days=12 * k)
        pre = (run_date - dt.timedelta(days=89), run_date - dt.timedelta(days=30))
        post = (run_date - dt.timedelta(days=29), run_date)
        results.append(
            merge_and_publish(
                store, cands, region_id="demo", pre=pre, post=post,
                run_time=dt.datetime(run_date.year, run_date.month, run_date.day, 6, 0),
                model_version="demo-ensemble-k10", chips_source=ChipSource(p.dndvi, p.dvv, p.grid),
                threshold=0.5,
            )
        )
    return results
