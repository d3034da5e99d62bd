"""The full 15-band stack of one event (paper Table 2) as one Earth Engine graph, and its plan.

:func:`build_recipe` assembles the pure builders (no server calls) in dependency order:

    DEM ──► S1 pre (volume model) ─┐
    S2 pre reflectance ────────────┼─► CART land cover ─► S1 bands 0-8 (model per class)
    DEM ───────────────────────────┘   (labels: points, or a map predating the pre window)
    DEM bands 9-10, Koppen-Geiger / tree height 11-12, S2 dNDVI 14

Every asset is opened through :mod:`gee_landslide.earthengine.assets`; windows that lie wholly
outside a collection's coverage raise :class:`~gee_landslide.earthengine.assets.AssetError`
here, before any server call. The Sentinel-2 level (L2A, or L1C for both windows) is decided
offline from the coverage dates, or given by the exporter after its pre-flight scene counts.

and stacks them in :data:`gee_landslide.core.bands.BAND_NAMES` order, ``toFloat()``, clipped to the
event's 10 m UTM grid. :func:`plan` describes what would be requested, offline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ee

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import Defaults, Event
from gee_landslide.core.settings import get_settings
from gee_landslide.earthengine import RECIPE_VERSION
from gee_landslide.earthengine import assets as reg
from gee_landslide.earthengine import landcover as lc
from gee_landslide.earthengine import sentinel1 as s1
from gee_landslide.earthengine import sentinel2 as s2
from gee_landslide.earthengine.auxiliary import AuxAssets, auxiliary_bands
from gee_landslide.earthengine.context import EventContext, ee_date_range
from gee_landslide.earthengine.dem import DemChoice, choose_dem, dem_bands, dem_image

PARTS = ("s1", "dem", "aux", "cart", "s2")


@dataclass
class Recipe:
    """Every ``ee`` object of one event's stack; nothing here has been sent to the server."""

    ctx: EventContext
    dem_choice: DemChoice
    assets: AuxAssets
    orbit: ee.Number
    parts: dict[str, ee.Image]
    stack: ee.Image
    collections: dict[str, ee.ImageCollection]
    s2_composites: dict[str, ee.Image]
    landcover_points: str | None = None
    n_landcover_points: int = 0
    s2_level: str = "L2A"
    s2_reason: str = ""
    label_source: str | None = None  # registry key of the CART label map (None: points)
    label_reason: str = ""
    pre_event: dict[str, ee.Image] = field(default_factory=dict)
    _json_cache: dict[str, str] = field(default_factory=dict, repr=False)

    def serialized(self, part: str | None = None) -> str:
        """``ee.Image.serialize()`` of the whole stack, or of one part (s1, dem, aux, cart, s2)."""
        key = part or "stack"
        if key not in self._json_cache:
            img = self.stack if part is None else self.parts[part]
            self._json_cache[key] = img.serialize()
        return self._json_cache[key]

    def graph_sha256(self) -> str:
        return hashlib.sha256(self.serialized().encode("utf-8")).hexdigest()

    def asset_ids(self) -> dict[str, str]:
        return {
            "sentinel1": s1.S1_COLLECTION,
            "sentinel2": s2.level_entry(self.s2_level).id,
            "cloud_score_plus": s2.CLOUD_SCORE_PLUS,
            "dem": self.dem_choice.asset,
            "koppen_geiger": self.assets.koppen_geiger,
            "tree_height": self.assets.tree_height,
            "landcover_seed": (reg.asset(self.label_source).id if self.label_source
                               else str(self.landcover_points)),
        }

    def windows(self) -> dict[str, list[str]]:
        """The pre and post windows, and ``s1_post`` / ``s2_post`` only when a sensor uses a shorter one."""
        out = {"pre": list(self.ctx.pre.as_strings()), "post": list(self.ctx.post.as_strings())}
        if self.ctx.s1_post is not None:
            out["s1_post"] = list(self.ctx.s1_post.as_strings())
        if self.ctx.s2_post is not None:
            out["s2_post"] = list(self.ctx.s2_post.as_strings())
        return out

    def preflight(self) -> ee.Dictionary:
        """What the exporter checks with one cheap call: scene counts, clear S2 pixels, the orbit."""
        aoi = self.ctx.aoi()
        checks: dict[str, Any] = {k: c.size() for k, c in self.collections.items()}
        for which, comp in self.s2_composites.items():
            checks[f"s2_{which}_clear_px"] = comp.select("NDVI").reduceRegion(
                reducer=ee.Reducer.count(), geometry=aoi, scale=100, maxPixels=1e6
            ).get("NDVI")
        if self.s2_level == "L2A":  # L1C scene counts, for the L2A -> L1C fallback decision
            for which in ("pre", "post"):
                checks[f"s2_l1c_{which}"] = s2.s2_collection(self.ctx, which, "L1C").size()
        checks["relative_orbit"] = self.orbit
        return ee.Dictionary(checks)


