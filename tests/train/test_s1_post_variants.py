"""Sentinel-1 post variants: the same event with a monitoring pass's few-look S1 post composite,
built by the simulated source and the Earth Engine recipe, and trained on by the settings a
profile names (validation too), while test events stay the paper's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from gee_landslide.core.catalog import Window, load_catalog
from gee_landslide.core.variants import parse_variant, s1_post_window, variant_id, with_variants
from gee_landslide.train.data import MissingStacksError
from gee_landslide.train.profile import load_profile
from gee_landslide.train.sweep import Splits, check_stacks, expand_grid, setting_splits

REPO = Path(__file__).resolve().parents[2]
S1_POST_BANDS = (1, 2, 4, 5)  # postVV, dVV, postVH, dVH
SPLITS = Splits(("a", "b"), ("c",), ("d",))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO / "case_studies.yaml")


def test_variant_ids_and_windows_round_trip():
    assert variant_id("norway-5", 12) == "norway-5.s1post12"
    assert parse_variant("norway-5.s1post12") == ("norway-5", 12)
    assert parse_variant("norway-5") == ("norway-5", None)
    post = Window(start=dt.date(2019, 7, 31), end=dt.date(2019, 8, 30))
    assert s1_post_window(post, 12) == Window(start=dt.date(2019, 7, 31), end=dt.date(2019, 8, 11))
    assert s1_post_window(post, 90) == post  # never beyond the event's own post window
    assert with_variants(("a", "b"), [12]) == ("a", "b", "a.s1post12", "b.s1post12")
    with pytest.raises(ValueError, match="at least 1"):
        variant_id("a", 0)


def test_the_catalog_asks_for_the_variants_of_its_regions_sentinel1_windows(catalog):
    assert catalog.regions["norway"].s1_post_days == 12
    assert catalog.s1_post_variant_days() == [12]


def test_a_simulated_variant_changes_only_the_sentinel1_post_bands(catalog):
    from gee_landslide.simulate import simulate_event

    ev = catalog.event("norway-5")
    base = simulate_event(ev, catalog.defaults)
    var = simulate_event(ev, catalog.defaults, s1_post_days=12)
    np.testing.assert_array_equal(base.labels, var.labels)
    others = [i for i in range(base.data.shape[0]) if i not in S1_POST_BANDS]
    np.testing.assert_array_equal(base.data[others], var.data[others])
    for i in S1_POST_BANDS:
        assert not np.array_equal(base.data[i], var.data[i]), i
    # fewer looks: the median keeps more speckle, so the change bands spread wider off the landslides
    calm = base.labels == 0
    assert var.meta["acquisitions"]["post"] < base.meta["acquisitions"]["post"]
    assert np.nanstd(var.data[2][calm]) > np.nanstd(base.data[2][calm])
    assert var.meta["s1_post_days"] == 12 and "s1_post_days" not in base.meta
    assert var.meta["windows"]["s1_post"] == [ev_post_start := base.meta["windows"]["post"][0],
                                              (dt.date.fromisoformat(ev_post_start) + dt.timedelta(days=11)).isoformat()]


def test_profiles_train_and_validate_the_named_settings_on_the_variants():
    laptop = load_profile("laptop")
    plain = laptop.model_copy(update={"s1_post_variants": []})
    with_v = laptop.model_copy(update={"s1_post_variants": [12], "s1_post_variant_settings": ["s1"]})
    before = {c.run_id: c for c in expand_grid(plain, SPLITS)}
    after = expand_grid(with_v, SPLITS)
    for cfg in after:
        if cfg.setting == "s1":
            assert cfg.train_events == ("a", "b", "a.s1post12", "b.s1post12")
            assert cfg.val_events == ("c", "c.s1post12")
            assert cfg.run_id not in before  # other data, another run
        else:  # untouched settings keep their runs (and their trained weights)
            assert cfg.run_id in before and cfg.train_events == SPLITS.train
        assert cfg.test_events == SPLITS.test
    assert setting_splits(with_v, SPLITS, "s2") == SPLITS


def test_a_missing_variant_stack_names_the_command_that_builds_it(tmp_path):
    for sid in ("a", "b", "c", "d", "a.s1post12"):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "meta.json").write_text("{}")
    with_v = load_profile("laptop").model_copy(update={"s1_post_variants": [12]})
    check_stacks(tmp_path, SPLITS)  # the events alone are there
    with pytest.raises(MissingStacksError, match=r"b\.s1post12, c\.s1post12.*--s1-post-days 12"):
        check_stacks(tmp_path, setting_splits(with_v, SPLITS, "s1"))
