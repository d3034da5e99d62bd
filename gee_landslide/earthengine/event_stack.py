"""The ``gee`` stack source: one event's stack from Earth Engine, same files as ``simulated``.

:func:`build_event_stack` implements :class:`gee_landslide.sources.EventStackBuilder`:
initialise ``ee`` from the environment (see :mod:`gee_landslide.earthengine.init`), build the
recipe, run the pre-flight check, export the tiles (resuming from ``<out_dir>/.tiles``),
rasterise the event's label polygons onto the same grid, and write ``stack.tif``,
``labels.tif`` and, last, ``meta.json`` through :func:`gee_landslide.core.stackio.write_stack`.

Environment knobs: ``GEE_LANDSLIDE_EE_WORKERS`` (concurrent requests, default 4),
``GEE_LANDSLIDE_EE_TILE_PX`` (tile side, default: as large as the request limit allows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.core.catalog import Defaults, Event
from gee_landslide.core.grid import Grid
from gee_landslide.core.settings import get_settings, resolve_path
from gee_landslide.core.stackio import is_complete, read_meta, write_stack
from gee_landslide.earthengine import RECIPE_VERSION
from gee_landslide.earthengine import sentinel2 as s2
from gee_landslide.earthengine.context import EventContext
from gee_landslide.earthengine.export import RetryPolicy, export_recipe, preflight, preflight_info
from gee_landslide.earthengine.init import ensure_initialized
from gee_landslide.earthengine.recipe import Recipe, build_recipe


def _resolve(path: str) -> Path:
    return resolve_path(path)


def event_labels(event: Event, grid: Grid) -> tuple[np.ndarray, str]:
    """The event's landslide mask on ``grid`` and a provenance note (all zero without labels)."""
    if not event.labels:
        return np.zeros(grid.shape, dtype=np.uint8), "none"
    from gee_landslide.core.labels import rasterize_polygons

    path = _resolve(event.labels)
    return rasterize_polygons(path, grid).astype(np.uint8), str(path)


def prepare_recipe(
    build: Callable[..., Recipe],
    retry: RetryPolicy | None = None,
    say: Callable[[str], None] | None = None,
    *,
    cloudy_post_ok: bool = False,
) -> tuple[Recipe, dict[str, Any]]:
    """Build, pre-flight, and rebuild with L1C when L2A is empty or sparse; check the inputs.

    ``build(s2_level=None|"L1C", s2_reason=...)`` builds the recipe (an event's or a tile's).
    Why two steps: the L2A/L1C choice needs scene counts only the server knows, while the
    builders stay pure; the second pre-flight then checks the recipe that will be exported.
    Raises :class:`~gee_landslide.earthengine.export.EmptyCollectionError` before any pixel;
    with ``cloudy_post_ok`` (monitoring tiles) a post window without a clear Sentinel-2 pixel is
    only said, not raised (see :func:`~gee_landslide.earthengine.export.check_preflight`).
    """
    say = say or (lambda _m: None)
    recipe = build()
    info = preflight_info(recipe, retry)
    level, reason = s2.choose_level(info, recipe.s2_level)  # type: ignore[arg-type]
    if level != recipe.s2_level:
        say(f"Sentinel-2: {reason}")
        recipe = build(s2_level=level, s2_reason=reason)
        l2a_counts = {f"s2_l2a_{w}": info.get(f"s2_{w}") for w in ("pre", "post")}
        info = {**preflight_info(recipe, retry), **l2a_counts}
    preflight(recipe, retry, info, cloudy_post_ok=cloudy_post_ok)
    if cloudy_post_ok and not info.get("s2_post_clear_px"):
        post = recipe.ctx.post
        what = "cloud-free Sentinel-2 pixel" if info.get("s2_post") else "Sentinel-2 scene"
        say(f"{recipe.ctx.event.id}: no {what} in the post window "
            f"{post.start}..{post.end}: dNDVI is NaN, Sentinel-1 only")
    return recipe, info


def stack_meta(recipe: Recipe, info: dict[str, Any], labels_note: str) -> dict[str, Any]:
    orbit = info.get("relative_orbit", recipe.ctx.event.relative_orbit)
    return {
        "source": "gee",
        "event_id": recipe.ctx.event.id,
        "windows": recipe.windows(),
        "window_reason": recipe.ctx.window_reason,
        **({"s1_post_looks": recipe.ctx.s1_post_looks} if recipe.ctx.s1_post_looks else {}),
        "recipe_version": RECIPE_VERSION,
        "graph_sha256": recipe.graph_sha256(),
        "assets": recipe.asset_ids(),
        "dem": {"asset": recipe.dem_choice.asset, "reason": recipe.dem_choice.reason},
        "relative_orbit": orbit,
        "orbit_pass": recipe.ctx.orbit_pass,
        "scene_counts": {k: info.get(k) for k in ("s1_pre", "s1_post", "s2_pre", "s2_post",
                                                  "s2_l1c_pre", "s2_l1c_post", "s2_l2a_pre", "s2_l2a_post")
                         if k in info or k in ("s1_pre", "s1_post", "s2_pre", "s2_post")},
        "sentinel2": {"level": recipe.s2_level, "collection": s2.level_entry(recipe.s2_level).id,
                      "reason": recipe.s2_reason},
        "landcover_labels": recipe.label_reason,
        "labels": labels_note,
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def variant_context(event: Event, defaults: Defaults, s1_post_looks: int | None) -> EventContext | None:
    """The event's context whose Sentinel-1 post composite takes its first ``s1_post_looks`` scenes
    (None without: :func:`build_recipe` then uses the event's own context)."""
    if not s1_post_looks:
        return None
    return replace(EventContext.of(event, defaults), s1_post_looks=int(s1_post_looks))


def build_event_stack(
    event: Event,
    defaults: Defaults,
    out_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
    s1_post_looks: int | None = None,
) -> Path:
    """Build one event's stack from Earth Engine into ``out_dir``; return ``out_dir``. With
    ``s1_post_looks`` the Sentinel-1 post composite takes only the first scenes after the event
    (the event's variant, :mod:`gee_landslide.core.variants`)."""
    out_dir = Path(out_dir)
    say = progress or (lambda _m: None)
    if (not force and is_complete(out_dir) and read_meta(out_dir).get("source") == "gee"
            and str(read_meta(out_dir).get("recipe_version")) == RECIPE_VERSION):
        say(f"{event.id}: already built, skipping")
        return out_dir
    ensure_initialized()
    settings = get_settings()
    ctx = variant_context(event, defaults, s1_post_looks)
    recipe, info = prepare_recipe(lambda **kw: build_recipe(event, defaults, ctx=ctx, **kw), retry,
                                  lambda m: say(f"{event.id}: {m}"))
    say(f"{event.id}: recipe {recipe.graph_sha256()[:12]} on {recipe.ctx.grid.crs} "
        f"{recipe.ctx.grid.width}x{recipe.ctx.grid.height} px")
    data, info, exporter = export_recipe(
        recipe,
        out_dir,
        max_workers=settings.ee_workers,
        tile_px=settings.ee_tile_px,
        retry=retry,
        progress=lambda m: say(f"{event.id}: {m}"),
        check=False,
        info=info,
    )
    labels, note = event_labels(event, recipe.ctx.grid)
    if note == "none":
        say(f"{event.id}: no label polygons in the catalog; writing an all-zero labels.tif")
    write_stack(out_dir, data, recipe.ctx.grid, labels, stack_meta(recipe, info, note))
    exporter.cleanup()
    say(f"{event.id}: wrote {out_dir}")
    return out_dir
