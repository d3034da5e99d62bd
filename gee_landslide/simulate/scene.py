"""Scene assembly: event scenes, region monitoring tiles and the event stack writer."""

from __future__ import annotations

import datetime as dt
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gee_landslide.core.bands import N_BANDS
from gee_landslide.core.catalog import Defaults, Event, Region, Window
from gee_landslide.core.grid import Grid, grid_around, grid_for_bbox
from gee_landslide.core.landcover import LAND_COVER_BY_CODE
from gee_landslide.earthengine.seasons import event_windows
from gee_landslide.simulate import noise
from gee_landslide.simulate.acquisitions import Calendar, region_calendar
from gee_landslide.simulate.climate import koppen_band_value
from gee_landslide.simulate.confounders import (
    EPOCH,
    REGROWTH_DAYS,
    cut_state,
    cuts_between,
    snow_state,
)
from gee_landslide.simulate.landcover import (
    FOREST,
    HERB,
    ROCK,
    SNOW,
    SPARSE,
    WATER,
    CoverFields,
    classify,
    cover_fields,
    tree_height,
    true_cover,
)
from gee_landslide.simulate.landslides import Landslide, make_patch, place_in_patch
from gee_landslide.simulate.optical import (
    ndvi_composite,
    ndvi_greenest,
    ndvi_tables,
    phenology_on,
    vegetation_share,
)
from gee_landslide.simulate.params import SceneParams, derive_params, slide_dimensions
from gee_landslide.simulate.sar import (
    CUT_FRESH,
    CUT_REGROWTH,
    SNOW_DRY,
    SNOW_WET,
    acquisition_date,
    acquisitions,
    composite_db,
    flat_model_is_volume,
)
from gee_landslide.simulate.terrain_model import (
    Lattice,
    choose_event_shift,
    horn_slope_aspect,
    sar_geometry,
    terrain_fields,
)

SIMULATOR_VERSION = "1.1.0"
REGION_CELL_M = 1000.0
MIN_EVENT_LABEL_PX = 300
MAX_EVENT_LABEL_FRAC = 0.15


@dataclass
class SimulatedScene:
    data: np.ndarray  # (15, H, W) float32, Table 2 band order, NaN nodata
    labels: np.ndarray  # (H, W) uint8 landslide truth (1 = landslide scar)
    grid: Grid
    inventory: list[dict]  # {"id", "geometry" (grid CRS), "onset", "area_m2", ...}
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- rendering
SCAR_CODE_BASE = 9  # a landslide zone z (1 scarp, 2 track, 3 deposit) is surface code 9 + z


def _surface(cover: np.ndarray, window: Window, p: SceneParams, lat: Lattice, cuts, snow, wet, slides_zone):
    s = cover.astype(np.int16)
    fresh, regrow = cut_state(p, lat, window, cuts)
    forest = cover == FOREST
    s[regrow & forest] = CUT_REGROWTH
    s[fresh & forest] = CUT_FRESH
    water = cover == WATER
    s[snow & ~water & ~wet] = SNOW_DRY
    s[wet & ~water] = SNOW_WET
    s[slides_zone > 0] = SCAR_CODE_BASE + slides_zone[slides_zone > 0]
    return s, int((fresh & forest).sum())


def _observed_class(surface: np.ndarray) -> np.ndarray:
    """The land-cover class a pre-event optical classifier sees for each surface code."""
    lut = np.arange(17, dtype=np.uint8)
    lut[10], lut[11], lut[12] = ROCK, ROCK, SPARSE
    lut[CUT_FRESH], lut[CUT_REGROWTH] = SPARSE, HERB
    lut[SNOW_WET], lut[SNOW_DRY] = SNOW, SNOW
    return lut[surface]


class _Ground(NamedTuple):
    lat: Lattice
    z: np.ndarray
    slope: np.ndarray
    aspect: np.ndarray
    cf: CoverFields
    cover: np.ndarray


