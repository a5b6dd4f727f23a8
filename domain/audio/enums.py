"""Statuses of walkthrough recordings and the condition grades extracted from them."""

from enum import StrEnum


class WalkthroughStatus(StrEnum):
    """Where a walkthrough recording is in transcription and extraction.

    ``queued`` → ``transcribing`` → ``transcribed`` → ``extracted`` → ``completed``; any step
    can end in ``failed`` with the reason in ``error``. ``started`` is a walkthrough announced
    (``walkthrough.started``) whose recording has not arrived; ``uploaded`` a recording stored
    but not (yet) sent for transcription.
    """

    started = "started"
    uploaded = "uploaded"
    queued = "queued"
    transcribing = "transcribing"
    transcribed = "transcribed"
    extracted = "extracted"
    completed = "completed"
    failed = "failed"


class Condition(StrEnum):
    """The condition grades a walkthrough narration is mapped to (same as photo analysis)."""

    excellent = "excellent"
    good = "good"
    fair = "fair"
    poor = "poor"


class AudioErrorCode(StrEnum):
    """Why a walkthrough failed, as a machine-readable code beside the message."""

    unreadable = "unreadable"  # not decodable audio (corrupt, or not audio at all)
    too_long = "too_long"  # over AUDIO_MAX_DURATION_S
    no_speech = "no_speech"  # silence or noise only
    model_unavailable = "model_unavailable"  # Whisper weights missing or wrong
    document_missing = "document_missing"  # the stored recording is gone or corrupted
    retries_exhausted = "retries_exhausted"  # a transient error that kept recurring
    transient = "transient"  # a transient error; the job will be retried
