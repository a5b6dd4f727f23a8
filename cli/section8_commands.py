"""`dealdesk import fmr FILE`: load HUD's published Fair Market Rent table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from cli.groups import import_app
from store import embedded

console = Console(stderr=True)


@import_app.command("fmr")
def import_fmr(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="HUD FMR table saved as CSV."
        ),
    ],
    year: Annotated[
        int | None, typer.Option(help="Fiscal year for rows without an fmr_year column.")
    ] = None,
) -> None:
    """Import HUD FMRs (one row per area, fmr_0..fmr_4) as shared rows; idempotent."""
    from domain.section8 import hud_import
    from store import migrate as migrations
    from store.db import session_scope

    try:
        try:
            text = hud_import.read_text(file)
        except hud_import.FmrFileError as exc:
            raise typer.BadParameter(str(exc)) from None
        total = max(text.count("\n") - 1, 0)
        migrations.upgrade("head")
        with (
            Progress(
                TextColumn("importing FMRs"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} rows"),
                console=console,
                transient=True,
            ) as progress,
            session_scope() as session,
        ):
            task = progress.add_task("fmr", total=total)
            try:
                summary = hud_import.import_fmr_csv(
                    session=session,
                    text=text,
                    year=year,
                    progress=lambda n: progress.update(task, completed=n),
                )
            except hud_import.FmrFileError as exc:
                raise typer.BadParameter(str(exc)) from None
        for line in summary.lines():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    finally:
        embedded.stop_all()
