"""Units a cost-book row is priced in, condition grades and what a rehab line does."""

from enum import StrEnum


class CostUnit(StrEnum):
    """The unit a component cost is quoted per."""

    sqft = "sqft"
    square = "square"  # roofing: 100 sqft of roof surface
    unit = "unit"
    linear_ft = "linear ft"
    each = "each"
    job = "job"


class Condition(StrEnum):
    """The seed's four condition grades (the same as photo and walkthrough analysis)."""

    excellent = "excellent"
    good = "good"
    fair = "fair"
    poor = "poor"


class RehabAction(StrEnum):
    """What an estimate line does to a component: its condition decides.

    Upper-case members: ``replace`` would shadow ``str.replace`` on a StrEnum.
    """

    REPLACE = "replace"
    REPAIR = "repair"
    NONE = "none"


class UnpricedReason(StrEnum):
    """Why a requested component got no line item."""

    unknown_component = "unknown_component"
    quantity_needed = "quantity_needed"
    unit_mismatch = "unit_mismatch"
