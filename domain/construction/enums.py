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


class ExpenseCategory(StrEnum):
    """What an expense booked on a project paid for (finance books it in its own category)."""

    labour = "labour"
    materials = "materials"
    supplies = "supplies"
    cleanup = "cleanup"
    permits = "permits"
    other = "other"

    @property
    def finance_category(self) -> str:
        """The finance ledger's category for this kind of expense."""
        return _FINANCE_CATEGORY[self]


_FINANCE_CATEGORY = {
    ExpenseCategory.labour: "rehab_labour",
    ExpenseCategory.materials: "rehab_materials",
    ExpenseCategory.supplies: "supplies",
    ExpenseCategory.cleanup: "cleaning_and_maintenance",
    # Finance's own "permits" category, which the deal's rehab budget counts.
    ExpenseCategory.permits: "permits",
    ExpenseCategory.other: "other",
}


class ActivityKind(StrEnum):
    """What a project activity entry records (what other modules told us, mostly)."""

    project_created = "project_created"
    contractor_response = "contractor_response"
    bid_from_call = "bid_from_call"
    inspection_passed = "inspection_passed"
    inspection_failed = "inspection_failed"
    bid_awarded = "bid_awarded"
    # An awarded bid's start moved to the contractor's new date (``reschedule_bid``).
    bid_rescheduled = "bid_rescheduled"
    # A project expense voided by a reversal (``void_expense``).
    expense_voided = "expense_voided"
    # Money back from a vendor or contractor booked on the project (``add_expense`` refund).
    expense_refunded = "expense_refunded"
    # A ledger transaction on the project mirrored as a project expense (the subscriber).
    finance_transaction = "finance_transaction"
