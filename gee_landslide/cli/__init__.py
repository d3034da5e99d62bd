"""The ``gee-landslide`` command line (Typer + Rich).

Each command group lives in its own module and registers itself on the root app; the commands
are thin wrappers over plain library functions, which the Prefect flows and the tests call too.
"""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    name="gee-landslide",
    help="Find landslides in free satellite data and keep watching regions for new ones.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


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
