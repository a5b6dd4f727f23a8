"""The original architecture's machine-readable lists, as tests read them.

The repository keeps a copy under docs/seed/ so the suite runs wherever it is cloned; where the
shared seed directory sits beside the checkout (../shared/seed), the copy must equal it.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPO_SEED = REPO / "docs" / "seed"
SHARED_SEED = REPO.parent / "shared" / "seed"


def seed_file(name: str) -> Path:
    """The repository's copy of a seed list (``events.txt`` or ``endpoints.txt``)."""
    return REPO_SEED / name


def seed_lines(name: str) -> list[list[str]]:
    """Non-comment lines of a seed list, each split on whitespace (comments stripped)."""
    rows = []
    for raw in seed_file(name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            rows.append(line.split())
    return rows
