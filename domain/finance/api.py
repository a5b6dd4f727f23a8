"""Finance API: accounts, transactions, expenses, budgets, closed periods, P&L and cash flow.

Admins and analysts write; investors read what concerns their own deals (transactions, budgets,
P&L and cash flow of a deal they are on; not the company's totals or bank accounts);
contractors have no access. ``/reports/pnl`` and
``/reports/cashflow`` are literal paths: app.py mounts this router before any router with
``/reports/{reportId}`` so they are never captured by it (tests/domain/finance checks).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from core.clock import local_today
from core.deps import Reader, SessionDep, Writer, require_roles
from core.paging import Offset, send_total, total_count
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.finance import reports, service
from domain.finance.enums import ReportGrouping, TransactionCategory, TransactionType
from domain.finance.models import (
    AccountCreate,
    AccountRead,
    BudgetCreate,
    BudgetRead,
    ClosedPeriodCreate,
    ClosedPeriodRead,
    ExpenseCreate,
    TransactionCreate,
    TransactionRead,
    TransactionVoidCreate,
)

router = APIRouter(tags=["finance"])

Admin = Annotated[Principal, Depends(require_roles())]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "An account, deal or document that is not this organisation's"},
    409: {"description": "A closed period, or a budget the expense would take over"},
    422: {"description": "An invalid amount, category, type or date"},
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _investor_scope(
    principal: Principal, deal_id: uuid.UUID | None, account_id: uuid.UUID | None = None
) -> None:
    """Investors see reports of their own deals only: not the company's totals or accounts."""
    if principal.role != Role.investor:
        return
    if deal_id is None or account_id is not None:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Investors see P&L and cash flow for one of their own deals: pass deal_id "
            "(company-wide figures and bank accounts are the team's)",
        )


def _raise(exc: Exception) -> NoReturn:
    """Map a finance error to its HTTP status with its message."""
    if isinstance(exc, service.NotFoundError):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, service.ClosedPeriodError | service.ConflictError):
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
    raise HTTPException(status_code=code, detail=str(exc)) from exc


_DOMAIN_ERRORS = (service.FinanceError, reports.ReportInputError, ValueError)


# --- accounts ----------------------------------------------------------------------------


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountRead,
    summary="Open an account (starts at a zero balance)",
)
def create_account(
    account_in: AccountCreate, session: SessionDep, principal: Writer
) -> AccountRead:
    """Open an account; its balance moves only with the transactions booked to it."""
    account = service.create_account(
        session=session, org_id=principal.org_id, account_in=account_in, principal=principal
    )
    session.commit()
    return AccountRead.model_validate(account)


