"""Typer command groups that several modules add commands to."""

from __future__ import annotations

import typer

import_app = typer.Typer(help="Import data files (sales, listings, HUD FMR).", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmarks: each prints one JSON line (run by hand; figures go in the README).",
    no_args_is_help=True,
)
vision_app = typer.Typer(help="Photo condition models (ultralytics YOLO).", no_args_is_help=True)
