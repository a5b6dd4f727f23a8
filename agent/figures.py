"""Figures in text: the check that every number in a reply comes from a tool result.

``figures_in`` reads the numbers a person would read as figures: dollar amounts, plain
numbers, percentages and ISO dates, normalised (``$1,329`` and ``1329.00`` are the same
figure). Identifiers are not figures: UUIDs and URLs are skipped, and digits inside words
(``3f2a9c1d``, ``B2``) are not read as numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_URL = re.compile(r"https?://\S+", re.I)
_DATE = re.compile(r"(?<![\w-])(\d{4}-\d{2}-\d{2})(?![\w-])")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w])")


def _normalise(token: str) -> str:
    try:
        value = Decimal(token.replace(",", ""))
    except InvalidOperation:
        return token
    normalised = value.normalize()
    # Decimal("100").normalize() is 1E+2: write integers without an exponent.
    if normalised == normalised.to_integral_value():
        return str(normalised.quantize(Decimal(1)))
    return str(normalised)


def figures_in(text: str) -> set[str]:
    """The figures in ``text``, normalised: ``{"1329", "8.5", "2009-10-15"}``."""
    text = _URL.sub(" ", _UUID.sub(" ", text))
    found = set(_DATE.findall(text))
    text = _DATE.sub(" ", text)
    found.update(_normalise(token) for token in _NUMBER.findall(text))
    return found


def unsupported_figures(reply: str, sources: list[str]) -> set[str]:
    """Figures in ``reply`` that appear in none of ``sources`` (tool results as text)."""
    known: set[str] = set()
    for source in sources:
        known |= figures_in(source)
    return figures_in(reply) - known
