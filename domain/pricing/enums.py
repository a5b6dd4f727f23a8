"""Units a cost-book row can be priced in."""

from enum import StrEnum


class CostUnit(StrEnum):
    """The unit a component cost is quoted per."""

    sqft = "sqft"
    unit = "unit"
    linear_ft = "linear ft"
    each = "each"
    job = "job"
