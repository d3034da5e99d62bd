"""Exporting a stack with ``ee.data.computePixels``: tiled, retried, resumable, atomic.

* Tiles: the grid is cut into tiles small enough for one request (48 MB and 32768 px per side
  are the server's limits; tiles aim at 80 % of the byte limit, or ``tile_px``). Each request
  asks for exactly the tile's part of :class:`gee_landslide.core.grid.Grid` (``dimensions``,
  ``affineTransform``, ``crsCode``), so the stack lands on the grid with no resampling here.
* Errors: quota (429, "Quota exceeded"), transient server errors (5xx), time-outs and "Too many
  concurrent aggregations" are retried with exponential back-off and jitter (``RetryPolicy``,
  run by tenacity; the sleep function is injectable). It is the only retry around Earth Engine
  calls: the ingest flow does not add Prefect retries on top. "Total request size ... must be less than or equal to",
  "payload size" and "memory limit" errors split the tile into four. Anything else fails at
  once with the server's message. The client library's own retry loop is switched off while
  exporting (``client_retries=0``) so that one policy, with jitter, governs every retry.
* Resume: each finished tile is saved (atomically) as ``.npy`` in ``<out_dir>/.tiles/``; a rerun
  reuses them and requests only the missing ones. The directory remembers the graph hash and
  grid, so a changed recipe never mixes with old tiles. It is removed once the stack is written.
* Masked pixels: NPY/GeoTIFF from ``computePixels`` carry no mask, so the image is unmasked to
  :data:`NODATA_SENTINEL` (-3e38, outside every band's range) and the sentinel becomes NaN here.
* Empty inputs: :func:`preflight` makes one cheap call (scene counts, clear S2 pixels, the chosen
  orbit) and raises :class:`EmptyCollectionError` naming the window and what to widen.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import ee
import numpy as np

from gee_landslide.core.atomic import write_bytes_atomic, write_json_atomic
from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid

MAX_REQUEST_BYTES = 48 * 1024 * 1024
MAX_SIDE_PX = 32768
REQUEST_FILL = 0.8
NODATA_SENTINEL = -3.0e38
TILES_DIR = ".tiles"
ErrorKind = Literal["transient", "too_large", "fatal"]

TOO_LARGE_MARKERS = (
    "total request size",
    "must be less than or equal to",
    "request payload size exceeds",
    "user memory limit exceeded",
    "memory limit",
    "out of memory",
    "too many pixels",
)
TRANSIENT_MARKERS = (
    "quota exceeded",
    "too many requests",
    "rate limit",
    "resource_exhausted",
    "too many concurrent",
    "computation timed out",
    "timed out",
    "timeout",
    "deadline",
    "internal error",
    "service unavailable",
    "backend error",
    "bad gateway",
    "unavailable",
    "connection reset",
    "connection aborted",
)
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class ExportError(GeeLandslideError, RuntimeError):
    """An export that cannot finish; the message says which tile or window and why."""


class EmptyCollectionError(ExportError):
    """A window holds no usable scene; the message names it and suggests widening it."""


T = TypeVar("T")


# ----------------------------------------------------------------------------- errors / retry
def _http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an ``EEException`` (kept as its ``__context__`` HttpError)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 5:
        resp = getattr(cur, "resp", None)
        status = getattr(resp, "status", None)
        if status is not None:
            with contextlib.suppress(TypeError, ValueError):
                return int(status)
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


def classify_error(exc: BaseException) -> ErrorKind:
    """``too_large`` (split the tile), ``transient`` (retry later) or ``fatal``."""
    msg = str(exc).lower()
    if any(m in msg for m in TOO_LARGE_MARKERS):
        return "too_large"
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return "transient"
    status = _http_status(exc)
    if status in TRANSIENT_STATUS:
        return "transient"
    if any(m in msg for m in TRANSIENT_MARKERS):
        return "transient"
    try:
        import httplib2

        if isinstance(exc, httplib2.HttpLib2Error):
            return "transient"
    except ImportError:  # pragma: no cover
        pass
    return "fatal"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: a time-out, a 429/5xx, "too many concurrent" (never a size error)."""
    return not isinstance(exc, ExportError) and classify_error(exc) == "transient"


