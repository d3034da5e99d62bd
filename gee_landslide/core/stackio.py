"""Reading and writing an event's stack files, with the checks that keep them trustworthy.

One event's data lives in ``artifacts/stacks/<event_id>/``:

- ``stack.tif``: 15 float32 bands in Table 2 order, band descriptions = the Table 2 names,
  nodata NaN, UTM CRS, north-up 10 m grid.
- ``labels.tif``: uint8 landslide mask (0/1) on exactly the same grid.
- ``meta.json``: source, windows, grid and provenance. It is written last, so its presence
  marks a complete stack; an interrupted build leaves no ``meta.json`` and is rebuilt.

Every write goes through a temporary file and a rename. Reading goes one way: :func:`open_stack`
opens the files with rioxarray as a labelled ``xarray.DataArray`` (band names as coordinates,
CRS and transform through ``.rio``), re-checks the contract and raises :class:`StackCheckError`
naming the failed check; :func:`read_stack` is the same reader unpacked into NumPy arrays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import xarray as xr
from pyproj import CRS

from gee_landslide.core.atomic import atomic_path, write_json_atomic
from gee_landslide.core.bands import BAND_NAMES, BANDS, N_BANDS, Setting
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.grid import Grid

STACK_FILE = "stack.tif"
LABELS_FILE = "labels.tif"
META_FILE = "meta.json"
EXPECTED_RESOLUTION_M = 10.0


class StackCheckError(GeeLandslideError, ValueError):
    """A stack on disk breaks the contract; ``check`` names which rule failed."""

    def __init__(self, path: Path, check: str, detail: str) -> None:
        self.path = Path(path)
        self.check = check
        self.detail = detail
        super().__init__(f"{path}: stack check '{check}' failed: {detail}", file=path, field=check)


@dataclass
class Stack:
    """A loaded stack: ``data`` is (bands, rows, cols) float32 in Table 2 order (or a subset)."""

    data: np.ndarray
    grid: Grid
    band_names: tuple[str, ...]
    labels: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def band(self, name: str) -> np.ndarray:
        try:
            return self.data[self.band_names.index(name)]
        except ValueError:
            raise KeyError(f"band {name!r} is not loaded; loaded: {self.band_names}") from None

    def select(self, setting: Setting) -> np.ndarray:
        """The bands of a setting, in the setting's order."""
        return np.stack([self.band(n) for n in setting.band_names])


def _profile(grid: Grid, count: int, dtype: str, nodata: float | int | None) -> dict[str, Any]:
    tiled = grid.width >= 256 and grid.height >= 256
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "crs": CRS.from_user_input(grid.crs),
        "transform": grid.transform,
        "compress": "deflate",
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if dtype == "float32":
        profile["predictor"] = 3
    return profile


