"""Team chat conversations and messages (schema ``chat``).

A conversation belongs to one user of one organisation; its agent thread is
``web:<conversation id>``. Messages are what the user asked and what the assistant answered
(with the tool calls behind the answer and the agent run that produced it), so the chat page
shows the history after a reload without reading the agent's checkpoints.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from domain.chat.enums import ChatRole
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb

SCHEMA = "chat"


class ConversationBase(SQLModel):
    """Fields of a conversation a caller may set."""

    title: str = Field(default="New conversation", max_length=200)


class ConversationCreate(SQLModel):
    """A new conversation (the title is taken from the first question when not given)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    title: str | None = Field(default=None, max_length=200)


class Conversation(UUIDPrimaryKey, OrgScoped, Timestamps, ConversationBase, table=True):
    """One chat conversation of one user."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_chat_conversations_org_user_updated", "org_id", "user_id", "updated_at"),
        {"schema": SCHEMA},
    )

    user_id: uuid.UUID = Field(description="auth.users.id of the owner")
    message_count: int = Field(default=0, ge=0)


class ConversationRead(ConversationBase):
    """A conversation as the API shows it."""

    id: uuid.UUID
    user_id: uuid.UUID
    message_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class MessageBase(SQLModel):
    """One message of a conversation."""

    role: str = Field(max_length=20, sa_type=String(20))  # type: ignore[call-overload]
    content: str = Field(sa_type=Text)  # type: ignore[call-overload]
    tool_calls: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{name, args, ok, summary}] behind an answer"
    )
    report_document_ids: list[str] = jsonb(default_factory=list)
    run_id: uuid.UUID | None = Field(default=None, description="agent.runs.id of an answer")
    error: bool = Field(default=False, description="the assistant could not answer")


class Message(UUIDPrimaryKey, OrgScoped, CreatedAt, MessageBase, table=True):
    """A stored chat message (append-only)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_chat_messages_conversation_created", "conversation_id", "created_at"),
        {"schema": SCHEMA},
    )

    conversation_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.conversations.id", ondelete="CASCADE")


class MessageRead(MessageBase):
    """A message as the API shows it."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    created_at: dt.datetime


__all__ = [
    "ChatRole",
    "Conversation",
    "ConversationCreate",
    "ConversationRead",
    "Message",
    "MessageRead",
]
