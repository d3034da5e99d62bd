"""The change evidence an alert must show, fitted on the training and validation landslides."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_stacks import synthetic_scene

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.train.data import Scene
from gee_landslide.train.evidence import (
    KEEP,
    RING_PX,
    fit_evidence,
    object_contrast,
    object_contrasts,
    object_medians,
    ring_mask,
)

DNDVI, DVH = BAND_NAMES.index("dNDVI"), BAND_NAMES.index("dVH")


def _scene_with_slides(name: str, drops: list[float], size: int = 64) -> Scene:
    """One 5x5 landslide per value of ``drops`` (its dNDVI and dVH), on a diagonal."""
    stack, _ = synthetic_scene(0, size)
    stack = stack.copy()
    labels = np.zeros((size, size), np.uint8)
    stack[DNDVI] = 0.0
    stack[DVH] = 0.0
    for k, d in enumerate(drops):
        r = 2 + 7 * k
        labels[r : r + 5, r : r + 5] = 1
        stack[DNDVI, r : r + 5, r : r + 5] = d
        stack[DVH, r : r + 5, r : r + 5] = 10 * d
    return Scene(name, stack, labels)


def test_limit_is_the_keep_quantile_of_the_landslide_objects_medians():
    scenes = [_scene_with_slides("a", [-0.5, -0.4, -0.3]), _scene_with_slides("b", [-0.2, -0.01])]
    assert sorted(object_medians(scenes, "dNDVI")) == pytest.approx([-0.5, -0.4, -0.3, -0.2, -0.01])
    ev = fit_evidence(scenes, "s2")
    assert ev["band"] == "dNDVI" and ev["objects"] == 5 and ev["keep"] == KEEP
    assert ev["max_object_median"] == pytest.approx(np.quantile([-0.5, -0.4, -0.3, -0.2, -0.01], KEEP), abs=1e-4)
    assert ev["fitted_on"] == ["a", "b"]
    s1 = fit_evidence(scenes, "s1", keep=0.5)
    assert s1["band"] == "dVH" and s1["max_object_median"] == pytest.approx(-3.0)


def test_objects_without_finite_values_do_not_count_and_none_at_all_is_an_error():
    scene = _scene_with_slides("a", [-0.5, -0.3])
    scene.stack[DNDVI, 2:7, 2:7] = np.nan  # the first slide was under cloud
    assert object_medians([scene], "dNDVI") == pytest.approx([-0.3])
    scene.stack[DNDVI] = np.nan
    with pytest.raises(ValueError, match="no landslide object with a finite dNDVI"):
        fit_evidence([scene], "s2")
    with pytest.raises(ValueError, match=r"keep 1\.0"):
        fit_evidence([scene], "s2", keep=1.0)


def test_contrast_is_the_object_median_minus_its_rings_and_the_limit_its_keep_quantile():
    """On a flat background the contrast is the drop itself; where the surroundings dropped as much
    (a snow line, a whole slope browning) it is zero. Other objects stay out of a ring."""
    scenes = [_scene_with_slides("a", [-0.5, -0.4, -0.3]), _scene_with_slides("b", [-0.2, -0.01])]
    assert sorted(object_contrasts(scenes, "dNDVI")) == pytest.approx([-0.5, -0.4, -0.3, -0.2, -0.01])
    ev = fit_evidence(scenes, "s2")
    assert ev["max_object_contrast"] == pytest.approx(np.quantile([-0.5, -0.4, -0.3, -0.2, -0.01], KEEP), abs=1e-4)
    assert ev["ring_px"] == list(RING_PX)

    broad = _scene_with_slides("c", [-0.4])
    broad.stack[DNDVI, :20, :20] = -0.4  # the whole corner browned, the slide with it
    assert object_contrasts([broad], "dNDVI") == pytest.approx([0.0])
    # the ring leaves out what it is told to: a neighbour's pixels do not make the ring look changed
    obj = np.zeros((20, 20), bool)
    obj[5:10, 5:10] = True
    other = np.zeros_like(obj)
    other[5:10, 12:17] = True
    values = np.where(obj | other, -0.4, 0.0)
    assert object_contrast(values, obj, other) == pytest.approx(-0.4)
    assert not (ring_mask(obj, other) & (obj | other)).any()
    assert np.isnan(object_contrast(np.where(obj, -0.4, np.nan), obj, other))  # nothing around it to compare


def test_landslide_objects_are_counted_by_their_majority_land_cover():
    """The S1 ensemble's manifest says on which classes it saw landslides (monitoring lets Sentinel-1
    persistence confirm only there): each object counts once, for the class most of its pixels have."""
    from gee_landslide.train.evidence import LANDCOVER_BAND, objects_by_landcover

    lc = BAND_NAMES.index(LANDCOVER_BAND)
    a = _scene_with_slides("a", [-0.5, -0.4, -0.3])
    a.stack[lc] = 2.0  # forest everywhere...
    a.stack[lc, 9:14, 9:12] = 8.0  # ...but most of the second object is bare rock (15 of 25 px)
    a.stack[lc, 16:21, 16:18] = 8.0  # the third: 10 of 25 px, still forest
    b = _scene_with_slides("b", [-0.2])
    b.stack[lc] = 3.0
    b.stack[lc, 2, 2] = np.nan  # a missing class value does not count
    assert objects_by_landcover([a, b]) == {"2": 2, "3": 1, "8": 1}
    assert fit_evidence([a, b], "s1")["objects_by_landcover"] == {"2": 2, "3": 1, "8": 1}
