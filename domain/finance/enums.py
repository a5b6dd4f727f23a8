"""Kinds of accounts and transactions, the fixed category list and its IRS Schedule E lines.

Sign convention: a transaction's ``amount`` is always positive (two decimal places); its
``type`` says which way the money moves (``TransactionType.direction``):

- ``income``   +amount: money received (rent, sale proceeds).
- ``expense``  -amount: money spent on a cost category.
- ``payment``  -amount: money paid out to settle a bill or a draw (a contractor's draw, a loan
  payment, a closing disbursement). It counts as an expense of its category in the P&L and
  against budgets, and publishes ``payment.processed``.
- ``refund``   +amount: money returned against an expense category (a vendor refund). It
  reduces that category's expenses in the P&L and the budgets' spent amount.
- ``transfer`` -amount on ``account_id``, +amount on ``to_account_id``: money moved between two
  of the organisation's own accounts. Not income or expense; left out of the P&L and of the
  organisation-wide cash flow (its two legs cancel), shown when a report names an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class AccountType(StrEnum):
    """What sort of account money sits in."""

    checking = "checking"
    savings = "savings"
    credit_card = "credit_card"
    loan = "loan"
    escrow = "escrow"
    cash = "cash"


class TransactionType(StrEnum):
    """Which way money moves (see the module docstring for the sign of each)."""

    income = "income"
    expense = "expense"
    payment = "payment"
    refund = "refund"
    transfer = "transfer"

    @property
    def direction(self) -> int:
        """+1 when money comes into the account, -1 when it leaves (transfers: the source)."""
        return 1 if self in (TransactionType.income, TransactionType.refund) else -1

    def signed(self, amount: Decimal) -> Decimal:
        """The amount with the sign this type gives it (money into the account positive)."""
        return amount if self.direction > 0 else -amount


# Types whose amount is spending in a category (a refund takes spending back).
SPENDING_TYPES = frozenset({TransactionType.expense, TransactionType.payment})


class CategoryKind(StrEnum):
    """Whether a category is money earned or money spent."""

    income = "income"
    expense = "expense"


class TransactionCategory(StrEnum):
    """The fixed list of categories: Schedule E lines 3-19, then flip and construction."""

    rents_received = "rents_received"
    advertising = "advertising"
    auto_and_travel = "auto_and_travel"
    cleaning_and_maintenance = "cleaning_and_maintenance"
    commissions = "commissions"
    insurance = "insurance"
    legal_and_professional_fees = "legal_and_professional_fees"
    management_fees = "management_fees"
    mortgage_interest = "mortgage_interest"
    other_interest = "other_interest"
    repairs = "repairs"
    supplies = "supplies"
    taxes = "taxes"
    utilities = "utilities"
    depreciation = "depreciation"
    other = "other"
    purchase = "purchase"
    closing_costs = "closing_costs"
    rehab_materials = "rehab_materials"
    rehab_labour = "rehab_labour"
    permits = "permits"
    holding_costs = "holding_costs"
    selling_costs = "selling_costs"
    sale_proceeds = "sale_proceeds"

    @property
    def info(self) -> CategoryInfo:
        """The category's label, kind and Schedule E line."""
        return CATEGORY_INFO[self]

    @property
    def schedule_e_line(self) -> int | None:
        """The IRS Schedule E (Part I) line this category is reported on, or None."""
        return CATEGORY_INFO[self].schedule_e_line

    @property
    def kind(self) -> CategoryKind:
        """Income or expense."""
        return CATEGORY_INFO[self].kind


@dataclass(frozen=True)
class CategoryInfo:
    """How a category is labelled, whether it is income, and its Schedule E line."""

    label: str
    kind: CategoryKind
    schedule_e_line: int | None
    schedule_e_label: str | None = None


_C = TransactionCategory
_INC = CategoryKind.income
_EXP = CategoryKind.expense