def write_geotiff(
    path: Path,
    data: np.ndarray,
    grid: Grid,
    band_names: tuple[str, ...] | list[str] | None = None,
    nodata: float | int | None = math.nan,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array as a GeoTIFF, atomically."""
    arr = data[None] if data.ndim == 2 else data
    if arr.shape[1:] != grid.shape:
        raise ValueError(f"array shape {arr.shape[1:]} does not match grid shape {grid.shape}")
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **_profile(grid, arr.shape[0], str(arr.dtype), nodata)) as dst:
            dst.write(arr)
            for i in range(arr.shape[0]):
                if band_names is not None:
                    dst.set_band_description(i + 1, band_names[i])
            if tags:
                dst.update_tags(**tags)
    return Path(path)


def write_stack(
    out_dir: str | Path,
    data: np.ndarray,
    grid: Grid,
    labels: np.ndarray | None,
    meta: dict[str, Any],
) -> Path:
    """Write ``stack.tif``, ``labels.tif`` and, last, ``meta.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    if data.shape != (N_BANDS, *grid.shape):
        raise ValueError(f"stack must have shape {(N_BANDS, *grid.shape)}, got {data.shape}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)  # incomplete until meta.json is back
    write_geotiff(
        out_dir / STACK_FILE,
        data.astype(np.float32, copy=False),
        grid,
        BAND_NAMES,
        tags={f"UNIT_{b.index}": b.unit for b in BANDS},
    )
    if labels is not None:
        if labels.shape != grid.shape:
            raise ValueError(f"labels shape {labels.shape} does not match grid {grid.shape}")
        write_geotiff(out_dir / LABELS_FILE, labels.astype(np.uint8), grid, ("landslide",), None)
    full_meta = {**meta, "grid": grid.to_dict(), "bands": list(BAND_NAMES)}
    write_json_atomic(out_dir / META_FILE, full_meta)
    return out_dir


def is_complete(stack_dir: str | Path) -> bool:
    """True when the stack's ``meta.json`` exists (written last by :func:`write_stack`)."""
    d = Path(stack_dir)
    return (d / META_FILE).exists() and (d / STACK_FILE).exists()


def read_meta(stack_dir: str | Path) -> dict[str, Any]:
    path = Path(stack_dir) / META_FILE
    if not path.exists():
        raise StackCheckError(Path(stack_dir), "complete", f"{META_FILE} is missing (unfinished build?)")
    return json.loads(path.read_text())


def _grid_of(ds: rasterio.DatasetReader) -> Grid:
    return Grid.from_transform(ds.crs, ds.transform, ds.width, ds.height)


def _grid_of_array(da: xr.DataArray) -> Grid:
    return Grid.from_transform(da.rio.crs, da.rio.transform(), da.rio.width, da.rio.height)


def _open_raster(path: Path) -> xr.DataArray:
    """A GeoTIFF as a lazy DataArray (dims band, y, x; CRS and transform through ``.rio``)."""
    import rioxarray

    if not path.exists():
        raise StackCheckError(path, "complete", f"{path.name} is missing")
    return rioxarray.open_rasterio(path, masked=False, cache=False, lock=False)


def _descriptions(da: xr.DataArray) -> tuple[str, ...]:
    names = da.attrs.get("long_name", ())
    return (names,) if isinstance(names, str) else tuple(names)


def check_stack_array(path: Path, da: xr.DataArray) -> Grid:
    """Check band count, names, dtype, nodata, CRS and the 10 m north-up grid of an opened stack."""
    count = da.sizes["band"]
    if count != N_BANDS:
        raise StackCheckError(path, "band_count", f"expected {N_BANDS} bands, found {count}")
    names = _descriptions(da)
    if names != BAND_NAMES:
        bad = next((i for i, (a, b) in enumerate(zip(names, BAND_NAMES, strict=False)) if a != b), len(names))
        found = names[bad] if bad < len(names) else None
        raise StackCheckError(path, "band_names", f"band {bad} is named {found!r}, expected {BAND_NAMES[bad]!r}")
    if da.dtype != np.float32:
        raise StackCheckError(path, "dtype", f"expected float32 bands, found {[str(da.dtype)]}")
    nodata = da.rio.nodata
    if nodata is None or not math.isnan(nodata):
        raise StackCheckError(path, "nodata", f"expected nodata NaN, found {nodata}")
    crs = da.rio.crs
    if crs is None:
        raise StackCheckError(path, "crs", "the file has no CRS")
    epsg = crs.to_epsg()
    if epsg is None or not (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        raise StackCheckError(path, "crs", f"expected a WGS 84 / UTM CRS, found {crs.to_string()}")
    t = da.rio.transform()
    if t.b != 0 or t.d != 0 or not math.isclose(t.e, -t.a, rel_tol=1e-9):
        raise StackCheckError(path, "grid", f"grid is not north-up with square pixels: {tuple(t)[:6]}")
    if not math.isclose(t.a, EXPECTED_RESOLUTION_M, abs_tol=1e-6):
        raise StackCheckError(path, "resolution", f"expected {EXPECTED_RESOLUTION_M} m pixels, found {t.a} m")
    return _grid_of_array(da)


def _check_labels(path: Path, da: xr.DataArray, grid: Grid | None) -> np.ndarray:
    if grid is not None and not _grid_of_array(da).same_as(grid):
        raise StackCheckError(
            path, "label_alignment", f"label grid {_grid_of_array(da).to_dict()} != stack grid {grid.to_dict()}"
        )
    if da.dtype != np.uint8:
        raise StackCheckError(path, "label_dtype", f"expected uint8, found {da.dtype}")
    labels = np.asarray(da.isel(band=0).values)
    values = np.unique(labels)
    if not set(values.tolist()) <= {0, 1}:
        raise StackCheckError(path, "label_values", f"expected 0/1, found values {values[:10].tolist()}")
    return labels


def read_labels(stack_dir: str | Path, grid: Grid | None = None) -> np.ndarray:
    """Read ``labels.tif``; with ``grid``, check that it is aligned with the stack."""
    path = Path(stack_dir) / LABELS_FILE
    if not path.exists():
        raise StackCheckError(path, "labels", f"{LABELS_FILE} is missing")
    with _open_raster(path) as da:
        return _check_labels(path, da, grid)


def _band_names(bands: tuple[str, ...] | list[str] | Setting | None) -> tuple[str, ...]:
    if isinstance(bands, Setting):
        names = bands.band_names
    else:
        names = tuple(bands) if bands is not None else BAND_NAMES
    for n in names:
        if n not in BAND_NAMES:
            raise KeyError(f"unknown band {n!r}; known bands: {', '.join(BAND_NAMES)}")
    return names


def open_stack(
    stack_dir: str | Path,
    bands: tuple[str, ...] | list[str] | Setting | None = None,
    window: tuple[int, int, int, int] | None = None,
    *,
    with_labels: bool = True,
) -> xr.DataArray:
    """A stack as a labelled, checked ``xarray.DataArray`` (the one way the project reads stacks).

    Dims ``(band, y, x)``; the ``band`` coordinate holds the Table 2 names, ``x``/``y`` the cell
    centres in the stack's UTM CRS; ``.rio.crs`` and ``.rio.transform()`` give the grid;
    ``attrs["meta"]`` is ``meta.json``; with ``labels.tif`` present (and ``with_labels``) the
    landslide mask is the 2-D coordinate ``labels``. Optionally only some ``bands`` (names or a
    :class:`Setting`) and a ``(row, col, height, width)`` ``window``. Values are loaded.
    """
    stack_dir = Path(stack_dir)
    meta = read_meta(stack_dir)
    path = stack_dir / STACK_FILE
    names = _band_names(bands)
    with _open_raster(path) as da:
        grid = check_stack_array(path, da)
        if "grid" in meta and not Grid.from_dict(meta["grid"]).same_as(grid):
            raise StackCheckError(path, "meta_grid", f"{META_FILE} grid differs from the file's grid")
        da = da.assign_coords(band=list(BAND_NAMES)).sel(band=list(names))
        if window is not None:
            row, col, h, w = window
            da = da.isel(y=slice(row, row + h), x=slice(col, col + w))
        da = da.load()
    labels = None
    if with_labels and (stack_dir / LABELS_FILE).exists():
        labels = read_labels(stack_dir, grid)
        if window is not None:
            row, col, h, w = window
            labels = labels[row : row + h, col : col + w]
    if labels is not None:
        da = da.assign_coords(labels=(("y", "x"), labels))
    da.attrs = {"long_name": list(names), "units": [BANDS[BAND_NAMES.index(n)].unit for n in names],
                "meta": meta, "_FillValue": float("nan")}
    da.name = "stack"
    return da


def read_stack(
    stack_dir: str | Path,
    bands: tuple[str, ...] | list[str] | Setting | None = None,
    with_labels: bool = True,
    window: tuple[int, int, int, int] | None = None,
) -> Stack:
    """Read a stack (optionally only some bands, or a (row, col, height, width) window), checked.

    The NumPy view of :func:`open_stack`: the same reader, unpacked into a :class:`Stack`.
    """
    da = open_stack(stack_dir, bands, window, with_labels=with_labels)
    labels = np.asarray(da.coords["labels"].values) if "labels" in da.coords else None
    return Stack(
        data=np.asarray(da.values, dtype=np.float32), grid=_grid_of_array(da),
        band_names=tuple(str(b) for b in da.band.values), labels=labels, meta=da.attrs["meta"],
    )


def open_stack_dataarray(stack_dir: str | Path) -> xr.DataArray:
    """:func:`open_stack` of every band (kept for callers of the earlier name)."""
    return open_stack(stack_dir)
