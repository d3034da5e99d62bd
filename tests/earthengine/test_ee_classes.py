"""Bands 11 and 13 mean the same thing from the simulator and from the Earth Engine recipe.

Band 11: the Köppen-Geiger class index 0-30 of earthengine/classes.py (the asset's coding,
fsn1995/Fun-with-Google-Earth-Engine koppen.js). Band 13: the land-cover codes 1-9 of
gee_landslide/landcover.py. Both sources are compared value by value.
"""

from __future__ import annotations

import json

import numpy as np

from gee_landslide.core.catalog import load_catalog


def test_kg_table_is_the_assets_coding():
    from gee_landslide.earthengine.classes import KG_MAX_INDEX, KOPPEN_GEIGER

    # koppen.js: names for values 0..30 in this order; min 0, max 30
    names = [c.name for c in KOPPEN_GEIGER]
    assert names[:4] == ["Af", "Am", "As", "Aw"] and names[8:11] == ["Cfa", "Cfb", "Cfc"]
    assert names[-2:] == ["EF", "ET"] and KG_MAX_INDEX == 30 and len(names) == 31
    assert [c.index for c in KOPPEN_GEIGER] == list(range(31))
    assert len({c.kottek for c in KOPPEN_GEIGER}) == 31
    main = {1: "A", 2: "B", 3: "C", 4: "D", 5: "D", 6: "E"}  # Kottek's first digit: main class
    for c in KOPPEN_GEIGER:
        assert main[c.kottek // 10] == c.name[0], c


def test_simulator_kottek_codes_map_to_the_same_class_names():
    from gee_landslide.earthengine.classes import KG_BY_KOTTEK, kg_name
    from gee_landslide.simulate.climate import KOPPEN_CLASSES, koppen_band_value

    for code, (name, _desc) in KOPPEN_CLASSES.items():
        assert KG_BY_KOTTEK[code].name == name
        assert kg_name(koppen_band_value(code)) == name
    assert koppen_band_value(11) == 0  # Af is the value 0 in band 11, a valid class


def test_both_sources_write_the_same_band_11_and_13_codes(ee_offline, request):
    """Simulated stacks and the EE graph use the same KG index range and land-cover codes."""
    from test_ee_recipes import deref, invocations, value

    from gee_landslide.earthengine.auxiliary import koppen_geiger
    from gee_landslide.earthengine.classes import (
        KG_MAX_INDEX,
        LAND_COVER_CODES,
        dynamic_world_remap,
        kg_name,
        worldcover_remap,
    )
    from gee_landslide.earthengine.recipe import build_recipe
    from gee_landslide.simulate import simulate_event

    cat = load_catalog(request.config.rootpath / "case_studies.yaml")
    # simulator: band 11 is a table index whose name the EE asset would hold at the same value
    for eid in ("brazil-8", "norway-5"):
        sc = simulate_event(cat.event(eid), cat.defaults)
        kg = np.unique(sc.data[11])
        assert kg.size == 1 and 0 <= kg[0] <= KG_MAX_INDEX
        assert kg_name(int(kg[0])) == sc.meta["params"]["koppen_name"]
        assert set(np.unique(sc.data[13]).astype(int)) <= set(LAND_COVER_CODES)
    # Earth Engine: band 11 keeps values 0..KG_MAX_INDEX unchanged (no remap, mask > 30 only)
    g = json.loads(koppen_geiger().serialize())
    assert not invocations(g, "Image.remap")
    lte = [deref(g, a["image2"])["functionInvocationValue"] for a in invocations(g, "Image.lte")]
    assert [value(g, f["arguments"]["value"]) for f in lte] == [KG_MAX_INDEX]
    # Earth Engine: band 13 is classified from labels remapped onto exactly the land-cover codes
    assert set(dynamic_world_remap()[1]) <= set(LAND_COVER_CODES)
    assert set(worldcover_remap()[1]) == set(LAND_COVER_CODES)
    r = build_recipe(cat.event("norway-5"), cat.defaults)
    cg = json.loads(r.parts["cart"].serialize())
    remaps = [(value(cg, a["from"]), value(cg, a["to"])) for a in invocations(cg, "Image.remap")]
    assert (list(dynamic_world_remap()[0]), list(dynamic_world_remap()[1])) in [
        (list(f), list(t)) for f, t in remaps]
    # no valid class is masked in band 13: the band is the classifier's output, renamed, as is
    from test_ee_recipes import root_chain

    assert [f for f, _ in root_chain(cg)[:2]] == ["Image.rename", "Image.classify"]
