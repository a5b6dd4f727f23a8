"""Kinds of valuations."""

from enum import StrEnum


class ValuationKind(StrEnum):
    """What a valuation estimates."""

    as_is = "as_is"
    arv = "arv"
