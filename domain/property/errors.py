"""Errors the property module raises; ``api.py`` maps them to 404, 409 and 422."""

from __future__ import annotations


class PropertyError(Exception):
    """Base class of the property module's errors."""


class PropertyNotFoundError(PropertyError, LookupError):
    """The property (or its image or market data row) does not exist in the organisation."""


class PropertyValidationError(PropertyError, ValueError):
    """A value given for a property is not acceptable; the message says which and why."""


class AddressParseError(PropertyValidationError):
    """Free text could not be read as a US street address."""


class PropertyConflictError(PropertyError):
    """The change would duplicate a property the organisation already has (MLS or source id)."""


class ImportColumnsError(PropertyValidationError):
    """An import file lacks columns it needs; nothing of it was imported."""

    def __init__(self, message: str, *, missing: list[str], found: list[str]) -> None:
        """Keep what was missing and what the file had, for the caller to show."""
        super().__init__(message)
        self.missing = missing
        self.found = found