@router.get(
    "/accounts",
    response_model=list[AccountRead],
    summary="List accounts and balances (X-Total-Count gives the number)",
    responses=total_count("accounts"),
)
def list_accounts(
    response: Response,
    session: SessionDep,
    principal: Writer,
    limit: Annotated[int, Query(ge=1, le=service.MAX_ACCOUNT_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[AccountRead]:
    """The organisation's accounts with their balances (the team's: investors get 403)."""
    accounts = service.list_accounts(
        session=session, org_id=principal.org_id, limit=limit, offset=offset
    )
    send_total(response, service.count_accounts(session=session, org_id=principal.org_id))
    return [AccountRead.model_validate(a) for a in accounts]


class ReconciliationRead(BaseModel):
    """An account's stored balance against the sum of its ledger."""

    account_id: uuid.UUID
    recorded_balance: str
    ledger_balance: str
    drift: str
    transaction_count: int
    balanced: bool
    fixed: bool


@router.post(
    "/accounts/{account_id}/reconcile",
    response_model=ReconciliationRead,
    responses={404: _ERRORS[404]},
    summary="Recompute an account's balance from its ledger and report (or fix) drift",
)
def reconcile_account(
    account_id: uuid.UUID, session: SessionDep, principal: Writer, fix: bool = False
) -> ReconciliationRead:
    """Compare the stored balance with the ledger; ``fix=true`` corrects it (audit-logged)."""
    try:
        result = service.reconcile_account(
            session=session,
            org_id=principal.org_id,
            account_id=account_id,
            fix=fix,
            principal=principal,
        )
    except service.FinanceError as exc:
        _raise(exc)
    session.commit()
    return ReconciliationRead(
        account_id=result.account_id,
        recorded_balance=str(result.recorded_balance),
        ledger_balance=str(result.ledger_balance),
        drift=str(result.drift),
        transaction_count=result.transaction_count,
        balanced=result.balanced,
        fixed=result.fixed,
    )


# --- transactions ------------------------------------------------------------------------


@router.post(
    "/transactions",
    status_code=status.HTTP_201_CREATED,
    response_model=TransactionRead,
    responses=_ERRORS,
    summary="Book a transaction (amount positive, two decimals; the type gives the sign)",
)
def create_transaction(
    transaction_in: TransactionCreate, session: SessionDep, principal: Writer
) -> TransactionRead:
    """Book income, an expense, a payment, a refund or a transfer; balances move with it."""
    try:
        transaction = service.record_transaction(
            session=session,
            org_id=principal.org_id,
            transaction_in=transaction_in,
            principal=principal,
        )
    except service.FinanceError as exc:
        _raise(exc)
    session.commit()
    return TransactionRead.from_row(transaction)


@router.get(
    "/transactions",
    response_model=list[TransactionRead],
    responses={
        # One 200 entry: the JSON page's X-Total-Count and the CSV download's media type.
        200: total_count("transactions")[200] | CSV_RESPONSE[200],
        404: _ERRORS[404],
        422: _ERRORS[422],
    },
    summary="List transactions (newest first; X-Total-Count gives the number matching)",
    description=(
        "JSON pages the matching transactions (`limit`, `offset`). The CSV download "
        "(`format=csv` or Accept: text/csv) has every matching transaction, not a page: a row "
        "each, newest first, money as exact decimals, free text escaped against spreadsheet "
        "formulas (a leading `'` before = + - @)."
    ),
)
def list_transactions(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Reader,
    deal_id: uuid.UUID | None = None,
    category: TransactionCategory | None = None,
    type: TransactionType | None = None,  # noqa: A002  (the filter's public name)
    start: Annotated[dt.date | None, Query(description="first date, inclusive")] = None,
    end: Annotated[dt.date | None, Query(description="last date, inclusive")] = None,
    account_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    counterparty: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="payee or payer contains (any case)"),
    ] = None,
    format: Annotated[  # noqa: A002
        Literal["json", "csv"] | None,
        Query(description="csv: every matching transaction as CSV (or Accept: text/csv)"),
    ] = None,
) -> list[TransactionRead] | Response:
    """Filter by deal, category, type, date range, account and counterparty; page (or CSV)."""
    csv_wanted = _wants_csv(request, format)
    try:
        page = service.list_transactions(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            category=category,
            type=type,
            start=start,
            end=end,
            account_id=account_id,
            # The CSV download is every matching transaction; the JSON answer is a page.
            limit=None if csv_wanted else limit,
            offset=0 if csv_wanted else offset,
            principal=principal,
            counterparty=counterparty,
        )
    except service.FinanceError as exc:
        _raise(exc)
    if csv_wanted:
        download = _csv(service.transactions_csv(page.items), f"transactions-{local_today()}")
        send_total(download, page.total)
        return download
    send_total(response, page.total)
    return [TransactionRead.from_row(t) for t in page.items]


class TransactionVoidRead(BaseModel):
    """A voided transaction and the offsetting entry that cancels it."""

    voided: TransactionRead
    reversal: TransactionRead
    reason: str


@router.post(
    "/transactions/{transaction_id}/void",
    status_code=status.HTTP_201_CREATED,
    response_model=TransactionVoidRead,
    responses={
        404: {"description": "A transaction that is not this organisation's"},
        409: {
            "description": "Its month is closed, it is already voided, it is a void, or it"
            " was booked from a project expense (void that on the project)"
        },
        422: {"description": "No reason (or one over 500 characters)"},
    },
    summary="Void a transaction booked by mistake (books an offsetting entry; audited)",
)
def void_transaction(
    transaction_id: uuid.UUID,
    void_in: TransactionVoidCreate,
    session: SessionDep,
    principal: Writer,
) -> TransactionVoidRead:
    """Cancel a transaction with an offsetting entry dated the same day; the original stays.

    Income is voided by an expense in its own category (the ledger has no negative income):
    the P&L takes the income back, the cash flow counts neither, budgets never count it.
    """
    try:
        result = service.void_transaction(
            session=session,
            org_id=principal.org_id,
            transaction_id=transaction_id,
            reason=void_in.reason,
            principal=principal,
        )
    except service.FinanceError as exc:
        _raise(exc)
    session.commit()
    return TransactionVoidRead(
        voided=TransactionRead.from_row(result.voided),
        reversal=TransactionRead.from_row(result.reversal),
        reason=result.reason,
    )


class ExpenseRead(BaseModel):
    """A booked expense, the budget lines it counts against (after it) and possible repeats."""

    transaction: TransactionRead
    budgets: list[service.BudgetStatusLineModel]
    possible_duplicates: list[uuid.UUID] = Field(
        default_factory=list,
        description="earlier live bookings of what looks like the same receipt (same amount,"
        " date and deal, same counterparty, spacing and case ignored), from either route: a"
        " ledger transaction's id (booked with POST /expenses or /transactions, void it with"
        " POST /transactions/{id}/void) or a project expense's (booked with POST"
        " /projects/{id}/expenses, void it on its project); voided ones and voids left out."
        " The expense is booked all the same",
    )
    warning: str | None = None
    notes: list[str] = []  # e.g. booked to the deal's one open rehab project


@router.post(
    "/expenses",
    status_code=status.HTTP_201_CREATED,
    response_model=ExpenseRead,
    responses=_ERRORS,
    summary="Book an expense, optionally on a deal and within its budget",
)
def create_expense(
    expense_in: ExpenseCreate, session: SessionDep, principal: Writer
) -> ExpenseRead:
    """Book an expense; with ``enforce_budget`` one that would go over budget is refused (409)."""
    from domain.construction import service as construction_service

    try:
        # A rehab expense on a deal with one open project reaches that project (its spent).
        route = construction_service.route_ledger_expense(
            session=session,
            org_id=principal.org_id,
            deal_id=expense_in.deal_id,
            project_id=expense_in.project_id,
            category=expense_in.category,
            day=expense_in.date,
        )
        expense_in = expense_in.model_copy(update={"project_id": route.project_id})
        result = service.record_expense(
            session=session, org_id=principal.org_id, expense_in=expense_in, principal=principal
        )
    except (service.FinanceError, construction_service.ConstructionInputError) as exc:
        _raise(exc)
    session.commit()
    return ExpenseRead(
        transaction=TransactionRead.from_row(result.transaction),
        budgets=result.budgets,
        notes=route.notes,
        possible_duplicates=[t.id for t in result.possible_duplicates],
        warning=result.duplicate_warning,
    )


# --- budgets -----------------------------------------------------------------------------


@router.post(
    "/budgets",
    response_model=BudgetRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_ERRORS,
        200: {"model": BudgetRead, "description": "An existing line's allocation was updated"},
    },
    summary="Create a budget line (deal + category + period), or set its allocation",
)
def create_budget(
    budget_in: BudgetCreate, response: Response, session: SessionDep, principal: Writer
) -> BudgetRead:
    """Budget a deal's category (no category: the deal's rehab budget); spent is kept in step."""
    try:
        budget, created = service.set_budget(
            session=session, org_id=principal.org_id, budget_in=budget_in, principal=principal
        )
    except service.FinanceError as exc:
        _raise(exc)
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return BudgetRead.model_validate(budget)


