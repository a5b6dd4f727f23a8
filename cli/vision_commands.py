"""`dealdesk vision train DATA_DIR`: train a component-condition classifier from labelled photos.

The training itself is ``domain.vision.model.train_classifier``; this command checks the
options, draws the progress bar (batches, with the last epoch's validation accuracy) and
prints where the weights went, their top-1 accuracy on the held-out photos, and the
``VISION_MODEL`` line that puts them to use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from cli.groups import vision_app

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


@vision_app.command("train")
def train(
    data_dir: Annotated[
        Path,
        typer.Argument(
            help="Photos in folders named <component>_<condition> (roof_good, furnace_poor ...): "
            "DATA_DIR/<class>/ (split 80/20 for validation) or DATA_DIR/train/<class>/ with "
            "DATA_DIR/val/<class>/."
        ),
    ],
    epochs: Annotated[int, typer.Option(min=1, max=1000, help="Passes over the photos.")] = 10,
    imgsz: Annotated[
        int, typer.Option(min=32, max=640, help="Image size in pixels (a multiple of 32).")
    ] = 64,
    batch: Annotated[int, typer.Option(min=1, max=512, help="Photos per batch.")] = 16,
    weights: Annotated[
        Path | None,
        typer.Option(help="Fine-tune these classification weights (.pt) instead of a new model."),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the weights (default: DATA_DIR-of-dealdesk/models/...)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option(help="Show ultralytics' own output instead of the progress bar.")
    ] = False,
) -> None:
    """Train a component-condition classifier (CPU, offline) and write its weights."""
    from core.config import get_settings
    from domain.vision import model

    if imgsz % 32:
        raise typer.BadParameter("must be a multiple of 32", param_hint="--imgsz")
    if out_path is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out_path = get_settings().data_path / "models" / "vision" / f"condition-{stamp}.pt"

    progress = Progress(
        TextColumn("[bold]training[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches · val top-1 {task.fields[top1]}"),
        TimeElapsedColumn(),
        console=console,
        disable=verbose,
    )
    task: TaskID | None = None

    def report(step: model.TrainingProgress) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task("train", total=step.batches_total, epoch="-", top1="-")
        progress.update(task, completed=step.batches_done, epoch=f"{step.epoch}/{step.epochs}")
        if step.top1_accuracy is not None:
            progress.update(task, top1=f"{step.top1_accuracy:.2f}")

    console.print(f"reading {data_dir} ...")
    try:
        with progress:
            result = model.train_classifier(
                data_dir,
                out=out_path,
                epochs=epochs,
                imgsz=imgsz,
                batch=batch,
                base_weights=weights,
                progress=report,
                verbose=verbose,
            )
    except model.VisionModelError as exc:
        console.print(f"[red]cannot train:[/] {exc}")
        raise typer.Exit(code=2) from exc
    out.print(
        f"trained {len(result.classes)} classes ({', '.join(result.classes)}) on "
        f"{result.train_images} photos for {result.epochs} epochs at {result.imgsz} px, "
        f"from {result.base}"
    )
    out.print(
        f"top-1 accuracy on {result.val_images} validation photos: {result.top1_accuracy:.3f}"
    )
    if warning := chance_warning(result.top1_accuracy, len(result.classes)):
        console.print(f"[yellow]warning:[/] {warning}")
    out.print(f"weights written to {result.weights_path}")
    out.print(f"use them with: VISION_MODEL={result.weights_path}")


def chance_warning(accuracy: float, classes: int) -> str | None:
    """A warning when a trained model is no better than guessing, else None.

    A 4-class model at 0.250 has learned nothing: said before anyone sets ``VISION_MODEL``.
    """
    if classes < 2:
        return None
    chance = 1 / classes
    if accuracy > chance * 1.5:
        return None
    return (
        f"that is no better than guessing among {classes} classes ({chance:.3f}): the model has "
        "not learned to tell them apart; train longer (--epochs), at a larger --imgsz, or with "
        "more photos per class before using it"
    )
