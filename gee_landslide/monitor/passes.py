"""A monitoring pass's outputs as one ``xarray.Dataset``, for notebooks and for QGIS-minded users.

``open_pass(artifacts/monitor/<region>/<date>)`` gives the variables ``probability`` (ensemble
mean), ``uncertainty`` (member standard deviation), ``agreement`` (share of members above the
threshold) and, when the pass wrote them, ``hillshade`` and ``sensors`` (SAR-first model choice) — all on the pass's UTM grid, with CRS and
transform through rioxarray (``ds.rio.crs``), and the pass summary (``pass.json``) in ``attrs``.
"""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from gee_landslide.core.errors import GeeLandslideError

PASS_RASTERS = {
    "probability": "probability.tif",
    "uncertainty": "uncertainty.tif",
    "agreement": "agreement.tif",
    "hillshade": "hillshade.tif",
    "sensors": "sensors.tif",  # 1 = decided by the S1 ensemble, 2 = by the optical one (NaN = neither)
}
REQUIRED = ("probability", "uncertainty", "agreement")


class PassNotFoundError(GeeLandslideError, FileNotFoundError):
    """A monitoring pass directory without its rasters."""


def open_pass(pass_dir: str | Path) -> xr.Dataset:
    """The rasters of one monitoring pass as a Dataset (values loaded, files closed)."""
    import rioxarray

    pass_dir = Path(pass_dir)
    missing = [PASS_RASTERS[k] for k in REQUIRED if not (pass_dir / PASS_RASTERS[k]).is_file()]
    if missing:
        raise PassNotFoundError(
            f"{pass_dir} is not a finished monitoring pass: {', '.join(missing)} missing",
            file=pass_dir, hint="gee-landslide monitor run --region REGION --date YYYY-MM-DD",
        )
    variables = {}
    for name, file in PASS_RASTERS.items():
        path = pass_dir / file
        if not path.is_file():
            continue
        with rioxarray.open_rasterio(path, masked=name != "hillshade", cache=False, lock=False) as da:
            variables[name] = da.isel(band=0, drop=True).load()
    ds = xr.Dataset(variables)
    summary = pass_dir / "pass.json"
    if summary.is_file():
        ds.attrs["pass"] = json.loads(summary.read_text(encoding="utf-8"))
    ds.attrs["pass_dir"] = str(pass_dir)
    return ds
