"""The one base of every error the project raises on purpose.

Every project error derives from :class:`GeeLandslideError` (and, where it always did, from the
builtin it was: ``ValueError``, ``RuntimeError``, ``FileNotFoundError``, ``KeyError``), so
library callers keep catching what they caught, and the CLI catches one class in one place
(:func:`gee_landslide.cli.errors.handle_errors`) to print what went wrong, where (file, field,
value) and what to run next, then exit non-zero.
"""

from __future__ import annotations

import os
from typing import Any


class GeeLandslideError(Exception):
    """A problem the user can fix; the message says what, and the optional fields say where.

    ``file``: the file at fault; ``field``: the setting or column; ``value``: the bad value;
    ``hint``: a command or change that fixes it. ``exit_code``: what the CLI exits with.
    """

    exit_code: int = 2

    def __init__(
        self,
        *args: Any,
        file: str | os.PathLike[str] | None = None,
        field: str | None = None,
        value: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(*args)
        self.file = None if file is None else str(file)
        self.field = field
        self.value = value
        self.hint = hint

    @property
    def message(self) -> str:
        """The message without ``KeyError``'s quoting."""
        return str(self.args[0]) if self.args else self.__class__.__name__

    def location(self) -> list[tuple[str, str]]:
        """The (label, text) pairs of file/field/value that the message does not already show."""
        out = []
        msg = self.message
        if self.file and self.file not in msg:
            out.append(("file", self.file))
        if self.field and self.field not in msg:
            out.append(("field", self.field))
        if self.value is not None and repr(self.value) not in msg and str(self.value) not in msg:
            out.append(("value", repr(self.value)))
        return out


class UnknownIdError(GeeLandslideError, KeyError):
    """An event, region, alert or run id that does not exist (a ``KeyError``, as before)."""

    def __str__(self) -> str:
        return self.message