def _ground(p: SceneParams, grid: Grid) -> _Ground:
    """The ground of ``grid``: elevation, Horn slope and aspect (from a lattice padded by one pixel,
    so edge pixels have their neighbours), the cover fields and the true land cover. One derivation
    for :func:`render` and :func:`region_scar_ndvi_change`, so the cover a scar replaced is the one
    the scenes show."""
    lat = Lattice.of_grid(grid)
    tf = terrain_fields(p, Lattice.of_grid(grid, 1))
    slope, aspect = horn_slope_aspect(tf.elevation, grid.resolution)
    z = tf.elevation[1:-1, 1:-1]
    cf = cover_fields(p, lat)
    return _Ground(lat, z, slope, aspect, cf, true_cover(p, lat, z, slope, tf.floor_depth[1:-1, 1:-1], cf.nz))


def render(
    p: SceneParams, grid: Grid, pre: Window, post: Window, slides: list[Landslide],
    calendar: Calendar | None = None,
    s1_post: Window | None = None,
    s2_post: Window | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Landslide], dict[str, Any]]:
    """Render the 15 bands and the change labels of ``grid``; returns (data, labels, new slides, info).

    Without a ``calendar`` (events) each window is one state: a landslide dated before the pre
    window's end is in both composites, one dated in the post window in the post composite only.
    With one (regions), the composites are built from the calendar's dated acquisitions: each
    acquisition sees the landslides dated on or before it, Sentinel-1 is the median of its
    acquisitions and Sentinel-2 the greenest clear pixel (NaN where no date was clear). Labels
    are the same in both: landslides dated after the pre window and within the post window.
    ``s1_post`` is a shorter Sentinel-1 post window inside ``post``: ending with it for regions
    (a pass's latest days), starting with it for events (``core.variants``: up to the event's
    N-th acquisition). Only the Sentinel-1 composite changes; the scene, labels and S2 do not.
    ``s2_post`` (regions with a calendar: ``optical_post_days``): the Sentinel-2 post composite is the
    greenest clear pixel of those latest days where they hold one, and of the whole window elsewhere.
    """
    lat, z, slope, aspect, cf, cover = _ground(p, grid)

    # landslides: old ones (before the pre composite) are in both windows, new ones only in post
    H, W = grid.shape
    new_mask = np.zeros((H, W), dtype=bool)
    new_zone = np.zeros((H, W), dtype=np.uint8)
    new_weight = np.zeros((H, W), dtype=np.float64)
    old_mask = np.zeros((H, W), dtype=bool)
    old_zone = np.zeros((H, W), dtype=np.uint8)
    new_slides: list[Landslide] = []
    n_old = 0
    label_mask = new_mask
    onset_px = None
    if calendar is None:
        for ls in slides:
            if ls.onset <= pre.end:
                n_old += int(ls.paste(lat, old_mask, old_zone))
            elif ls.onset <= post.end and ls.paste(lat, new_mask, new_zone, new_weight):
                new_slides.append(ls)
    else:  # dated: anything after the pre window's start may appear part-way through a window
        label_mask = np.zeros((H, W), dtype=bool)
        onset_px = np.full((H, W), np.iinfo(np.int64).max, dtype=np.int64)
        for ls in slides:
            if ls.onset <= pre.start:
                n_old += int(ls.paste(lat, old_mask, old_zone))
            elif ls.onset <= post.end:
                own = np.zeros((H, W), dtype=bool)
                if ls.paste(lat, own, new_zone, new_weight):
                    new_mask |= own
                    onset_px[own] = np.minimum(onset_px[own], ls.onset.toordinal())
                    if ls.onset > pre.end:
                        label_mask |= own
                        new_slides.append(ls)
    post_zone = np.where(new_zone > 0, new_zone, old_zone)

    cuts = cuts_between(p, lat, pre.start - dt.timedelta(days=REGROWTH_DAYS), post.end)
    snow_pre, wet_pre, line_pre = snow_state(p, lat, z, aspect, cf.nz, pre)
    snow_post, wet_post, line_post = snow_state(p, lat, z, aspect, cf.nz, post)
    s_pre, _ = _surface(cover, pre, p, lat, cuts, snow_pre, wet_pre, old_zone)
    s_post, n_cut_px = _surface(cover, post, p, lat, cuts, snow_post, wet_post, post_zone)
    s_post_alt, _ = _surface(cover, post, p, lat, cuts, snow_post, wet_post, old_zone)
    # the greenest-pixel S2 composites see the least snowy date of each window
    g_pre, gw_pre, gline_pre = snow_state(p, lat, z, aspect, cf.nz, pre, greenest=True)
    g_post, gw_post, gline_post = snow_state(p, lat, z, aspect, cf.nz, post, greenest=True)
    o_pre, _ = _surface(cover, pre, p, lat, cuts, g_pre, gw_pre, old_zone)
    o_post, _ = _surface(cover, post, p, lat, cuts, g_post, gw_post, post_zone)
    o_post_alt, _ = _surface(cover, post, p, lat, cuts, g_post, gw_post, old_zone)
    mix_w = np.where(new_mask, new_weight, 1.0)

    classified = classify(p, lat, _observed_class(o_pre))
    height_cover = cover.copy()
    height_cover[(s_pre == CUT_FRESH) | (s_pre == CUT_REGROWTH)] = HERB
    height_cover[old_mask] = ROCK
    th = tree_height(p, height_cover, z, cf.texture)

    geom = sar_geometry(p, lat, slope, aspect)
    flat_vol = flat_model_is_volume(classified)
    sar_tex = noise.fbm(lat.x, lat.y, noise.stable_key(p.key, "sar-tex"), [60.0, 30.0, 15.0], 0.5)
    sar_tex = 0.7 * sar_tex + 0.5 * noise.normal(noise.stable_key(p.key, "sar-pix"), lat.gx[None, :], lat.gy[:, None])
    calendar_info: dict[str, Any] = {}
    if calendar is None or onset_px is None:
        vv_pre, vh_pre, n_pre = composite_db(p, lat, geom, s_pre, flat_vol, pre, sar_tex, 0.0)
        vv_post, vh_post, n_post = composite_db(
            p, lat, geom, s_post, flat_vol, s1_post or post, sar_tex, p.post_moisture_db, s_post_alt, mix_w
        )
        ndvi_pre, info_pre = ndvi_composite(p, lat, o_pre, cf.texture, pre)
        ndvi_post, info_post = ndvi_composite(p, lat, o_post, cf.texture, post, o_post_alt, mix_w)
    else:
        # the pre window's surfaces with the scars that may appear in it (old ones alone otherwise)
        s_pre_scar, _ = _surface(cover, pre, p, lat, cuts, snow_pre, wet_pre, post_zone)
        o_pre_scar, _ = _surface(cover, pre, p, lat, cuts, g_pre, gw_pre, post_zone)

        def s1(window: Window) -> list[tuple[int, np.ndarray]]:
            return [((d - EPOCH).days, onset_px <= d.toordinal()) for d in calendar.s1_dates(window)]

        def s2(window: Window) -> list[tuple[dt.date, np.ndarray, np.ndarray]]:
            out = []
            for d in calendar.s2_dates(window):
                cloud, shadow = calendar.masks(lat, d)
                out.append((d, onset_px <= d.toordinal(), ~(cloud | shadow)))
            return out

        sar_post = s1_post or post
        vv_pre, vh_pre, n_pre = composite_db(p, lat, geom, s_pre_scar, flat_vol, pre, sar_tex, 0.0, s_pre, mix_w,
                                             dated=s1(pre))
        vv_post, vh_post, n_post = composite_db(p, lat, geom, s_post, flat_vol, sar_post, sar_tex,
                                                p.post_moisture_db, s_post_alt, mix_w, dated=s1(sar_post))
        ndvi_pre, info_pre = ndvi_greenest(p, lat, o_pre_scar, cf.texture, pre, s2(pre), o_pre, mix_w)
        ndvi_post, info_post = ndvi_greenest(p, lat, o_post, cf.texture, post, s2(post), o_post_alt, mix_w)
        if s2_post is not None:  # the latest days where they hold a clear look, else the whole window
            short, _ = ndvi_greenest(p, lat, o_post, cf.texture, s2_post, s2(s2_post), o_post_alt, mix_w)
            ndvi_post = np.where(np.isfinite(short), short, ndvi_post)
        info_pre["phenology"] = info_post["phenology"] = None
        calendar_info = {
            "relative_orbit": calendar.relative_orbit,
            "orbit_pass": calendar.orbit_pass,
            "s1_dates": {"pre": [d.isoformat() for d in calendar.s1_dates(pre)],
                         "post": [d.isoformat() for d in calendar.s1_dates(sar_post)]},
            "s2": {"pre": {k: v for k, v in info_pre.items() if k != "phenology"},
                   "post": {k: v for k, v in info_post.items() if k != "phenology"}},
        }

    data = np.empty((N_BANDS, H, W), dtype=np.float32)
    data[0], data[1], data[2] = vv_pre, vv_post, vv_post - vv_pre
    data[3], data[4], data[5] = vh_pre, vh_post, vh_post - vh_pre
    data[6] = geom.layover.astype(np.float32)
    data[7] = geom.shadow.astype(np.float32)
    data[8] = geom.lia_deg
    data[9] = z
    data[10] = slope
    data[11] = float(koppen_band_value(p.koppen))  # shared class index (earthengine/classes.py)
    data[12] = th
    data[13] = classified
    data[14] = ndvi_post - ndvi_pre
    labels = label_mask.astype(np.uint8)
    counts = np.bincount(cover.ravel(), minlength=10)
    info = {
        "cover_fractions": {
            LAND_COVER_BY_CODE[c].name: round(float(counts[c]) / cover.size, 4) for c in range(1, 10)
        },
        "acquisitions": {"pre": n_pre, "post": n_post},
        "snowline_m": {
            "sar_pre": round(line_pre, 1),
            "sar_post": round(line_post, 1),
            "s2_pre": round(gline_pre, 1),
            "s2_post": round(gline_post, 1),
        },
        "phenology_ndvi": {"pre": info_pre["phenology"], "post": info_post["phenology"]},
        "new_clear_cut_px": int(n_cut_px - int(((s_pre == CUT_FRESH) & (s_post == CUT_FRESH)).sum())),
        "old_landslides": n_old,
        "new_landslides": len(new_slides),
        "label_px": int(labels.sum()),
        "layover_frac": round(float(geom.layover.mean()), 4),
        "shadow_frac": round(float(geom.shadow.mean()), 4),
    }
    if calendar_info:
        info["calendar"] = calendar_info
    return data, labels, new_slides, info


