"""Earth Engine recipes built with the real earthengine-api client, offline, checked on the graph.

ee is initialised with the algorithm signatures its wheel ships (initialize_offline), so graphs
build and serialize exactly as they would live; a misspelt method or argument fails here too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import load_catalog
from gee_landslide.earthengine.seasons import event_windows


# ------------------------------------------------------------------ graph helpers
def walk(node: Any):
    """Every dict node of a serialized graph."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def functions(graph: dict) -> set[str]:
    return {n["functionName"] for n in walk(graph) if "functionName" in n}


def constants(graph: dict) -> list[Any]:
    return [n["constantValue"] for n in walk(graph) if "constantValue" in n]


def invocations(graph: dict, name: str) -> list[dict]:
    return [n["arguments"] for n in walk(graph) if n.get("functionName") == name]


def deref(graph: dict, node: dict) -> Any:
    """Follow valueReference nodes to the referenced node."""
    while isinstance(node, dict) and "valueReference" in node:
        node = graph["values"][node["valueReference"]]
    return node


def value(graph: dict, node: Any) -> Any:
    """The Python value of a constant node (through references, arrays and dictionaries)."""
    node = deref(graph, node)
    if "constantValue" in node:
        return node["constantValue"]
    if "arrayValue" in node:
        return [value(graph, v) for v in node["arrayValue"]["values"]]
    if "dictionaryValue" in node:
        return {k: value(graph, v) for k, v in node["dictionaryValue"]["values"].items()}
    return node  # an invocation: left as is


def resolved(graph: dict) -> list[Any]:
    """Every constant, array and dictionary value of the graph, resolved."""
    out = []
    for n in walk(graph):
        if "constantValue" in n:
            out.append(n["constantValue"])
        elif "arrayValue" in n or "dictionaryValue" in n:
            out.append(value(graph, n))
    return out


def root_chain(graph: dict) -> list[tuple[str, dict]]:
    """(function, arguments) from the result down the first argument of each invocation."""
    chain = []
    node = deref(graph, graph["values"][graph["result"]])
    while "functionInvocationValue" in node:
        inv = node["functionInvocationValue"]
        chain.append((inv["functionName"], inv["arguments"]))
        args = inv["arguments"]
        key = next((k for k in ("input", "value", "image", "collection") if k in args), None)
        first = args[key] if key else None
        if first is None:
            break
        node = deref(graph, first)
    return chain


def filter_pairs(graph: dict) -> set[tuple[str, Any]]:
    """(property, value) of every Filter.equals / Filter.listContains in the graph."""
    out = set()
    for name in ("Filter.equals", "Filter.listContains"):
        for args in invocations(graph, name):
            left = deref(graph, args.get("leftField", {})).get("constantValue")
            right = deref(graph, args.get("rightValue", {})).get("constantValue")
            if left is not None and right is not None:
                out.add((left, right))
    return out


def build(event, catalog, **kw):
    from gee_landslide.earthengine.recipe import build_recipe

    return build_recipe(event, catalog.defaults, **kw)


# ------------------------------------------------------------------ tests
def test_initialize_offline_and_reset_restore_the_client():
    import ee

    from gee_landslide.earthengine import init

    original = ee.data.getAlgorithms
    init.initialize_offline()
    try:
        assert ee.data.is_initialized()
        assert ee.data.getAlgorithms is not original
        assert json.loads(ee.Image(1).serialize())["values"]
    finally:
        init.reset_offline()
    assert not ee.data.is_initialized()
    assert ee.data.getAlgorithms is original


def test_norway_above_60n_uses_glo30_and_full_stack(ee_offline, catalog):
    ev = catalog.event("norway-5")
    r = build(ev, catalog)
    g = json.loads(r.serialized())
    consts = constants(g)
    fns = functions(g)
    # assets
    for asset in ("COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S2_SR_HARMONIZED",
                  "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED", "COPERNICUS/DEM/GLO30",
                  "GOOGLE/DYNAMICWORLD/V1", "users/fsn1995/Global_19862010_KG_5m",
                  "projects/sat-io/open-datasets/GLAD/GEDI_V27"):
        assert asset in consts, asset
    assert "USGS/SRTMGL1_003" not in consts
    assert "ESA/WorldCover/v200" not in consts  # a 2021 map cannot label a 2019 pre window
    # GLO30: mosaic of band DEM with its projection set
    assert {"ImageCollection.mosaic", "Image.setDefaultProjection"} <= fns
    assert ["DEM"] in consts
    # S1 filters
    pairs = filter_pairs(g)
    assert ("instrumentMode", "IW") in pairs
    assert ("orbitProperties_pass", "DESCENDING") in pairs
    assert ("transmitterReceiverPolarisation", "VV") in pairs
    assert ("transmitterReceiverPolarisation", "VH") in pairs
    # date windows: one month either side (window_rule auto, a summer event), EE end dates exclusive
    pre, _post = event_windows(ev, catalog.defaults)
    assert (str(pre.start), str(pre.end)) == ("2019-06-30", "2019-07-29")
    for d in ("2019-06-30", "2019-07-30", "2019-07-31", "2019-08-31"):
        assert d in consts, d
    assert invocations(g, "DateRange")
    # relative orbit: server-side most frequent, no override
    assert {"AggregateFeatureCollection.histogram", "Number.parse"} <= fns
    assert "relativeOrbitNumber_start" in consts
    # S2 greenest pixel, Cloud Score+, NDVI
    qm = invocations(g, "ImageCollection.qualityMosaic")
    assert len(qm) == 2 and all(deref(g, a["qualityBand"])["constantValue"] == "NDVI" for a in qm)
    assert {"Image.linkCollection", "Image.normalizedDifference"} <= fns
    nd = invocations(g, "Image.normalizedDifference")[0]
    assert value(g, nd["bandNames"]) == ["B8", "B4"]
    vals = resolved(g)
    assert catalog.defaults.s2_clear_threshold in vals and ["cs_cdf"] in vals
    # CART
    assert {"Classifier.smileCart", "Classifier.train", "Image.classify", "Image.stratifiedSample"} <= fns
    # terrain flattening
    assert {"Terrain.slope", "Terrain.aspect", "Image.acos", "Image.atan", "Image.where"} <= fns
    # final bands in Table 2 order, float, clipped to the grid
    assert_stack_root(g, r.ctx.grid)


