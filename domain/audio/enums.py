"""Statuses of walkthrough recordings and the condition grades extracted from them."""

from enum import StrEnum


class WalkthroughStatus(StrEnum):
    """Where a walkthrough recording is in transcription and extraction."""

    uploaded = "uploaded"
    transcribing = "transcribing"
    transcribed = "transcribed"
    extracted = "extracted"
    failed = "failed"


class Condition(StrEnum):
    """The condition grades a walkthrough narration is mapped to (same as photo analysis)."""

    excellent = "excellent"
    good = "good"
    fair = "fair"
    poor = "poor"
