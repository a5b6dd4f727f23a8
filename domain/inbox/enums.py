"""Where an action item stands, and where it came from."""

from __future__ import annotations

from enum import StrEnum


class ActionItemStatus(StrEnum):
    """Open until someone on the team marks it done or dismisses it."""

    open = "open"
    done = "done"
    dismissed = "dismissed"


class ActionItemSource(StrEnum):
    """What produced the item: a call (or its recording), a contractor's message, a lead."""

    call = "call"
    recording = "recording"
    message = "message"
    lead = "lead"
