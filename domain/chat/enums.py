"""Who wrote a chat message."""

from __future__ import annotations

from enum import StrEnum


class ChatRole(StrEnum):
    """The author of a chat message."""

    user = "user"
    assistant = "assistant"