def _inventory(slides: list[Landslide]) -> list[dict]:
    out = []
    for ls in slides:
        out.append(
            {
                "id": ls.id,
                "geometry": ls.polygon(),
                "onset": ls.onset,
                "area_m2": ls.area_m2,
                "kind": ls.kind,
                "length_m": round(ls.length_m, 1),
                "source_xy": ls.source_xy,
                "toe_xy": ls.toe_xy,
                **ls.extra,
            }
        )
    return out


# ----------------------------------------------------------------------------- events
def event_params(event: Event, defaults: Defaults, seed: int | None = None) -> tuple[SceneParams, Grid]:
    """The scene parameters and grid of an event (deterministic in event id and seed)."""
    seed = defaults.simulation_seed if seed is None else int(seed)
    key = noise.stable_key("event", event.id, seed)
    grid = grid_around(event.lat, event.lon, event.aoi_m(defaults), defaults.resolution_m)
    p = derive_params(
        key=key,
        kind="event",
        name=event.id,
        lat=event.lat,
        lon=event.lon,
        rainfall_mm=event.rainfall_mm_yr,
        orbit_pass=event.orbit_pass or defaults.orbit_pass,
        trigger=event.trigger,
    )
    length, width, count = slide_dimensions(
        event.size_km, event.aoi_m(defaults), defaults.resolution_m, p.u("slide-frac")
    )
    x0, y0, x1, y1 = grid.bounds
    p = replace(
        p,
        slide_length_m=length,
        slide_width_m=width,
        slide_count=count,
        ref_x=(x0 + x1) / 2,
        ref_y=(y0 + y1) / 2,
    )
    sx, sy, _ = choose_event_shift(p, grid)
    return replace(p, shift_x=sx, shift_y=sy), grid