def assert_stack_root(g, grid):
    chain = root_chain(g)
    assert [f for f, _ in chain[:3]] == ["Image.clip", "Image.toFloat", "Image.select"]
    assert value(g, chain[2][1]["bandSelectors"]) == list(BAND_NAMES)
    rect = invocations(g, "GeometryConstructors.Rectangle")
    x0, y0, x1, y1 = grid.bounds
    def crs_of(a):
        proj = deref(g, a["crs"])["functionInvocationValue"]
        assert proj["functionName"] == "Projection"
        return value(g, proj["arguments"]["crs"])

    assert any(value(g, a["coordinates"]) == [x0, y0, x1, y1] and crs_of(a) == grid.crs for a in rect)


def test_india_below_60n_uses_srtm(ee_offline, catalog):
    r = build(catalog.event("india-19"), catalog)
    consts = constants(json.loads(r.serialized()))
    assert "USGS/SRTMGL1_003" in consts and "COPERNICUS/DEM/GLO30" not in consts
    assert r.dem_choice.kind == "image"
    assert "2020-08-07" in consts  # post window starts the day after 2020-08-06


def test_dem_override(ee_offline, catalog):
    ev = catalog.event("iceland-1").model_copy(update={"dem": "projects/my-project/assets/islandsdem_10m"})
    r = build(ev, catalog)
    consts = constants(json.loads(r.serialized()))
    assert "projects/my-project/assets/islandsdem_10m" in consts
    assert "COPERNICUS/DEM/GLO30" not in consts and "USGS/SRTMGL1_003" not in consts
    assert r.dem_choice.reason == "event override"
    coll = catalog.event("iceland-1").model_copy(update={"dem": "collection:projects/x/y"})
    g = json.loads(build(coll, catalog).serialized())
    assert "projects/x/y" in constants(g) and "ImageCollection.mosaic" in functions(g)


def test_relative_orbit_override(ee_offline, catalog):
    ev = catalog.event("italy-22").model_copy(update={"relative_orbit": 95})
    g = json.loads(build(ev, catalog).serialized())
    assert "AggregateFeatureCollection.histogram" not in functions(g)
    orbit_filters = [
        a for a in invocations(g, "Filter.equals")
        if deref(g, a["leftField"]).get("constantValue") == "relativeOrbitNumber_start"
    ]
    assert orbit_filters and all(deref(g, a["rightValue"]).get("constantValue") == 95 for a in orbit_filters)


def test_ascending_override_changes_the_pass(ee_offline, catalog):
    ev = catalog.event("italy-22").model_copy(update={"orbit_pass": "ASCENDING"})
    g = json.loads(build(ev, catalog).serialized())
    assert ("orbitProperties_pass", "ASCENDING") in filter_pairs(g)


def test_landcover_points_file(ee_offline, catalog, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    ev0 = catalog.event("india-19")
    gdf = gpd.GeoDataFrame(
        {"class": [2, 3, "water", "urban"]},
        geometry=[Point(ev0.lon + d, ev0.lat + d) for d in (0.001, 0.002, -0.001, -0.002)],
        crs="EPSG:4326",
    )
    path = tmp_path / "points.geojson"
    gdf.to_file(path, driver="GeoJSON")
    ev = ev0.model_copy(update={"landcover_points": str(path)})
    r = build(ev, catalog)
    g = json.loads(r.serialized())
    fns = functions(g)
    assert "Image.sampleRegions" in fns and "Image.stratifiedSample" not in fns
    assert "ESA/WorldCover/v200" not in constants(g)
    assert {"Classifier.smileCart", "Image.classify"} <= fns
    assert r.n_landcover_points == 4
    vals = resolved(g)
    props = [v for v in vals if isinstance(v, dict) and "landcover" in v]
    assert sorted(p["landcover"] for p in props) == [1, 2, 3, 6]
    points = [a for a in invocations(g, "GeometryConstructors.Point")]
    coords = [value(g, a["coordinates"]) for a in points]
    assert [pytest.approx(ev0.lon + 0.001), pytest.approx(ev0.lat + 0.001)] in coords


def test_bad_landcover_points_are_reported(ee_offline, catalog, tmp_path):
    from gee_landslide.earthengine.landcover import LandcoverPointsError

    path = tmp_path / "p.geojson"
    path.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"class":12},'
                    '"geometry":{"type":"Point","coordinates":[77,10]}}]}')
    ev = catalog.event("india-19").model_copy(update={"landcover_points": str(path)})
    with pytest.raises(LandcoverPointsError, match="not one of 1-9"):
        build(ev, catalog)


