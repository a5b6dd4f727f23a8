"""Kinds and sources of stored documents."""

from enum import StrEnum


class DocumentKind(StrEnum):
    """What a file is, which decides the content types and size it may have."""

    voice_note = "voice_note"
    photo = "photo"
    report = "report"
    receipt = "receipt"
    contract = "contract"
    other = "other"


class DocumentSource(StrEnum):
    """How a file reached dealdesk."""

    upload = "upload"
    whatsapp = "whatsapp"
    voice_call = "voice_call"
    worker = "worker"


class RejectionReason(StrEnum):
    """Why an incoming file was refused."""

    empty = "empty"
    too_large = "too_large"
    unsupported_type = "unsupported_type"
    type_not_allowed = "type_not_allowed"
    type_mismatch = "type_mismatch"
    invalid_kind = "invalid_kind"
    invalid_link = "invalid_link"
    too_many_pixels = "too_many_pixels"
    """An image whose width x height is over ``MAX_IMAGE_PIXELS`` (small file, huge picture)."""
