"""Stack sources: where an event's (or a monitoring tile's) 15-band stack comes from.

A source is any object that satisfies :class:`StackSource` (a name, a recipe version, an event
builder, a region-tile fetcher and whether it knows the truth), registered by name like
segmentation-models-pytorch registers its encoders. Two are built in:

- ``simulated`` (:mod:`gee_landslide.sources.simulated`, the embedded default: the project's
  scene simulator, no account, no network);
- ``gee`` (:mod:`gee_landslide.sources.earthengine`, Google Earth Engine).

Both write the same files on the same grid rules. Adding a source is one module that defines
a class and one line in :data:`_BUILTIN` (or a :func:`register_source` call from a plugin);
callers pick a source by name with :func:`get_source` and never import a source module directly.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from gee_landslide.core.errors import GeeLandslideError

if TYPE_CHECKING:
    from gee_landslide.core.catalog import Defaults, Event, Region, Window
    from gee_landslide.core.grid import Grid

log = logging.getLogger("gee_landslide")


class UnknownSourceError(GeeLandslideError, ValueError):
    """A stack source name that is not registered."""


@runtime_checkable
class StackSource(Protocol):
    """What every stack source provides.

    ``build_event_stack`` writes ``stack.tif``, ``labels.tif`` and (last) ``meta.json`` of one
    catalog event into ``out_dir``; ``fetch_region_tile`` returns the (15, H, W) float32 stack of
    one monitoring tile and the landslide truth on it when the source knows it (``has_truth``).
    """

    name: str
    has_truth: bool

    @property
    def version(self) -> str:
        """The version of the recipe that builds this source's stacks (part of cache keys)."""
        ...

    def build_event_stack(
        self,
        event: Event,
        defaults: Defaults,
        out_dir: Path,
        *,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> Path: ...

    def fetch_region_tile(
        self,
        region_id: str,
        region: Region,
        pre: Window,
        post: Window,
        grid: Grid,
        *,
        defaults: Defaults,
        cache_dir: Path,
    ) -> tuple[np.ndarray, np.ndarray | None]: ...


# name -> "module:Class"; modules are imported on first use so `simulated` never pulls in `ee`
_BUILTIN: dict[str, str] = {
    "simulated": "gee_landslide.sources.simulated:SimulatedSource",
    "gee": "gee_landslide.sources.earthengine:EarthEngineSource",
}
_REGISTRY: dict[str, str | StackSource] = dict(_BUILTIN)

# kept for callers that list the choices (CLI help, argparse choices)
SOURCES: tuple[str, ...] = tuple(_BUILTIN)


def register_source(source: StackSource) -> None:
    """Register (or replace) a source under its ``name`` (for plugins and tests)."""
    global SOURCES
    if not isinstance(source, StackSource):
        raise TypeError(f"{source!r} does not implement StackSource")
    _REGISTRY[source.name] = source
    SOURCES = tuple(_REGISTRY)


def source_names() -> tuple[str, ...]:
    """The registered source names, built-ins first."""
    return tuple(_REGISTRY)


def get_source(name: str) -> StackSource:
    """The registered source called ``name``."""
    try:
        entry = _REGISTRY[name]
    except KeyError:
        raise UnknownSourceError(
            f"unknown stack source {name!r}; choose one of: {', '.join(source_names())}",
            field="source", value=name,
        ) from None
    if isinstance(entry, str):
        module, _, cls = entry.partition(":")
        entry = getattr(importlib.import_module(module), cls)()
        _REGISTRY[name] = entry
    return entry


_announced_simulated = False


def resolve_source(source: str | None) -> str:
    """The source a run uses: the one asked for, else ``gee`` when Earth Engine credentials are
    configured, else ``simulated`` — said clearly, once per process, so nobody mistakes
    simulated scenes for real ones."""
    global _announced_simulated
    if source:
        if source not in _REGISTRY:
            raise UnknownSourceError(
                f"unknown stack source {source!r}; choose one of: {', '.join(source_names())}",
                field="source", value=source,
            )
        return source
    try:
        from gee_landslide.earthengine.init import credentials_configured

        if credentials_configured():
            return "gee"
    except ImportError:
        pass
    if not _announced_simulated:
        log.warning(
            "no Earth Engine credentials configured: running on SIMULATED scenes "
            "(configure credentials, see `gee-landslide auth check`, to use Sentinel data)"
        )
        _announced_simulated = True
    return "simulated"
