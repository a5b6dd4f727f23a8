"""WhatsApp conversations with investors and their messages (schema ``whatsapp_service``).

``messages.message_sid`` is unique: Twilio may deliver a webhook more than once, and the second
delivery must find the first row instead of creating a duplicate. Outbound messages carry an
``idempotency_key`` (unique) so a job that runs twice sends each reply once; outbound rows are
the outbox: ``queued`` until sent, ``recorded`` when no Twilio credentials are configured.

A number linked to no user belongs to no organisation, so its messages are kept apart in
``unlinked_messages`` (the only table here without ``org_id``): nothing of any organisation
is ever stored with, or shown to, an unknown sender.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from domain.whatsapp.enums import (
    ConversationStatus,
    MessageDirection,
    MessageStatus,
    MessageType,
    ReportRequestStatus,
    UnlinkedReplyStatus,
)
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
    property_id: uuid.UUID | None = Field(
        default=None, description="the property last analysed: photos and voice notes go to it"
    )
    report_url: str | None = Field(default=None, max_length=500)
    status: ConversationStatus = Field(
        default=ConversationStatus.active,
        sa_type=String(50),  # type: ignore[call-overload]
    )
    last_inbound_at: dt.datetime | None = tstz(
        description="the investor's last message: the 24-hour session window runs from it"
    )
    completed_at: dt.datetime | None = tstz(description="when the session window closed")


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
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        unique=True,
        description="outbound: what this message answers, so a rerun sends it once",
    )
    reply_to_id: uuid.UUID | None = Field(
        default=None, description="outbound: the inbound message this answers"
    )
    content_sid: str | None = Field(
        default=None, max_length=64, description="outbound: the template sent instead of text"
    )
    attempts: int = Field(default=0, description="processing or sending attempts")
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    params: dict[str, Any] = jsonb(description="inbound: Twilio's form fields as received")
    sent_at: dt.datetime | None = tstz(description="outbound: accepted by Twilio or recorded")


class UnlinkedMessage(UUIDPrimaryKey, Timestamps, table=True):
    """A message from a number linked to no user, and the onboarding reply it got.

    No ``org_id``: the sender belongs to no organisation (yet).
    """

    __tablename__ = "unlinked_messages"
    __table_args__ = (
        Index("ix_unlinked_messages_phone_created", "phone_number", "created_at"),
        {"schema": SCHEMA},
    )

    message_sid: str = Field(max_length=64, unique=True, description="Twilio MessageSid")
    phone_number: str = Field(max_length=40, description="the sender, as Twilio gave it")
    content: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    num_media: int = Field(default=0)
    reply_status: UnlinkedReplyStatus = Field(
        default=UnlinkedReplyStatus.pending,
        sa_type=String(20),  # type: ignore[call-overload]
    )
    reply_content: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    reply_sid: str | None = Field(default=None, max_length=64)
    replied_at: dt.datetime | None = tstz()
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]


class ReportRequest(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A report someone asked for; its id is the report id ``POST /reports/generate`` returns.

    The PDF is rendered on the reports queue; ``report.ready`` fills in ``document_id``, and
    a conversation that asked gets the link then (once).
    """

    __tablename__ = "report_requests"
    __table_args__ = ({"schema": SCHEMA},)

    property_id: uuid.UUID | None = Field(default=None, index=True)
    conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.conversations.id", index=True, ondelete="CASCADE"
    )
    document_id: uuid.UUID | None = Field(
        default=None, index=True, description="documents.documents.id of the rendered PDF"
    )
    requested_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    status: ReportRequestStatus = Field(
        default=ReportRequestStatus.waiting,
        sa_type=String(20),  # type: ignore[call-overload]
    )
    sent_at: dt.datetime | None = tstz(description="when the link went to the conversation")
    failure: str | None = Field(
        default=None,
        sa_type=String(500),  # type: ignore[call-overload]
        description="why the report could not be made (status failed)",
    )
