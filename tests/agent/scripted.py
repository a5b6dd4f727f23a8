"""A scripted chat model: returns prepared messages (with tool calls) in order, and records
what it was given (the bound tool names, the messages of each call)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

Step = AIMessage | Callable[[list[BaseMessage]], AIMessage]


@dataclass
class Script:
    """The steps to play and what the model saw."""

    steps: list[Step]
    bound_tools: list[list[str]] = field(default_factory=list)
    calls: list[list[BaseMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScriptedModel(BaseChatModel):
    """Plays a ``Script``: each model call returns the next step."""

    script: Any

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def model_name(self) -> str:
        """The name recorded on runs."""
        return "scripted-test-model"

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tool names the graph bound."""
        self.script.bound_tools.append(
            [t.name if isinstance(t, BaseTool) else str(t) for t in tools]
        )
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self.script.lock:
            self.script.calls.append(list(messages))
            if not self.script.steps:
                raise AssertionError("the script has no more steps")
            step = self.script.steps.pop(0)
        message = step(list(messages)) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=message)])


def scripted(*steps: Step) -> tuple[ScriptedModel, Script]:
    """A model playing ``steps`` and its script (to inspect afterwards)."""
    script = Script(steps=list(steps))
    return ScriptedModel(script=script), script


def call(name: str, call_id: str = "call_1", **args: Any) -> AIMessage:
    """A model message asking for one tool call."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
