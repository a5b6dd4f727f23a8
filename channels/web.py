"""Team chat: the chat page at ``/``, the embeddable ``/widget.js`` and the chat API.

A signed-in team member (or an investor, for their own data: the agent's role policy applies)
asks a question with ``POST /api/v1/chat/{conversation_id}/messages``; the answer streams back
as server-sent events over that same response:

- ``message``: the stored question (``MessageRead``), at once;
- ``progress``: ``{"text": "looking up comps…"}`` as the agent's tools run;
- ``reply``: the stored answer (``MessageRead``, with the tool calls behind it);
- ``error``: ``{"detail": ...}`` when the answer could not be stored;
- ``done``: the end of the stream.

The question is stored before the agent runs and the answer is stored by the worker thread
even when the browser goes away, so the history (``GET /api/v1/chat/conversations``,
``GET /api/v1/chat/{conversation_id}/messages``, paged back from the newest with ``limit`` and
``before``) survives reloads. Contractors are refused.
The page and the widget are plain HTML/CSS/JS from ``channels/static`` (nothing is fetched
from the internet) and render every message as text: tables and links are built as DOM
nodes, never from model text as HTML.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from agent.runner import TurnRequest, TurnResult, run_turn
from core.deps import SessionDep, require_roles
from core.paging import MAX_OFFSET, Offset, send_total, total_count
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import ConversationCreate, ConversationRead, MessageRead
from store.db import session_scope

logger = logging.getLogger(__name__)

router = APIRouter()

STATIC_DIR = Path(__file__).parent / "static"
# Files the page and the widget load from /chat/assets/{name}; nothing else is served.
JAVASCRIPT = "application/javascript; charset=utf-8"
ASSETS = {"chat.css": "text/css; charset=utf-8", "chat.js": JAVASCRIPT}
CHAT_PREFIX = "/api/v1/chat"
# The page runs only its own files: no inline script, nothing from another origin.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# A comment line keeps proxies from closing a quiet stream while a slow tool runs.
KEEPALIVE_SECONDS = 15.0
# Answers still being worked on; held so a closed stream does not let the task be collected.
_RUNNING: set[asyncio.Task[None]] = set()

ChatUser = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]
"""Admins, analysts and investors may chat; contractors get 403."""


class ChatMessageIn(BaseModel):
    """A question for the assistant."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1, max_length=chat_service.MAX_MESSAGE_CHARS, examples=["P&L for deal 42"]
    )


def _not_found(error: chat_service.NotFoundError) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error))


def sse(event: str, data: Any) -> str:
    """One server-sent event: its name and its data as a JSON line."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


# --- the page and the widget ------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def chat_page() -> FileResponse:
    """The team chat page (sign in, conversations, streaming answers)."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> Response:
    """The embeddable widget: ``<script src="/widget.js"></script>`` adds a chat panel."""
    source = (STATIC_DIR / "chat.js").read_text() + "\n" + (STATIC_DIR / "widget.js").read_text()
    return Response(
        content=source,
        media_type=JAVASCRIPT,
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/chat/assets/{name}", include_in_schema=False)
def chat_asset(name: str) -> FileResponse:
    """The page's stylesheet and script (a fixed list: no path from the URL reaches the disk)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="No such asset")
    return FileResponse(STATIC_DIR / name, media_type=media_type)


# --- the chat API -----------------------------------------------------------------------------


@router.get(
    f"{CHAT_PREFIX}/conversations",
    response_model=list[ConversationRead],
    summary="The caller's chat conversations, most recent first (X-Total-Count: how many)",
    tags=["chat"],
    responses=total_count("conversations"),
)
def list_conversations(
    response: Response,
    session: SessionDep,
    principal: ChatUser,
    limit: Annotated[int, Query(ge=1, le=chat_service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[ConversationRead]:
    """The signed-in user's conversations in their organisation."""
    rows = chat_service.list_conversations(
        session=session, org_id=principal.org_id, user_id=principal.user_id,
        limit=limit, offset=offset,
    )  # fmt: skip
    total = chat_service.count_conversations(
        session=session, org_id=principal.org_id, user_id=principal.user_id
    )
    send_total(response, total)
    return [ConversationRead.model_validate(row) for row in rows]


@router.post(
    f"{CHAT_PREFIX}/conversations",
    response_model=ConversationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Start a chat conversation",
    tags=["chat"],
)
def create_conversation(
    session: SessionDep, principal: ChatUser, conversation_in: ConversationCreate | None = None
) -> ConversationRead:
    """Start a conversation (titled from its first question unless a title is given)."""
    conversation = chat_service.create_conversation(
        session=session,
        org_id=principal.org_id,
        user_id=principal.user_id,
        conversation_in=conversation_in,
    )
    session.commit()
    return ConversationRead.model_validate(conversation)


@router.get(
    f"{CHAT_PREFIX}/{{conversation_id}}/messages",
    response_model=list[MessageRead],
    summary="A conversation's messages, the latest page, oldest first (X-Total-Count: how many)",
    description=(
        "Pages back from the newest message: the answer holds the `limit` newest messages "
        "older than the message `before` (all of them when `before` is not given), skipping "
        "the `offset` newest of those, and lists them oldest first. `X-Total-Count` counts "
        "every message older than `before` (the whole conversation without it), so more are "
        "left when it exceeds `offset` + the page's length. To load the earlier page, pass "
        "the page's first (oldest) message id as `before`: messages are ordered by "
        "(created_at, id), so none repeats or is skipped, those sharing a timestamp included, "
        "even while new ones arrive. A `before` that is not a message of this conversation "
        "is a 422. Without parameters: the latest 100 messages (the whole history of a "
        "shorter conversation)."
    ),
    tags=["chat"],
    responses={
        **total_count("messages"),
        404: {"description": "No such conversation of yours"},
    },
)
def list_messages(
    conversation_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: ChatUser,
    limit: Annotated[
        int,
        Query(ge=1, le=chat_service.MAX_LIST_LIMIT, description="messages on the page"),
    ] = chat_service.DEFAULT_MESSAGE_LIMIT,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="newest messages (older than `before`) to skip"),
    ] = 0,
    before: Annotated[
        uuid.UUID | None,
        Query(description="a message id of this conversation: list only messages older than it"),
    ] = None,
) -> list[MessageRead]:
    """A page of the history of one of the caller's conversations (404 for anyone else's)."""
    try:
        page = chat_service.list_messages(
            session=session,
            org_id=principal.org_id,
            user_id=principal.user_id,
            conversation_id=conversation_id,
            limit=limit,
            offset=offset,
            before=before,
        )
    except chat_service.NotFoundError as error:
        raise _not_found(error) from error
    except chat_service.InvalidCursorError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    send_total(response, page.total)
    return [MessageRead.model_validate(row) for row in page.messages]


