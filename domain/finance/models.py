"""Accounts, transactions, budgets and closed periods (schema ``financial_service``).

``deal_id`` columns point at ``deal_service.deals`` (and ``project_id`` at
``construction_service.projects``, ``receipt_document_id`` at ``documents.documents``) as plain
indexed UUIDs, not foreign keys, so the finance module can be split out without a data
migration. Amounts are ``NUMERIC(12, 2)``, always positive; the transaction's type gives the
sign (``domain.finance.enums``). An account's ``balance`` is maintained in the same database
transaction as every ledger insert and always equals the signed sum of its transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import ConfigDict, model_validator
from sqlalchemy import Boolean, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.finance.enums import (
    AccountType,
    TransactionCategory,
    TransactionType,
)
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, money

SCHEMA = "financial_service"

# Largest amount NUMERIC(12, 2) holds: 9,999,999,999.99.
MAX_DIGITS = 12


def _positive_money(description: str) -> object:
    """A request field for a positive amount with at most two decimal places."""
    result: object = Field(gt=0, max_digits=MAX_DIGITS, decimal_places=2, description=description)
    return result


# --- accounts ---------------------------------------------------------------------------


class AccountBase(SQLModel):
    """Fields a caller may set on an account."""

    name: str = Field(min_length=1, max_length=200)
    type: AccountType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]


class Account(UUIDPrimaryKey, OrgScoped, Timestamps, AccountBase, table=True):
    """A bank, card, loan or escrow account; its balance is the signed sum of its ledger."""

    __tablename__ = "accounts"
    __table_args__ = {"schema": SCHEMA}

    balance: Decimal = money(nullable=False, description="maintained with every ledger insert")


class AccountCreate(AccountBase):
    """Body of ``POST /accounts``: a new account starts at a zero balance."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class AccountRead(AccountBase):
    """An account as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    balance: Decimal
    created_at: dt.datetime
    updated_at: dt.datetime


# --- transactions ------------------------------------------------------------------------


class TransactionBase(SQLModel):
    """Columns a transaction shares with its request and read models."""

    deal_id: uuid.UUID | None = Field(default=None, description="deal_service.deals.id")
    account_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.accounts.id", index=True
    )
    to_account_id: uuid.UUID | None = Field(
        default=None,
        foreign_key=f"{SCHEMA}.accounts.id",
        index=True,
        description="a transfer's receiving account",
    )
    type: TransactionType = Field(sa_type=String(50))  # type: ignore[call-overload]
    category: TransactionCategory | None = Field(default=None, sa_type=String(100))  # type: ignore[call-overload]
    amount: Decimal = money(nullable=False)
    date: dt.date
    description: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    counterparty: str | None = Field(default=None, max_length=200, description="payee or payer")
    receipt_url: str | None = Field(default=None, max_length=500)
    receipt_document_id: uuid.UUID | None = Field(
        default=None, description="documents.documents.id of the receipt"
    )
    project_id: uuid.UUID | None = Field(
        default=None, description="construction_service.projects.id, for construction costs"
    )


class Transaction(UUIDPrimaryKey, OrgScoped, CreatedAt, TransactionBase, table=True):
    """Money in or out, optionally against a deal; the ledger is append-only."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_org_deal_date", "org_id", "deal_id", "date"),
        Index("ix_transactions_org_date", "org_id", "date"),
        Index("ix_transactions_org_category_date", "org_id", "category", "date"),
        # A transaction booked from an event exists once per event, however often delivered.
        UniqueConstraint("source_event_id", name="uq_transactions_source_event"),
        CheckConstraint("amount > 0", name="ck_transactions_amount_positive"),
        CheckConstraint(
            "(type = 'transfer') = (to_account_id IS NOT NULL AND account_id IS NOT NULL)",
            name="ck_transactions_transfer_accounts",
        ),
        {"schema": SCHEMA},
    )

    source_event_id: uuid.UUID | None = Field(
        default=None, description="events.outbox.id of the event that booked it"
    )
    created_by: uuid.UUID | None = Field(default=None, description="auth.users.id, if a person")


class TransactionCreate(SQLModel):
    """Body of ``POST /transactions``: amount positive with two decimals; the type signs it."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    type: TransactionType
    category: TransactionCategory | None = Field(
        default=None, description="required except for transfers"
    )
    amount: Decimal = _positive_money("positive, at most two decimal places")  # type: ignore[assignment]
    date: dt.date
    description: str | None = Field(default=None, max_length=2000)
    deal_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    to_account_id: uuid.UUID | None = Field(default=None, description="transfers only")
    counterparty: str | None = Field(default=None, max_length=200)
    receipt_url: str | None = Field(default=None, max_length=500)
    receipt_document_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None


class TransactionVoidCreate(SQLModel):
    """Body of ``POST /transactions/{id}/void``: why the transaction is voided."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    reason: str = Field(
        min_length=1, max_length=500, description="why it is voided (kept in the audit log)"
    )

    @model_validator(mode="after")
    def _reason_not_blank(self) -> TransactionVoidCreate:
        """A reason of only spaces is no reason."""
        self.reason = " ".join(self.reason.split())
        if not self.reason:
            raise ValueError("reason must not be blank: say why the transaction is voided")
        return self