def _event_slides(event: Event, p: SceneParams, grid: Grid) -> list[Landslide]:
    res = grid.resolution
    margin = int(min(max(0.8 * p.slide_length_m / res, 10), 100))
    big = Lattice.of_grid(grid, margin)
    patch = make_patch(p, big)
    allowed = np.zeros(patch.z.shape, dtype=bool)
    edge = 3
    allowed[margin + edge : margin + grid.height - edge, margin + edge : margin + grid.width - edge] = True
    lat = Lattice.of_grid(grid)
    n = p.slide_count
    slides: list[Landslide] = []
    for _ in range(6):
        jobs = [
            (f"{event.id}-{j + 1:03d}", event.date, noise.stable_key(p.key, "slide", j)) for j in range(n)
        ]
        slides = place_in_patch(p, patch, allowed, jobs, p.slide_length_m, p.slide_width_m)
        acc = np.zeros(grid.shape, dtype=bool)
        kept = []
        for ls in slides:
            trial = acc.copy()
            ls.paste(lat, trial)
            if kept and trial.mean() > MAX_EVENT_LABEL_FRAC:
                break
            acc = trial
            kept.append(ls)
        slides = kept
        if acc.sum() >= MIN_EVENT_LABEL_PX or n >= 200:
            break
        n = int(n * 1.6) + 2
    return slides


