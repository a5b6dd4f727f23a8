"""`dealdesk bench transcribe`: Whisper speed on a one-minute spoken walkthrough.

The recording is generated with espeak-ng (Debian package ``espeak-ng``), so the benchmark
needs no data files; it uses the configured model (``WHISPER_MODEL``, default the shipped
base), int8 on the CPU, and touches no database.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Annotated

import typer
from rich.console import Console

from cli.groups import bench_app

console = Console(stderr=True)


@bench_app.command("transcribe")
def bench_transcribe(
    runs: Annotated[int, typer.Option(min=1, help="Transcribe this many times; median.")] = 1,
    audio_format: Annotated[
        str, typer.Option("--format", help="wav, or ogg (Opus, as WhatsApp sends)")
    ] = "wav",
) -> None:
    """Transcribe a ~60 s espeak-ng walkthrough; print one JSON line with audio_s, wall_s, rtf."""
    from core.config import get_settings
    from domain.audio import synthetic, whisper

    if not synthetic.espeak_available():
        console.print("[red]espeak-ng is not installed (Debian package: espeak-ng)[/red]")
        raise typer.Exit(1)
    if audio_format not in ("wav", "ogg"):
        raise typer.BadParameter("--format must be wav or ogg")
    with console.status("speaking the walkthrough with espeak-ng"):
        data = synthetic.speak(synthetic.MINUTE_WALKTHROUGH)
        if audio_format == "ogg":
            data = synthetic.to_ogg_opus(data)
    with console.status("preparing Whisper (first run assembles the weights)"):
        started = time.perf_counter()
        loaded = whisper.get_model()
        load_s = time.perf_counter() - started
    walls: list[float] = []
    transcript = None
    for run in range(runs):
        with console.status(f"transcribing ({run + 1}/{runs})"):
            started = time.perf_counter()
            transcript = whisper.transcribe(data, max_duration_s=3600)
            walls.append(time.perf_counter() - started)
    assert transcript is not None
    wall = statistics.median(walls)
    spec = get_settings().whisper_model
    result = {
        "audio_s": round(transcript.duration_s, 2),
        "wall_s": round(wall, 3),
        "rtf": round(wall / transcript.duration_s, 4),
        "model": spec if spec in whisper.KNOWN_SIZES else loaded.label,
        "compute_type": whisper.COMPUTE_TYPE,
        "format": audio_format,
        "runs": runs,
        "cpu_threads": whisper.cpu_threads(),
        "load_s": round(load_s, 2),
        "words": len(transcript.text.split()),
    }
    typer.echo(json.dumps(result))
