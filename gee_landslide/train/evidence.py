"""The change a landslide leaves in the sensor that saw it, fitted on the training events' landslides.

A network reads context (slope, land cover, elevation, terrain geometry) as well as change. Over
terrain it saw little of in training it can fire where nothing changed: in a simulated season of
the 3 km Norway region (20 % bare rock, against 1.8 % of the training pixels) the S2 networks put
525 of their 757 false objects on steep bare rock with a median dNDVI of -0.06, while the true
ones had -0.28. A monitoring alert announces a *new* landslide, so each candidate must show, in
the band of the sensor that decided it, a change at least as strong as all but the weakest few
percent of the training and validation landslides:

- optical decisions (S2, S1+S2 ensembles on pixels with a clear Sentinel-2 view): the object's
  median dNDVI (a landslide strips vegetation);
- Sentinel-1 decisions: the object's median dVH (the cross-polarised return drops when the
  vegetation's volume scattering goes).

The limit is the ``keep`` quantile of the per-object medians of the labelled landslide objects of
the train+validation stacks (never the test event), stored in the ensemble manifest
(``evidence``) and applied by :func:`gee_landslide.monitor.alerts.detections_to_candidates`.

``keep = 0.95``. About 5 % of the training objects show no drop at all in the band (7 of 167
with a median dNDVI above -0.06: snow or cloud in a composite), so the 97.5 % quantile lands at
-0.006 and kept almost every false alert of the season (572 against 598); at 0.95 the limit is
-0.13 (dNDVI) and -0.52 dB (dVH). That value was chosen after seeing the 0.975 season, so the
season is not an independent test of it (``benchmarks/bench_time_to_alert.py``; README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.train.data import Scene

KEEP = 0.95
MIN_OBJECT_PX = 4
# the change band that must show a landslide, by the setting of the ensemble that decides
EVIDENCE_BAND = {"s1": "dVH", "s2": "dNDVI", "s1s2": "dNDVI"}


def object_medians(scenes: Sequence[Scene], band: str, min_px: int = MIN_OBJECT_PX) -> np.ndarray:
    """Median of ``band`` over each labelled landslide object (8-connected, at least ``min_px``
    pixels with a finite value) of every scene."""
    b = BAND_NAMES.index(band)
    out: list[float] = []
    for s in scenes:
        labels, _ = ndimage.label(s.labels > 0, structure=np.ones((3, 3), bool))
        for i, sl in enumerate(ndimage.find_objects(labels), 1):
            if sl is None:
                continue
            v = s.stack[b][sl][labels[sl] == i]
            v = v[np.isfinite(v)]
            if v.size >= min_px:
                out.append(float(np.median(v)))
    return np.asarray(out, np.float64)


def fit_evidence(scenes: Sequence[Scene], setting: str, keep: float = KEEP) -> dict[str, Any]:
    """The manifest's ``evidence`` block for an ensemble of ``setting`` (a landslide lowers both bands,
    so the limit is an upper bound on the object median)."""
    if not 0.5 <= keep < 1.0:
        raise ValueError(f"keep {keep!r}: use a quantile in [0.5, 1)")
    if setting not in EVIDENCE_BAND:
        raise ValueError(f"setting {setting!r}: no evidence band (known: {', '.join(EVIDENCE_BAND)})")
    band = EVIDENCE_BAND[setting]
    med = object_medians(scenes, band)
    if med.size == 0:
        raise ValueError(f"no landslide object with a finite {band} in {len(scenes)} scene(s): cannot fit evidence")
    return {
        "band": band,
        "max_object_median": round(float(np.quantile(med, keep)), 4),
        "keep": keep,
        "objects": int(med.size),
        "fitted_on": [s.event_id for s in scenes],
    }
