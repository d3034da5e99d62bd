"""The alert store's file: a GeoPackage layer of EPSG:4326 polygons, one row per :class:`Alert`.

Read with the defaults of older stores filled in (columns added since are read as what those
stores meant), written whole with pyogrio; the store writes it next to the old file and renames
(:class:`gee_landslide.monitor.store.AlertStore`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Polygon

from gee_landslide.monitor.alert_record import (
    ALERT_COLUMNS,
    COLUMN_DEFAULTS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    INT_DEFAULTS,
    NULLABLE_FLOAT,
    NULLABLE_INT,
    Alert,
)

LAYER = "alerts"


def nan_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating) and math.isnan(v):
        return None
    return v


def alert_from_row(row: dict[str, Any], geom: Polygon) -> Alert:
    kw: dict[str, Any] = {}
    for col in ALERT_COLUMNS:
        v = nan_to_none(row.get(col))
        if col in INT_COLUMNS:
            v = int(v) if v is not None else INT_DEFAULTS[col]
        elif col in NULLABLE_INT:
            v = None if v is None else int(v)
        elif col in FLOAT_COLUMNS:
            v = float(v)
        elif col in NULLABLE_FLOAT:
            v = None if v is None else float(v)
        else:
            v = COLUMN_DEFAULTS.get(col, "") if v in (None, "") else str(v)
        kw[col] = v
    return Alert(**kw, geometry=geom)


def read_alerts(path: str | os.PathLike[str]) -> list[Alert]:
    """All alerts of a GeoPackage store, sorted by (first_seen, alert_id)."""
    import pyogrio

    path = Path(path)
    if not path.exists():
        return []
    df = pyogrio.read_dataframe(path, layer=LAYER)
    out: list[Alert] = []
    records = df.drop(columns="geometry").to_dict("records")
    for rec, geom in zip(records, df.geometry, strict=True):
        out.append(alert_from_row(rec, geom))
    out.sort(key=lambda a: (a.first_seen, a.alert_id))
    return out


def write_alerts(path: str | os.PathLike[str], alerts: Sequence[Alert]) -> None:
    """Write ``alerts`` as a GeoPackage (layer ``alerts``, EPSG:4326 Polygon) at ``path``."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    cols: dict[str, Any] = {}
    for col in ALERT_COLUMNS:
        vals = [getattr(a, col) for a in alerts]
        if col in INT_COLUMNS:
            cols[col] = pd.array(vals, dtype="int64")
        elif col in NULLABLE_INT:
            cols[col] = pd.array(vals, dtype="Int64")
        elif col in FLOAT_COLUMNS or col in NULLABLE_FLOAT:
            cols[col] = pd.array([np.nan if v is None else v for v in vals], dtype="float64")
        else:
            cols[col] = pd.array(vals, dtype=object)
    gdf = gpd.GeoDataFrame(
        pd.DataFrame(cols), geometry=gpd.GeoSeries([a.geometry for a in alerts], crs="EPSG:4326")
    )
    pyogrio.write_dataframe(gdf, path, layer=LAYER, driver="GPKG", geometry_type="Polygon")

