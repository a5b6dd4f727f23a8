"""One run at a time per conversation thread: a PostgreSQL advisory lock keyed by thread id.

Investors double-text: two messages two seconds apart start two runs on one thread, and two
runs on one LangGraph thread at once clobber each other's checkpoint. The lock is a
session-level advisory lock on a connection held for the run, so it serialises runs across
threads, processes and machines that share the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from store.db import get_engine

_NAMESPACE = b"dealdesk:agent-thread:"


def lock_key(thread_id: str) -> int:
    """The signed 64-bit advisory-lock key of a thread id (a sha256 prefix)."""
    digest = hashlib.sha256(_NAMESPACE + thread_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def thread_lock(thread_id: str) -> Iterator[None]:
    """Hold the thread's advisory lock for the block (waits while another run holds it)."""
    key = lock_key(thread_id)
    with get_engine().connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def is_locked(thread_id: str) -> bool:
    """True when some run holds the thread's lock right now."""
    key = lock_key(thread_id)
    with get_engine().connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return not got
