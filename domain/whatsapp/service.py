"""WhatsApp conversations: inbound messages stored once, the outbox of replies, the 24-hour window.

The webhook hands ``accept_inbound`` Twilio's form fields. A sender linked to a user gets the
message stored on that user's organisation's conversation with the number; a sender linked to
no one gets it stored in ``unlinked_messages`` (owed an onboarding reply, and nothing else).
Either way the MessageSid is unique, so a delivery Twilio retries finds the first row and is
answered once.

Outbound messages are rows first (``queued``), keyed by what they answer
(``idempotency_key``), and only then sent: a job that runs twice finds its replies already
queued or sent. Without Twilio credentials a reply is ``recorded``: kept in this outbox,
shown by ``GET /conversations/{phoneNumber}`` and ``dealdesk outbox``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.paging import count_rows
from domain.auth import service as auth_service
from domain.auth.models import normalise_phone_number
from domain.whatsapp.enums import (
    ConversationStatus,
    MessageDirection,
    MessageStatus,
    MessageType,
    ReportRequestStatus,
    UnlinkedReplyStatus,
)
from domain.whatsapp.models import Conversation, Message, ReportRequest, UnlinkedMessage
from store.base import utcnow
from store.outbox import publish

# WhatsApp's limit on one message body.
MAX_BODY_CHARS = 1600
# Twilio sends at most ten media items per message.
MAX_MEDIA = 10
# WhatsApp lets a business answer freely for 24 hours after the user's last message.
SESSION_WINDOW = timedelta(hours=24)
# An unknown number gets at most one onboarding reply in this time.
ONBOARDING_COOLDOWN = timedelta(hours=1)
# Where the agent stops reading a very long message (the full text is kept).
MAX_AGENT_INPUT_CHARS = 2000
ERROR_MAX_CHARS = 2000

ONBOARDING_REPLY = (
    "Hi! This is dealdesk, the deal-analysis assistant of a real-estate investment team. "
    "This number is not linked to an account yet, so I can't look anything up for you. "
    "If you work with the team, ask an admin to add this phone number to your user; then "
    "text me a property address to get an analysis."
)


class WhatsAppError(Exception):
    """Base class of this module's errors."""


class InvalidInbound(WhatsAppError, ValueError):
    """A webhook post that cannot be a WhatsApp message (no sender, no MessageSid ...)."""


class ConversationNotFound(WhatsAppError, LookupError):
    """The organisation has no conversation with that number."""


# --- parsing (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class InboundMedia:
    """One media item of an inbound message, as Twilio described it."""

    url: str
    content_type: str | None


@dataclass(frozen=True)
class InboundMessage:
    """A parsed Twilio WhatsApp webhook."""

    message_sid: str
    phone_number: str
    body: str
    media: tuple[InboundMedia, ...] = ()
    profile_name: str | None = None
    params: dict[str, str] = field(default_factory=dict)


_SID = re.compile(r"^[A-Za-z]{2}[A-Za-z0-9]{10,62}$")


def sender_number(value: str | None) -> str:
    """``whatsapp:+13135550100`` → ``+13135550100``; ``InvalidInbound`` if it is not a number."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidInbound("the post has no From: it is not a WhatsApp message")
    raw = raw.removeprefix("whatsapp:")
    try:
        return normalise_phone_number(raw)
    except ValueError as exc:
        raise InvalidInbound(f"From is not a phone number in E.164 form: {raw[:40]!r}") from exc


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    """Check and parse Twilio's form fields (MessageSid, From, Body, NumMedia, MediaUrlN ...)."""
    sid = (params.get("MessageSid") or params.get("SmsMessageSid") or "").strip()
    if not _SID.match(sid):
        raise InvalidInbound("the post has no valid MessageSid")
    phone = sender_number(params.get("From"))
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError as exc:
        raise InvalidInbound("NumMedia is not a number") from exc
    media = []
    for index in range(max(0, min(num_media, MAX_MEDIA))):
        url = (params.get(f"MediaUrl{index}") or "").strip()
        if url:
            media.append(InboundMedia(url, params.get(f"MediaContentType{index}")))
    return InboundMessage(
        message_sid=sid,
        phone_number=phone,
        body=params.get("Body") or "",
        media=tuple(media),
        profile_name=params.get("ProfileName"),
        params={k: v for k, v in params.items() if len(k) <= 64},
    )


