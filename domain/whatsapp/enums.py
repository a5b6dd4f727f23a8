"""Statuses, directions and kinds of WhatsApp conversations and messages."""

from enum import StrEnum


class ConversationStatus(StrEnum):
    """Where a conversation with an investor stands."""

    active = "active"
    analyzing = "analyzing"
    report_sent = "report_sent"
    completed = "completed"


class MessageDirection(StrEnum):
    """Whether we received or sent a message."""

    inbound = "inbound"
    outbound = "outbound"


class MessageType(StrEnum):
    """What a message carries."""

    text = "text"
    voice = "voice"
    image = "image"
    document = "document"


class MessageStatus(StrEnum):
    """Processing state of an inbound message, or delivery state of an outbound one."""

    received = "received"
    processing = "processing"
    processed = "processed"
    queued = "queued"
    # No Twilio credentials: kept in the outbox (shown by the API and `dealdesk outbox`).
    recorded = "recorded"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"
    undelivered = "undelivered"


class UnlinkedReplyStatus(StrEnum):
    """What happened to the onboarding reply owed to a number linked to no user."""

    pending = "pending"
    recorded = "recorded"
    sent = "sent"
    suppressed = "suppressed"
    failed = "failed"


class ReportRequestStatus(StrEnum):
    """Whether a requested report is rendered, and sent to the conversation that asked."""

    waiting = "waiting"
    ready = "ready"
    sent = "sent"
    failed = "failed"  # it cannot be made (the property is gone): ``failure`` says why
