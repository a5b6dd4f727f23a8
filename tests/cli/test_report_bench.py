"""`dealdesk bench report` prints one JSON line with the median render time and page count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from domain.auth.models import Organisation

REPO = Path(__file__).resolve().parents[2]


def test_bench_report_prints_one_json_line_and_leaves_nothing(db: Session) -> None:
    # A separate process on the test session's database (it attaches to the same server).
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "bench", "report", "--renders", "3"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["renders"] == 3
    assert result["min_ms"] <= result["ms"] <= result["max_ms"]
    assert result["pages"] == 5
    assert result["bytes"] > 10_000
    # The scratch organisation was rolled back.
    names = db.exec(select(Organisation.name)).all()
    assert not [name for name in names if name.startswith("bench ")]
