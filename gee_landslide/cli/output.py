"""CLI output for people and scripts: tables that fit the terminal, and plain JSON.

Tables drop optional columns (right to left) until they fit, wrap ids instead of cutting them,
and say what they hid; ``--wide`` shows everything, ``--json`` prints every field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gee_landslide.cli.common import console

WideOption = typer.Option(False, "--wide", help="show every column, however wide the table gets")
JsonOption = typer.Option(False, "--json", help="print JSON (for scripts) instead of a table")


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else (no Rich markup, no wrapping), for scripts."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@dataclass(frozen=True)
class Column:
    """A table column; ``keep`` columns are never dropped, the others go last-first when narrow."""

    name: str
    justify: str = "left"
    keep: bool = False
    fold: bool = False  # wrap long values (ids) instead of cutting them


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    wide: bool = False,
    width: int | None = None,
) -> tuple[Table, list[str]]:
    """A Rich table that fits the terminal: optional columns are dropped, right to left, until
    the widest cell of each remaining column fits; ids wrap instead of being cut. Returns the
    table and the names of the dropped columns (say so, and point at ``--wide``/``--json``)."""
    width = width or console.width
    keep = list(range(len(columns)))

    def need(idx: list[int]) -> int:
        total = 4 + 3 * (len(idx) - 1)  # borders and padding of the default box
        for i in idx:
            cells = [len(columns[i].name)] + [len(str(r[i])) for r in rows]
            total += min(max(cells), 24) if columns[i].fold else max(cells)
        return total

    if not wide:
        for i in reversed(range(len(columns))):
            if need(keep) <= width:
                break
            if not columns[i].keep:
                keep.remove(i)
    table = Table(title=title)
    for i in keep:
        c = columns[i]
        table.add_column(c.name, justify=c.justify, overflow="fold" if c.fold else "ellipsis",  # type: ignore[arg-type]
                         no_wrap=not c.fold)
    for r in rows:
        table.add_row(*(str(r[i]) for i in keep))
    if wide:
        table.min_width = need(keep)
    dropped = [columns[i].name for i in range(len(columns)) if i not in keep]
    return table, dropped


def print_table(table: Table, dropped: list[str], *, wide: bool = False) -> None:
    if wide:
        Console(width=max(console.width, int(table.min_width or 0))).print(table)
    else:
        console.print(table)
    if dropped:
        console.print(f"[dim]columns hidden to fit {console.width} columns: {', '.join(dropped)} "
                      f"(--wide or --json shows them)[/dim]", highlight=False)
