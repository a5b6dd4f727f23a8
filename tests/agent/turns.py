"""One offline turn for any user (no shared world needed), with the figures check."""

from __future__ import annotations

import uuid

from agent.figures import unsupported_figures
from agent.runner import TurnRequest, TurnResult, last_turn_tool_results, run_turn
from domain.auth.enums import Role
from domain.auth.models import User


def checked_turn(
    who: User, text: str, thread: str | None = None, channel: str = "web"
) -> TurnResult:
    """Run ``text`` as ``who`` (in a new thread unless one is given); assert the planner
    answered and every figure in the reply came from this turn's tool results."""
    thread = thread or f"{channel}:{uuid.uuid4().hex}"
    result = run_turn(
        TurnRequest(
            org_id=who.org_id,
            user_id=who.id,
            role=Role(who.role),
            channel=channel,
            thread_id=thread,
            text=text,
        )
    )
    assert result.model == "offline-planner" and result.error is None
    assert unsupported_figures(result.reply, last_turn_tool_results(thread)) == set(), result.reply
    return result
