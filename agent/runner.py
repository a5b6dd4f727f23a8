"""One agent turn for any channel: ``run_turn(TurnRequest(...)) -> TurnResult``.

The WhatsApp job, the web chat widget, ``dealdesk chat`` and the evals all call this. A turn:

1. fixes the tool set from the caller's role and picks the system prompt (before any text
   is read);
2. takes the conversation thread's advisory lock, so runs on one thread never interleave;
3. invokes the compiled graph with ``configurable.thread_id`` (the checkpointer continues the
   conversation) and the run context (organisation, user, role: never chosen by the model);
4. records the run in ``agent.runs`` (input, tool calls, output, latency, tokens, prompt file
   and sha256, model name or ``offline-planner``, error);
5. returns the reply, the tool calls and any report document ids. A tool error is a message
   the model acts on; a model or graph failure becomes an apology and an ``error`` on the run,
   so a channel always has something to send.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError

from agent.context import Context, SessionFactory, ToolCallRecord
from agent.graph import FIGURES_GUARD_KEY, build_graph, get_checkpointer, strip_nul
from agent.llm import chat_model, model_name
from agent.models import AgentRun
from agent.planner import (
    MEDIA_NOTE_PREFIX,
    REPLY_LIMIT,
    message_text,
    reply_for,
    reply_limit_for,
    tool_result,
)
from agent.prompts import prompt_for_role
from agent.serialise import thread_lock
from domain.auth import service as auth_service
from domain.auth.enums import Role
from store.db import session_scope
from tools import tools_for_role

logger = logging.getLogger(__name__)

CHANNELS = ("whatsapp", "web", "cli", "eval")
MAX_INPUT_CHARS = 4000

TOO_LONG_REPLY = (
    "That message is too long for me to read in one go. Send a street address or one "
    "short question at a time."
)
EMPTY_REPLY = "I got an empty message. Send a street address, or 'help'."
FAILURE_REPLY = (
    "Sorry, something went wrong on my side and I couldn't answer that. Please try again in "
    "a minute."
)
NO_ANSWER_REPLY = "Sorry, I have no answer for that. Send 'help' to see what I can do."
# When the model failed after some tools had run: what they did, so nobody repeats a change.
FAILURE_AFTER_TOOLS_REPLY = (
    "Sorry, something went wrong on my side before I could finish answering. This much was "
    "already done, so check it before asking again (a change asked again is made twice):"
)
DECLINED_REPLY = "The model declined to answer that."

__all__ = ["ToolCallRecord", "TurnRequest", "TurnResult", "run_turn", "thread_messages"]


@dataclass(frozen=True)
class TurnRequest:
    """One message to the agent, with who sent it and on which conversation thread."""

    org_id: uuid.UUID
    user_id: uuid.UUID | None
    role: Role
    channel: str  # "whatsapp" | "web" | "cli" | "eval"
    thread_id: str  # one per conversation: "whatsapp:+13135550100", "web:<session id>"
    text: str
    media_document_ids: tuple[uuid.UUID, ...] = ()


@dataclass
class TurnResult:
    """The agent's answer to one message."""

    reply: str
    tool_calls: list[ToolCallRecord]
    report_document_ids: list[uuid.UUID]
    run_id: uuid.UUID
    model: str = ""
    error: str | None = None
    tokens: dict[str, int] | None = field(default=None)
    flags: list[str] = field(default_factory=list)
    """What the run should be read with: the model refused, replied empty, the figures guard
    fired (also recorded in ``agent.runs.error``)."""


# --- reading what a run did -----------------------------------------------------------------


def summarise(name: str, result: dict[str, Any]) -> str:
    """A one-line summary of a tool result for the run record."""
    if "error" in result:
        return f"error: {result['error']}"[:300]
    keys = (
        "headline",
        "value",
        "max_offer",
        "count",
        "net",
        "total_spent",
        "fmr",
        "status",
        "total",
        "address",
    )
    parts = [f"{key}={result[key]}" for key in keys if result.get(key) not in (None, "", [])]
    return ("; ".join(parts) or json.dumps(result, default=str))[:300]


def _new_messages(messages: Sequence[BaseMessage], human_id: str) -> list[BaseMessage]:
    for i, message in enumerate(messages):
        if message.id == human_id:
            return list(messages[i + 1 :])
    return []


def tool_call_records(messages: Sequence[BaseMessage]) -> list[ToolCallRecord]:
    """The tool calls among ``messages`` (one turn's), with their outcome, in call order."""
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for tool_call in message.tool_calls:
                calls[str(tool_call.get("id"))] = dict(tool_call)
            for invalid in message.invalid_tool_calls:
                # Not run (malformed arguments, over the limit): the raw arguments are kept.
                raw = {"arguments": invalid.get("args")} if invalid.get("args") else {}
                calls[str(invalid.get("id"))] = {"name": invalid.get("name"), "args": raw}
    records = []
    for message in messages:
        if isinstance(message, ToolMessage):
            call = calls.get(str(message.tool_call_id), {})
            name = message.name or str(call.get("name", "?"))
            result = tool_result(message)
            ok = message.status != "error" and "error" not in result
            records.append(
                ToolCallRecord(
                    name=strip_nul(name),
                    args=strip_nul(dict(call.get("args") or {})),
                    ok=ok,
                    summary=strip_nul(summarise(name, result)),
                )
            )
    return records


