"""The ``gee-landslide`` command line (Typer + Rich).

Each command group lives in its own module (``events_cmd``, ``stacks_cmd``, ``labels_cmd``,
``auth_cmd``, ``train_cmd``, ``monitor_cmd``, ``orchestrate_cmd``) and registers itself on the
root app; the commands are thin wrappers over plain library functions, which the Prefect flows
and the tests call too. Project errors are printed by one handler (:mod:`gee_landslide.cli.errors`).
"""

from __future__ import annotations

import os

import typer

from gee_landslide import __version__
from gee_landslide.cli.errors import GuidedGroup

app = typer.Typer(
    name="gee-landslide",
    cls=GuidedGroup,
    help="Find landslides in free satellite data and keep watching regions for new ones.",
    epilog=(
        "Examples:\n\n"
        "  gee-landslide events list\n\n"
        "  gee-landslide stacks build --source simulated\n\n"
        "  gee-landslide train --profile smoke\n\n"
        "  gee-landslide ensemble build --setting s1s2\n\n"
        "  gee-landslide monitor run --region norway --date 2025-08-01\n\n"
        "  gee-landslide demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gee-landslide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Find landslides in free satellite data and keep watching regions for new ones."""


def _register_all() -> None:
    # imported here so that `import gee_landslide.cli` stays cheap for the modules themselves
    from gee_landslide.cli import (
        auth_cmd,
        events_cmd,
        labels_cmd,
        monitor_cmd,
        orchestrate_cmd,
        stacks_cmd,
        train_cmd,
    )

    for module in (events_cmd, stacks_cmd, labels_cmd, auth_cmd, train_cmd, monitor_cmd, orchestrate_cmd):
        module.register(app)


_register_all()


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
