"""Database engine and sessions (SQLModel on PostgreSQL with psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlmodel import Session

from core.config import get_settings
from store import embedded


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme the URL was written with."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url() -> str:
    """The configured ``DATABASE_URL``, or the embedded server's URL (started on demand)."""
    settings = get_settings()
    if settings.database_url:
        return normalise_database_url(settings.database_url)
    return embedded.start_postgres(settings.data_path)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine (cached; ``reset_engine`` drops it)."""
    return create_engine(database_url(), pool_pre_ping=True, pool_size=10, max_overflow=10)


def _forget_parent_connections() -> None:
    """In a forked child (an RQ work horse), never reuse the parent's pooled connections."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def reset_engine() -> None:
    """Dispose of the cached engine (after settings change, or before a fork)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (jobs, CLI)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request; the route commits what it changes."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session
