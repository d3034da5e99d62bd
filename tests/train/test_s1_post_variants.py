"""Sentinel-1 post variants: the same event with as few Sentinel-1 post looks as a monitoring pass
gets, built by the simulated source and the Earth Engine recipe, and trained on by the settings a
profile names (validation too), while test events stay the paper's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.variants import events_only, parse_variant, variant_id, with_variants
from gee_landslide.train.data import MissingStacksError, load_scenes
from gee_landslide.train.profile import load_profile
from gee_landslide.train.sweep import Splits, check_stacks, expand_grid, run_sweep, setting_splits

REPO = Path(__file__).resolve().parents[2]
S1_POST_BANDS = (1, 2, 4, 5)  # postVV, dVV, postVH, dVH
SPLITS = Splits(("a", "b"), ("c",), ("d",), variant_looks=(2,))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO / "case_studies.yaml")


@pytest.fixture
def catalog_with_variants(tmp_path):
    """The repo's catalog with its commented-out variant line turned on."""
    text = (REPO / "case_studies.yaml").read_text()
    assert "  # s1_post_variant_looks: [2]\n" in text
    (tmp_path / "case_studies.yaml").write_text(text.replace("  # s1_post_variant_looks: [2]\n", "  s1_post_variant_looks: [2]\n"))
    return load_catalog(tmp_path / "case_studies.yaml")


def test_variant_ids_round_trip():
    assert variant_id("norway-5", 2) == "norway-5.s1looks2"
    assert parse_variant("norway-5.s1looks2") == ("norway-5", 2)
    assert parse_variant("norway-5") == ("norway-5", None)
    assert with_variants(("a", "b"), [2]) == ("a", "b", "a.s1looks2", "b.s1looks2")
    assert events_only(with_variants(("a", "b"), [2, 3])) == ("a", "b")
    with pytest.raises(ValueError, match="at least 1 look"):
        variant_id("a", 0)


def test_the_catalog_names_the_variants_ingest_builds_and_the_splits_carry_them(catalog, catalog_with_variants):
    assert catalog.defaults.s1_post_variant_looks == [] and Splits.from_catalog(catalog).variant_looks == ()
    assert catalog_with_variants.defaults.s1_post_variant_looks == [2]
    assert Splits.from_catalog(catalog_with_variants).variant_looks == (2,)
    # the laptop profile leaves them alone (measured, not a robust gain); the paper profile too
    assert not load_profile("laptop").s1_post_variants and not load_profile("paper").s1_post_variants


def test_a_simulated_variant_takes_the_first_looks_and_changes_only_the_sentinel1_post_bands(catalog):
    from gee_landslide.simulate import simulate_event

    ev = catalog.event("italy-22")  # a 12-month post window: many looks
    base = simulate_event(ev, catalog.defaults)
    var = simulate_event(ev, catalog.defaults, s1_post_looks=2)
    assert base.meta["acquisitions"]["post"] > 2 and var.meta["acquisitions"]["post"] == 2
    assert var.meta["s1_post_looks"] == 2 and "s1_post_looks" not in base.meta
    assert var.meta["windows"]["s1_post"][0] == base.meta["windows"]["post"][0]  # from the event on
    np.testing.assert_array_equal(base.labels, var.labels)
    others = [i for i in range(base.data.shape[0]) if i not in S1_POST_BANDS]
    np.testing.assert_array_equal(base.data[others], var.data[others])
    for i in S1_POST_BANDS:
        assert not np.array_equal(base.data[i], var.data[i]), i
    # fewer looks: the median keeps more speckle, so the change bands spread wider off the landslides
    calm = base.labels == 0
    assert np.nanstd(var.data[2][calm]) > 1.2 * np.nanstd(base.data[2][calm])
    # an event whose window holds no more looks than asked keeps its composite
    few = catalog.event("norway-5")
    a, b = simulate_event(few, catalog.defaults), simulate_event(few, catalog.defaults, s1_post_looks=5)
    assert a.meta["acquisitions"]["post"] <= 5
    np.testing.assert_array_equal(a.data, b.data)


def test_profiles_train_and_validate_the_named_settings_on_the_variants():
    laptop = load_profile("laptop")
    plain = laptop.model_copy(update={"s1_post_variants": False})
    with_v = laptop.model_copy(update={"s1_post_variants": True, "s1_post_variant_settings": ["s1"]})
    before = {c.run_id: c for c in expand_grid(plain, SPLITS)}
    after = expand_grid(with_v, SPLITS)
    assert {c.setting for c in after} >= {"s1", "s2"}
    for cfg in after:
        if cfg.setting == "s1":
            assert cfg.train_events == ("a", "b", "a.s1looks2", "b.s1looks2")
            assert cfg.val_events == ("c", "c.s1looks2")
            assert cfg.run_id not in before  # other data, another run
        else:  # untouched settings keep their runs (and their trained weights)
            assert cfg.run_id in before and cfg.train_events == SPLITS.train
        assert cfg.test_events == SPLITS.test
    assert setting_splits(with_v, SPLITS, "s2") == SPLITS
    # a catalog without variants gives the events alone
    assert setting_splits(with_v, Splits(("a",), ("c",), ("d",)), "s1").train == ("a",)


def test_a_missing_variant_stack_names_the_command_that_builds_it(tmp_path):
    for sid in ("a", "b", "c", "d", "a.s1looks2"):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "meta.json").write_text("{}")
    with_v = load_profile("laptop").model_copy(update={"s1_post_variants": True})
    check_stacks(tmp_path, SPLITS)  # the events alone are there
    with pytest.raises(MissingStacksError, match=r"b\.s1looks2, c\.s1looks2.*--s1-post-looks 2"):
        check_stacks(tmp_path, setting_splits(with_v, SPLITS, "s1"))
    with pytest.raises(MissingStacksError, match="s1looks2"):
        run_sweep(with_v, tmp_path / "runs", tmp_path, SPLITS, settings=["s1"], show_progress=False)
    # whatever else loads scenes (ensembles, the report) names the same fix
    with pytest.raises(MissingStacksError, match=r"1 of 2 stacks .*c\.s1looks2.*--s1-post-looks 2"):
        load_scenes(tmp_path, ["c", "c.s1looks2"])
    with pytest.raises(ValueError, match="s1_post_variant_looks"):
        run_sweep(with_v, tmp_path / "runs", tmp_path, Splits(("a",), ("c",), ("d",)), show_progress=False)
