"""The agent graph: agent node → tools node → agent … until the model answers without tools.

``build_graph`` compiles a ``StateGraph(State, context_schema=Context)`` for one tool set
(the caller's role decides it) and one chat model, checkpointed in PostgreSQL so each
conversation thread continues where it left off.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from agent.context import Context
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


def _tool_rounds_this_turn(messages: Sequence[BaseMessage]) -> int:
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds


def build_graph(
    *,
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    prompt: Prompt,
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent graph for one chat model, one tool set and one system prompt."""
    bound = model.bind_tools(list(tools)) if tools else model

    def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """Ask the model for the next step: tool calls, or the reply."""
        messages = state["messages"]
        if _tool_rounds_this_turn(messages) >= runtime.context.max_steps:
            return {"messages": [AIMessage(content=STEP_LIMIT_REPLY)]}
        response = bound.invoke([SystemMessage(content=prompt.text), *recent_messages(messages)])
        return {"messages": [response]}

    def route(state: State) -> str:
        """To the tools when the model asked for some, else the turn is over."""
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(State, context_schema=Context)
    builder.add_node("agent", agent)
    # handle_tool_errors=True: an unknown tool name or invalid arguments become a tool
    # message the model can act on, never an exception out of the graph.
    builder.add_node("tools", ToolNode(list(tools), handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer, name="dealdesk-agent")


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
