"""The agent graph: agent node → tools node → agent … until the model answers without tools.

``build_graph`` compiles a ``StateGraph(State, context_schema=Context)`` for one tool set
(the caller's role decides it) and one chat model, checkpointed in PostgreSQL so each
conversation thread continues where it left off.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import InvalidToolCall, ToolCall
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolInvocationError
from langgraph.runtime import Runtime

from agent.context import Context
from agent.figures import Figure, known_figures, unsupported_in
from agent.planner import OfflinePlanner, message_text, reply_for, tool_result
from agent.prompts import Prompt
from agent.state import State

logger = logging.getLogger(__name__)

# The checkpointer's tables live in their own schema, outside the migrated schemas: Alembic
# does not manage them (``PostgresSaver.setup`` does) and test truncation leaves them alone.
CHECKPOINT_SCHEMA = "agent_checkpoints"
# Messages of history sent to the model (cut at a user message, so tool calls keep their results).
MAX_HISTORY_MESSAGES = 40

STEP_LIMIT_REPLY = (
    "I had to stop: that took more lookups than I may make for one message. "
    "Try asking for one thing at a time."
)
# Tool calls the model may make in one message, and in one turn; calls over either limit are
# not run and are answered with an error the model can act on.
MAX_TOOL_CALLS_PER_MESSAGE = 8
MAX_TOOL_CALLS_PER_TURN = 24
# Where the agent node notes that the figures guard fired (on the reply's AIMessage).
FIGURES_GUARD_KEY = "dealdesk_figures_guard"
FIGURES_NOTE = (
    "Your reply states figures that are in no tool result of this conversation: {figures}. "
    "Answer again using only figures copied from tool results (call a tool if you need a "
    "figure), or leave those figures out."
)
NO_FIGURES_REPLY = (
    "I can only give figures I have looked up, and I haven't looked any up for that. "
    "Send the property address or name the deal and I'll get the numbers."
)


def recent_messages(
    messages: Sequence[BaseMessage], limit: int = MAX_HISTORY_MESSAGES
) -> list[BaseMessage]:
    """The latest messages, at most ``limit`` where possible, starting at a user message."""
    if len(messages) <= limit:
        return list(messages)
    start = len(messages) - limit
    for i in range(start, len(messages)):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i:])
    last_human = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    return list(messages[last_human:])


def _this_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages after the latest user message."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i + 1 :])
    return list(messages)


def _tool_rounds_this_turn(messages: Sequence[BaseMessage]) -> int:
    return sum(
        1
        for message in _this_turn(messages)
        if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls)
    )


def _call_ids(message: AIMessage) -> list[str]:
    calls: list[ToolCall | InvalidToolCall] = [*message.tool_calls, *message.invalid_tool_calls]
    return [str(call.get("id")) for call in calls if call.get("id")]


def _error_result(call_id: str, name: str | None, error: str) -> ToolMessage:
    return ToolMessage(
        content=json.dumps({"error": error}),
        tool_call_id=call_id,
        name=name or None,
        status="error",
    )


def paired_history(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """``messages`` as the chat API accepts them: every tool call followed by its result.

    A stored assistant message whose tool calls lack results (a thread checkpointed by an
    older version, a run cut short) gets an error result for each missing one, and a tool
    result that answers no call just before it is dropped, so one bad turn never makes every
    later request of the thread fail.
    """
    out: list[BaseMessage] = []
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if isinstance(message, ToolMessage):
            continue  # an orphan: no assistant message with its call right before it
        out.append(message)
        if not isinstance(message, AIMessage):
            continue
        ids = _call_ids(message)
        names: dict[str, str | None] = {str(c.get("id")): c["name"] for c in message.tool_calls}
        names.update({str(c.get("id")): c.get("name") for c in message.invalid_tool_calls})
        answered: set[str] = set()
        while i < len(messages) and isinstance(messages[i], ToolMessage):
            result = messages[i]
            assert isinstance(result, ToolMessage)
            if result.tool_call_id in ids and result.tool_call_id not in answered:
                answered.add(result.tool_call_id)
                out.append(result)
            i += 1
        for call_id in ids:
            if call_id not in answered:
                out.append(_error_result(call_id, names.get(call_id), "this call has no result"))
    return out


def strip_nul(value: Any) -> Any:
    """``value`` without NUL characters (PostgreSQL text and jsonb cannot hold them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


def _checked_calls(response: AIMessage, already_run: int) -> tuple[AIMessage, list[ToolMessage]]:
    """The model's message with only the calls to run, and error results for the others.

    Calls with malformed arguments (``invalid_tool_calls``) and calls over the per-message or
    per-turn limit are not run: each gets an error result saying why, so the model can retry
    and the history keeps every call paired with a result.
    """
    allowed = max(0, min(MAX_TOOL_CALLS_PER_MESSAGE, MAX_TOOL_CALLS_PER_TURN - already_run))
    run = list(response.tool_calls[:allowed])
    over = list(response.tool_calls[allowed:])
    errors: list[ToolMessage] = []
    for call in response.invalid_tool_calls:
        if call.get("id"):
            errors.append(
                _error_result(
                    str(call["id"]),
                    call.get("name"),
                    "the arguments were not valid JSON (an object of named arguments); "
                    "call the tool again with valid arguments",
                )
            )
    invalid: list[InvalidToolCall] = list(response.invalid_tool_calls)
    for over_call in over:
        invalid.append(
            InvalidToolCall(
                type="invalid_tool_call",
                name=over_call["name"],
                args=json.dumps(over_call["args"], default=str),
                id=over_call.get("id"),
                error="over the tool call limit",
            )
        )
        errors.append(
            _error_result(
                str(over_call.get("id")),
                over_call["name"],
                f"not run: at most {MAX_TOOL_CALLS_PER_MESSAGE} tool calls per message and "
                f"{MAX_TOOL_CALLS_PER_TURN} per user message; make fewer calls",
            )
        )
    clean = response.model_copy(
        update={
            "content": strip_nul(response.content),
            "tool_calls": [{**call, "args": strip_nul(call["args"])} for call in run],
            "invalid_tool_calls": invalid,
        }
    )
    return clean, errors


def _sources(messages: Sequence[BaseMessage]) -> list[str]:
    """What a reply's figures may come from: the tool results and the user's own messages."""
    return [message_text(m) for m in messages if isinstance(m, ToolMessage | HumanMessage)]


def _turn_results(
    messages: Sequence[BaseMessage],
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The tool results of this turn as ``(tool name, arguments, result)``."""
    turn = _this_turn(messages)
    calls = {
        str(call.get("id")): call for m in turn if isinstance(m, AIMessage) for call in m.tool_calls
    }
    found = []
    for m in turn:
        if isinstance(m, ToolMessage):
            call = calls.get(str(m.tool_call_id))
            if call is not None:
                found.append((m.name or call["name"], dict(call["args"]), tool_result(m)))
    return found


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$*\-•])|\n+")


def safe_reply(
    reply: str, known: Sequence[Figure], results: list[tuple[str, dict[str, Any], dict[str, Any]]]
) -> str:
    """A reply with only supported figures.

    The offline composition of this turn's tool results when there are some, else ``reply``
    without the sentences that hold unsupported figures (or a plain note when none is left).
    """
    if results:
        return reply_for(results)
    kept = [
        part.strip()
        for part in _SENTENCE.split(reply)
        if part.strip() and not unsupported_in(part, known)
    ]
    return " ".join(kept) if kept else NO_FIGURES_REPLY


def _with_usage(message: AIMessage, earlier: Sequence[AIMessage]) -> AIMessage:
    """``message`` with the token usage of discarded responses added to its own."""
    usages = [m.usage_metadata for m in (*earlier, message) if m.usage_metadata]
    if not usages:
        return message
    total = UsageMetadata(
        input_tokens=sum(u["input_tokens"] for u in usages),
        output_tokens=sum(u["output_tokens"] for u in usages),
        total_tokens=sum(u["total_tokens"] for u in usages),
    )
    return message.model_copy(update={"usage_metadata": total})


def _noted(message: AIMessage, note: str) -> AIMessage:
    return message.model_copy(
        update={"response_metadata": {**message.response_metadata, FIGURES_GUARD_KEY: note}}
    )


def build_graph(
    *,
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    prompt: Prompt,
    checkpointer: BaseCheckpointSaver[Any] | None,
    figures_guard: bool | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent graph for one chat model, one tool set and one system prompt.

    ``figures_guard`` (default: on for every model but the offline planner, whose replies are
    composed from tool results) checks the model's final answer against the tool results
    and user messages of the thread the model was sent: when it states figures found in
    none, the model is asked once to answer again; when the second answer still does, the
    reply becomes the offline composition of this turn's tool results (or the answer without
    the sentences holding those figures). The reply's AIMessage notes what happened under
    ``response_metadata[FIGURES_GUARD_KEY]``.
    """
    bound = model.bind_tools(list(tools)) if tools else model
    guard = not isinstance(model, OfflinePlanner) if figures_guard is None else figures_guard

    def ask(request: list[BaseMessage], ran: int) -> tuple[AIMessage, list[ToolMessage]]:
        response = bound.invoke(request)
        if not isinstance(response, AIMessage):
            response = AIMessage(content=message_text(response))
        return _checked_calls(response, ran)

    def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """Ask the model for the next step: tool calls, or the reply."""
        messages = state["messages"]
        if _tool_rounds_this_turn(messages) >= runtime.context.max_steps:
            return {"messages": [AIMessage(content=STEP_LIMIT_REPLY)]}
        history = paired_history(recent_messages(messages))
        ran = sum(1 for m in _this_turn(messages) if isinstance(m, ToolMessage))
        request = [SystemMessage(content=prompt.text), *history]
        response, errors = ask(request, ran)
        if response.tool_calls or errors or not guard:
            return {"messages": [response, *errors]}
        known = known_figures(_sources(history))  # read once for every check below
        unsupported = unsupported_in(message_text(response), known)
        if not unsupported:
            return {"messages": [response]}
        listed = ", ".join(sorted(unsupported))
        note = FIGURES_NOTE.format(figures=listed)
        try:
            second, errors = ask([*request, response, SystemMessage(content=note)], ran)
        except Exception:  # noqa: BLE001 - a failed re-prompt falls back to the safe reply
            logger.warning("figures guard: the re-prompt failed", exc_info=True)
            second, errors = AIMessage(content=""), []
        second = _with_usage(second, [response])
        if second.tool_calls or errors:
            return {
                "messages": [
                    _noted(second, f"figures guard: unsupported {listed}; re-prompted"),
                    *errors,
                ]
            }
        still = unsupported_in(message_text(second), known)
        if not still and message_text(second).strip():
            return {
                "messages": [
                    _noted(second, f"figures guard: unsupported {listed}; re-prompted, fixed")
                ]
            }
        safe = safe_reply(
            message_text(second) or message_text(response), known, _turn_results(messages)
        )
        fallback = AIMessage(content=safe, usage_metadata=second.usage_metadata)
        still_listed = ", ".join(sorted(still)) or listed
        return {
            "messages": [
                _noted(
                    fallback,
                    f"figures guard: unsupported {listed}; re-prompted, still {still_listed}; "
                    "reply replaced",
                )
            ]
        }

    def route(state: State) -> str:
        """To the tools when the model asked for some, else the turn is over.

        Back to the model when its calls were all answered with an error (malformed, over the
        limit): it may try again.
        """
        messages = state["messages"]
        last = messages[-1]
        if isinstance(last, AIMessage):
            return "tools" if last.tool_calls else END
        if isinstance(last, ToolMessage):
            for message in reversed(messages):
                if isinstance(message, AIMessage):
                    return "tools" if message.tool_calls else "agent"
        return END

    builder = StateGraph(State, context_schema=Context)
    builder.add_node("agent", agent)
    # An unknown tool name or invalid arguments become a tool message the model can act on
    # (and the offline planner can show), never an exception out of the graph.
    builder.add_node("tools", ToolNode(list(tools), handle_tool_errors=tool_error_text))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", "agent", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer, name="dealdesk-agent")


def tool_error_text(error: Exception) -> str:
    """A tool's failure as a tool message a person can read.

    Invalid arguments name each field and what is wrong with it ("amount: Decimal input should
    have no more than 2 decimal places"), not the exception's repr with every argument.
    """
    if isinstance(error, ToolInvocationError):
        problems = (
            error.filtered_errors if error.filtered_errors is not None else error.source.errors()
        )
        said = "; ".join(
            f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg')}"
            for problem in problems
        )
        return f"Error: {said or error.source}"
    return f"Error: {error}"


# --- the PostgreSQL checkpointer --------------------------------------------------------------

_checkpointers: dict[int, Any] = {}
_checkpointer_lock = threading.Lock()


def _conninfo() -> str:
    """The libpq connection string of the application database."""
    from store.db import get_engine

    url = get_engine().url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def get_checkpointer() -> Any:
    """The process's ``PostgresSaver`` on a connection pool (set up once; a fork gets its own).

    Connections are ``autocommit=True`` with ``row_factory=dict_row`` as the saver needs, and
    their search path is the checkpoint schema.
    """
    pid = os.getpid()
    with _checkpointer_lock:
        saver = _checkpointers.get(pid)
        if saver is not None:
            return saver
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = _conninfo()
        with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
            # One process at a time creates the schema and runs the saver's migrations.
            conn.execute("SELECT pg_advisory_lock(hashtext('dealdesk:agent-checkpoint-setup'))")
            try:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{CHECKPOINT_SCHEMA}"')
                conn.execute(f'SET search_path TO "{CHECKPOINT_SCHEMA}"')
                setup_saver = PostgresSaver(conn)  # type: ignore[arg-type]
                setup_saver.setup()
            finally:
                conn.execute(
                    "SELECT pg_advisory_unlock(hashtext('dealdesk:agent-checkpoint-setup'))"
                )
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "prepare_threshold": 0,
                "options": f"-c search_path={CHECKPOINT_SCHEMA}",
            },
            open=True,
        )
        saver = PostgresSaver(pool)
        _checkpointers[pid] = saver
        return saver


def close_checkpointer() -> None:
    """Close this process's checkpointer pool (tests, shutdown)."""
    with _checkpointer_lock:
        saver = _checkpointers.pop(os.getpid(), None)
    if saver is not None:
        try:
            saver.conn.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            logger.debug("checkpointer pool already closed", exc_info=True)


atexit.register(close_checkpointer)
