"""Building the stacks of catalog events from a chosen source, skipping what is already built.

Plain Python used by the CLI (``gee-landslide stacks build``) and by the Prefect ``ingest`` flow.
A stack is complete when its ``meta.json`` exists (written last), so an interrupted build is
simply rebuilt on the next run, and events already built are skipped unless ``force`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gee_landslide.core.atomic import remove_stale_temps
from gee_landslide.core.catalog import Catalog, Event
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.core.stackio import is_complete, read_meta
from gee_landslide.core.variants import stack_id as stack_id_of
from gee_landslide.sources import get_source


@dataclass(frozen=True)
class BuildResult:
    event_id: str
    path: Path
    status: str  # "built" | "skipped" | "failed"
    seconds: float
    error: str | None = None


def build_one_stack(
    event: Event,
    catalog: Catalog,
    paths: ProjectPaths,
    source: str = "simulated",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    s1_post_looks: int | None = None,
) -> BuildResult:
    """Build (or skip, when complete from the same source) one event's stack, or with
    ``s1_post_looks`` its variant ``<event>.s1looks<N>`` (:mod:`gee_landslide.core.variants`)."""
    stack_id = stack_id_of(event.id, s1_post_looks)
    out_dir = paths.stack_dir(stack_id)
    for d in (out_dir, out_dir / ".tiles"):  # temps of a build that was killed mid-write
        remove_stale_temps(d)
    t0 = time.perf_counter()
    stale = False
    if not force and is_complete(out_dir) and read_meta(out_dir).get("source") == source:
        if _current(read_meta(out_dir), source):
            return BuildResult(stack_id, out_dir, "skipped", 0.0)
        stale = True  # built by an older recipe / simulator version: rebuild
    options = {"s1_post_looks": int(s1_post_looks)} if s1_post_looks else {}
    get_source(source).build_event_stack(event, catalog.defaults, out_dir, force=force or stale, progress=progress,
                                         **options)
    return BuildResult(stack_id, out_dir, "built", time.perf_counter() - t0)


def _current(meta: dict, source: str) -> bool:
    """True when a finished stack was built by the source's current version
    (:attr:`StackSource.version`: the recipe version for ``gee``, the simulator's for ``simulated``)."""
    version = str(get_source(source).version)
    if source == "gee":
        return str(meta.get("recipe_version")) == version
    if source == "simulated":
        return str(meta.get("simulator_version", version)) == version
    return True


def select_events(catalog: Catalog, event_ids: Iterable[str] | None) -> list[Event]:
    """The catalog's events, or only those named (in catalog order); unknown ids raise KeyError."""
    if not event_ids:
        return list(catalog.events)
    wanted = list(event_ids)
    for eid in wanted:
        catalog.event(eid)  # raises with the list of known ids
    return [e for e in catalog.events if e.id in wanted]
