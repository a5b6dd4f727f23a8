"""Errors the underwriting calculations raise when a question has no sensible answer.

Bad *input* (a negative price, a rate over 100 %) is refused earlier, by the pydantic input
models, with ``pydantic.ValidationError``; these errors are for valid input whose answer does
not exist (a target no price can reach, an IRR of cash flows that never change sign).
"""

from __future__ import annotations


class UnderwritingError(ValueError):
    """A calculation over valid inputs has no answer; the message says why."""


class TargetUnreachableError(UnderwritingError):
    """No offer price in the searched range meets the requested target."""


class IrrUndefinedError(UnderwritingError):
    """The cash flows have no internal rate of return (e.g. they never change sign)."""
