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

**Contrast with the surroundings.** A change over a whole slope (a snow line, the season's
phenology on sparse vegetation) lowers dNDVI inside a detection and around it alike; a landslide
lowers it inside only. So each candidate must also show a median change at least as far below
that of a ring around it (:func:`ring_mask`: 3 to 6 px out, other detections left out) as all
but the weakest ``keep`` share of the training landslides (``max_object_contrast``: -0.23 dNDVI
and -0.57 dB dVH on the 20 train+validation stacks). In the demo pass of 2025-08-01, 10 of the 22 false
optical alerts had a contrast between -0.02 and -0.13 and the true one -0.38; the false SAR ones,
and the optical ones on fresh clear-cuts, are real local changes and pass it.

**Where the ensemble saw landslides.** ``objects_by_landcover`` counts the same objects by their
majority land-cover class (band 13). Monitoring lets Sentinel-1 persistence alone confirm an alert
only on classes with a handful of them (``monitor.confirm_rules.persistence_landcover``): the 20 demo
stacks hold 167 objects, 87 on forest, 72 on herbaceous cover, 5 on pasture, 2 on sparse vegetation
and 1 on bare rock, while the benchmark region is 20 % steep bare rock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.train.data import Scene

KEEP = 0.95
MIN_OBJECT_PX = 4
RING_PX = (2, 6)  # the ring around an object: beyond 2 px (its blurred edge), up to 6 px
MIN_RING_PX = 4
LANDCOVER_BAND = "CART_LC_classified"
# the change band that must show a landslide, by the setting of the ensemble that decides
EVIDENCE_BAND = {"s1": "dVH", "s2": "dNDVI", "s1s2": "dNDVI", "all": "dNDVI"}


def object_values(scenes: Sequence[Scene], band: str, min_px: int = MIN_OBJECT_PX) -> Iterator[np.ndarray]:
    """The finite values of ``band`` over each labelled landslide object (8-connected) of every
    scene that has at least ``min_px`` of them: the objects the evidence is fitted on."""
    b = BAND_NAMES.index(band)
    for s in scenes:
        labels, _ = ndimage.label(s.labels > 0, structure=np.ones((3, 3), bool))
        for i, sl in enumerate(ndimage.find_objects(labels), 1):
            if sl is None:
                continue
            v = s.stack[b][sl][labels[sl] == i]
            v = v[np.isfinite(v)]
            if v.size >= min_px:
                yield v


def object_medians(scenes: Sequence[Scene], band: str, min_px: int = MIN_OBJECT_PX) -> np.ndarray:
    """Median of ``band`` over each labelled landslide object (:func:`object_values`) of every scene."""
    return np.asarray([float(np.median(v)) for v in object_values(scenes, band, min_px)], np.float64)


def objects_by_landcover(scenes: Sequence[Scene], min_px: int = MIN_OBJECT_PX) -> dict[str, int]:
    """How many labelled landslide objects (:func:`object_values`) have each land-cover class (band
    13, CART) as their majority, over ``scenes``; keys are the class codes as strings (JSON)."""
    counts: dict[int, int] = {}
    for v in object_values(scenes, LANDCOVER_BAND, min_px):
        code = int(np.bincount(v.astype(np.int64).clip(0)).argmax())
        counts[code] = counts.get(code, 0) + 1
    return {str(k): counts[k] for k in sorted(counts)}


def ring_mask(obj: np.ndarray, exclude: np.ndarray, ring: tuple[int, int] = RING_PX) -> np.ndarray:
    """The pixels between ``ring[0]`` and ``ring[1]`` px (4-connected steps) around the boolean
    ``obj``, without ``exclude`` (other objects or detections): what surrounds it."""
    inner, outer = ring
    grown = ndimage.binary_dilation(obj, iterations=outer)
    return grown & ~ndimage.binary_dilation(obj, iterations=inner) & ~exclude


def ring_window(sl: tuple[slice, ...]) -> tuple[slice, ...]:
    """The bounding-box slices ``sl`` of an object grown by the ring's reach: all the pixels
    :func:`ring_mask` can touch (slicing clips the far edges)."""
    pad = RING_PX[1] + 1
    return tuple(slice(max(x.start - pad, 0), x.stop + pad) for x in sl)


def object_contrast(values: np.ndarray, obj: np.ndarray, exclude: np.ndarray,
                    ring: tuple[int, int] = RING_PX) -> float:
    """Median of ``values`` over ``obj`` minus its median over the ring around it (NaN when either
    has too few finite values to say)."""
    v = values[obj]
    v = v[np.isfinite(v)]
    r = values[ring_mask(obj, exclude, ring)]
    r = r[np.isfinite(r)]
    if v.size == 0 or r.size < MIN_RING_PX:
        return float("nan")
    return float(np.median(v) - np.median(r))


def object_contrasts(scenes: Sequence[Scene], band: str, min_px: int = MIN_OBJECT_PX) -> np.ndarray:
    """:func:`object_contrast` of each labelled landslide object (as in :func:`object_medians`),
    the ring leaving every labelled pixel out."""
    b = BAND_NAMES.index(band)
    out: list[float] = []
    for s in scenes:
        truth = s.labels > 0
        labels, _ = ndimage.label(truth, structure=np.ones((3, 3), bool))
        for i, sl in enumerate(ndimage.find_objects(labels), 1):
            if sl is None:
                continue
            win = ring_window(sl)
            obj = labels[win] == i
            if np.isfinite(s.stack[b][win][obj]).sum() < min_px:
                continue
            c = object_contrast(s.stack[b][win], obj, truth[win])
            if np.isfinite(c):
                out.append(c)
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
    con = object_contrasts(scenes, band)
    return {
        "band": band,
        "max_object_median": round(float(np.quantile(med, keep)), 4),
        "max_object_contrast": round(float(np.quantile(con, keep)), 4) if con.size else None,
        "ring_px": list(RING_PX),
        "keep": keep,
        "objects": int(med.size),
        "objects_by_landcover": objects_by_landcover(scenes),
        "fitted_on": [s.event_id for s in scenes],
    }
