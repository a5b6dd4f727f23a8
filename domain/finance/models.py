"""Accounts, transactions and budgets (schema ``financial_service``).

``deal_id`` columns point at ``deal_service.deals`` as plain indexed UUIDs, not foreign keys,
so the finance module can be split out without a data migration.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from domain.finance.enums import AccountType, TransactionType
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, money

SCHEMA = "financial_service"


class AccountBase(SQLModel):
    """Fields a caller may set on an account."""

    name: str = Field(max_length=200)
    type: AccountType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    balance: Decimal | None = money()


class Account(UUIDPrimaryKey, OrgScoped, Timestamps, AccountBase, table=True):
    """A bank, card, loan or escrow account."""

    __tablename__ = "accounts"
    __table_args__ = {"schema": SCHEMA}


class TransactionBase(SQLModel):
    """Fields a caller may set on a transaction."""

    deal_id: uuid.UUID | None = Field(default=None, description="deal_service.deals.id")
    account_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.accounts.id", index=True, ondelete="SET NULL"
    )
    type: TransactionType = Field(sa_type=String(50))  # type: ignore[call-overload]
    category: str | None = Field(default=None, max_length=100)
    amount: Decimal = money(nullable=False)
    date: dt.date
    description: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    receipt_url: str | None = Field(default=None, max_length=500)


class Transaction(UUIDPrimaryKey, OrgScoped, CreatedAt, TransactionBase, table=True):
    """Money in or out, optionally against a deal; the ledger is append-only."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_org_deal_date", "org_id", "deal_id", "date"),
        Index("ix_transactions_org_date", "org_id", "date"),
        {"schema": SCHEMA},
    )


class TransactionCreate(TransactionBase):
    """Body of ``POST /transactions`` and ``POST /expenses``."""


class TransactionRead(TransactionBase):
    """A transaction as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime


class BudgetBase(SQLModel):
    """Fields a caller may set on a budget line."""

    deal_id: uuid.UUID | None = Field(default=None, description="deal_service.deals.id")
    category: str | None = Field(default=None, max_length=100)
    allocated_amount: Decimal | None = money()
    spent_amount: Decimal | None = money()
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class Budget(UUIDPrimaryKey, OrgScoped, Timestamps, BudgetBase, table=True):
    """How much may be spent in a category (per deal, or per period)."""

    __tablename__ = "budgets"
    __table_args__ = (
        Index("ix_budgets_org_deal_category", "org_id", "deal_id", "category"),
        {"schema": SCHEMA},
    )


class BudgetCreate(BudgetBase):
    """Body of ``POST /budgets``."""


class BudgetRead(BudgetBase):
    """A budget line as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