@dataclass
class RetryPolicy:
    """The one retry policy of every Earth Engine call: exponential back-off with jitter,
    ``min(max_delay, base * 2**n) * U(0.5, 1)``, on transient errors only (:func:`is_transient`),
    run by tenacity. Size errors are not retried: the exporter splits the tile instead.
    ``sleep`` and ``rng`` are injectable so tests run without waiting."""

    max_attempts: int = 6
    base_delay: float = 2.0
    max_delay: float = 64.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    last_attempts: int = field(default=0, init=False, repr=False)

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + 0.5 * self.rng.random())

    def call(
        self,
        fn: Callable[[], T],
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ) -> T:
        """``fn()``, retried on transient errors; the last error is raised as it was.

        ``on_retry(attempt, exc, delay)`` is told before each wait (attempt counts from 1).
        The number of attempts made is left in ``self.last_attempts``.
        """
        import tenacity

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None and state.next_action is not None:
                on_retry(state.attempt_number, state.outcome.exception(), state.next_action.sleep)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=lambda state: self.delay(state.attempt_number - 1),
            retry=tenacity.retry_if_exception(is_transient),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        finally:
            self.last_attempts = retrying.statistics.get("attempt_number", 1)


@contextlib.contextmanager
def client_retries(n: int | None) -> Iterator[None]:
    """Temporarily set the ``ee`` client's own retry count (None: leave it alone)."""
    if n is None:
        yield
        return
    state = ee.data._get_state()
    old = state.max_retries
    ee.data.setMaxRetries(n)
    try:
        yield
    finally:
        state.max_retries = old


