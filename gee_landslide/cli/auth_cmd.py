"""CLI commands: ``auth check`` (Earth Engine credentials).

``gee-landslide auth check`` says which credentials and Cloud project Earth Engine would use
(service-account key, user OAuth from ``earthengine authenticate``, or application-default
credentials) without printing any secret, then (unless ``--offline``) makes one cheap call to
prove they work. With ``--json`` it prints JSON in every case, also when no credentials exist
(``{"ok": false, "error": ...}``), so scripts can branch on it.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gee_landslide.cli.common import console
from gee_landslide.cli.help import command_group
from gee_landslide.cli.output import print_json

auth_app = command_group(
    "Earth Engine credentials.",
    "gee-landslide auth check --offline",
    "gee-landslide auth check --project my-ee-project",
    "gee-landslide auth check --offline --json",
)


@auth_app.command("check")
def check(
    project: str | None = typer.Option(None, "--project", "-p", help="Cloud project for Earth Engine"),
    service_account_key: Path | None = typer.Option(
        None, "--service-account-key", help="service-account JSON key file", exists=False
    ),
    high_volume: bool = typer.Option(False, "--high-volume", help="use the high-volume endpoint"),
    offline: bool = typer.Option(False, "--offline", help="only resolve credentials; no server call"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Say which Earth Engine credentials and project are in use (never prints secrets)."""
    from gee_landslide.earthengine.init import AuthError, initialize, resolve_credentials, verify

    try:
        if offline:
            _, info = resolve_credentials(project, service_account_key, high_volume)
        else:
            info = initialize(project, service_account_key, high_volume)
    except AuthError as exc:
        if not as_json:
            raise  # the CLI's error handler prints it and exits 2
        print_json({"ok": False, "kind": "none", "error": exc.message, "status": "no usable credentials"})
        raise typer.Exit(exc.exit_code) from None
    result = info.to_dict()
    status = "not checked (--offline)"
    ok = True
    if not offline:
        try:
            verify()
            status = "ok: the server answered"
        except Exception as exc:
            status = f"FAILED: {exc}"
            ok = False
    result["status"] = status
    result["ok"] = ok
    if as_json:
        print_json(result)
    else:
        table = Table(title="Earth Engine credentials", show_header=False)
        labels = {
            "kind": "credentials", "principal": "principal", "project": "project",
            "project_source": "project from", "endpoint": "endpoint", "source_file": "read from",
            "status": "status",
        }
        for key, label in labels.items():
            table.add_row(label, str(result.get(key) or "-"))
        console.print(table)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(auth_app, name="auth")
