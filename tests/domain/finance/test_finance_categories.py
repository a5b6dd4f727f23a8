"""Categories map to IRS Schedule E (Part I) lines; flip and construction categories do not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.finance.enums import (
    CategoryKind,
    TransactionCategory,
    TransactionType,
    parse_category,
)

# Schedule E (Form 1040), Part I: line 3 rents received, lines 5-19 expenses.
SCHEDULE_E = {
    "rents_received": 3,
    "advertising": 5,
    "auto_and_travel": 6,
    "cleaning_and_maintenance": 7,
    "commissions": 8,
    "insurance": 9,
    "legal_and_professional_fees": 10,
    "management_fees": 11,
    "mortgage_interest": 12,
    "other_interest": 13,
    "repairs": 14,
    "supplies": 15,
    "taxes": 16,
    "utilities": 17,
    "depreciation": 18,
    "other": 19,
}
FLIP_CATEGORIES = {
    "purchase",
    "closing_costs",
    "rehab_materials",
    "rehab_labour",
    "permits",
    "holding_costs",
    "selling_costs",
    "sale_proceeds",
}


@pytest.mark.parametrize(("category", "line"), sorted(SCHEDULE_E.items()))
def test_rental_category_knows_its_schedule_e_line(category: str, line: int) -> None:
    assert TransactionCategory(category).schedule_e_line == line


@pytest.mark.parametrize("category", sorted(FLIP_CATEGORIES))
def test_flip_and_construction_categories_have_no_schedule_e_line(category: str) -> None:
    assert TransactionCategory(category).schedule_e_line is None


def test_the_category_list_is_exactly_schedule_e_plus_flip() -> None:
    assert {c.value for c in TransactionCategory} == set(SCHEDULE_E) | FLIP_CATEGORIES
    # Every Schedule E line from 3 to 19 but 4 (royalties) has exactly one category.
    lines = [c.schedule_e_line for c in TransactionCategory if c.schedule_e_line]
    assert sorted(lines) == [3, *range(5, 20)]


def test_only_rents_and_sale_proceeds_are_income() -> None:
    income = {c.value for c in TransactionCategory if c.kind is CategoryKind.income}
    assert income == {"rents_received", "sale_proceeds"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Repairs", "repairs"),
        ("labor", "rehab_labour"),
        ("Materials", "rehab_materials"),
        ("property taxes", "taxes"),
        ("closing-costs", "closing_costs"),
    ],
)
def test_aliases_and_spellings_parse(text: str, expected: str) -> None:
    assert parse_category(text) == TransactionCategory(expected)


def test_unknown_category_is_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match="unknown category 'jacuzzi'.*repairs"):
        parse_category("jacuzzi")


def test_type_gives_the_sign() -> None:
    amount = Decimal("12.50")
    assert TransactionType.income.signed(amount) == Decimal("12.50")
    assert TransactionType.refund.signed(amount) == Decimal("12.50")
    assert TransactionType.expense.signed(amount) == Decimal("-12.50")
    assert TransactionType.payment.signed(amount) == Decimal("-12.50")
    assert TransactionType.transfer.signed(amount) == Decimal("-12.50")  # the source's side