def first_looks_window(p: SceneParams, post: Window, looks: int) -> Window:
    """The start of ``post`` up to its ``looks``-th Sentinel-1 acquisition (the whole window when it
    holds fewer): the composite of a variant (core.variants)."""
    ks = acquisitions(p, post)[: max(1, int(looks))]
    return Window(start=post.start, end=min(post.end, acquisition_date(p, ks[-1])))


def simulate_event(event: Event, defaults: Defaults, seed: int | None = None,
                   s1_post_looks: int | None = None) -> SimulatedScene:
    """Simulate the 15-band stack, labels and inventory of a catalog event (with ``s1_post_looks``,
    its variant: the same scene with a Sentinel-1 post composite of its first acquisitions only)."""
    seed = defaults.simulation_seed if seed is None else int(seed)
    p, grid = event_params(event, defaults, seed)
    pre, post = event_windows(event, defaults)
    s1_post = first_looks_window(p, post, s1_post_looks) if s1_post_looks else None
    slides = _event_slides(event, p, grid)
    data, labels, shown, info = render(p, grid, pre, post, slides, s1_post=s1_post)
    windows = {"pre": list(pre.as_strings()), "post": list(post.as_strings())}
    if s1_post is not None:
        windows["s1_post"] = list(s1_post.as_strings())
    meta = {
        "source": "simulated",
        "simulator_version": SIMULATOR_VERSION,
        "event_id": event.id,
        "seed": seed,
        "windows": windows,
        **({"s1_post_looks": int(s1_post_looks)} if s1_post_looks else {}),
        "climate_class": int(p.koppen),
        "relief_m": round(p.relief_m, 1),
        "params": p.to_meta(),
        **info,
    }
    return SimulatedScene(data=data, labels=labels, grid=grid, inventory=_inventory(shown), meta=meta)


def _write_inventory_gpkg(path: Path, inventory: list[dict], crs: str) -> None:
    import geopandas as gpd

    from gee_landslide.core.atomic import atomic_path

    gdf = gpd.GeoDataFrame(
        {
            "id": [r["id"] for r in inventory],
            "onset": [r["onset"].isoformat() for r in inventory],
            "area_m2": [float(r["area_m2"]) for r in inventory],
        },
        geometry=[r["geometry"] for r in inventory],
        crs=crs,
    ).to_crs("EPSG:4326")
    with atomic_path(path) as tmp:
        tmp.unlink()  # GDAL must create the GeoPackage itself
        gdf.to_file(tmp, layer="landslides", driver="GPKG", engine="pyogrio")