@router.post(
    f"{CHAT_PREFIX}/{{conversation_id}}/messages",
    summary="Ask the assistant; the answer streams back as server-sent events",
    tags=["chat"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "events: message, progress (0 or more), reply or error, done",
            "content": {"text/event-stream": {}},
        },
        404: {"description": "No such conversation of yours"},
    },
)
def post_message(
    conversation_id: uuid.UUID,
    message_in: ChatMessageIn,
    session: SessionDep,
    principal: ChatUser,
) -> StreamingResponse:
    """Store the question, then stream the agent's progress and its stored answer."""
    try:
        text = chat_service.validate_text(message_in.text)
        conversation = chat_service.get_conversation(
            session=session,
            org_id=principal.org_id,
            user_id=principal.user_id,
            conversation_id=conversation_id,
        )
        question = chat_service.add_message(
            session=session,
            org_id=principal.org_id,
            conversation=conversation,
            role=ChatRole.user,
            content=text,
        )
    except chat_service.NotFoundError as error:
        raise _not_found(error) from error
    except chat_service.InvalidMessageError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    session.commit()  # the question is kept whatever happens to the answer
    request = TurnRequest(
        org_id=principal.org_id,
        user_id=principal.user_id,
        role=principal.role,
        channel="web",
        thread_id=f"web:{conversation_id}",
        text=text,
    )
    return StreamingResponse(
        _answer_stream(request, conversation_id, MessageRead.model_validate(question)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _answer(request: TurnRequest, conversation_id: uuid.UUID, on_progress: Any) -> MessageRead:
    """Run the agent on the question and store its answer (in a worker thread)."""
    result: TurnResult = run_turn(request, on_progress=on_progress)
    with session_scope() as session:
        conversation = chat_service.get_conversation(
            session=session,
            org_id=request.org_id,
            user_id=request.user_id or uuid.UUID(int=0),
            conversation_id=conversation_id,
        )
        answer = chat_service.add_message(
            session=session,
            org_id=request.org_id,
            conversation=conversation,
            role=ChatRole.assistant,
            content=result.reply,
            tool_calls=[call.to_json() for call in result.tool_calls],
            report_document_ids=result.report_document_ids,
            run_id=result.run_id,
            error=result.error is not None,
        )
        return MessageRead.model_validate(answer)


async def _answer_stream(
    request: TurnRequest, conversation_id: uuid.UUID, question: MessageRead
) -> AsyncIterator[str]:
    """The events of one answer: the question, the tools' progress, the stored reply."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_progress(text: str) -> None:
        loop.call_soon_threadsafe(events.put_nowait, ("progress", {"text": text}))

    async def work() -> None:
        try:
            answer = await run_in_threadpool(_answer, request, conversation_id, on_progress)
        except Exception:  # noqa: BLE001 - the browser must hear that it failed
            logger.exception("chat answer failed")
            await events.put(
                ("error", {"detail": "Sorry, something went wrong answering that. Try again."})
            )
        else:
            await events.put(("reply", answer.model_dump(mode="json")))

    yield sse("message", question.model_dump(mode="json"))
    # The task outlives a closed browser: the answer is still stored for the history.
    task = asyncio.ensure_future(work())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    try:
        while True:
            try:
                event, data = await asyncio.wait_for(events.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield sse(event, data)
            if event in ("reply", "error"):
                break
        yield sse("done", {})
    finally:
        if not task.done():
            logger.info("chat stream closed before the answer; it is still being stored")