@router.get(
    "/budgets",
    response_model=service.BudgetStatus,
    responses={
        403: {"description": "An investor asked for the organisation-wide lines (no deal_id)"},
        404: _ERRORS[404],
    },
    summary="A deal's budget, or the organisation-wide one: allocated, spent and remaining per "
    "line, over-budget flags",
)
def get_budget_status(
    session: SessionDep,
    principal: Reader,
    deal_id: Annotated[
        uuid.UUID | None,
        Query(description="the deal; leave out for the organisation-wide lines (no deal)"),
    ] = None,
) -> service.BudgetStatus:
    """Budget status for one deal, or for the lines budgeted with no deal."""
    if deal_id is None and principal.role == Role.investor:
        # As with transactions, an investor sees none of the company's overhead.
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="the organisation-wide budget is the team's; name a deal_id you are on",
        )
    try:
        return service.budget_status(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
        )
    except service.FinanceError as exc:
        _raise(exc)


# --- closed periods ----------------------------------------------------------------------


def _month(text: str) -> dt.date:
    """A YYYY-MM month as its first day."""
    try:
        return dt.date.fromisoformat(f"{text}-01")
    except ValueError as exc:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"month {text!r} is not a YYYY-MM month",
        ) from exc


@router.get(
    "/closed-periods",
    response_model=list[ClosedPeriodRead],
    summary="List closed months, nothing may be booked in them (X-Total-Count: how many)",
    responses=total_count("closed months"),
)
def list_closed_periods(
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=service.MAX_ACCOUNT_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[ClosedPeriodRead]:
    """The organisation's closed months, latest first."""
    periods = service.list_closed_periods(
        session=session, org_id=principal.org_id, limit=limit, offset=offset
    )
    send_total(response, service.count_closed_periods(session=session, org_id=principal.org_id))
    return [ClosedPeriodRead.model_validate(p) for p in periods]


@router.post(
    "/closed-periods",
    status_code=status.HTTP_201_CREATED,
    response_model=ClosedPeriodRead,
    responses={409: {"description": "The month is already closed"}},
    summary="Close a month's books (admins)",
)
def close_period(
    period_in: ClosedPeriodCreate, session: SessionDep, principal: Admin
) -> ClosedPeriodRead:
    """Close a month: later bookings dated in it are refused with 409."""
    try:
        period = service.close_period(
            session=session,
            org_id=principal.org_id,
            month=_month(period_in.month),
            note=period_in.note,
            principal=principal,
        )
    except service.FinanceError as exc:
        _raise(exc)
    session.commit()
    return ClosedPeriodRead.model_validate(period)


@router.delete(
    "/closed-periods/{month}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "The month is not closed"}},
    summary="Reopen a closed month (admins)",
)
def reopen_period(month: str, session: SessionDep, principal: Admin) -> Response:
    """Reopen a month given as YYYY-MM."""
    if not service.reopen_period(
        session=session, org_id=principal.org_id, month=_month(month), principal=principal
    ):
        raise HTTPException(status_code=404, detail=f"{month} is not a closed month")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- reports -----------------------------------------------------------------------------


def _wants_csv(request: Request, format: str | None) -> bool:  # noqa: A002
    """CSV when ``?format=csv`` or the client accepts text/csv (and not JSON first)."""
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept.split(",")[0]


def _csv(text: str, name: str) -> Response:
    """A CSV download."""
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


MAX_PNL_GROUP_LIMIT = 500  # P&L groups on one page of GET /reports/pnl


def _default_start(start: dt.date | None, end: dt.date) -> dt.date:
    """The start of the end date's year when no start is given."""
    return start or dt.date(end.year, 1, 1)


ReportFormat = Annotated[
    Literal["json", "csv"] | None, Query(description="csv for a CSV download (or Accept: text/csv)")
]


@router.get(
    "/reports/pnl",
    response_model=reports.PnlReport,
    responses={**CSV_RESPONSE, 404: _ERRORS[404], 422: _ERRORS[422]},
    summary="Profit and loss: income and expenses by category, net; by period, deal or category",
    description=(
        "The groups are paged: `limit` of them (default 100, at most 500) from `offset`, in key "
        "order (periods oldest first, deals by id, counterparties and categories by name); "
        "`items` and `groups` both hold the page, `group_count` says how many groups there are "
        "over all pages. `total` is the P&L of ALL groups in the range, never of the page (it "
        "is a P&L group, not a count). The CSV download (`format=csv`) has every group."
    ),
)
def get_pnl(
    request: Request,
    session: SessionDep,
    principal: Reader,
    start: Annotated[dt.date | None, Query(description="default: 1 January of end's year")] = None,
    end: Annotated[dt.date | None, Query(description="default: today")] = None,
    deal_id: uuid.UUID | None = None,
    group_by: ReportGrouping | None = None,
    format: ReportFormat = None,  # noqa: A002
    limit: Annotated[
        int, Query(ge=1, le=MAX_PNL_GROUP_LIMIT, description="groups on the page (JSON only)")
    ] = 100,
    offset: Offset = 0,
) -> reports.PnlReport | Response:
    """The P&L over a date range (JSON, or CSV with a header row); investors: one of their deals."""
    _investor_scope(principal, deal_id)
    csv_wanted = _wants_csv(request, format)
    end = end or local_today()
    try:
        if deal_id is not None:
            service.require_deal(
                session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
            )
        report = service.pnl(
            session=session,
            org_id=principal.org_id,
            start=_default_start(start, end),
            end=end,
            deal_id=deal_id,
            group_by=group_by,
            # The CSV download is the whole report; the JSON answer pages its groups.
            limit=None if csv_wanted else limit,
            offset=0 if csv_wanted else offset,
        )
    except _DOMAIN_ERRORS as exc:
        _raise(exc)
    if csv_wanted:
        return _csv(reports.pnl_csv(report), f"pnl-{report.start}-{report.end}")
    return report


@router.get(
    "/reports/cashflow",
    response_model=reports.CashflowReport,
    responses={**CSV_RESPONSE, 404: _ERRORS[404], 422: _ERRORS[422]},
    summary="Cash flow: inflows, outflows and net per period (or deal/category), with balances",
)
def get_cashflow(
    request: Request,
    session: SessionDep,
    principal: Reader,
    start: Annotated[dt.date | None, Query(description="default: 1 January of end's year")] = None,
    end: Annotated[dt.date | None, Query(description="default: today")] = None,
    deal_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    group_by: ReportGrouping = ReportGrouping.month,
    format: ReportFormat = None,  # noqa: A002
) -> reports.CashflowReport | Response:
    """The cash flow over a date range (JSON or CSV); investors: one of their deals, no account."""
    _investor_scope(principal, deal_id, account_id)
    end = end or local_today()
    try:
        if deal_id is not None:
            service.require_deal(
                session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
            )
        if (
            account_id is not None
            and service.get_account(session=session, org_id=principal.org_id, account_id=account_id)
            is None
        ):
            raise service.NotFoundError(f"Account {account_id} not found in this organisation")
        report = service.cashflow(
            session=session,
            org_id=principal.org_id,
            start=_default_start(start, end),
            end=end,
            deal_id=deal_id,
            account_id=account_id,
            group_by=group_by,
        )
    except _DOMAIN_ERRORS as exc:
        _raise(exc)
    if _wants_csv(request, format):
        return _csv(reports.cashflow_csv(report), f"cashflow-{report.start}-{report.end}")
    return report
