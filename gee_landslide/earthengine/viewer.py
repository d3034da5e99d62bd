"""Optional notebook viewer (extra ``notebook``): an event's Earth Engine layers on a geemap Map.

    from gee_landslide.earthengine.viewer import event_map
    m = event_map("norway-5"); m   # in Jupyter

``event_map`` initialises Earth Engine itself from the configured credentials and project (as
``gee-landslide auth check`` reports them); when none are configured it raises
:class:`~gee_landslide.earthengine.init.AuthError` with the exact commands to run. geemap is
imported lazily; without it a clear error says how to install it.
"""

from __future__ import annotations

from typing import Any

from gee_landslide.core.catalog import Catalog, load_catalog

VIS = {
    "dVV": {"bands": ["dVV"], "min": -5, "max": 5, "palette": ["#762a83", "#f7f7f7", "#1b7837"]},
    "dVH": {"bands": ["dVH"], "min": -5, "max": 5, "palette": ["#762a83", "#f7f7f7", "#1b7837"]},
    "dNDVI": {"bands": ["dNDVI"], "min": -0.5, "max": 0.5, "palette": ["#a50026", "#ffffbf", "#006837"]},
    "liaDeg": {"bands": ["liaDeg"], "min": 0, "max": 90},
    "slope": {"bands": ["slope"], "min": 0, "max": 60},
    "layover": {"bands": ["layover"], "min": 0, "max": 1, "palette": ["#000000", "#ff0000"]},
    "shadow": {"bands": ["shadow"], "min": 0, "max": 1, "palette": ["#000000", "#0000ff"]},
}


def _geemap() -> Any:
    try:
        import geemap
    except ImportError as exc:
        raise ImportError(
            "the Earth Engine viewer needs geemap: pip install 'gee-landslide[notebook]'"
        ) from exc
    return geemap


def ensure_ee() -> None:
    """Initialise Earth Engine from the configured credentials unless it already is.

    Without credentials or a project, the :class:`~gee_landslide.earthengine.init.AuthError`
    says exactly what to run (authenticate, set ``EARTHENGINE_PROJECT``, check with
    ``gee-landslide auth check``) instead of Earth Engine's bare "not initialized".
    """
    from gee_landslide.earthengine.init import AuthError, ensure_initialized

    try:
        ensure_initialized()
    except AuthError as exc:
        raise AuthError(
            f"{exc.message}\nThen, in this notebook's environment:\n"
            "  export EARTHENGINE_PROJECT=your-cloud-project   (or: earthengine set_project your-cloud-project)\n"
            "  gee-landslide auth check                         (proves the credentials work)\n"
            "and call event_map(...) again (see README: 'Earth Engine, first time')."
        ) from None


def event_map(event_id: str, catalog: Catalog | str = "case_studies.yaml", zoom: int = 14) -> Any:
    """A ``geemap.Map`` centred on the event with its change layers, land cover and AOI.

    Initialises Earth Engine first if nothing has (see :func:`ensure_ee`).
    """
    geemap = _geemap()
    from gee_landslide.core.landcover import LAND_COVER
    from gee_landslide.earthengine.recipe import build_recipe

    ensure_ee()
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    ev = cat.event(event_id)
    recipe = build_recipe(ev, cat.defaults)
    m = geemap.Map(center=(ev.lat, ev.lon), zoom=zoom)
    for name, vis in VIS.items():
        m.addLayer(recipe.stack, vis, name, name in ("dVV", "dNDVI"))
    lc_vis = {"bands": ["CART_LC_classified"], "min": 1, "max": len(LAND_COVER),
              "palette": [c.colour for c in LAND_COVER]}
    m.addLayer(recipe.stack, lc_vis, "CART land cover", False)
    m.addLayer(recipe.ctx.aoi(), {"color": "yellow"}, "AOI")
    return m