def _report_ids(messages: Sequence[BaseMessage]) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            value = tool_result(message).get("report_document_id")
            try:
                document_id = uuid.UUID(str(value)) if value else None
            except ValueError:
                document_id = None
            if document_id is not None and document_id not in found:
                found.append(document_id)
    return found


def _tokens(messages: Sequence[BaseMessage]) -> dict[str, int] | None:
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    seen = False
    for message in messages:
        usage = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
        if usage:
            seen = True
            for key in totals:
                totals[key] += int(usage.get(key, 0) or 0)
    return totals if seen else None


def _reply(messages: Sequence[BaseMessage]) -> tuple[str, list[str]]:
    """The turn's reply, and its flags.

    The flags: a refusal (its text is the reply), an empty answer, what the figures guard did.
    """
    flags = [
        str(m.response_metadata[FIGURES_GUARD_KEY])
        for m in messages
        if isinstance(m, AIMessage) and m.response_metadata.get(FIGURES_GUARD_KEY)
    ]
    for message in reversed(messages):
        if isinstance(message, AIMessage) and not message.tool_calls:
            text = message_text(message).strip()
            if text:
                return text, flags
            refusal = message.additional_kwargs.get("refusal")
            if refusal is not None:
                said = str(refusal).strip()
                return said or DECLINED_REPLY, [*flags, f"model refused: {said}"[:500]]
            return NO_ANSWER_REPLY, [*flags, "the model's reply was empty"]
    return NO_ANSWER_REPLY, [*flags, "the model gave no reply"]