def build_event_stack(
    event: Event,
    defaults: Defaults,
    out_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    s1_post_looks: int | None = None,
) -> Path:
    """Simulate an event and write ``stack.tif``, ``labels.tif``, ``meta.json`` and ``inventory.gpkg``
    (``s1_post_looks``: its variant, :mod:`gee_landslide.core.variants`)."""
    from gee_landslide.core.stackio import is_complete, write_stack

    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    if is_complete(out_dir) and not force:
        say(f"{event.id}: stack complete, skipped")
        return out_dir
    say(f"{event.id}: simulating scene" + (f" (Sentinel-1 post of {s1_post_looks} looks)" if s1_post_looks else ""))
    scene = simulate_event(event, defaults, s1_post_looks=s1_post_looks)
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"{event.id}: writing inventory ({len(scene.inventory)} landslides)")
    _write_inventory_gpkg(out_dir / "inventory.gpkg", scene.inventory, scene.grid.crs)
    meta = {
        **scene.meta,
        "provenance": {
            "source": "simulated",
            "simulator": "gee_landslide.simulate",
            "simulator_version": SIMULATOR_VERSION,
            "seed": scene.meta["seed"],
            "params_key": scene.meta["params"]["key"],
        },
    }
    say(f"{event.id}: writing stack")
    write_stack(out_dir, scene.data, scene.grid, scene.labels, meta)
    say(f"{event.id}: done ({int(scene.labels.sum())} landslide px)")
    return out_dir


# ----------------------------------------------------------------------------- regions
_REGION_CACHE: OrderedDict[tuple, Any] = OrderedDict()


def _cached(key: tuple, make: Callable[[], Any], size: int = 256) -> Any:
    if key in _REGION_CACHE:
        _REGION_CACHE.move_to_end(key)
        return _REGION_CACHE[key]
    val = make()
    _REGION_CACHE[key] = val
    while len(_REGION_CACHE) > size:
        _REGION_CACHE.popitem(last=False)
    return val


def _region_token(region_id: str, region: Region) -> tuple:
    return (region_id, region.model_dump_json())


def region_params(region_id: str, region: Region) -> tuple[SceneParams, Grid]:
    """Scene parameters of a monitoring region (depend on the region only, never on a tile)."""

    def make() -> tuple[SceneParams, Grid]:
        w, s, e, n = region.bbox
        full = grid_for_bbox(w, s, e, n)
        key = noise.stable_key("region", region_id, region.simulation.seed)
        p = derive_params(key=key, kind="region", name=region_id, lat=(s + n) / 2, lon=(w + e) / 2, rainfall_mm=None,
                          orbit_pass=region.orbit_pass)
        x0, y0, x1, y1 = full.bounds
        p = replace(
            p,
            slide_length_m=180.0 * math.exp(0.25 * noise.scalar_normal(key, "len")),
            slide_width_m=40.0 * math.exp(0.2 * noise.scalar_normal(key, "wid")),
            ref_x=(x0 + x1) / 2,
            ref_y=(y0 + y1) / 2,
        )
        sx, sy, _ = choose_event_shift(p, full)
        return replace(p, shift_x=sx, shift_y=sy), full

    return _cached(("params", *_region_token(region_id, region)), make)


