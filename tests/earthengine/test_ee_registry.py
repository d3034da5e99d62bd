"""The asset registry against every catalog event's serialized graph, and the checks' own teeth.

Every Image.load / ImageCollection.load, select and Filter of each event's graph (stack and
pre-flight) must agree with gee_landslide/earthengine/assets.py; pre-event layers must not read
pixels taken after the pre window. Each check is also shown to fail on the mistake it exists for.
"""

from __future__ import annotations

import datetime as dt


def build(event, catalog, **kw):
    from gee_landslide.earthengine.recipe import build_recipe

    return build_recipe(event, catalog.defaults, **kw)


def test_registry_entries_are_complete():
    from gee_landslide.earthengine.assets import ASSETS

    assert len({a.id for a in ASSETS}) == len(ASSETS)
    for a in ASSETS:
        assert a.type in ("Image", "ImageCollection"), a.key
        assert set(a.bands_used) <= set(a.bands), a.key
        assert a.source and all(a.source.values()), a.key
        assert a.units and a.coverage[0] is not None, a.key
        assert a.coverage[1] is None or a.coverage[1] >= a.coverage[0], a.key


def test_catalog_facts_the_issue_is_about():
    """The facts read from the catalogs (sources in assets.py), pinned so an edit cannot drop them."""
    from gee_landslide.earthengine.assets import asset

    assert asset("tree_height").type == "ImageCollection"  # AGCC snippet: ee.ImageCollection
    assert asset("glo30").type == "ImageCollection" and asset("glo30").bands_used == ("DEM",)
    assert asset("koppen_geiger").type == "Image"  # koppen.js: ee.Image
    assert asset("srtm").type == "Image"
    assert asset("s2_sr").coverage[0] == dt.date(2017, 3, 28)
    assert asset("s2_l1c").coverage[0] == dt.date(2015, 6, 27)
    assert asset("dynamic_world").coverage[0] == dt.date(2015, 6, 27)
    assert asset("worldcover").coverage == (dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    assert "QA60" in asset("s2_l1c").bands and "SCL" not in asset("s2_l1c").bands


def test_every_catalog_event_graph_matches_the_registry(ee_offline, catalog):
    from gee_landslide.earthengine.graphcheck import check_graph, load_uses

    seen_assets: set[str] = set()
    for ev in catalog.events:
        r = build(ev, catalog)
        problems = check_graph(r.serialized()) + check_graph(r.preflight().serialize())
        assert problems == [], (ev.id, problems)
        l1c = build(ev, catalog, s2_level="L1C")  # the fallback graph must be right too
        assert check_graph(l1c.serialized()) + check_graph(l1c.preflight().serialize()) == [], ev.id
        seen_assets |= {u.asset for u in load_uses(r.serialized())}
    assert {"COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S2_SR_HARMONIZED", "GOOGLE/DYNAMICWORLD/V1",
            "COPERNICUS/DEM/GLO30", "USGS/SRTMGL1_003", "users/fsn1995/Global_19862010_KG_5m",
            "projects/sat-io/open-datasets/GLAD/GEDI_V27"} <= seen_assets


def test_no_pre_event_layer_reads_post_event_pixels(ee_offline, catalog):
    from gee_landslide.earthengine.graphcheck import pre_event_violations

    for ev in catalog.events:
        r = build(ev, catalog)
        assert set(r.pre_event) == {"preVV+preVH", "CART_LC_classified", "s2_pre"}
        for name, img in r.pre_event.items():
            bad = pre_event_violations(img.serialize(), r.ctx.pre.start, r.ctx.pre.end)
            assert bad == [], (ev.id, name, bad)


# ---------------------------------------------------------------- the checks have teeth
def test_collection_opened_as_image_is_caught(ee_offline):
    import ee

    from gee_landslide.earthengine.graphcheck import check_graph

    bad = ee.Image("projects/sat-io/open-datasets/GLAD/GEDI_V27").select([0])  # the old bug
    problems = check_graph(bad.serialize())
    assert len(problems) == 1 and "ImageCollection" in problems[0] and "GEDI_V27" in problems[0]
    assert check_graph(ee.Image("not/registered").serialize())[0].endswith("not in the registry (assets.py)")


def test_missing_band_and_property_are_caught(ee_offline):
    import ee

    from gee_landslide.earthengine.graphcheck import check_graph

    s2 = ee.ImageCollection("COPERNICUS/S2_HARMONIZED").filter(ee.Filter.eq("instrumentMode", "IW"))
    problems = check_graph(s2.select(["B4", "SCL"]).median().serialize())  # L1C has no SCL
    assert any("select('SCL')" in p and "S2_HARMONIZED" in p for p in problems)
    assert any("'instrumentMode'" in p for p in problems)
    assert not any("'B4'" in p for p in problems)
    link = (ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
            .linkCollection(ee.ImageCollection("GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"), ["cs_pdf"]))
    assert any("no band 'cs_pdf'" in p for p in check_graph(link.median().serialize()))
    dem = ee.ImageCollection("COPERNICUS/DEM/GLO30").mosaic().select("elevation")
    assert any("select('elevation')" in p for p in check_graph(dem.serialize()))


def test_mutated_recipe_band_fails_the_catalog_check(ee_offline, catalog, monkeypatch):
    from gee_landslide.earthengine import sentinel2
    from gee_landslide.earthengine.graphcheck import check_graph

    # the L2A cloud mask (SCL) applied to L1C scenes, which have no SCL band
    monkeypatch.setitem(sentinel2.LEVEL_ASSET, "L2A", "s2_l1c")
    r = build(catalog.event("india-19"), catalog)
    assert any("select('SCL')" in p and "S2_HARMONIZED" in p for p in check_graph(r.serialized()))


def test_worldcover_labels_for_a_2019_event_are_post_event(ee_offline, catalog, monkeypatch):
    from gee_landslide.earthengine import landcover
    from gee_landslide.earthengine.graphcheck import pre_event_violations

    ev = catalog.event("norway-5")
    monkeypatch.setattr(landcover, "label_source", lambda ctx: ("worldcover", "forced"))
    r = build(ev, catalog)
    bad = pre_event_violations(r.pre_event["CART_LC_classified"].serialize(), r.ctx.pre.start, r.ctx.pre.end)
    assert any("ESA/WorldCover/v200" in b for b in bad)


def test_post_window_pixels_in_a_pre_layer_are_caught(ee_offline):
    import ee

    from gee_landslide.earthengine.graphcheck import pre_event_violations

    pre = (dt.date(2019, 6, 1), dt.date(2019, 7, 31))
    col = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
    ok = col.filterDate("2019-06-01", "2019-08-01").median()
    late = col.filterDate("2019-06-01", "2019-09-01").median()
    assert pre_event_violations(ok.serialize(), *pre) == []
    assert "after the pre window" in pre_event_violations(late.serialize(), *pre)[0]
    assert "no date filter" in pre_event_violations(col.median().serialize(), *pre)[0]


def test_worldcover_is_used_only_when_it_predates_the_pre_window(ee_offline, catalog):
    from gee_landslide.core.catalog import Window

    ev = catalog.event("norway-5").model_copy(update={
        "date": dt.date(2023, 8, 1),
        "pre": Window(start=dt.date(2023, 6, 1), end=dt.date(2023, 7, 31)),
        "post": Window(start=dt.date(2023, 8, 2), end=dt.date(2023, 9, 30)),
    })
    r = build(ev, catalog)
    assert r.label_source == "worldcover" and "predates" in r.label_reason
    assert build(catalog.event("norway-5"), catalog).label_source == "dynamic_world"


def test_builders_load_assets_only_through_the_registry():
    """No builder opens an asset id itself: ee.Image / ee.ImageCollection only wrap variables."""
    import ast
    from pathlib import Path

    import gee_landslide.earthengine as pkg

    offenders = []
    for path in sorted(Path(pkg.__file__).parent.glob("*.py")):
        if path.name == "assets.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "ee"
                    and node.func.attr in ("Image", "ImageCollection") and node.args):
                arg = node.args[0]
                if (isinstance(arg, ast.Constant) and isinstance(arg.value, str)) or (
                        isinstance(arg, ast.Name) and arg.id.isupper()):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
