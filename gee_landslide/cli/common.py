"""Shared CLI helpers: the consoles, catalog loading with readable errors, project paths."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from gee_landslide.core.catalog import Catalog, CatalogError, load_catalog
from gee_landslide.core.paths import ProjectPaths, project_paths

# emoji=False: "case_studies.yaml:100: ..." must not print as "case_studies.yaml💯 ..."
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

CatalogOption = typer.Option(None, "--catalog", "-c", help="catalog file (default: ./case_studies.yaml)")
RootOption = typer.Option(None, "--root", help="project root holding artifacts/ and models/ (default: cwd)")


def get_paths(root: Path | None) -> ProjectPaths:
    return project_paths(root)


def print_catalog_issues(exc: CatalogError) -> None:
    """Every issue of a catalog error, one line each with its file, line, field and value."""
    for issue in exc.issues:
        err_console.print(f"[red]error[/red] {escape(str(issue))}", highlight=False)


def get_catalog(catalog_path: Path | None, paths: ProjectPaths) -> Catalog:
    """Load the catalog (a :class:`CatalogError` goes to the CLI's error handler: exit 2)."""
    return load_catalog(catalog_path or paths.catalog)
