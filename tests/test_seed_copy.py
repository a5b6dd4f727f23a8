"""The repository's copy of the seed lists equals the shared originals (where they exist)."""

from __future__ import annotations

import pytest

from tests.seed import SHARED_SEED, seed_file


@pytest.mark.parametrize("name", ["events.txt", "endpoints.txt"])
def test_repo_copy_matches_shared_seed(name: str) -> None:
    copy = seed_file(name).read_text()
    assert copy.strip(), f"docs/seed/{name} is empty"
    shared = SHARED_SEED / name
    if shared.exists():  # beside a developer checkout; a bare clone has only the copy
        assert copy == shared.read_text(), f"docs/seed/{name} differs from {shared}"
