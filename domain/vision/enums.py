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