class ExpenseCreate(SQLModel):
    """Body of ``POST /expenses``: an expense in a category, optionally on a deal."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    category: TransactionCategory
    amount: Decimal = _positive_money("positive, at most two decimal places")  # type: ignore[assignment]
    date: dt.date
    description: str | None = Field(default=None, max_length=2000)
    deal_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    counterparty: str | None = Field(default=None, max_length=200)
    receipt_document_id: uuid.UUID | None = None
    receipt_url: str | None = Field(default=None, max_length=500)
    project_id: uuid.UUID | None = None
    enforce_budget: bool = Field(
        default=False,
        description="refuse (409, nothing written) an expense that would take a budget over",
    )


class TransactionRead(TransactionBase):
    """A transaction as the API returns it, with its signed amount and Schedule E line."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    source_event_id: uuid.UUID | None = None
    signed_amount: Decimal = Field(description="the amount with its type's sign")
    schedule_e_line: int | None = None

    @classmethod
    def from_row(cls, row: Transaction) -> TransactionRead:
        """Build the read model from a stored transaction."""
        kind = TransactionType(row.type)
        category = TransactionCategory(row.category) if row.category else None
        # A row loaded from the database holds plain strings in its enum columns: dump the
        # rest and pass the members, so serialising never warns "Expected `enum`".
        return cls.model_validate(
            {
                **row.model_dump(exclude={"type", "category"}),
                "type": kind,
                "category": category,
                "signed_amount": kind.signed(row.amount),
                "schedule_e_line": category.schedule_e_line if category else None,
            }
        )


# --- budgets -----------------------------------------------------------------------------


class BudgetBase(SQLModel):
    """Columns a budget line shares with its request and read models."""

    deal_id: uuid.UUID | None = Field(default=None, description="deal_service.deals.id")
    category: TransactionCategory | None = Field(
        default=None,
        sa_type=String(100),  # type: ignore[call-overload]
        description="None: the rehab budget, counting every rehab category",
    )
    allocated_amount: Decimal | None = money()
    spent_amount: Decimal | None = money()
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class Budget(UUIDPrimaryKey, OrgScoped, Timestamps, BudgetBase, table=True):
    """How much may be spent in a category (per deal, or per period)."""

    __tablename__ = "budgets"
    __table_args__ = (
        Index("ix_budgets_org_deal_category", "org_id", "deal_id", "category"),
        UniqueConstraint(
            "org_id",
            "deal_id",
            "category",
            "period_start",
            "period_end",
            name="uq_budgets_scope",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("allocated_amount >= 0", name="ck_budgets_allocation_not_negative"),
        {"schema": SCHEMA},
    )

    exceeded: bool = Field(
        default=False,
        sa_type=Boolean,  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": "false", "nullable": False},
        description="spent is over allocated; flips publish budget.exceeded once per crossing",
    )
    source: str | None = Field(default=None, max_length=200, description="who opened it, how")


class BudgetCreate(SQLModel):
    """Body of ``POST /budgets``: creates the line, or sets the allocation of an existing one."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    deal_id: uuid.UUID | None = None
    category: TransactionCategory | None = Field(
        default=None, description="omit for the deal's rehab budget (all rehab categories)"
    )
    allocated_amount: Decimal = Field(ge=0, max_digits=MAX_DIGITS, decimal_places=2)
    period_start: dt.date | None = None
    period_end: dt.date | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> BudgetCreate:
        """A period must end on or after its start."""
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end must be on or after period_start")
        return self


class BudgetRead(BudgetBase):
    """A budget line as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    exceeded: bool
    source: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


# --- closed periods ----------------------------------------------------------------------


class ClosedPeriod(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A month whose books are closed: nothing may be booked dated inside it."""

    __tablename__ = "closed_periods"
    __table_args__ = (
        UniqueConstraint("org_id", "month", name="uq_closed_periods_org_month"),
        {"schema": SCHEMA},
    )

    month: dt.date = Field(description="the first day of the closed month")
    closed_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    note: str | None = Field(default=None, max_length=500)


class ClosedPeriodCreate(SQLModel):
    """Body of ``POST /closed-periods``: the month to close, as YYYY-MM."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    month: str = Field(regex=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    note: str | None = Field(default=None, max_length=500)


class ClosedPeriodRead(SQLModel):
    """A closed month as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    month: dt.date
    closed_by: uuid.UUID | None
    note: str | None
    created_at: dt.datetime
