"""Agent test fixtures: the committed world (once per module) and helpers to run turns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.agent.world import World, build_world
from tests.conftest import truncate_all


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """The committed world for this module's tests; every table is truncated afterwards."""
    from store.db import get_engine

    engine: Engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        built = build_world(session)
    yield built
    truncate_all(engine)


@pytest.fixture(scope="session", autouse=True)
def _close_checkpointer() -> Iterator[None]:
    """Close the agent's checkpointer pool before the test session stops PostgreSQL."""
    yield
    from agent.graph import close_checkpointer

    close_checkpointer()
