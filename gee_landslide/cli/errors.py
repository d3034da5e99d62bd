"""The CLI's one error handler: every :class:`~gee_landslide.core.errors.GeeLandslideError` a
command lets through is printed here (what, file, field, value, the command that fixes it) and
the process exits non-zero with the error's ``exit_code``. Commands do not catch project errors
themselves; they only add context by raising with ``file=``/``field=``/``value=``/``hint=``.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from gee_landslide.core.errors import GeeLandslideError


def report_error(exc: GeeLandslideError) -> None:
    """Print one project error to stderr: message, location, hint."""
    from gee_landslide.cli.common import err_console, print_catalog_issues
    from gee_landslide.core.catalog import CatalogError

    if isinstance(exc, CatalogError):  # every problem, one line each with file:line, field and value
        print_catalog_issues(exc)
    else:
        err_console.print(f"[red]error[/red] {escape(exc.message)}", highlight=False)
    for label, text in exc.location():
        err_console.print(f"  {label}: {escape(text)}", highlight=False)
    if exc.hint:
        err_console.print(f"  try: {escape(exc.hint)}", highlight=False)


class GuidedGroup(TyperGroup):
    """The root command group: runs the command and turns project errors into a clean exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GeeLandslideError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