def test_surface_model_classes_follow_landcover_module(ee_offline, catalog):
    from gee_landslide.core.landcover import LAND_COVER
    from gee_landslide.earthengine.sentinel1 import SURFACE_CODES

    assert set(SURFACE_CODES) == {c.code for c in LAND_COVER if c.scattering_model == "surface"}
    g = json.loads(build(catalog.event("norway-5"), catalog).parts["s1"].serialize())
    remaps = invocations(g, "Image.remap")
    froms = [deref(g, a["from"]).get("constantValue") for a in remaps]
    assert list(SURFACE_CODES) in froms


def test_tree_height_codes_and_kg_nodata(ee_offline):
    from gee_landslide.earthengine.auxiliary import AuxAssets, auxiliary_bands

    g = json.loads(auxiliary_bands(AuxAssets("users/me/kg", "users/me/th")).serialize())
    consts = constants(g)
    assert {"users/me/kg", "users/me/th", 101, 102, 60, 30} <= {c for c in consts if isinstance(c, (str, int))}
    from gee_landslide.earthengine.auxiliary import koppen_geiger

    kg = json.loads(koppen_geiger("users/me/kg").serialize())
    # Af is class 0 and must stay: the only mask is "value <= 30" (koppen.js), no "!= 0"
    lte = [deref(kg, a["image2"])["functionInvocationValue"] for a in invocations(kg, "Image.lte")]
    assert [value(kg, f["arguments"]["value"]) for f in lte] == [30]
    assert not invocations(kg, "Image.neq") and not invocations(kg, "Image.eq")
    assert {"Image.where", "Image.updateMask", "Image.lte"} <= functions(g)


def test_every_catalog_event_builds(ee_offline, catalog):
    from gee_landslide.earthengine.recipe import plan

    for ev in catalog.events:
        p = plan(build(ev, catalog))
        assert p["bands"] == list(BAND_NAMES)
        assert p["graph_bytes"]["stack"] > 10_000
        assert p["grid"]["width"] == p["grid"]["height"] == 200
        assert p["grid"]["crs"].startswith("EPSG:32")


def test_misspelt_method_fails(ee_offline, catalog, monkeypatch):
    import ee

    from gee_landslide.earthengine import sentinel2

    def bad_ndvi(image):
        image = ee.Image(image)
        return image.addBands(image.normalizedDiference(["B8", "B4"]))  # typo

    monkeypatch.setattr(sentinel2, "add_ndvi", bad_ndvi)
    with pytest.raises(AttributeError, match="normalizedDiference"):
        build(catalog.event("norway-5"), catalog)


def test_wrong_argument_fails(ee_offline, catalog, monkeypatch):
    import ee

    from gee_landslide.earthengine import recipe

    def bad_dem_bands(dem):
        return dem.addBands(ee.Terrain.slope(input=dem, units="degrees"))  # no such argument

    monkeypatch.setattr(recipe, "dem_bands", bad_dem_bands)
    with pytest.raises(TypeError, match="units"):
        build(catalog.event("india-19"), catalog)


def test_plan_cli_writes_graph(ee_offline, tmp_path, request):
    from typer.testing import CliRunner

    from gee_landslide.cli import app

    out = tmp_path / "graph.json"
    res = CliRunner().invoke(app, ["stacks", "plan", "--event", "norway-5", "--json", str(out),
                                   "--catalog", str(request.config.rootpath / "case_studies.yaml")])
    assert res.exit_code == 0, res.output
    assert "COPERNICUS/DEM/GLO30" in res.output and "DESCENDING" in res.output
    g = json.loads(out.read_text())
    assert "result" in g and "values" in g
    from gee_landslide.core.grid import grid_around

    ev = load_catalog(request.config.rootpath / "case_studies.yaml").event("norway-5")
    assert_stack_root(g, grid_around(ev.lat, ev.lon, 2000, 10))


def test_plan_cli_unknown_event(tmp_path, request):
    from typer.testing import CliRunner

    from gee_landslide.cli import app

    res = CliRunner().invoke(app, ["stacks", "plan", "--event", "nope",
                                   "--catalog", str(request.config.rootpath / "case_studies.yaml")])
    assert res.exit_code == 2
