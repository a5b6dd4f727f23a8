"""Call a tool directly, with a run context, the way the tools node does."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolRuntime
from sqlmodel import Session

from agent.context import Context, session_of
from domain.auth.enums import Role
from domain.auth.models import User


def context_for(
    db: Session, user: User, *, role: Role | None = None, channel: str = "web"
) -> Context:
    """A run context for ``user`` whose tools use the test's session."""
    return Context(
        org_id=user.org_id,
        user_id=user.id,
        role=role or Role(user.role),
        channel=channel,
        thread_id=f"test:{user.id}",
        email=user.email,
        session_factory=session_of(db),
    )


def call_tool(tool: BaseTool, ctx: Context, *, said: str | None = None, **args: Any) -> Any:
    """Invoke ``tool`` with ``args`` and the runtime (context) the graph would inject.

    ``said``: the user's message this turn (in the state's messages, as the graph has it).
    """
    runtime: ToolRuntime[Context, dict[str, Any]] = ToolRuntime(
        state={"messages": [HumanMessage(said)] if said is not None else []},
        context=ctx,
        config={},
        stream_writer=lambda _chunk: None,
        tool_call_id="test-call",
        store=None,
    )
    return tool.invoke({**args, "runtime": runtime})