def _results(messages: Sequence[BaseMessage]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The successful tool results among ``messages`` as ``(tool name, arguments, result)``."""
    calls = {
        str(call.get("id")): call
        for m in messages
        if isinstance(m, AIMessage)
        for call in m.tool_calls
    }
    found = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.status != "error":
            call = calls.get(str(message.tool_call_id))
            result = tool_result(message)
            if call is not None and "error" not in result:
                found.append((message.name or call["name"], dict(call["args"]), result))
    return found


def failure_reply(messages: Sequence[BaseMessage]) -> str:
    """The apology for a turn that failed: with what its tools already did, when they did."""
    done = _results(messages)
    if not done:
        return FAILURE_REPLY
    return f"{FAILURE_AFTER_TOOLS_REPLY}\n\n{reply_for(done)}"


def thread_messages(thread_id: str) -> list[BaseMessage]:
    """The checkpointed messages of a conversation thread (its history), oldest first."""
    saved = get_checkpointer().get_tuple({"configurable": {"thread_id": thread_id}})
    if saved is None:
        return []
    return list(saved.checkpoint["channel_values"].get("messages", []))


def last_turn_tool_results(thread_id: str) -> list[str]:
    """The tool results (as text) of the thread's latest turn: what its reply may quote."""
    messages = thread_messages(thread_id)
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return [message_text(m) for m in messages[last_human + 1 :] if isinstance(m, ToolMessage)]


def _checkpointed_new(thread_id: str, human_id: str) -> list[BaseMessage]:
    """The messages a failed turn left in the checkpoint after its user message."""
    try:
        return _new_messages(thread_messages(thread_id), human_id)
    except Exception:  # noqa: BLE001 - reading back is best effort; the apology still goes out
        logger.exception("reading the failed turn back from the checkpoint failed")
        return []


# --- the turn ---------------------------------------------------------------------------------


def _email_of(
    session_factory: SessionFactory, request: TurnRequest
) -> tuple[uuid.UUID | None, str]:
    """The user (if they belong to the organisation) and their email, for the principal."""
    if request.user_id is None:
        return None, "anonymous"
    with session_factory() as session:
        user = auth_service.get_user(
            session=session, org_id=request.org_id, user_id=request.user_id
        )
        if user is None or not user.is_active:
            logger.warning("agent turn for a user outside the organisation; running anonymous")
            return None, "anonymous"
        return user.id, user.email


def _human_text(request: TurnRequest) -> str:
    text = strip_nul(request.text).strip()
    if request.media_document_ids:
        ids = ", ".join(str(d) for d in request.media_document_ids)
        text += f"\n{MEDIA_NOTE_PREFIX} {ids})"
    return text


def _record(session_factory: SessionFactory, run: AgentRun) -> None:
    """Store the run; a failure to store it is logged and never loses the reply.

    When the full record cannot be stored, a minimal one (no tool calls, the reason in
    ``error``) is tried once.
    """
    try:
        with session_factory() as session:
            session.add(run)
            session.flush()
        return
    except Exception as exc:  # noqa: BLE001 - the channel must still get its reply
        logger.exception("recording the agent run failed")
        reason = f"recording the run failed: {type(exc).__name__}: {exc}"[:1000]
    minimal = AgentRun(
        id=run.id,
        org_id=run.org_id,
        thread_id=run.thread_id,
        channel=run.channel,
        user_id=run.user_id,
        role=run.role,
        input_text=strip_nul(run.input_text),
        output_text=strip_nul(run.output_text),
        latency_ms=run.latency_ms,
        prompt_name=run.prompt_name,
        prompt_sha256=run.prompt_sha256,
        model=run.model,
        error=strip_nul("; ".join(e for e in (run.error, reason) if e)),
    )
    try:
        with session_factory() as session:
            session.add(minimal)
            session.flush()
    except Exception:  # noqa: BLE001 - logged; the reply still goes out
        logger.exception("recording the minimal agent run failed too")


def run_turn(
    request: TurnRequest,
    *,
    on_progress: Callable[[str], None] | None = None,
    model: BaseChatModel | None = None,
    session_factory: SessionFactory | None = None,
) -> TurnResult:
    """Run the agent on one message of a conversation and record the run.

    ``model`` replaces the configured chat model (tests, evals); ``session_factory`` the
    database sessions the tools and the run record use (default: a committed session each).
    """
    started = time.monotonic()
    run_id = uuid.uuid4()
    factory = session_factory or session_scope
    role = Role(request.role)
    if request.channel not in CHANNELS:
        raise ValueError(f"unknown channel {request.channel!r}; expected one of {CHANNELS}")
    if not request.thread_id.strip():
        raise ValueError("a turn needs a thread id")
    # The tool set and prompt are fixed here, from the role, before any text is read.
    tools = tools_for_role(role)
    prompt = prompt_for_role(role)
    chat = model or chat_model()
    name = model_name(chat)

    user_id, email = _email_of(factory, request)
    ctx = Context(
        org_id=request.org_id,
        user_id=user_id,
        role=role,
        channel=request.channel,
        thread_id=request.thread_id,
        email=email,
        session_factory=factory,
        on_progress=on_progress,
    )
    text = _human_text(request)
    new: list[BaseMessage] = []
    error: str | None = None
    flags: list[str] = []
    if not text:
        reply = EMPTY_REPLY
    elif len(strip_nul(request.text)) > MAX_INPUT_CHARS:
        reply = TOO_LONG_REPLY
    else:
        human = HumanMessage(content=text, id=str(uuid.uuid4()))
        config: RunnableConfig = {
            "configurable": {"thread_id": request.thread_id},
            "recursion_limit": 2 * ctx.max_steps + 6,
            "metadata": {"run_id": str(run_id), "channel": request.channel},
        }
        limit = REPLY_LIMIT.set(reply_limit_for(request.channel))
        with thread_lock(request.thread_id):
            try:
                graph = build_graph(
                    model=chat, tools=tools, prompt=prompt, checkpointer=get_checkpointer()
                )
                state = graph.invoke({"messages": [human]}, config, context=ctx)
                new = _new_messages(state["messages"], str(human.id))
                reply, flags = _reply(new)
            except GraphRecursionError as exc:
                logger.warning("agent turn hit the recursion limit: %s", exc)
                error = f"GraphRecursionError: {exc}"
                new = _checkpointed_new(request.thread_id, str(human.id))
                reply = failure_reply(new)
            except Exception as exc:  # noqa: BLE001 - the channel must always get a reply
                logger.exception("agent turn failed")
                error = f"{type(exc).__name__}: {exc}"
                # The tools that ran before the failure are in the checkpoint: record them and
                # say what they did, so a retry does not repeat a change.
                new = _checkpointed_new(request.thread_id, str(human.id))
                reply = failure_reply(new)
            finally:
                REPLY_LIMIT.reset(limit)
    reply = strip_nul(reply)

    records = tool_call_records(new)
    report_ids = _report_ids(new)
    tokens = _tokens(new)
    latency_ms = int((time.monotonic() - started) * 1000)
    _record(
        factory,
        AgentRun(
            id=run_id,
            org_id=request.org_id,
            thread_id=request.thread_id,
            channel=request.channel,
            user_id=user_id,
            role=role.value,
            input_text=strip_nul(request.text),
            media_document_ids=[str(d) for d in request.media_document_ids],
            tool_calls=[r.to_json() for r in records],
            output_text=reply,
            report_document_ids=[str(d) for d in report_ids],
            latency_ms=latency_ms,
            input_tokens=tokens["input_tokens"] if tokens else None,
            output_tokens=tokens["output_tokens"] if tokens else None,
            total_tokens=tokens["total_tokens"] if tokens else None,
            prompt_name=prompt.file_name,
            prompt_sha256=prompt.sha256,
            model=name,
            error=strip_nul("; ".join(e for e in (error, *flags) if e)) or None,
        ),
    )
    return TurnResult(
        reply=reply,
        tool_calls=records,
        report_document_ids=report_ids,
        run_id=run_id,
        model=name,
        error=error,
        tokens=tokens,
        flags=flags,
    )
