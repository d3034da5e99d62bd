"""Checks of single values given on the command line or in a file, shared by the layers above.

Kept here (no heavy imports) so the CLI can refuse a bad option before it loads a model or
plans a tile.
"""

from __future__ import annotations

from typing import Any

from gee_landslide.core.errors import GeeLandslideError


class InvalidValueError(GeeLandslideError, ValueError):
    """A value outside what its field allows."""


def check_threshold(value: Any, field: str = "threshold") -> float:
    """``value`` if it is a probability threshold strictly inside (0, 1).

    0 would flag every pixel and 1 none; NaN compares false with everything.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise InvalidValueError(f"{field} = {value!r}: a threshold must be a number within (0, 1)",
                                field=field, value=value)
    return float(value)
