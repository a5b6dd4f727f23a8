"""The run context: who is asking, through which channel, and what the tools may touch.

It is fixed before the model sees any text (the role decides the tool set), is never part of
the checkpointed state, and is how tools get their organisation, user and database session:
the model never chooses any of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.service import Principal
from store.db import session_scope

# The most model → tools → model rounds one turn may take.
DEFAULT_MAX_STEPS = 8

SessionFactory = Callable[[], AbstractContextManager[Session]]

# A principal for callers no user stands behind (an unknown phone, an eval): it sees nothing
# that is limited to a user (an investor's own deals) and may change nothing.
ANONYMOUS_USER_ID = uuid.UUID(int=0)


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call of a run: its name, arguments, whether it worked and what it returned."""

    name: str
    args: dict[str, Any]
    ok: bool
    summary: str

    def to_json(self) -> dict[str, Any]:
        """The record as stored in ``agent.runs.tool_calls``."""
        return {"name": self.name, "args": self.args, "ok": self.ok, "summary": self.summary}


@dataclass(frozen=True)
class Context:
    """Run-scoped dependencies of the graph (``graph.invoke(..., context=Context(...))``)."""

    org_id: uuid.UUID
    user_id: uuid.UUID | None
    role: Role
    channel: str
    thread_id: str
    email: str = "anonymous"
    session_factory: SessionFactory = session_scope
    on_progress: Callable[[str], None] | None = None
    max_steps: int = DEFAULT_MAX_STEPS

    @property
    def principal(self) -> Principal:
        """Who the services see: the user (or an anonymous principal) with the run's role."""
        return Principal(
            user_id=self.user_id or ANONYMOUS_USER_ID,
            org_id=self.org_id,
            role=self.role,
            email=self.email,
        )

    def progress(self, text: str) -> None:
        """Tell the channel what is happening ("looking up comps…"); never fails the run."""
        if self.on_progress is None:
            return
        try:
            self.on_progress(text)
        except Exception:  # noqa: BLE001 - a broken progress sink must not break the answer
            pass


def session_of(session: Session) -> SessionFactory:
    """A session factory that hands out one existing session (tests, a caller's transaction)."""

    @contextmanager
    def factory() -> Iterator[Session]:
        yield session

    return factory
