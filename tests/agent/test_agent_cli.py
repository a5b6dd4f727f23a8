"""`dealdesk chat`: a terminal conversation through the real CLI process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.agent.world import SUBJECT_ADDRESS, World

REPO = Path(__file__).resolve().parents[2]


def _chat(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "chat", *args],
        cwd=REPO,
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_chat_answers_each_line_as_the_given_user(world: World) -> None:
    done = _chat("--as", world.ivy.email, stdin=f"help\n{SUBJECT_ADDRESS}\nreport\n")
    assert done.returncode == 0, done.stderr
    assert f"as {world.ivy.email} (investor), model offline-planner" in done.stderr
    assert "a street address, for a deal analysis" in done.stdout
    assert f"{SUBJECT_ADDRESS}\nVerdict: " in done.stdout
    assert "Max offer $" in done.stdout
    # The CLI shows the signed link to the PDF (the WhatsApp channel attaches it instead).
    assert f"Here is the PDF report for {SUBJECT_ADDRESS}: http" in done.stdout
    assert "analysing the property…" in done.stderr


def test_chat_refuses_an_unknown_user(world: World) -> None:
    done = _chat("--as", "nobody@example.com", stdin="help\n")
    assert done.returncode != 0
    assert "nobody@example.com" in done.stderr
