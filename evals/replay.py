"""Replaying chat-completion exchanges: the evals' OpenAI path without a key or a network.

A recording (``evals/recordings/<case-id>.yaml``) lists, in order, the assistant messages
OpenAI's chat-completions API returns for one eval case, one per model call, in the API's
wire format. They are written by hand in that format (no OpenAI account is reachable from the
build machine), so they test our side of the exchange: the request we send (system prompt,
the tools the caller's role allows, the tool results) and what we do with each answer.

Each step is either a tool call or a reply::

    - tool_calls:
        - name: create_deal
          arguments: {address: "{write_address}", strategy: flip}   # {name}: world placeholders
    - content: "Created deal {tool.deal_id} on {tool.address}."     # {tool.x}: last tool result

``{tool.a.0.b}`` reads the last tool result sent back to the model (a dotted path; list
items by index), so a reply quotes only figures that came from a tool, as a real model
must. The replay answers ``POST /v1/chat/completions`` through respx.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import respx
import yaml

from evals.runner import fill

RECORDINGS_DIR = Path(__file__).resolve().parent / "recordings"
COMPLETIONS_URL = "https://api.openai.com/v1/chat/completions"
_TOOL_FIELD = re.compile(r"\{tool\.([A-Za-z0-9_.]+)\}")


class ReplayError(AssertionError):
    """The conversation asked for more, or other, model calls than were recorded."""


@dataclass
class Recording:
    """One case's recorded assistant messages, and the requests the replay received."""

    case_id: str
    steps: list[dict[str, Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)


def load_recordings(directory: Path = RECORDINGS_DIR) -> dict[str, Recording]:
    """Every recording in ``directory``, by case id (the file's stem)."""
    found: dict[str, Recording] = {}
    for path in sorted(directory.glob("*.yaml")):
        steps = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ValueError(f"{path.name}: expected a list of assistant messages")
        for index, step in enumerate(steps, start=1):
            if set(step) - {"tool_calls", "content"} or len(step) != 1:
                raise ValueError(f"{path.name} step {index}: give tool_calls or content")
        found[path.stem] = Recording(case_id=path.stem, steps=steps)
    return found


def _lookup(result: Any, path: str) -> str:
    value = result
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise ReplayError(f"the last tool result has no {path!r}: {result}")
    return str(value)


def _last_tool_result(body: dict[str, Any]) -> Any:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "tool":
            try:
                return json.loads(message.get("content") or "null")
            except json.JSONDecodeError:
                return {"text": message.get("content")}
    return None


def _message(step: dict[str, Any], body: dict[str, Any], ph: dict[str, str]) -> dict[str, Any]:
    if "tool_calls" in step:
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": json.dumps(
                        {k: fill(v, ph) for k, v in (call.get("arguments") or {}).items()}
                    ),
                },
            }
            for call in step["tool_calls"]
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}
    result = _last_tool_result(body)
    text = _TOOL_FIELD.sub(lambda m: _lookup(result, m.group(1)), fill(step["content"], ph))
    return {"role": "assistant", "content": text}


def completion(message: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> dict:
    """A chat-completions response body carrying ``message``."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@contextmanager
def replaying(recording: Recording, placeholders: dict[str, str]) -> Iterator[Recording]:
    """Answer chat-completions requests with ``recording``'s steps, in order, through respx."""
    steps = list(recording.steps)

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        recording.requests.append(body)
        if not steps:
            raise ReplayError(f"{recording.case_id}: more model calls than recorded")
        message = _message(steps.pop(0), body, placeholders)
        prompt_tokens = len(json.dumps(body["messages"])) // 4
        completion_tokens = len(json.dumps(message)) // 4
        return httpx.Response(200, json=completion(message, prompt_tokens, completion_tokens))

    with respx.mock(assert_all_called=False) as mock:
        mock.post(COMPLETIONS_URL).mock(side_effect=answer)
        yield recording
    if steps:
        raise ReplayError(f"{recording.case_id}: {len(steps)} recorded step(s) never asked for")
