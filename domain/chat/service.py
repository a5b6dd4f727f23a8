"""Team chat storage: conversations per user and organisation, and their messages.

Every function is scoped to an organisation and a user: a conversation of another user or
another organisation is "not found", never shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, tuple_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.paging import count_rows
from domain.chat.enums import ChatRole
from domain.chat.models import Conversation, ConversationCreate, Message
from store.base import utcnow

DEFAULT_TITLE = "New conversation"
TITLE_CHARS = 60
MAX_MESSAGE_CHARS = 4000
MAX_LIST_LIMIT = 200  # conversations (or messages) on one page of a list
DEFAULT_MESSAGE_LIMIT = 100  # messages on one page of a conversation's history


class ChatError(Exception):
    """Base class of the chat module's errors."""


class NotFoundError(ChatError, LookupError):
    """No such conversation for this user in this organisation."""


class InvalidMessageError(ChatError, ValueError):
    """A message that cannot be sent (empty or too long)."""


class InvalidCursorError(ChatError, ValueError):
    """A paging cursor (``before``) that is not a message of the conversation."""


@dataclass(frozen=True)
class MessagePage:
    """One page of a conversation's history (oldest first) and how many messages match."""

    messages: list[Message]
    total: int


def title_from(text: str) -> str:
    """A conversation title from its first question: one line, at most 60 characters."""
    line = " ".join(text.split())
    if len(line) <= TITLE_CHARS:
        return line or DEFAULT_TITLE
    return line[: TITLE_CHARS - 1].rstrip() + "…"


def create_conversation(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_in: ConversationCreate | None = None,
) -> Conversation:
    """Start a conversation for ``user_id``."""
    title = (conversation_in.title or "").strip() if conversation_in else ""
    conversation = Conversation(org_id=org_id, user_id=user_id, title=title or DEFAULT_TITLE)
    session.add(conversation)
    session.flush()
    return conversation


def get_conversation(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    """The user's conversation; ``NotFoundError`` for anyone else's."""
    conversation = session.exec(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.org_id == org_id,
            Conversation.user_id == user_id,
        )
    ).first()
    if conversation is None:
        raise NotFoundError(f"Conversation {conversation_id} not found")
    return conversation


def _conversations_query(*, org_id: uuid.UUID, user_id: uuid.UUID) -> SelectOfScalar[Conversation]:
    """The user's conversations (no order, no paging)."""
    return select(Conversation).where(
        Conversation.org_id == org_id, Conversation.user_id == user_id
    )


def list_conversations(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, limit: int = 100, offset: int = 0
) -> Sequence[Conversation]:
    """The user's conversations, most recently active first (one page)."""
    statement = _conversations_query(org_id=org_id, user_id=user_id).order_by(
        col(Conversation.updated_at).desc(), col(Conversation.id)
    )
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return session.exec(statement.limit(limit).offset(max(offset, 0))).all()


def count_conversations(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """How many conversations ``list_conversations`` would list over all pages."""
    return count_rows(session, _conversations_query(org_id=org_id, user_id=user_id))


def validate_text(text: str) -> str:
    """The question to send, stripped; ``InvalidMessageError`` when empty or too long."""
    stripped = text.strip()
    if not stripped:
        raise InvalidMessageError("The message is empty: type a question")
    if len(stripped) > MAX_MESSAGE_CHARS:
        raise InvalidMessageError(
            f"The message is {len(stripped)} characters; at most {MAX_MESSAGE_CHARS} are read"
        )
    return stripped


def add_message(
    *,
    session: Session,
    org_id: uuid.UUID,
    conversation: Conversation,
    role: ChatRole,
    content: str,
    tool_calls: list[dict[str, Any]] | None = None,
    report_document_ids: Sequence[uuid.UUID] = (),
    run_id: uuid.UUID | None = None,
    error: bool = False,
) -> Message:
    """Append a message to ``conversation`` (titling it from its first question)."""
    if conversation.org_id != org_id:
        raise NotFoundError(f"Conversation {conversation.id} not found")
    message = Message(
        org_id=org_id,
        conversation_id=conversation.id,
        role=role.value,
        content=content,
        tool_calls=list(tool_calls or []),
        report_document_ids=[str(d) for d in report_document_ids],
        run_id=run_id,
        error=error,
    )
    if role is ChatRole.user and conversation.message_count == 0:
        if conversation.title == DEFAULT_TITLE:
            conversation.title = title_from(content)
    conversation.message_count += 1
    conversation.updated_at = utcnow()
    session.add(message)
    session.add(conversation)
    session.flush()
    return message


def _messages_query(
    *, org_id: uuid.UUID, conversation_id: uuid.UUID, before: Message | None = None
) -> SelectOfScalar[Message]:
    """A conversation's messages, only those older than ``before`` when given (no order)."""
    statement = select(Message).where(
        Message.org_id == org_id, Message.conversation_id == conversation_id
    )
    if before is not None:
        # (created_at, id) orders every message, those sharing a timestamp included.
        statement = statement.where(
            tuple_(col(Message.created_at), col(Message.id))
            < tuple_(literal(before.created_at), literal(before.id))
        )
    return statement


def _cursor(
    *, session: Session, org_id: uuid.UUID, conversation_id: uuid.UUID, before: uuid.UUID
) -> Message:
    """The message ``before`` names; ``InvalidCursorError`` unless it is in the conversation."""
    message = session.exec(
        select(Message).where(
            Message.id == before,
            Message.org_id == org_id,
            Message.conversation_id == conversation_id,
        )
    ).first()
    if message is None:
        raise InvalidCursorError(
            f"before: message {before} is not a message of conversation {conversation_id}"
        )
    return message


def list_messages(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int = DEFAULT_MESSAGE_LIMIT,
    offset: int = 0,
    before: uuid.UUID | None = None,
) -> MessagePage:
    """One page of the conversation's messages, counted back from the newest.

    The page holds the ``limit`` newest messages older than the message ``before`` (the
    whole conversation when ``None``), skipping the ``offset`` newest of those, and lists
    them oldest first; ``total`` counts every message older than ``before``. Messages are
    ordered by (created_at, id), so paging back with ``before`` = the page's first message
    never repeats or skips one. ``NotFoundError`` for anyone else's conversation,
    ``InvalidCursorError`` when ``before`` is not one of its messages.
    """
    get_conversation(
        session=session, org_id=org_id, user_id=user_id, conversation_id=conversation_id
    )
    cursor = (
        None
        if before is None
        else _cursor(session=session, org_id=org_id, conversation_id=conversation_id, before=before)
    )
    statement = _messages_query(org_id=org_id, conversation_id=conversation_id, before=cursor)
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    newest_first = session.exec(
        statement.order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(limit)
        .offset(max(offset, 0))
    ).all()
    return MessagePage(messages=list(reversed(newest_first)), total=count_rows(session, statement))
