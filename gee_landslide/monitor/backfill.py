"""Backfill: the monitoring passes of a past period, in date order, resumable.

``gee-landslide monitor backfill --region norway --from 2025-07-01 --to 2025-09-30 --every 6d``
runs one pass per date (``from``, ``from + every``, ... up to ``to``) through the same
:func:`~gee_landslide.monitor.runner.run_pass` as ``monitor run`` (the Prefect flow hands in its
own pass function, which runs the same three steps). Order matters: the alert store only moves
forward (an older pass never rolls an alert back), so candidates are confirmed or cancelled as
they would have been live.

A pass is complete when its ``pass.json`` exists (written last, after the alert merge), so a
backfill killed half-way skips the finished passes on re-run and redoes the one it was in
(whose outputs were never moved into place). ``force`` reruns them all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gee_landslide.core.paths import ProjectPaths
from gee_landslide.monitor.pass_context import MonitoringError, PassResult

EVERY_RE = re.compile(r"^\s*(\d+)\s*(d|days?)?\s*$", re.IGNORECASE)


def parse_every(value: str | int) -> int:
    """``6d``, ``6 days`` or ``6`` -> 6 (days, at least 1)."""
    if isinstance(value, int):
        days = value
    else:
        m = EVERY_RE.match(value)
        if not m:
            raise MonitoringError(f"--every {value!r}: give a number of days such as 6d or 12d",
                                  field="every", value=value)
        days = int(m.group(1))
    if days < 1:
        raise MonitoringError(f"--every {value!r}: must be at least one day", field="every", value=value)
    return days


def backfill_dates(start: dt.date, end: dt.date, every_days: int) -> list[dt.date]:
    """``start``, ``start + every``, ... while <= ``end``."""
    if end < start:
        raise MonitoringError(f"--to {end} is before --from {start}", field="to", value=end.isoformat())
    n = (end - start).days // every_days
    return [start + dt.timedelta(days=i * every_days) for i in range(n + 1)]


def pass_done(paths: ProjectPaths, region_id: str, day: dt.date) -> bool:
    """Whether the pass of ``region_id`` on ``day`` finished (its ``pass.json`` exists)."""
    return (paths.monitor / region_id / day.isoformat() / "pass.json").is_file()


@dataclass
class BackfillResult:
    region_id: str
    dates: list[dt.date]
    done: list[PassResult] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region_id,
            "dates": [d.isoformat() for d in self.dates],
            "skipped": [d.isoformat() for d in self.skipped],
            "passes": [r.to_dict() for r in self.done],
        }


def run_backfill(
    paths: ProjectPaths,
    region_id: str,
    start: dt.date,
    end: dt.date,
    every_days: int,
    run_one: Callable[[dt.date], PassResult],
    *,
    force: bool = False,
    on_pass: Callable[[dt.date, PassResult | None], None] | None = None,
) -> BackfillResult:
    """Run ``run_one(date)`` for every backfill date in order, skipping finished passes."""
    result = BackfillResult(region_id, backfill_dates(start, end, every_days))
    for day in result.dates:
        if not force and pass_done(paths, region_id, day):
            result.skipped.append(day)
            if on_pass:
                on_pass(day, None)
            continue
        r = run_one(day)
        result.done.append(r)
        if on_pass:
            on_pass(day, r)
    return result
