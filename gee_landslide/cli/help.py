"""Command groups whose ``--help`` teaches: every group ends its help with examples."""

from __future__ import annotations

import typer


def command_group(help_text: str, *examples: str) -> typer.Typer:
    """A command group whose ``--help`` ends with copy-pasteable examples."""
    epilog = "Examples:\n\n" + "\n\n".join(f"  {e}" for e in examples)
    return typer.Typer(help=help_text, epilog=epilog, no_args_is_help=True)