def _region_allocation(region_id: str, region: Region) -> dict[tuple[int, int], list[tuple[dt.date, int]]]:
    """Which 1 km cells get a landslide on which date: weighted by their steep fraction."""

    def make() -> dict[tuple[int, int], list[tuple[dt.date, int]]]:
        p, full = region_params(region_id, region)
        coarse = 50.0
        x0, y0, x1, y1 = full.bounds
        lat = Lattice.block(
            math.floor(x0 / coarse), math.ceil(y1 / coarse), int((x1 - x0) / coarse) + 2,
            int((y1 - y0) / coarse) + 2, coarse,
        )
        z = terrain_fields(p, lat).elevation
        dzdy, dzdx = np.gradient(z, coarse)
        steep = np.degrees(np.arctan(np.hypot(dzdx, dzdy))) > 25.0
        cx = np.floor(lat.x / REGION_CELL_M).astype(np.int64)
        cy = np.floor(lat.y / REGION_CELL_M).astype(np.int64)
        cells: dict[tuple[int, int], list[float]] = {}
        for j, yy in enumerate(cy):
            for i, xx in enumerate(cx):
                cells.setdefault((int(xx), int(yy)), []).append(float(steep[j, i]))
        names = sorted(cells)
        frac = np.array([np.mean(cells[c]) for c in names])
        per = region.simulation.landslides_per_date
        reps = max(1, math.ceil(per / max(len(names), 1)))
        alloc: dict[tuple[int, int], list[tuple[dt.date, int]]] = {}
        for d in sorted(region.simulation.landslide_dates):
            cand = []
            for ci, c in enumerate(names):
                for r in range(reps):
                    u = noise.scalar_uniform(p.key, noise.stable_key("alloc", d.isoformat()), c[0], c[1], r)
                    cand.append((-math.log(max(u, 1e-300)) / (frac[ci] + 0.02), c, r))
            cand.sort()
            for _, c, r in cand[:per]:
                alloc.setdefault(c, []).append((d, r))
        return alloc

    return _cached(("alloc", *_region_token(region_id, region)), make)


def _cell_slides(region_id: str, region: Region, cell: tuple[int, int]) -> list[Landslide]:
    """All landslides (every simulated date) of one 1 km cell, traced on the cell's own patch."""

    def make() -> list[Landslide]:
        p, full = region_params(region_id, region)
        jobs_spec = sorted(_region_allocation(region_id, region).get(cell, []))
        if not jobs_spec:
            return []
        res = full.resolution
        n_cell = round(REGION_CELL_M / res)
        margin = math.ceil(1.6 * p.slide_length_m / res) + 5
        gx0 = cell[0] * n_cell - margin
        gy0 = (cell[1] + 1) * n_cell + margin
        lat = Lattice.block(gx0, gy0, n_cell + 2 * margin, n_cell + 2 * margin, res)
        patch = make_patch(p, lat)
        allowed = np.zeros(patch.z.shape, dtype=bool)
        allowed[margin : margin + n_cell, margin : margin + n_cell] = True
        jobs = [
            (
                f"{region_id}-{d:%Y%m%d}-{cell[0]}_{cell[1]}-{r}",
                d,
                noise.stable_key(p.key, "slide", d.isoformat(), cell[0], cell[1], r),
            )
            for d, r in jobs_spec
        ]
        return place_in_patch(p, patch, allowed, jobs, p.slide_length_m, p.slide_width_m)

    return _cached(("cell", *_region_token(region_id, region), cell), make, size=4096)


def region_slides_near(region_id: str, region: Region, grid: Grid) -> list[Landslide]:
    p, _ = region_params(region_id, region)
    margin = 1.6 * p.slide_length_m + 5 * grid.resolution + p.slide_width_m * 2
    x0, y0, x1, y1 = grid.bounds
    out: list[Landslide] = []
    for cell in sorted(_region_allocation(region_id, region)):
        cx0, cy0 = cell[0] * REGION_CELL_M, cell[1] * REGION_CELL_M
        if cx0 - margin < x1 and cx0 + REGION_CELL_M + margin > x0 and cy0 - margin < y1 and cy0 + REGION_CELL_M + margin > y0:
            out.extend(_cell_slides(region_id, region, cell))
    return out


