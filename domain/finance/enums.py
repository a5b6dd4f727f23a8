"""Kinds of accounts and transactions."""

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
    """Which way money moves."""

    income = "income"
    expense = "expense"
    transfer = "transfer"
