"""Object filters fitted once per set of runs, shared by the ensemble builds and the report.

Why: a filter is fitted on its runs' maps of the 16 training events (one inference per run and
event, then every object's features) and the ensemble build and the report fitted the same three
filters again, each from scratch: about 30 s of a first ``make demo``. A fitted filter is a pure
function of its runs (ids and weights, in rank order), their thresholds, the training and
validation stacks, the evaluation mask and the code, so its digest names it and the second
caller reads it instead (``models/cache/object_filters/<digest>.{npz,json}``).

The table (the objects' features, labels and weights) is what is stored, as the ensemble
manifests store it; loading refits the classifier from it (fixed seed: the same model) and
restores the threshold and the fit curve. A file that is missing, unreadable or whose table does
not match its recorded SHA-256 is a miss: the filter is fitted again and the entry rewritten.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gee_landslide.core.atomic import write_json_atomic
from gee_landslide.train.fingerprint import code_digest, digest, runs_digest, stacks_digest
from gee_landslide.train.runs import sha256_bytes, training_events

if TYPE_CHECKING:
    from gee_landslide.train.objects import ObjectFilter

CACHE_SUBDIR = ("cache", "object_filters")


def cache_dir(runs: Sequence[dict[str, Any]]) -> Path:
    """``<models>/cache/object_filters`` for runs under ``<models>/runs/<run id>``."""
    return Path(runs[0]["_dir"]).resolve().parent.parent.joinpath(*CACHE_SUBDIR)


def filter_key(setting: str, runs: Sequence[dict[str, Any]], thresholds: Sequence[float], stacks_dir: Path,
               eval_mask: str) -> str:
    """The digest of everything the filter of ``runs`` is fitted from (thresholds rounded to 1e-6: the
    report holds them as float32, the builds as float)."""
    events = [*training_events(list(runs)), *runs[0]["config"]["val_events"]]
    return digest({"setting": setting, "runs": runs_digest(runs), "thresholds": [round(float(t), 6) for t in thresholds],
                   "stacks": stacks_digest(stacks_dir, events), "events": events, "eval_mask": eval_mask,
                   "code": code_digest()})


def load_filter(cache: Path, key: str, setting: str) -> ObjectFilter | None:
    """The cached filter of ``key``, or None (a miss) when it is absent or does not check out."""
    from gee_landslide.train.objects import ObjectFilter, ObjectFilterError

    meta_path, table_path = cache / f"{key}.json", cache / f"{key}.npz"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("setting") != setting:
            return None
        flt = ObjectFilter.from_stored_table(setting, table_path.read_bytes(), meta.get("table_sha256"),
                                             meta["threshold"])
        flt.fit_f1, flt.unfiltered_f1 = float(meta["fit_f1"]), float(meta["unfiltered_f1"])
        flt.fitted_on = tuple(meta["fitted_on"])
        flt.maps = str(meta["maps"])
        flt.fit_curve = {float(t): float(f) for t, f in meta["fit_curve"]}
        return flt
    except (OSError, ValueError, KeyError, TypeError, ObjectFilterError):
        return None


def save_filter(cache: Path, key: str, flt: ObjectFilter) -> None:
    """Store a fitted filter under ``key``: the table first, its description (with the table's
    SHA-256) last, so a half-written entry is never read as a whole one."""
    table = flt.save_table(cache / f"{key}.npz")
    write_json_atomic(cache / f"{key}.json", {
        "setting": flt.setting, "threshold": flt.threshold, "fit_f1": flt.fit_f1,
        "unfiltered_f1": flt.unfiltered_f1, "fitted_on": list(flt.fitted_on), "objects": flt.objects, "maps": flt.maps,
        "fit_curve": [[t, f] for t, f in flt.fit_curve.items()], "table_sha256": sha256_bytes(table.read_bytes())})


class CachedFilter(NamedTuple):
    """What the cache holds for a set of runs: the filter (None on a miss), and where a freshly
    fitted one goes (``cache`` None: nowhere, as for a report without object filters)."""

    found: ObjectFilter | None
    cache: Path | None
    key: str

    def or_fit(self, fit: Callable[[], ObjectFilter]) -> ObjectFilter:
        """The cached filter, or ``fit()``'s, stored for the next caller (its errors propagate:
        nothing is stored then)."""
        if self.found is not None:
            return self.found
        flt = fit()
        if self.cache is not None:
            store_filter(self.cache, self.key, flt)
        return flt


NO_CACHE = CachedFilter(None, None, "")


def cached_filter(setting: str, runs: Sequence[dict[str, Any]], thresholds: Sequence[float], stacks_dir: Path,
                  eval_mask: str) -> CachedFilter:
    """The cached filter of these runs (``found`` None on a miss), with the cache directory and key
    :meth:`CachedFilter.or_fit` stores a freshly fitted one under."""
    cache, key = cache_dir(runs), filter_key(setting, runs, thresholds, stacks_dir, eval_mask)
    return CachedFilter(load_filter(cache, key, setting), cache, key)


def store_filter(cache: Path, key: str, flt: ObjectFilter) -> None:
    """:func:`save_filter`, where a read-only models directory only costs the next caller a refit."""
    with contextlib.suppress(OSError):
        save_filter(cache, key, flt)


__all__ = ["NO_CACHE", "CachedFilter", "cache_dir", "cached_filter", "filter_key", "load_filter", "save_filter", "store_filter"]
