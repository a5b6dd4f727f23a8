"""Condition grades and repair priorities the photo analysis assigns."""

from enum import StrEnum


class Condition(StrEnum):
    """The seed's four condition grades for a building component."""

    excellent = "excellent"
    good = "good"
    fair = "fair"
    poor = "poor"


class RepairPriority(StrEnum):
    """How urgently a component needs work."""

    high = "high"
    medium = "medium"
    low = "low"


class AnalysisStatus(StrEnum):
    """Where a photo analysis stands: waiting, done, failed, or no model to run it with."""

    queued = "queued"
    completed = "completed"
    failed = "failed"
    not_configured = "not_configured"


class ConditionChange(StrEnum):
    """How a component's condition moved between a before and an after photo set."""

    improved = "improved"
    worsened = "worsened"
    unchanged = "unchanged"
