"""Money in API responses: always a decimal string with exactly two places ("139831.00").

Amounts are ``Decimal`` in services and ``NUMERIC(12, 2)`` in the database, so a stored value
reads back with cents while one fresh from a calculation may not ("139831", "1.1E+5"). Every
response model declares its money fields as ``MoneyOut``, so a write answers the same string a
later read does. ``money_str`` does the same for amounts put into free-form dicts (inputs,
details). Percentages, rates and other non-money decimals are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import PlainSerializer

CENTS = Decimal("0.01")


def to_cents(value: Decimal | int | float | str) -> Decimal:
    """``value`` rounded half-up to cents (``-0`` becomes ``0.00``)."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP) + Decimal(0)


def money_str(value: Decimal | int | float | str) -> str:
    """An amount as a plain two-place string: ``money_str(Decimal("1E+5")) == "100000.00"``."""
    return f"{to_cents(value):f}"


MoneyOut = Annotated[Decimal, PlainSerializer(money_str, return_type=str, when_used="json")]
"""A money field of a response model: JSON gives two places; Python keeps the Decimal."""


def format_money_keys(data: Any, keys: Iterable[str]) -> Any:
    """A copy of JSON-like ``data`` with the amounts under ``keys`` as two-place strings.

    Keys match at any depth; values that are not numbers (None, text) are kept as they are.
    """
    names = frozenset(keys)

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {
                key: _amount(value) if key in names else walk(value) for key, value in item.items()
            }
        if isinstance(item, list):
            return [walk(value) for value in item]
        return item

    def _amount(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            return walk(value)
        try:
            return money_str(value)
        except (InvalidOperation, ValueError):
            return value

    return walk(data)


# Money inputs of the underwriting calculations (``domain.underwriting.models``), echoed in
# every result's ``inputs``: a response that embeds a result formats these keys.
UNDERWRITING_MONEY_KEYS = (
    "arv",
    "assignment_fee",
    "buy_closing_cost",
    "closing_cost",
    "contract_price",
    "end_buyer_target_profit",
    "gross_rent_monthly",
    "hoa_monthly",
    "insurance_annual",
    "insurance_monthly",
    "loan_amount",
    "max_price",
    "other_expenses_monthly",
    "other_income_monthly",
    "other_monthly",
    "payment_standard_monthly",
    "principal",
    "property_taxes_annual",
    "property_taxes_monthly",
    "purchase_price",
    "rehab_cost",
    "starting_value",
    "target_profit",
    "utilities_monthly",
    "utility_allowance_monthly",
    "wholesale_costs",
)


def format_result_inputs(result: Any) -> Any:
    """A serialised underwriting result (or None) with the money in its ``inputs`` with cents.

    Its other figures are already rounded to cents; inputs are echoed as given.
    """
    if not isinstance(result, dict):
        return result
    return {
        key: format_money_keys(value, UNDERWRITING_MONEY_KEYS) if key == "inputs" else value
        for key, value in result.items()
    }