# ----------------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"r{self.row}_c{self.col}_{self.height}x{self.width}"

    def quarters(self) -> list[Tile]:
        h1, w1 = max(1, self.height // 2), max(1, self.width // 2)
        out = []
        for r, h in ((self.row, h1), (self.row + h1, self.height - h1)):
            for c, w in ((self.col, w1), (self.col + w1, self.width - w1)):
                if h > 0 and w > 0:
                    out.append(Tile(r, c, h, w))
        return out


def max_tile_px(n_bands: int, bytes_per_value: int = 4, max_bytes: int = MAX_REQUEST_BYTES) -> int:
    """The largest square tile side under the request limits (with a safety margin)."""
    side = int(math.sqrt(max_bytes * REQUEST_FILL / (n_bands * bytes_per_value)))
    return max(1, min(MAX_SIDE_PX, side))


def plan_tiles(grid: Grid, n_bands: int, tile_px: int | None = None) -> list[Tile]:
    side = min(tile_px or MAX_SIDE_PX, max_tile_px(n_bands))
    return [Tile(r, c, g.height, g.width) for r, c, g in grid.tiles(side)]


def grid_request(grid: Grid, tile: Tile) -> dict[str, Any]:
    """The ``grid`` of a ``computePixels`` request: the tile's window of ``grid``, exactly."""
    sub = grid.window(tile.row, tile.col, tile.height, tile.width)
    return {
        "dimensions": {"width": sub.width, "height": sub.height},
        "affineTransform": {
            "scaleX": sub.resolution,
            "shearX": 0.0,
            "translateX": sub.x_min,
            "shearY": 0.0,
            "scaleY": -sub.resolution,
            "translateY": sub.y_max,
        },
        "crsCode": sub.crs,
    }


def decode_pixels(data: Any, file_format: str, band_names: list[str], tile: Tile) -> np.ndarray:
    """``computePixels`` bytes -> (bands, rows, cols) float32 with the sentinel as NaN."""
    if file_format == "NPY":
        arr = np.load(io.BytesIO(data), allow_pickle=False) if isinstance(data, bytes) else data
        if arr.dtype.names is None:
            raise ExportError(f"tile {tile.name}: expected a structured NPY array with band fields")
        missing = [b for b in band_names if b not in arr.dtype.names]
        if missing:
            raise ExportError(f"tile {tile.name}: bands {missing} missing from the response {arr.dtype.names}")
        out = np.stack([arr[b] for b in band_names]).astype(np.float32)
    elif file_format == "GEO_TIFF":
        from rasterio.io import MemoryFile

        with MemoryFile(data) as mem, mem.open() as ds:
            if ds.count != len(band_names):
                raise ExportError(f"tile {tile.name}: {ds.count} bands returned, expected {len(band_names)}")
            out = ds.read().astype(np.float32)
    else:
        raise ValueError(f"unsupported file format {file_format!r}; use NPY or GEO_TIFF")
    if out.shape[1:] != (tile.height, tile.width):
        raise ExportError(f"tile {tile.name}: got {out.shape[1:]} pixels, asked {(tile.height, tile.width)}")
    out[out <= NODATA_SENTINEL / 10] = np.nan
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@dataclass
class ExportStats:
    requests: int = 0
    tiles_fetched: int = 0
    tiles_reused: int = 0
    splits: int = 0
    retries: int = 0


class StackExporter:
    """Fetch ``image`` on ``grid`` tile by tile into a (bands, rows, cols) float32 array."""

    def __init__(
        self,
        image: ee.Image,
        grid: Grid,
        band_names: list[str] | tuple[str, ...],
        tiles_dir: Path,
        *,
        graph_sha256: str = "",
        file_format: str = "NPY",
        tile_px: int | None = None,
        max_workers: int = 4,
        retry: RetryPolicy | None = None,
        client_retries: int | None = 0,
        min_split_px: int = 16,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.image = image
        self.expression = ee.Image(image).unmask(NODATA_SENTINEL, False)
        self.grid = grid
        self.band_names = list(band_names)
        self.tiles_dir = Path(tiles_dir)
        self.graph_sha256 = graph_sha256
        self.file_format = file_format
        self.tile_px = tile_px
        self.max_workers = max(1, max_workers)
        self.retry = retry or RetryPolicy()
        self.client_retries = client_retries
        self.min_split_px = min_split_px
        self.progress = progress or (lambda _msg: None)
        self.stats = ExportStats()
        self._lock = threading.Lock()

    # -- tile cache
    def _tile_path(self, tile: Tile) -> Path:
        return self.tiles_dir / f"{tile.name}.npy"

    def _prepare_tiles_dir(self) -> None:
        stamp = {"graph_sha256": self.graph_sha256, "grid": self.grid.to_dict(), "bands": self.band_names}
        stamp_path = self.tiles_dir / "tiles.json"
        if self.tiles_dir.exists():
            try:
                old = json.loads(stamp_path.read_text())
            except (OSError, ValueError):
                old = None
            if old != stamp:
                shutil.rmtree(self.tiles_dir)
        self.tiles_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stamp_path, stamp)

    def _covered(self, tile: Tile, depth: int = 0) -> bool:
        if self._tile_path(tile).exists():
            return True
        if depth >= 8 or min(tile.height, tile.width) <= 1:
            return False
        return all(self._covered(q, depth + 1) for q in tile.quarters())

    # -- fetching
    def _request(self, tile: Tile) -> None:
        params = {
            "expression": self.expression,
            "fileFormat": self.file_format,
            "grid": grid_request(self.grid, tile),
        }
        with self._lock:
            self.stats.requests += 1
        data = ee.data.computePixels(params)
        arr = decode_pixels(data, self.file_format, self.band_names, tile)
        write_bytes_atomic(self._tile_path(tile), _npy_bytes(arr))
        with self._lock:
            self.stats.tiles_fetched += 1

    def _fetch(self, tile: Tile) -> None:
        if self._covered(tile):
            with self._lock:
                self.stats.tiles_reused += 1
            return
        attempts = [1]

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            attempts[0] = attempt + 1
            with self._lock:
                self.stats.retries += 1
            self.progress(f"tile {tile.name}: {exc}; retry {attempt} in {delay:.1f} s")

        try:
            self.retry.call(lambda: self._request(tile), on_retry)
        except ExportError:
            raise
        except Exception as exc:
            kind = classify_error(exc)
            if kind == "too_large":
                if min(tile.height, tile.width) <= self.min_split_px:
                    raise ExportError(
                        f"tile {tile.name} is still too large for one request at "
                        f"{tile.height}x{tile.width} px: {exc}"
                    ) from exc
                with self._lock:
                    self.stats.splits += 1
                self.progress(f"tile {tile.name} too large ({exc}); splitting into 4")
                for q in tile.quarters():
                    self._fetch(q)
                return
            what = "gave up after" if kind == "transient" else "failed on"
            raise ExportError(
                f"tile {tile.name} of {self.grid.width}x{self.grid.height} px: {what} attempt "
                f"{attempts[0]} of {self.retry.max_attempts}: {exc}"
                + (" (transient error; rerun to resume from the finished tiles)" if kind == "transient" else "")
            ) from exc
        self.progress(f"tile {tile.name} done")

    def _load(self, tile: Tile, out: np.ndarray, depth: int = 0) -> None:
        path = self._tile_path(tile)
        if path.exists():
            arr = np.load(path, allow_pickle=False)
            out[:, tile.row : tile.row + tile.height, tile.col : tile.col + tile.width] = arr
            return
        if depth >= 8 or min(tile.height, tile.width) <= 1:
            raise ExportError(f"tile {tile.name} is missing from {self.tiles_dir}")
        for q in tile.quarters():
            self._load(q, out, depth + 1)

    def run(self) -> np.ndarray:
        self._prepare_tiles_dir()
        tiles = plan_tiles(self.grid, len(self.band_names), self.tile_px)
        self.progress(f"{len(tiles)} tile(s) of at most {tiles[0].height}x{tiles[0].width} px")
        with client_retries(self.client_retries):
            if self.max_workers == 1 or len(tiles) == 1:
                for t in tiles:
                    self._fetch(t)
            else:
                with ThreadPoolExecutor(self.max_workers, thread_name_prefix="ee-tile") as pool:
                    for fut in [pool.submit(self._fetch, t) for t in tiles]:
                        fut.result()
        out = np.full((len(self.band_names), *self.grid.shape), np.nan, dtype=np.float32)
        for t in tiles:
            self._load(t, out)
        return out

    def cleanup(self) -> None:
        shutil.rmtree(self.tiles_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- pre-flight
def check_preflight(info: dict[str, Any], recipe: Any, *, cloudy_post_ok: bool = False) -> list[str]:
    """Problems found in a :meth:`Recipe.preflight` answer (empty list: all good).

    ``cloudy_post_ok`` (monitoring tiles): Sentinel-2 post scenes without one clear pixel are
    not a problem. dNDVI is then masked, exported as NaN, and a SAR-first pass decides the tile
    with its Sentinel-1 ensemble, as it does with the simulated source; an event stack needs
    both composites. No post scene at all is a problem too, unless the tile is SAR-first
    (``ctx.s2_post_optional``): its post composite is then the masked placeholder of
    :func:`gee_landslide.earthengine.sentinel2.greenest_pixel`.
    """
    ctx = recipe.ctx
    ev = ctx.event
    problems: list[str] = []
    orbit = info.get("relative_orbit")
    owner = f"region {ctx.region_id}" if ctx.region_id is not None else "the event"  # whose fields to change
    for which in ("pre", "post"):
        w = ctx.window(which)
        span = f"{w.start}..{w.end}"
        months = getattr(ctx, "window_reason", "")
        if ctx.region_id is not None:  # a monitoring tile: its windows come from the region's day counts
            widen = (f"widen it: raise `{which}_days` of region {ctx.region_id} in case_studies.yaml "
                     f"(now {w.days} days)")
        else:
            widen = (
                f"widen it: set `window_rule: {{mode: months, months: 2}}` (or 12) or "
                f"`{which}: {{start: ..., end: ...}}` on event {ev.id} in case_studies.yaml"
                + (f" (windows now: {months})" if months else "")
            )
        if not info.get(f"s1_{which}"):
            orbit_txt = f"relative orbit {orbit}" if orbit else "any relative orbit common to both windows"
            s1w = ctx.s1_window(which)
            # name the window the S1 collection really filtered on (a region's s1_post_days)
            where = (f"{which} window {span}" if s1w == w else
                     f"Sentinel-1 {which} window {s1w.start}..{s1w.end} (the latest {s1w.days} days of the "
                     f"{which} window {span}; lengthen `s1_post_days`)")
            problems.append(
                f"{ev.id}: no Sentinel-1 {ctx.orbit_pass.lower()} IW VV+VH scene of {orbit_txt} in the "
                f"{where}; {widen}, or set `relative_orbit:` on {owner}"
            )
        # a SAR-first tile without a post scene: NaN dNDVI, and Sentinel-1 decides it
        s1_decides = cloudy_post_ok and which == "post" and getattr(ctx, "s2_post_optional", False)
        if not info.get(f"s2_{which}"):
            if not s1_decides:
                level = getattr(recipe, "s2_level", "L2A")
                problems.append(f"{ev.id}: no Sentinel-2 {level} scene in the {which} window {span}; {widen}")
        elif not info.get(f"s2_{which}_clear_px") and not (cloudy_post_ok and which == "post"):
            problems.append(
                f"{ev.id}: no cloud-free Sentinel-2 pixel (Cloud Score+ cs_cdf >= "
                f"{ctx.defaults.s2_clear_threshold}) in the {which} window {span}; {widen}, "
                "or lower defaults.s2_clear_threshold"
            )
    return problems


def preflight_info(recipe: Any, retry: RetryPolicy | None = None) -> dict[str, Any]:
    """The answer of one cheap server call (:meth:`Recipe.preflight`), retried when transient."""
    retry = retry or RetryPolicy()
    try:
        return dict(retry.call(lambda: recipe.preflight().getInfo()))
    except Exception as exc:
        raise ExportError(f"{recipe.ctx.event.id}: pre-flight check failed: {exc}") from exc


def preflight(recipe: Any, retry: RetryPolicy | None = None, info: dict[str, Any] | None = None, *,
              cloudy_post_ok: bool = False) -> dict[str, Any]:
    """One cheap server call checking the recipe's inputs exist; raises EmptyCollectionError.

    ``cloudy_post_ok``: see :func:`check_preflight`.
    """
    info = preflight_info(recipe, retry) if info is None else info
    problems = check_preflight(info, recipe, cloudy_post_ok=cloudy_post_ok)
    if problems:
        raise EmptyCollectionError("\n".join(problems))
    return info


def export_recipe(
    recipe: Any,
    out_dir: Path,
    *,
    max_workers: int = 4,
    tile_px: int | None = None,
    retry: RetryPolicy | None = None,
    file_format: str = "NPY",
    check: bool = True,
    progress: Callable[[str], None] | None = None,
    info: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any], StackExporter]:
    """Pre-flight check (or the given ``info``), then fetch the stack; (data, info, exporter)."""
    info = preflight(recipe, retry, info) if check else (info or {})
    exporter = StackExporter(
        recipe.stack,
        recipe.ctx.grid,
        list(BAND_NAMES),
        Path(out_dir) / TILES_DIR,
        graph_sha256=recipe.graph_sha256(),
        file_format=file_format,
        tile_px=tile_px,
        max_workers=max_workers,
        retry=retry,
        progress=progress,
    )
    return exporter.run(), info, exporter
