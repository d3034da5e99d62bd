"""Event stacks whose Sentinel-1 post composite has only the few looks a monitoring pass gets.

An event's stack takes its Sentinel-1 post median over the event's whole post window (one to
twelve months: 2-30 acquisitions), while a monitoring pass of a region with ``s1_post_days: 12``
takes it over 12 days (1-2 acquisitions): the speckle a model sees in monitoring is far stronger
than in training. Measured on the demo's S1 ensemble (pooled validation + test events, the same
scenes rebuilt with a 12-day post window): F1 0.815 -> 0.564, precision 0.82 -> 0.46.

A *variant* is the same event, the same scene and labels, with the Sentinel-1 post composite
over the first ``days`` of the post window only (:func:`s1_post_window`); its stack lives beside the
event's as ``<event id>.s1post<days>`` (:func:`variant_id`). Profiles that list ``s1_post_variants``
train and validate the settings of ``s1_post_variant_settings`` on the events and their variants
(:func:`with_variants`); test events stay as the paper evaluates them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from gee_landslide.core.catalog import Window

SUFFIX = ".s1post"
_VARIANT_RE = re.compile(r"^(?P<event>.+)\.s1post(?P<days>[1-9][0-9]*)$")


def variant_id(event_id: str, days: int) -> str:
    """The stack id of ``event_id`` with a ``days``-day Sentinel-1 post composite."""
    if int(days) < 1:
        raise ValueError(f"s1_post_days must be at least 1, got {days!r}")
    return f"{event_id}{SUFFIX}{int(days)}"


def parse_variant(stack_id: str) -> tuple[str, int | None]:
    """``(event id, days)`` of a variant's stack id; ``(stack_id, None)`` for an event's own stack."""
    m = _VARIANT_RE.match(stack_id)
    return (m["event"], int(m["days"])) if m else (stack_id, None)


def s1_post_window(post: Window, days: int) -> Window:
    """The first ``days`` of an event's post window (the whole window when it is shorter): the
    acquisitions right after the event, as a pass ``days`` after a landslide composites them."""
    end = min(post.end, post.start + dt.timedelta(days=int(days) - 1))
    return Window(start=post.start, end=end)


def with_variants(event_ids: Iterable[str], days: Sequence[int]) -> tuple[str, ...]:
    """The events followed by their variants, one per entry of ``days``, in a fixed order."""
    ids = tuple(event_ids)
    return ids + tuple(variant_id(e, d) for d in days for e in ids)
