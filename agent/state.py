"""The graph's state: the conversation's messages (checkpointed per thread).

A ``TypedDict`` rather than a dataclass: ``ToolNode`` hands the state to its tool runtime,
whose pydantic serialisation expects a mapping (a dataclass state makes it warn each call).
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class State(TypedDict):
    """What one conversation thread holds between turns."""

    messages: Annotated[list[AnyMessage], add_messages]
    """Every message of the thread: user turns, model turns with tool calls, tool results."""