def message_type_of(media: tuple[InboundMedia, ...] | list[InboundMedia]) -> MessageType:
    """What an inbound message mostly carries: voice, image, another file, or text."""
    types = [(m.content_type or "").lower() for m in media]
    if any(t.startswith("audio/") for t in types):
        return MessageType.voice
    if any(t.startswith("image/") for t in types):
        return MessageType.image
    return MessageType.document if types else MessageType.text


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def _units(text: str) -> list[tuple[str, str]]:
    """Sentences with the separator that came before each (a line break or a space)."""
    units: list[tuple[str, str]] = []
    separator = ""
    for line in text.split("\n"):
        sentences = [p.strip() for p in _SENTENCE_END.split(line) if p.strip()]
        if not sentences:
            separator = "\n\n" if units else ""
            continue
        for position, sentence in enumerate(sentences):
            units.append((sentence, separator if position == 0 else " "))
        separator = "\n"
    return units


def split_message(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Split text into parts of at most ``limit`` characters, at sentence boundaries.

    Text that fits is returned as it is (line breaks kept). Longer text is cut between
    sentences (keeping the line breaks inside each part); a sentence longer than the limit is
    cut at the last space before it (or hard, for one unbroken word). Empty text: no parts.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece, separator in _units(text):
        while len(piece) > limit:
            cut = piece.rfind(" ", 0, limit + 1)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(piece[:cut].rstrip())
            piece = piece[cut:].lstrip()
        if not piece:
            continue
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


@dataclass(frozen=True)
class AgentInput:
    """What the agent reads from a message, and a note for the investor when it was cut."""

    text: str
    note: str | None


def agent_input(body: str, limit: int = MAX_AGENT_INPUT_CHARS) -> AgentInput:
    """The message text for the agent: trimmed, cut to ``limit`` characters with a note."""
    text = body.strip()
    if len(text) <= limit:
        return AgentInput(text, None)
    return AgentInput(
        text[:limit],
        f"Your message was {len(text):,} characters long; I read the first {limit:,}.",
    )


def spoken_quantity(quantity: Decimal, unit: str | None = None) -> str:
    """A heard quantity as an investor reads it: ``20 squares``, ``1,200 sqft``, ``x12``.

    ``Decimal.normalize()`` alone writes 20.00 as ``2E+1``; this never uses an exponent.
    """
    shown = f"{quantity.normalize():,f}"
    if not unit:
        return f"x{shown}"
    if unit == "square" and quantity != 1:
        unit = "squares"
    return f"{shown} {unit}"


def window_open(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """True while WhatsApp's 24-hour session window since the last inbound message is open."""
    last = conversation.last_inbound_at
    return last is not None and (now or utcnow()) - last < SESSION_WINDOW


def thread_id(phone_number: str) -> str:
    """The agent's conversation thread for a WhatsApp number."""
    return f"whatsapp:{phone_number}"


# --- inbound -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptedInbound:
    """Where an inbound message was stored and whether this delivery stored it."""

    message_id: uuid.UUID
    linked: bool
    created: bool
    org_id: uuid.UUID | None = None


def _existing(session: Session, sid: str) -> AcceptedInbound | None:
    """The row an earlier delivery of this MessageSid stored, if any."""
    message = session.exec(select(Message).where(Message.message_sid == sid)).first()
    if message is not None:
        return AcceptedInbound(message.id, True, False, message.org_id)
    unlinked = session.exec(
        select(UnlinkedMessage).where(UnlinkedMessage.message_sid == sid)
    ).first()
    if unlinked is not None:
        return AcceptedInbound(unlinked.id, False, False, None)
    return None


def get_or_create_conversation(
    *,
    session: Session,
    org_id: uuid.UUID,
    phone_number: str,
    user_id: uuid.UUID | None = None,
) -> Conversation:
    """The organisation's conversation with a number, created on its first message."""
    conversation = session.exec(
        select(Conversation)
        .where(Conversation.org_id == org_id, Conversation.phone_number == phone_number)
        .order_by(col(Conversation.created_at))
    ).first()
    if conversation is None:
        conversation = Conversation(org_id=org_id, phone_number=phone_number, user_id=user_id)
        session.add(conversation)
        session.flush()
    return conversation


def accept_inbound(
    *, session: Session, inbound: InboundMessage, now: datetime | None = None
) -> AcceptedInbound:
    """Store an inbound message once (deduplicated on MessageSid); flushes, does not commit."""
    now = now or utcnow()
    existing = _existing(session, inbound.message_sid)
    if existing is not None:
        return existing
    user = auth_service.get_user_by_phone(session=session, phone_number=inbound.phone_number)
    if user is None or not user.is_active:
        row_id = session.execute(
            insert(UnlinkedMessage)
            .values(
                id=uuid.uuid4(),
                message_sid=inbound.message_sid,
                phone_number=inbound.phone_number,
                content=inbound.body,
                num_media=len(inbound.media),
                reply_status=UnlinkedReplyStatus.pending.value,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_sid"])
            .returning(col(UnlinkedMessage.id))
        ).scalar_one_or_none()
        if row_id is None:  # a concurrent delivery won the race
            return _existing(session, inbound.message_sid) or AcceptedInbound(
                uuid.uuid4(), False, False
            )
        return AcceptedInbound(row_id, False, True, None)

    conversation = get_or_create_conversation(
        session=session, org_id=user.org_id, phone_number=inbound.phone_number, user_id=user.id
    )
    media = [{"url": m.url, "content_type": m.content_type} for m in inbound.media]
    message_id = session.execute(
        insert(Message)
        .values(
            id=uuid.uuid4(),
            org_id=user.org_id,
            conversation_id=conversation.id,
            direction=MessageDirection.inbound.value,
            message_type=message_type_of(inbound.media).value,
            content=inbound.body,
            message_sid=inbound.message_sid,
            media=media,
            status=MessageStatus.received.value,
            attempts=0,
            params=inbound.params,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["message_sid"])
        .returning(col(Message.id))
    ).scalar_one_or_none()
    if message_id is None:
        return _existing(session, inbound.message_sid) or AcceptedInbound(
            uuid.uuid4(), True, False, user.org_id
        )
    conversation.last_inbound_at = now
    if conversation.user_id is None:
        conversation.user_id = user.id
    if conversation.status == ConversationStatus.completed:
        conversation.status = ConversationStatus.active
        conversation.completed_at = None
    session.add(conversation)
    session.flush()
    return AcceptedInbound(message_id, True, True, user.org_id)


def get_message(*, session: Session, message_id: uuid.UUID) -> Message | None:
    """A message by id (jobs receive ids; the row carries its organisation)."""
    return session.get(Message, message_id)


def get_unlinked(*, session: Session, message_id: uuid.UUID) -> UnlinkedMessage | None:
    """A message from an unlinked number by id."""
    return session.get(UnlinkedMessage, message_id)


def claim_inbound(*, session: Session, message_id: uuid.UUID) -> Message | None:
    """Lock an inbound message for processing; None when it is done, failed or missing."""
    message = session.exec(
        select(Message).where(Message.id == message_id).with_for_update()
    ).first()
    if message is None or message.direction != MessageDirection.inbound:
        return None
    if message.status in (MessageStatus.processed, MessageStatus.failed):
        return None
    message.status = MessageStatus.processing
    message.attempts += 1
    session.add(message)
    session.flush()
    return message


def finish_inbound(
    *, session: Session, message: Message, error: str | None = None, now: datetime | None = None
) -> Message:
    """Mark an inbound message processed (or failed, with what went wrong)."""
    message.status = MessageStatus.failed if error else MessageStatus.processed
    message.error = error[:ERROR_MAX_CHARS] if error else None
    message.processed_at = now or utcnow()
    session.add(message)
    session.flush()
    return message


def note_inbound_error(*, session: Session, message: Message, error: str) -> None:
    """Keep the latest error on a message that will be retried."""
    message.error = error[:ERROR_MAX_CHARS]
    session.add(message)
    session.flush()


def set_media(*, session: Session, message: Message, index: int, **values: Any) -> None:
    """Update what is known about one media item (its document id, a refusal ...)."""
    media = [dict(item) for item in message.media]
    media[index] = {**media[index], **values}
    message.media = media
    session.add(message)
    session.flush()


# --- conversations -----------------------------------------------------------------------


def get_conversation(
    *, session: Session, org_id: uuid.UUID, phone_number: str
) -> Conversation | None:
    """The organisation's conversation with a number (E.164), or None."""
    return session.exec(
        select(Conversation)
        .where(Conversation.org_id == org_id, Conversation.phone_number == phone_number)
        .order_by(col(Conversation.created_at))
    ).first()


def get_conversation_by_id(*, session: Session, conversation_id: uuid.UUID) -> Conversation | None:
    """A conversation by id (for jobs, which carry ids)."""
    return session.get(Conversation, conversation_id)


def _messages_query(*, org_id: uuid.UUID, conversation_id: uuid.UUID) -> SelectOfScalar[Message]:
    """A conversation's messages (no order, no paging)."""
    return select(Message).where(
        Message.org_id == org_id, Message.conversation_id == conversation_id
    )


def list_messages(
    *,
    session: Session,
    org_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[Message]:
    """A conversation's messages, oldest first: the ``limit`` newest after the ``offset`` newest.

    Pages back from the newest message, as the team chat's history does; messages are ordered
    by (created_at, id), so those sharing a timestamp are never repeated or skipped. Without a
    limit: every message (from the ``offset`` newest back).
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    if offset < 0:
        raise ValueError("offset must be 0 or more")
    statement = (
        _messages_query(org_id=org_id, conversation_id=conversation_id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .offset(offset)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(reversed(session.exec(statement).all()))


def count_messages(*, session: Session, org_id: uuid.UUID, conversation_id: uuid.UUID) -> int:
    """How many messages ``list_messages`` pages through (the whole conversation)."""
    return count_rows(session, _messages_query(org_id=org_id, conversation_id=conversation_id))


# --- outbound ----------------------------------------------------------------------------


def queue_reply(
    *,
    session: Session,
    conversation: Conversation,
    body: str,
    key: str,
    reply_to: uuid.UUID | None = None,
    media_urls: list[str] | None = None,
    template_sid: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue one outbound message (once per ``key``); outside the window, as the template.

    ``body`` must fit one WhatsApp message (split longer text with ``split_message``).
    """
    existing = session.exec(select(Message).where(Message.idempotency_key == key)).first()
    if existing is not None:
        return existing
    if len(body) > MAX_BODY_CHARS:
        raise ValueError(f"a WhatsApp message is at most {MAX_BODY_CHARS} characters")
    content_sid = None if window_open(conversation, now=now) else template_sid
    message = Message(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        direction=MessageDirection.outbound,
        message_type=MessageType.document if media_urls else MessageType.text,
        content=body,
        media=[{"url": url, "content_type": "application/pdf"} for url in media_urls or []],
        status=MessageStatus.queued,
        idempotency_key=key,
        reply_to_id=reply_to,
        content_sid=content_sid,
    )
    session.add(message)
    session.flush()
    return message


def reply_exists(*, session: Session, key: str) -> bool:
    """True when an outbound message with this idempotency key was queued already."""
    return (
        session.exec(select(Message.id).where(Message.idempotency_key == key)).first() is not None
    )


def queue_text(
    *,
    session: Session,
    conversation: Conversation,
    text: str,
    key: str,
    reply_to: uuid.UUID | None = None,
    template_sid: str | None = None,
) -> list[Message]:
    """Queue a text of any length as WhatsApp-sized parts (keys ``key:0``, ``key:1`` ...)."""
    return [
        queue_reply(
            session=session,
            conversation=conversation,
            body=part,
            key=f"{key}:{index}",
            reply_to=reply_to,
            template_sid=template_sid,
        )
        for index, part in enumerate(split_message(text))
    ]


def claim_outbound(
    *, session: Session, message_id: uuid.UUID, stale_before: datetime | None = None
) -> Message | None:
    """Lock a queued (or failed) outbound message and mark it ``processing`` while it is sent.

    One left ``processing`` since before ``stale_before`` (its sender died) is claimed again.
    Returns None when the message is sent, recorded, being sent, or not outbound.
    """
    message = session.exec(
        select(Message).where(Message.id == message_id).with_for_update(skip_locked=True)
    ).first()
    if message is None or message.direction != MessageDirection.outbound:
        return None
    stale = (
        message.status == MessageStatus.processing
        and stale_before is not None
        and message.updated_at < stale_before
    )
    if message.status not in (MessageStatus.queued, MessageStatus.failed) and not stale:
        return None
    message.status = MessageStatus.processing
    message.attempts += 1
    message.updated_at = utcnow()
    session.add(message)
    session.flush()
    return message


def mark_outbound(
    *,
    session: Session,
    message: Message,
    status: MessageStatus,
    sid: str | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Record what sending did: sent (with Twilio's SID), recorded, or failed (with why)."""
    message.status = status
    if sid:
        message.message_sid = sid
    message.error = error[:ERROR_MAX_CHARS] if error else None
    if status in (MessageStatus.sent, MessageStatus.recorded):
        message.sent_at = now or utcnow()
    session.add(message)
    session.flush()
    return message


@dataclass(frozen=True)
class OutboxEntry:
    """One outbound WhatsApp message, for the outbox listing."""

    id: uuid.UUID
    created_at: datetime
    to: str
    status: str
    body: str | None
    media_urls: list[str]
    content_sid: str | None
    org_id: uuid.UUID | None
    error: str | None


def list_outbox(
    *,
    session: Session,
    org_id: uuid.UUID | None = None,
    phone_number: str | None = None,
    limit: int = 20,
) -> list[OutboxEntry]:
    """Outbound messages newest first (an org's, or all with onboarding replies for the CLI)."""
    query = (
        select(Message, Conversation.phone_number)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(Message.direction == MessageDirection.outbound)
    )
    if org_id is not None:
        query = query.where(Message.org_id == org_id)
    if phone_number is not None:
        query = query.where(Conversation.phone_number == phone_number)
    rows = session.exec(query.order_by(col(Message.created_at).desc()).limit(limit)).all()
    entries = [
        OutboxEntry(
            id=m.id,
            created_at=m.created_at,
            to=phone or "",
            status=str(m.status),
            body=m.content,
            media_urls=[str(item.get("url")) for item in m.media if item.get("url")],
            content_sid=m.content_sid,
            org_id=m.org_id,
            error=m.error,
        )
        for m, phone in rows
    ]
    if org_id is None:
        unlinked = select(UnlinkedMessage).where(col(UnlinkedMessage.reply_content).is_not(None))
        if phone_number is not None:
            unlinked = unlinked.where(UnlinkedMessage.phone_number == phone_number)
        for u in session.exec(
            unlinked.order_by(col(UnlinkedMessage.created_at).desc()).limit(limit)
        ).all():
            entries.append(
                OutboxEntry(
                    id=u.id,
                    created_at=u.replied_at or u.updated_at,
                    to=u.phone_number,
                    status=str(u.reply_status),
                    body=u.reply_content,
                    media_urls=[],
                    content_sid=None,
                    org_id=None,
                    error=u.error,
                )
            )
        entries.sort(key=lambda e: e.created_at, reverse=True)
    return entries[:limit]


# --- unknown numbers ---------------------------------------------------------------------


def onboarding_due(
    *, session: Session, unlinked: UnlinkedMessage, now: datetime | None = None
) -> bool:
    """True unless this number already got an onboarding reply within the cooldown."""
    now = now or utcnow()
    recent = session.exec(
        select(UnlinkedMessage.id).where(
            UnlinkedMessage.phone_number == unlinked.phone_number,
            UnlinkedMessage.id != unlinked.id,
            col(UnlinkedMessage.reply_status).in_(
                [UnlinkedReplyStatus.sent.value, UnlinkedReplyStatus.recorded.value]
            ),
            col(UnlinkedMessage.replied_at) > now - ONBOARDING_COOLDOWN,
        )
    ).first()
    return recent is None


def mark_unlinked(
    *,
    session: Session,
    unlinked: UnlinkedMessage,
    status: UnlinkedReplyStatus,
    reply: str | None = None,
    sid: str | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record what became of the onboarding reply owed to an unlinked number."""
    unlinked.reply_status = status
    unlinked.reply_content = reply
    unlinked.reply_sid = sid
    unlinked.error = error[:ERROR_MAX_CHARS] if error else None
    if status in (UnlinkedReplyStatus.sent, UnlinkedReplyStatus.recorded):
        unlinked.replied_at = now or utcnow()
    session.add(unlinked)
    session.flush()


# --- work the sweeper picks up -----------------------------------------------------------


@dataclass(frozen=True)
class StaleWork:
    """Accepted work whose job never finished: ids to enqueue again."""

    inbound: list[uuid.UUID]
    outbound: list[uuid.UUID]
    unlinked: list[uuid.UUID]


def stale_work(
    *,
    session: Session,
    older_than: timedelta,
    outbound_older_than: timedelta | None = None,
    now: datetime | None = None,
    limit: int = 200,
) -> StaleWork:
    """Inbound not processed, outbound not sent, onboarding replies not given, for too long.

    Outbound rows have their own, shorter threshold: event handlers queue replies (a report
    link) without sending them, and the sweeper is what sends those.
    """
    now = now or utcnow()
    cutoff = now - older_than
    outbound_cutoff = now - (older_than if outbound_older_than is None else outbound_older_than)
    inbound = session.exec(
        select(Message.id)
        .where(
            Message.direction == MessageDirection.inbound,
            col(Message.status).in_([MessageStatus.received, MessageStatus.processing]),
            col(Message.updated_at) < cutoff,
        )
        .order_by(col(Message.created_at))
        .limit(limit)
    ).all()
    outbound = session.exec(
        select(Message.id)
        .where(
            Message.direction == MessageDirection.outbound,
            col(Message.status).in_([MessageStatus.queued, MessageStatus.processing]),
            col(Message.updated_at) < outbound_cutoff,
        )
        .order_by(col(Message.created_at))
        .limit(limit)
    ).all()
    unlinked = session.exec(
        select(UnlinkedMessage.id)
        .where(
            UnlinkedMessage.reply_status == UnlinkedReplyStatus.pending,
            col(UnlinkedMessage.updated_at) < cutoff,
        )
        .limit(limit)
    ).all()
    return StaleWork(list(inbound), list(outbound), list(unlinked))


def touch(*, session: Session, message: Message, now: datetime | None = None) -> None:
    """Note that a job picked the message up again (the sweeper measures staleness by it)."""
    message.updated_at = now or utcnow()
    session.add(message)
    session.flush()


def close_idle_conversations(
    *, session: Session, now: datetime | None = None, limit: int = 200
) -> list[Conversation]:
    """Complete conversations whose 24-hour window has closed; publish conversation.completed.

    A conversation is *completed* when its investor has sent nothing for 24 hours (WhatsApp's
    session window closed); a later message reopens it.
    """
    now = now or utcnow()
    idle = session.exec(
        select(Conversation)
        .where(
            Conversation.status != ConversationStatus.completed,
            col(Conversation.last_inbound_at) < now - SESSION_WINDOW,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for conversation in idle:
        conversation.status = ConversationStatus.completed
        conversation.completed_at = now
        session.add(conversation)
        publish(
            session,
            org_id=conversation.org_id,
            name="conversation.completed",
            payload={
                "conversation_id": str(conversation.id),
                "user_id": str(conversation.user_id) if conversation.user_id else None,
                "reason": "session window closed (no message for 24 hours)",
                "last_inbound_at": conversation.last_inbound_at,
                "report_url_sent": conversation.report_url is not None,
            },
        )
    session.flush()
    return list(idle)


# --- reports -----------------------------------------------------------------------------

# Replaced by the signed link when the message is sent (links are signed at send time, so
# they are valid for their whole lifetime from then on).
REPORT_URL_PLACEHOLDER = "{report_url}"
# A report that could not be queued (``channels.reports_bridge.ReportUnavailable``: Redis was
# down) can be asked for again after this long: the REST answer's Retry-After, and the wait
# the WhatsApp reply names.
REPORT_RETRY_AFTER_S = 60


def request_report(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID | None,
    requested_by: uuid.UUID | None = None,
    conversation: Conversation | None = None,
    report_id: uuid.UUID | None = None,
) -> ReportRequest:
    """Record a report request (its id is the report id); once per ``report_id``."""
    if report_id is not None:
        existing = session.get(ReportRequest, report_id)
        if existing is not None and existing.org_id == org_id:
            return existing
    request = ReportRequest(
        id=report_id or uuid.uuid4(),
        org_id=org_id,
        property_id=property_id,
        conversation_id=conversation.id if conversation else None,
        requested_by=requested_by,
    )
    session.add(request)
    session.flush()
    return request


def get_report_request(
    *, session: Session, org_id: uuid.UUID, report_id: uuid.UUID
) -> ReportRequest | None:
    """The organisation's report request with this id, or None."""
    request = session.get(ReportRequest, report_id)
    return request if request is not None and request.org_id == org_id else None


def report_failed(
    *,
    session: Session,
    org_id: uuid.UUID,
    report_id: uuid.UUID,
    reason: str,
    template_sid: str | None = None,
    retry_after_s: int | None = None,
) -> ReportRequest | None:
    """A report cannot be made: mark its request failed, and tell the conversation that asked.

    Only a request still waiting changes (a rendered or sent one keeps its PDF); the message
    is queued once (keyed by the request), so a second call changes nothing. None when the
    organisation has no such request. ``retry_after_s``: the failure is passing (the job queue
    was unreachable), and the message says when to ask again.
    """
    request = session.exec(
        select(ReportRequest)
        .where(ReportRequest.org_id == org_id, ReportRequest.id == report_id)
        .with_for_update()
    ).first()
    if request is None or request.status != ReportRequestStatus.waiting:
        return request
    request.status = ReportRequestStatus.failed
    request.failure = reason[:500]
    session.add(request)
    conversation = (
        session.get(Conversation, request.conversation_id) if request.conversation_id else None
    )
    if conversation is not None:
        about = f" for {conversation.property_address}" if conversation.property_address else ""
        text = (
            f"Sorry, I couldn't make the report{about} just now ({reason}). Please try again "
            f"in {_wait_text(retry_after_s)}."
            if retry_after_s
            else f"Sorry, I couldn't make the report{about}: {reason}. Send the address again "
            "if you still need it."
        )
        queue_text(
            session=session,
            conversation=conversation,
            text=text,
            key=f"report-failed:{request.id}",
            template_sid=template_sid,
        )
    session.flush()
    return request


def _wait_text(seconds: int) -> str:
    """A wait in words for a reply: "about a minute", "about 5 minutes", "a few seconds"."""
    if seconds < 45:
        return "a few seconds" if seconds < 10 else f"about {seconds} seconds"
    minutes = max(1, round(seconds / 60))
    return "about a minute" if minutes == 1 else f"about {minutes} minutes"


def queue_report_link(
    *,
    session: Session,
    conversation: Conversation,
    document_id: uuid.UUID,
    key: str,
    reply_to: uuid.UUID | None = None,
    template_sid: str | None = None,
    address: str | None = None,
) -> Message:
    """Queue the report's link (as media and in the text) once; publish report.generated."""
    already = session.exec(select(Message).where(Message.idempotency_key == key)).first()
    if already is not None:
        return already
    label = f"Your report for {address}" if address else "Your property report"
    message = queue_reply(
        session=session,
        conversation=conversation,
        body=f"{label} (PDF): {REPORT_URL_PLACEHOLDER}",
        key=key,
        reply_to=reply_to,
        template_sid=template_sid,
    )
    message.message_type = MessageType.document
    message.media = [{"report_id": str(document_id), "content_type": "application/pdf"}]
    conversation.status = ConversationStatus.report_sent
    session.add_all([message, conversation])
    for request in session.exec(
        select(ReportRequest).where(
            ReportRequest.conversation_id == conversation.id,
            col(ReportRequest.status) != ReportRequestStatus.sent,
            (col(ReportRequest.document_id) == document_id)
            | (col(ReportRequest.id) == document_id),
        )
    ).all():
        request.status = ReportRequestStatus.sent
        request.document_id = document_id
        request.sent_at = utcnow()
        session.add(request)
    publish(
        session,
        org_id=conversation.org_id,
        name="report.generated",
        payload={
            "report_id": str(document_id),
            "conversation_id": str(conversation.id),
            "message_id": str(message.id),
            "channel": "whatsapp",
        },
    )
    session.flush()
    return message


def resolve_report_link(*, session: Session, message: Message, url: str) -> None:
    """Put the signed link into a queued report message (text and media) before sending."""
    if message.content:
        message.content = message.content.replace(REPORT_URL_PLACEHOLDER, url)
    message.media = [
        {**item, "url": url} if item.get("report_id") and not item.get("url") else item
        for item in message.media
    ]
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is not None:
        conversation.report_url = url[:500]
        session.add(conversation)
    session.add(message)
    session.flush()


def report_ready(
    *,
    session: Session,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    request_id: uuid.UUID | None = None,
    property_id: uuid.UUID | None = None,
    template_sid: str | None = None,
) -> list[Message]:
    """A report is stored: note it on its request(s) and queue its link to those who asked.

    Requests match by report id, by document id, or (a request that named no report, e.g.
    the agent's report tool still rendering) by property. Idempotent: a request already
    sent is left alone, and each link is queued once. A document that is not this
    organisation's (unknown, or another organisation's) is sent to nobody.
    """
    from domain.documents import service as documents_service

    if (
        documents_service.get_document(session=session, org_id=org_id, document_id=document_id)
        is None
    ):
        return []
    match = col(ReportRequest.document_id) == document_id
    if request_id is not None:
        match = match | (col(ReportRequest.id) == request_id)
    if property_id is not None:
        match = match | (
            (col(ReportRequest.property_id) == property_id)
            & col(ReportRequest.document_id).is_(None)
            & (col(ReportRequest.status) == ReportRequestStatus.waiting)
        )
    requests = session.exec(
        select(ReportRequest).where(ReportRequest.org_id == org_id, match).with_for_update()
    ).all()
    queued: list[Message] = []
    for request in requests:
        request.document_id = document_id
        if request.status == ReportRequestStatus.waiting:
            request.status = ReportRequestStatus.ready
        session.add(request)
        if request.conversation_id is None or request.status == ReportRequestStatus.sent:
            continue
        conversation = session.get(Conversation, request.conversation_id)
        if conversation is None:
            continue
        queued.append(
            queue_report_link(
                session=session,
                conversation=conversation,
                document_id=document_id,
                key=f"report:{conversation.id}:{request.id}",
                template_sid=template_sid,
                address=conversation.property_address,
            )
        )
    session.flush()
    return queued


def publish_analysis_requested(
    *,
    session: Session,
    conversation: Conversation,
    inbound_id: uuid.UUID,
    address: str | None,
    property_id: uuid.UUID | None,
) -> None:
    """Announce that an investor asked for a property analysis on WhatsApp.

    The conversation keeps the address of the property found (as the analysis and the PDF
    write it), not the words typed ("825 ridgewood ave ames"), so the report link's label and
    later replies name the same house as the analysis.
    """
    if property_id is not None:
        from domain.analysis import service as analysis_service
        from domain.property import service as property_service

        prop = property_service.get(
            session=session, org_id=conversation.org_id, property_id=property_id
        )
        if prop is not None:
            address = analysis_service.address_of(prop)
    if address:
        conversation.property_address = address
    conversation.status = ConversationStatus.analyzing
    session.add(conversation)
    publish(
        session,
        org_id=conversation.org_id,
        name="analysis.requested",
        payload={
            "conversation_id": str(conversation.id),
            "message_id": str(inbound_id),
            "user_id": str(conversation.user_id) if conversation.user_id else None,
            "address": address,
            "property_id": str(property_id) if property_id else None,
            "channel": "whatsapp",
        },
    )
    session.flush()
