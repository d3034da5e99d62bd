"""Monitoring tiles and object-level scores."""

from __future__ import annotations

import numpy as np
import pytest

from gee_landslide.core.grid import Grid
from gee_landslide.monitor.evaluate import object_scores
from gee_landslide.monitor.tiling import plan_tiles

GRID = Grid("EPSG:32632", 300000.0, 6800000.0, 1030, 777)


def test_tiles_cover_the_grid_exactly_once() -> None:
    tiles = plan_tiles(GRID, 256, halo_px=32)
    cover = np.zeros(GRID.shape, np.int32)
    for t in tiles:
        cover[t.row : t.row + t.height, t.col : t.col + t.width] += 1
        rg = t.read_grid(GRID)
        assert rg.shape == (t.read_height, t.read_width)
        rs, cs = t.core_slices()
        # the core cut out of the read window lands on the tile's own pixels
        assert rg.x_min + cs.start * 10 == GRID.x_min + t.col * 10
        assert rg.y_max - rs.start * 10 == GRID.y_max - t.row * 10
        assert rs.stop - rs.start == t.height and cs.stop - cs.start == t.width
        # the halo is 32 px wherever the region extends that far
        assert t.row - t.read_row == min(32, t.row) and t.col - t.read_col == min(32, t.col)
    assert (cover == 1).all()
    assert len(tiles) == 5 * 4 and len({t.key for t in tiles}) == len(tiles)
    with pytest.raises(ValueError):
        plan_tiles(GRID, 0)


def test_object_scores_count_objects_not_pixels() -> None:
    truth = np.zeros((50, 50), np.uint8)
    truth[5:10, 5:10] = 1  # found
    truth[30:35, 30:35] = 1  # missed
    truth[45, 45] = 1  # below the minimum size: ignored
    det = np.zeros_like(truth)
    det[8:12, 8:12] = 1  # overlaps the first
    det[20:22, 40:45] = 1  # false alarm
    s = object_scores(det, truth, min_truth_px=4)
    assert (s.detections, s.true_detections, s.truth_objects, s.found_objects) == (2, 1, 2, 1)
    assert s.precision == 0.5 and s.recall == 0.5
    assert np.isnan(object_scores(np.zeros_like(det), truth).precision)
