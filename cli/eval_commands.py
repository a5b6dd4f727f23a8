"""`dealdesk eval [--tag TAG] [--baseline FILE] [--out DIR]`: run the eval cases and score them.

Runs ``evals/cases/*.yaml`` against the configured backend (OpenAI when a key or base URL is
set, else the offline planner) in a scratch organisation that is deleted afterwards, writes
``scorecard.json`` and ``scorecard.md`` into ``--out``, and prints the pass rate on its last
line. With ``--baseline`` (an earlier ``scorecard.json``) any case that passed there and fails
now is a regression, and the command exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from store import embedded


def eval_command(
    tag: Annotated[str | None, typer.Option(help="Run only the cases with this tag.")] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="An earlier scorecard.json; exit 1 on any case that regressed."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Where to write scorecard.json and scorecard.md.")
    ] = Path("evals/out"),
) -> None:
    """Run the eval cases against the agent and write a scorecard (pass rate on the last line)."""
    from evals.runner import main
    from store import migrate as migrations

    if baseline is not None and not baseline.is_file():
        raise typer.BadParameter(f"no such file {baseline}", param_hint="--baseline")
    try:
        migrations.upgrade("head")
        code = main(tag=tag, baseline=baseline, out=out, echo=typer.echo)
    finally:
        embedded.stop_all()
    raise typer.Exit(code)


def _register() -> None:
    """Add ``eval`` to the root `dealdesk` app of whichever module is running the CLI."""
    for name in ("cli.main", "__main__"):
        module = sys.modules.get(name)
        root = getattr(module, "app", None)
        if not isinstance(root, typer.Typer) or not hasattr(module, "COMMAND_MODULES"):
            continue
        if not any(command.name == "eval" for command in root.registered_commands):
            root.command("eval")(eval_command)


_register()
