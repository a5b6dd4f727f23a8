"""The ``dealdesk`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="dealdesk: deal analysis assistant for real-estate investors.",
                  no_args_is_help=True)