# IRS Schedule E (Form 1040), Part I, "Income or Loss From Rental Real Estate": line 3 rents
# received, lines 5-19 expenses. Flip and construction categories are not Schedule E items
# (a flip is inventory; purchase and rehab of a rental are capitalised and depreciated).
CATEGORY_INFO: dict[TransactionCategory, CategoryInfo] = {
    _C.rents_received: CategoryInfo("Rents received", _INC, 3, "Rents received"),
    _C.advertising: CategoryInfo("Advertising", _EXP, 5, "Advertising"),
    _C.auto_and_travel: CategoryInfo("Auto and travel", _EXP, 6, "Auto and travel"),
    _C.cleaning_and_maintenance: CategoryInfo(
        "Cleaning and maintenance", _EXP, 7, "Cleaning and maintenance"
    ),
    _C.commissions: CategoryInfo("Commissions", _EXP, 8, "Commissions"),
    _C.insurance: CategoryInfo("Insurance", _EXP, 9, "Insurance"),
    _C.legal_and_professional_fees: CategoryInfo(
        "Legal and other professional fees", _EXP, 10, "Legal and other professional fees"
    ),
    _C.management_fees: CategoryInfo("Management fees", _EXP, 11, "Management fees"),
    _C.mortgage_interest: CategoryInfo(
        "Mortgage interest", _EXP, 12, "Mortgage interest paid to banks, etc."
    ),
    _C.other_interest: CategoryInfo("Other interest", _EXP, 13, "Other interest"),
    _C.repairs: CategoryInfo("Repairs", _EXP, 14, "Repairs"),
    _C.supplies: CategoryInfo("Supplies", _EXP, 15, "Supplies"),
    _C.taxes: CategoryInfo("Taxes", _EXP, 16, "Taxes"),
    _C.utilities: CategoryInfo("Utilities", _EXP, 17, "Utilities"),
    _C.depreciation: CategoryInfo("Depreciation", _EXP, 18, "Depreciation expense or depletion"),
    _C.other: CategoryInfo("Other", _EXP, 19, "Other"),
    _C.purchase: CategoryInfo("Purchase price", _EXP, None),
    _C.closing_costs: CategoryInfo("Closing costs", _EXP, None),
    _C.rehab_materials: CategoryInfo("Rehab materials", _EXP, None),
    _C.rehab_labour: CategoryInfo("Rehab labour", _EXP, None),
    _C.permits: CategoryInfo("Permits", _EXP, None),
    _C.holding_costs: CategoryInfo("Holding costs", _EXP, None),
    _C.selling_costs: CategoryInfo("Selling costs", _EXP, None),
    _C.sale_proceeds: CategoryInfo("Sale proceeds", _INC, None),
}

# What a deal's rehab budget (a budget row with no category) counts: the work on the house,
# and the permits it needs (construction's ``permits`` expenses are booked as ``permits``).
REHAB_CATEGORIES = frozenset(
    {
        _C.rehab_materials,
        _C.rehab_labour,
        _C.permits,
        _C.repairs,
        _C.supplies,
        _C.cleaning_and_maintenance,
    }
)

# Other spellings callers (events, the agent, imports) use for a category.
CATEGORY_ALIASES: dict[str, TransactionCategory] = {
    "rent": _C.rents_received,
    "rents": _C.rents_received,
    "rental_income": _C.rents_received,
    "cleaning": _C.cleaning_and_maintenance,
    "maintenance": _C.cleaning_and_maintenance,
    "travel": _C.auto_and_travel,
    "legal": _C.legal_and_professional_fees,
    "professional_fees": _C.legal_and_professional_fees,
    "management": _C.management_fees,
    "interest": _C.mortgage_interest,
    "repair": _C.repairs,
    "property_taxes": _C.taxes,
    "tax": _C.taxes,
    "materials": _C.rehab_materials,
    "material": _C.rehab_materials,
    "rehab": _C.rehab_materials,
    "labor": _C.rehab_labour,
    "labour": _C.rehab_labour,
    "rehab_labor": _C.rehab_labour,
    "permit": _C.permits,
    "building_permits": _C.permits,
    "rehab_permits": _C.permits,
    "closing": _C.closing_costs,
    "holding": _C.holding_costs,
    "selling": _C.selling_costs,
    "sale": _C.sale_proceeds,
    "acquisition": _C.purchase,
}


def parse_category(value: str | TransactionCategory) -> TransactionCategory:
    """A category from its value or a known alias (case and spacing ignored); ValueError else."""
    if isinstance(value, TransactionCategory):
        return value
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return TransactionCategory(key)
    except ValueError:
        pass
    if key in CATEGORY_ALIASES:
        return CATEGORY_ALIASES[key]
    raise ValueError(
        f"unknown category {value!r}: use one of {', '.join(c.value for c in TransactionCategory)}"
    )


class ReportGrouping(StrEnum):
    """How a report's rows are grouped."""

    month = "month"
    quarter = "quarter"
    year = "year"
    deal = "deal"
    category = "category"
    counterparty = "counterparty"

    @property
    def is_period(self) -> bool:
        """Whether the rows are calendar periods."""
        return self in (ReportGrouping.month, ReportGrouping.quarter, ReportGrouping.year)
