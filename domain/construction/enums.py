"""Statuses and kinds of construction projects, bids, tasks and photos."""

from enum import StrEnum


class ProjectStatus(StrEnum):
    """Where a rehab project stands."""

    planning = "planning"
    bidding = "bidding"
    in_progress = "in_progress"
    on_hold = "on_hold"
    completed = "completed"
    cancelled = "cancelled"


class BidStatus(StrEnum):
    """Where a contractor's bid stands."""

    received = "received"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"


class BidSource(StrEnum):
    """How a bid reached us."""

    call = "call"
    manual = "manual"
    whatsapp = "whatsapp"
    email = "email"


class TaskStatus(StrEnum):
    """Where a project task stands."""

    todo = "todo"
    in_progress = "in_progress"
    blocked = "blocked"
    done = "done"
    cancelled = "cancelled"


class PhotoPhase(StrEnum):
    """When in the rehab a progress photo was taken."""

    before = "before"
    during = "during"
    after = "after"
