"""Stack sources: where an event's 15-band stack comes from.

``simulated`` (the embedded default: the project's scene simulator, no account, no network) and
``gee`` (Google Earth Engine). Both write the same files on the same grid rules; callers pick one
by name and never import a source module directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from gee_landslide.core.catalog import Defaults, Event

SourceName = Literal["simulated", "gee"]
SOURCES: tuple[str, ...] = ("simulated", "gee")


class EventStackBuilder(Protocol):
    def __call__(
        self,
        event: Event,
        defaults: Defaults,
        out_dir: Path,
        *,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> Path: ...


def event_stack_builder(source: str) -> EventStackBuilder:
    """The function that builds one event's stack for ``source``."""
    if source == "simulated":
        from gee_landslide.simulate import build_event_stack

        return build_event_stack
    if source == "gee":
        from gee_landslide.earthengine.event_stack import build_event_stack as gee_build

        return gee_build
    raise ValueError(f"unknown stack source {source!r}; choose one of: {', '.join(SOURCES)}")


_announced_simulated = False


def resolve_source(source: str | None) -> str:
    """The source a run uses: the one asked for, else ``gee`` when Earth Engine credentials are
    configured, else ``simulated`` — said clearly, once per process, so nobody mistakes
    simulated scenes for real ones."""
    global _announced_simulated
    if source:
        if source not in SOURCES:
            raise ValueError(f"unknown stack source {source!r}; choose one of: {', '.join(SOURCES)}")
        return source
    try:
        from gee_landslide.earthengine.init import credentials_configured

        if credentials_configured():
            return "gee"
    except ImportError:
        pass
    if not _announced_simulated:
        import logging

        logging.getLogger("gee_landslide").warning(
            "no Earth Engine credentials configured: running on SIMULATED scenes "
            "(configure credentials, see `gee-landslide auth check`, to use Sentinel data)"
        )
        _announced_simulated = True
    return "simulated"
