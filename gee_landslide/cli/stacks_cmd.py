"""CLI commands: ``stacks build|show|plan``."""

from __future__ import annotations

import typer

stacks_app = typer.Typer(help="Build and inspect per-event 15-band stacks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``stacks`` group (and the Earth Engine ``plan`` command) to the root app."""
    from gee_landslide.cli import auth_cmd  # noqa: F401  (adds `stacks plan` to stacks_app)

    app.add_typer(stacks_app, name="stacks")
