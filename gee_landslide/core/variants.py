"""Event stacks whose Sentinel-1 post composite has only as many looks as a monitoring pass gets.

An event's stack takes its Sentinel-1 post median over the event's whole post window (one to
twelve months: 2-30 acquisitions of one orbit), while a monitoring pass of a region with
``s1_post_days: 12`` takes it over 12 days: 2 acquisitions at the 6-day repeat of two satellites.
Speckle falls with the number of looks in a median, so a model trained on the events sees far
noisier change bands in monitoring than it learned from. Measured on the demo's S1 ensemble
(pooled validation and test events rebuilt with a one-look post composite): F1 0.815 -> 0.564,
precision 0.82 -> 0.46.

A *variant* is the same event, the same scene and labels, with the Sentinel-1 post composite
over the first ``looks`` acquisitions after the event only; its stack lives beside the event's as
``<event id>.s1looks<looks>`` (:func:`variant_id`). Looks, not days, because the match is in
speckle: the same number of days holds one look at a 12-day repeat and two at a 6-day one. The
catalog's ``defaults.s1_post_variant_looks`` says which variants ingest builds; profiles with
``s1_post_variants`` train and validate the settings of ``s1_post_variant_settings`` on the events
and those variants (:func:`with_variants`). Test events stay as the paper evaluates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

_VARIANT_RE = re.compile(r"^(?P<event>.+)\.s1looks(?P<looks>[1-9][0-9]*)$")


def variant_id(event_id: str, looks: int) -> str:
    """The stack id of ``event_id`` with a Sentinel-1 post composite of its first ``looks`` acquisitions."""
    if int(looks) < 1:
        raise ValueError(f"a Sentinel-1 post variant needs at least 1 look, got {looks!r}")
    return f"{event_id}.s1looks{int(looks)}"


def stack_id(event_id: str, looks: int | None) -> str:
    """The stack id of an event (``looks`` None) or of its ``looks``-look variant."""
    return variant_id(event_id, looks) if looks else event_id


def stack_jobs(events: Iterable[T], looks: Sequence[int]) -> list[tuple[T, int | None]]:
    """What a build makes: each event (``None``), then each of its variants, event by event."""
    return [(e, n) for e in events for n in (None, *looks)]


def parse_variant(stack_id: str) -> tuple[str, int | None]:
    """``(event id, looks)`` of a variant's stack id; ``(stack_id, None)`` for an event's own stack."""
    m = _VARIANT_RE.match(stack_id)
    return (m["event"], int(m["looks"])) if m else (stack_id, None)


def events_only(stack_ids: Iterable[str]) -> tuple[str, ...]:
    """The events' own stacks among ``stack_ids`` (a run's splits may hold variants)."""
    return tuple(s for s in stack_ids if parse_variant(s)[1] is None)


def with_variants(event_ids: Iterable[str], looks: Sequence[int]) -> tuple[str, ...]:
    """The events followed by their variants, one per entry of ``looks``, in a fixed order."""
    ids = tuple(event_ids)
    return ids + tuple(variant_id(e, n) for n in looks for e in ids)
