"""The ``agent.runs`` table: one row per agent turn, with its prompt hash and model.

Every turn of every channel is recorded: which conversation (``thread_id``), who asked and
through which channel, the text in, the tool calls made (name, arguments, ok, summary), the
reply out, how long it took, the tokens the model reported (when it reports them), the
prompt file and its sha256, the model name (or ``offline-planner``) and any error. Evals and
regressions are traced through these rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from store.base import CreatedAt, OrgScoped, UUIDPrimaryKey, jsonb

SCHEMA = "agent"


class AgentRunBase(SQLModel):
    """What one agent turn did."""

    thread_id: str = Field(max_length=200, description="the conversation, e.g. whatsapp:+1313...")
    channel: str = Field(max_length=20, description="whatsapp, web, cli or eval")
    user_id: uuid.UUID | None = Field(default=None, description="auth.users.id of the asker")
    role: str = Field(max_length=20, sa_type=String(20))  # type: ignore[call-overload]
    input_text: str = Field(sa_type=Text)  # type: ignore[call-overload]
    media_document_ids: list[str] = jsonb(default_factory=list)
    tool_calls: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{name, args, ok, summary}] in call order"
    )
    output_text: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    report_document_ids: list[str] = jsonb(default_factory=list)
    latency_ms: int = Field(default=0, ge=0)
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    prompt_name: str = Field(max_length=100)
    prompt_sha256: str = Field(max_length=64)
    model: str = Field(max_length=200, description='the model name, or "offline-planner"')
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]


class AgentRun(UUIDPrimaryKey, OrgScoped, CreatedAt, AgentRunBase, table=True):
    """One recorded agent turn."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_org_thread_created", "org_id", "thread_id", "created_at"),
        {"schema": SCHEMA},
    )


class AgentRunRead(AgentRunBase):
    """An agent run as the API and CLI show it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
