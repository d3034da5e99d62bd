"""An alert's trail: the passes that created, updated, confirmed or cancelled it, and which
ensemble decided its footprint in each.

Why: the store keeps one row per alert, its latest state (``revision`` n). Someone deciding
whether to send a geologist needs to know why an alert is ``Likely``: which later pass saw it with
Sentinel-2, how many passes saw it at all, and whether Sentinel-1 alone carried it until then.
Every pass already says what it did (``pass.json``: the ids it made new, updated, confirmed,
cancelled or left unchanged) and which ensemble decided each pixel (``sensors.tif``), so the trail
is read from the passes; there is no second store to keep in step with the first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gee_landslide.monitor.alert_record import Alert
from gee_landslide.monitor.alerts import SENSORS_CODE_S1, SENSORS_CODE_S1S2, from_lonlat

# what a pass did to an alert, strongest first: a confirmation or cancellation is also an update
CHANGES = ("confirmed", "cancelled", "new", "updated", "unchanged")


@dataclass(frozen=True)
class PassEvent:
    """What one pass did to an alert."""

    run_date: str
    change: str  # one of CHANGES
    pre: tuple[str, str]
    post: tuple[str, str]
    # shares of the alert's (current) footprint decided by the S1 and by the optical ensemble in that
    # pass; None for a pass written before passes wrote a sensors raster
    s1_share: float | None
    optical_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _change(alert_id: str, lists: dict[str, list[str]]) -> str | None:
    for name in CHANGES:
        if alert_id in lists.get(name, ()):
            return name
    return None


def _shares(pass_dir: Path, alert: Alert) -> tuple[float | None, float | None]:
    path = pass_dir / "sensors.tif"
    if not path.is_file():
        return None, None
    import rasterio
    from rasterio.features import geometry_mask

    with rasterio.open(path) as src:
        geom = from_lonlat(alert.geometry, src.crs.to_string())
        inside = geometry_mask([geom], src.shape, src.transform, invert=True, all_touched=False)
        if not inside.any():  # a footprint smaller than a pixel centre: take the pixels it touches
            inside = geometry_mask([geom], src.shape, src.transform, invert=True, all_touched=True)
        codes = src.read(1)[inside]
    if codes.size == 0:
        return None, None
    return float(np.mean(codes == SENSORS_CODE_S1)), float(np.mean(codes == SENSORS_CODE_S1S2))


def alert_history(monitor_dir: Path, alert: Alert) -> list[PassEvent]:
    """The passes of the alert's region that created, updated, confirmed, cancelled or saw it
    unchanged, in date order (a pass that did not touch it is left out)."""
    out = []
    region_dir = Path(monitor_dir) / alert.region
    for summary in sorted(region_dir.glob("????-??-??/pass.json")):
        data = json.loads(summary.read_text(encoding="utf-8"))
        change = _change(alert.alert_id, data.get("alerts") or {})
        if change is None:
            continue
        w = data.get("windows") or {}
        s1, optical = _shares(summary.parent, alert)
        out.append(PassEvent(run_date=str(data.get("run_date", summary.parent.name)), change=change,
                             pre=tuple(w.get("pre", ("", ""))), post=tuple(w.get("post", ("", ""))),  # type: ignore[arg-type]
                             s1_share=s1, optical_share=optical))
    return out
