"""WhatsApp conversations with investors and their messages (schema ``whatsapp_service``).

``messages.message_sid`` is unique: Twilio may deliver a webhook more than once, and the second
delivery must find the first row instead of creating a duplicate.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from domain.whatsapp.enums import ConversationStatus, MessageDirection, MessageStatus, MessageType
from store.base import OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "whatsapp_service"


class Conversation(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A thread with one investor's phone number, about one property analysis at a time."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_org_phone", "org_id", "phone_number"),
        {"schema": SCHEMA},
    )

    phone_number: str | None = Field(default=None, max_length=20, description="E.164")
    user_id: uuid.UUID | None = Field(default=None, index=True, description="auth.users.id")
    property_address: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    analysis_id: uuid.UUID | None = Field(default=None, index=True)
    report_url: str | None = Field(default=None, max_length=500)
    status: ConversationStatus = Field(
        default=ConversationStatus.active,
        sa_type=String(50),  # type: ignore[call-overload]
    )


class Message(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One inbound or outbound WhatsApp message."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_direction_status", "direction", "status"),
        {"schema": SCHEMA},
    )

    conversation_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.conversations.id", index=True, ondelete="CASCADE"
    )
    direction: MessageDirection = Field(sa_type=String(10))  # type: ignore[call-overload]
    message_type: MessageType = Field(default=MessageType.text, sa_type=String(20))  # type: ignore[call-overload]
    content: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    message_sid: str | None = Field(
        default=None, max_length=64, unique=True, description="Twilio MessageSid (idempotency)"
    )
    media: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{url, content_type, document_id}]"
    )
    status: MessageStatus = Field(default=MessageStatus.received, sa_type=String(20))  # type: ignore[call-overload]
    processed_at: dt.datetime | None = tstz(description="when the agent finished with it")