def _resolve(path: str, root: Path | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (root or get_settings().project_root) / p
    return p


def build_recipe(
    event: Event,
    defaults: Defaults,
    assets: AuxAssets | None = None,
    root: Path | None = None,
    ctx: EventContext | None = None,
    s2_level: str | None = None,
    s2_reason: str | None = None,
) -> Recipe:
    """Build every ``ee`` object of the event's stack (pure; needs an initialised ``ee``).

    ``ctx`` overrides the event's own grid and windows (a monitoring tile, for instance, with
    its region's shorter Sentinel-1 post window, ``ctx.s1_post``);
    ``s2_level`` forces the Sentinel-2 level (the exporter's fallback after its pre-flight).
    """
    ctx = ctx or EventContext.of(event, defaults)
    for which in ("pre", "post"):
        w = ctx.s1_window(which)
        reg.check_coverage(reg.asset("s1"), w.start, w.end, f"{ctx.event.id} Sentinel-1 {which} window")
    if s2_level is None:
        s2_level, static_reason = s2.static_level(ctx)
        s2_reason = s2_reason or static_reason
    else:
        s2.static_level(ctx)  # coverage errors still apply
    assets = assets or AuxAssets.from_env()
    aoi = ctx.aoi()
    projection = ee.Projection(ctx.grid.crs).atScale(ctx.grid.resolution)

    dem_choice = choose_dem(event, defaults)
    elevation = dem_image(dem_choice, aoi)
    dem = dem_bands(elevation)
    orbit = s1.relative_orbit(ctx)

    # CART land cover from pre-event S2 + DEM + pre-event S1 (first pass, volume model)
    features = ee.Image.cat(
        [s2.pre_event_reflectance(ctx, s2_level), dem, s1.s1_cart_features(ctx, elevation, orbit)]
    )
    feature_names = [*s2.REFLECTANCE_BANDS, "NDVI", "elevation", "slope", "preVV", "preVH"]
    points = None
    points_path = None
    n_points = 0
    label_key: str | None = None
    label_reason = ""
    labels = None
    if event.landcover_points:
        points_path = str(_resolve(event.landcover_points, root))
        pts = lc.read_points(points_path)
        n_points = len(pts)
        points = lc.points_collection(pts)
        label_reason = f"{n_points} points from {points_path}"
    else:
        label_key, label_reason = lc.label_source(ctx)
        labels = lc.reference_classes(ctx)
    cart = lc.cart_landcover(features, feature_names, aoi, projection, points, labels=labels)

    s1_res = s1.s1_bands(ctx, elevation, orbit, cart)
    s2_res = s2.s2_bands(ctx, s2_level)
    aux = auxiliary_bands(assets, aoi)
    parts = {"s1": s1_res.image, "dem": dem, "aux": aux, "cart": cart, "s2": s2_res.image}
    stack = ee.Image.cat([parts[p] for p in PARTS]).select(list(BAND_NAMES)).toFloat().clip(aoi)
    collections = {
        "s1_pre": s1_res.pre,
        "s1_post": s1_res.post,
        "s2_pre": s2_res.pre_collection,
        "s2_post": s2_res.post_collection,
    }
    return Recipe(
        ctx=ctx,
        dem_choice=dem_choice,
        assets=assets,
        orbit=orbit,
        parts=parts,
        stack=stack,
        collections=collections,
        s2_composites={"pre": s2_res.pre, "post": s2_res.post},
        landcover_points=points_path,
        n_landcover_points=n_points,
        s2_level=s2_level,
        s2_reason=s2_reason or "",
        label_source=label_key,
        label_reason=label_reason,
        pre_event={"preVV+preVH": s1_res.pre_composite, "CART_LC_classified": cart,
                    "s2_pre": s2_res.pre},
    )


def plan(recipe: Recipe) -> dict[str, Any]:
    """What an export of this recipe would request (no network)."""
    ctx = recipe.ctx
    ev = ctx.event
    sizes = {p: len(recipe.serialized(p).encode()) for p in PARTS}
    sizes["stack"] = len(recipe.serialized().encode())
    return {
        "event_id": ev.id,
        "recipe_version": RECIPE_VERSION,
        "windows": recipe.windows(),
        "window_reason": ctx.window_reason,
        "filter_dates": {w: list(ee_date_range(ctx.window(w))) for w in ("pre", "post")}
        | ({"s1_post": list(ee_date_range(ctx.s1_post))} if ctx.s1_post is not None else {})
        | ({"s2_post": list(ee_date_range(ctx.s2_post))} if ctx.s2_post is not None else {}),
        "sentinel1": {
            "collection": s1.S1_COLLECTION,
            "instrumentMode": "IW",
            "orbitProperties_pass": ctx.orbit_pass,
            "polarisations": ["VV", "VH"],
            "relative_orbit": ev.relative_orbit
            if ev.relative_orbit is not None
            else "most frequent orbit common to both windows (server-side)",
            "terrain_flattening": "Vollrath et al. 2020, volume model; surface model on classes "
            + ",".join(str(c) for c in s1.SURFACE_CODES),
        },
        "sentinel2": {
            "collection": s2.level_entry(recipe.s2_level).id,
            "level": recipe.s2_level,
            "level_reason": recipe.s2_reason,
            "fallback": (f"{s2.S2_L1C_COLLECTION} (both windows) if the pre-flight finds fewer L2A "
                         f"scenes than {s2.L2A_MIN_FRACTION:g} x L1C in a window"
                         if recipe.s2_level == "L2A" else "none (already L1C)"),
            "cloud_mask": f"{s2.CLOUD_SCORE_PLUS} cs_cdf >= {ctx.defaults.s2_clear_threshold}"
            + (f", SCL not in {list(s2.SCL_MASKED)}" if recipe.s2_level == "L2A" else " (L1C: no SCL)"),
            "composite": "qualityMosaic('NDVI')",
        },
        "dem": {"asset": recipe.dem_choice.asset, "kind": recipe.dem_choice.kind,
                "reason": recipe.dem_choice.reason},
        "landcover": {
            "classifier": "smileCart",
            "training": (f"{recipe.n_landcover_points} points from {recipe.landcover_points}"
                         if recipe.landcover_points
                         else f"stratifiedSample of {reg.asset(recipe.label_source or 'dynamic_world').id}"),
            "label_source": recipe.label_reason,
        },
        "assets": recipe.asset_ids(),
        "grid": ctx.grid.to_dict(),
        "bands": list(BAND_NAMES),
        "graph_bytes": sizes,
        "graph_sha256": recipe.graph_sha256(),
    }


def graph_json(recipe: Recipe, indent: int | None = 2) -> str:
    """The serialized graph of the whole stack (what ``ee.Image.serialize()`` returns), pretty."""
    return json.dumps(json.loads(recipe.serialized()), indent=indent)