def region_scar_ndvi_change(region_id: str, region: Region, grid: Grid, slides: list[Landslide]) -> list[float]:
    """The NDVI change each landslide's scar makes on ``grid`` under a clear sky, without noise: the
    median over its pixels there of the scar surfaces' typical NDVI minus that of the land cover it
    replaced, at the phenology of the landslide's date and mixed by its edge weight, as
    :func:`render` mixes them (NaN for a landslide with no pixel on ``grid``).

    Why: a scar on bare rock or sparse cover does not lower NDVI (bare rock 0.08, a scarp 0.12, a
    deposit 0.20 in ``core/landcover.py`` and ``optical.py``), so no clear Sentinel-2 view shows it;
    counting it among the landslides Sentinel-2 could show understates recall among them.
    """
    p, _ = region_params(region_id, region)
    lat, _, _, _, _, cover = _ground(p, grid)
    mu, _ = ndvi_tables()

    def typical(m: np.ndarray, phen: float) -> np.ndarray:  # optical.py: base + phenology x vegetation share
        return m + phen * vegetation_share(m)

    out: list[float] = []
    for s in slides:
        own = np.zeros(grid.shape, bool)
        zone = np.zeros(grid.shape, np.uint8)
        weight = np.zeros(grid.shape, np.float64)
        if not s.paste(lat, own, zone, weight):
            out.append(float("nan"))
            continue
        phen = phenology_on(p, s.onset)
        scar = mu[SCAR_CODE_BASE + zone[own].astype(np.int64)]
        change = weight[own] * (typical(scar, phen) - typical(mu[cover[own]], phen))
        out.append(float(np.median(change)))
    return out


def region_acquisitions(region_id: str, region: Region) -> Calendar | None:
    """The region's acquisition calendar (None when ``simulation.acquisitions`` is off)."""
    if not region.simulation.acquisitions:
        return None
    p, _ = region_params(region_id, region)
    return region_calendar(p.key, p.lat, p.lon, region.relative_orbit, region.orbit_pass,
                           region.simulation.cloud_frequency)


def region_clear_look(region_id: str, region: Region, window: Window, grid: Grid) -> np.ndarray | None:
    """Pixels of ``grid`` that some Sentinel-2 acquisition in ``window`` saw clear (no cloud, no
    shadow): the masks the composites use. None when the region has no acquisition calendar."""
    calendar = region_acquisitions(region_id, region)
    if calendar is None:
        return None
    lat = Lattice.of_grid(grid)
    seen = np.zeros(grid.shape, bool)
    for d in calendar.s2_dates(window):
        cloud, shadow = calendar.masks(lat, d)
        seen |= ~(cloud | shadow)
    return seen


def simulate_region_tile(region_id: str, region: Region, pre: Window, post: Window, grid: Grid) -> SimulatedScene:
    """A monitoring scene of any sub-grid of a region, consistent across tiles."""
    p, full = region_params(region_id, region)
    if grid.crs != full.crs or not math.isclose(grid.resolution, full.resolution):
        raise ValueError(f"tile grid {grid.crs} @ {grid.resolution} m is not on the region lattice {full.crs}")
    slides = region_slides_near(region_id, region, grid)
    calendar = region_acquisitions(region_id, region)
    s1_post = region.s1_post_window(post) if calendar is not None else None
    s2_post = region.s2_post_window(post) if calendar is not None else None
    data, labels, shown, info = render(p, grid, pre, post, slides, calendar, s1_post,
                                       None if s2_post == post else s2_post)
    meta = {
        "source": "simulated",
        "simulator_version": SIMULATOR_VERSION,
        "region_id": region_id,
        "seed": region.simulation.seed,
        "windows": {"pre": list(pre.as_strings()), "post": list(post.as_strings())},
        "climate_class": int(p.koppen),
        "relief_m": round(p.relief_m, 1),
        "params": p.to_meta(),
        **info,
    }
    return SimulatedScene(data=data, labels=labels, grid=grid, inventory=_inventory(shown), meta=meta)


def simulate_region(region_id: str, region: Region, run_date: dt.date, grid: Grid | None = None) -> SimulatedScene:
    pre, post = region.windows(run_date)
    if grid is None:
        grid = grid_for_bbox(*region.bbox)
    return simulate_region_tile(region_id, region, pre, post, grid)
