"""How a deal did against its projection: projected and realised figures side by side.

``deal_performance`` runs the deal's projection (``service.deal_projection``, exactly what
``GET /projections/{dealId}`` answers, with the same optional assumptions) and reads the
deal's ledger P&L (``domain.finance.reports``, every transaction on the deal dated on or
before ``as_of``, default today), then compares them line by line. Nothing is invented: a
figure the projection cannot give or the ledger does not hold is ``None`` with the reason in
``missing``.

How the ledger's categories map to the lines:

- purchase price: ``purchase``; buy closing costs: ``closing_costs``;
- rehab: the rehab categories (``rehab_materials``, ``rehab_labour``, ``permits``, and
  ``repairs``, ``supplies``, ``cleaning_and_maintenance``; for a rental the upkeep ones,
  repairs, supplies and cleaning, only when dated before the first rent received: later ones
  are operating expenses, as the deal's rehab budget counts them; rehab work, materials,
  labour and permits, is rehab whenever it is booked);
- holding costs: ``holding_costs``, ``taxes``, ``insurance``, ``utilities`` (a rental: before
  the first rent); financing costs: ``mortgage_interest``, ``other_interest``;
- selling costs: ``selling_costs``, ``commissions``; sale price: ``sale_proceeds``;
- rentals: rents collected = income other than sale proceeds from the first rent on;
  operating expenses = every other expense from the first rent on (interest, depreciation and
  rehab work aside); NOI = rents collected − operating expenses; cash flow = NOI − interest
  (the ledger books no principal, so it is before principal repayments, while the
  projection's includes them). The projection's yearly rental figures are prorated to the
  days from the first rent to the end (days / 365).
- profit (flip, wholesale): the P&L net (income − expenses). Return on cost = profit / total
  costs (flip), yield on cost = yearly NOI / (purchase + closing + rehab) (rentals), both sides
  on the same basis; the projection's cash-on-cash return needs the loan, which the ledger
  does not record. Every percentage is rounded once, half-up, to one place, from the exact
  ratio (a flip's projected ROI on cash from its profit and cash invested, not from the
  analysis's two-place ``roi_pct``).

Differences are actual − projected, and % of the projected figure (none when it is 0).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session

from core.clock import local_today
from core.money import MoneyOut
from domain.auth.service import Principal
from domain.deal import service
from domain.deal.enums import DealStatus, DealStrategy
from domain.deal.projection import DealProjection, ProjectionAssumptions
from domain.finance import reports
from domain.finance.enums import TransactionType
from domain.finance.reports import LedgerRow, PnlGroup, pnl_from_rows
from domain.underwriting.models import (
    BrrrrResult,
    FlipResult,
    RentalResult,
    Section8Result,
    WholesaleResult,
)

ZERO = Decimal("0.00")
HUNDRED = Decimal("100")
DAYS_A_YEAR = Decimal("365")

PURCHASE = ("purchase",)
CLOSING = ("closing_costs",)
REHAB_ALWAYS = ("rehab_materials", "rehab_labour", "permits")
REHAB_UPKEEP = ("repairs", "supplies", "cleaning_and_maintenance")
HOLDING = ("holding_costs", "taxes", "insurance", "utilities")
FINANCING = ("mortgage_interest", "other_interest")
SELLING = ("selling_costs", "commissions")
SALE = ("sale_proceeds",)
NON_CASH = ("depreciation",)

CostOrIncome = Literal["cost", "income"]


class PerformanceLine(BaseModel):
    """One figure, projected and actual, and how far apart they are."""

    key: str
    label: str
    kind: CostOrIncome = Field(description="cost: lower is better; income: higher is better")
    projected: MoneyOut | None
    actual: MoneyOut | None
    difference: MoneyOut | None = Field(description="actual − projected")
    difference_pct: Decimal | None = Field(description="difference as % of the projected")
    favourable: bool | None = Field(description="actual better than projected (None: unknown)")
    projected_source: str | None
    actual_source: str | None
    missing: list[str] = Field(default_factory=list, description="why a side is missing")


class ReturnLine(BaseModel):
    """A return, in percent, projected and actual on the same basis."""

    key: str
    label: str
    basis: str
    projected_pct: Decimal | None
    actual_pct: Decimal | None
    difference_pts: Decimal | None = Field(description="actual − projected, percentage points")
    missing: list[str] = Field(default_factory=list)


class LedgerPnl(BaseModel):
    """The deal's ledger P&L the actuals come from."""

    income: dict[str, MoneyOut]
    expenses: dict[str, MoneyOut]
    total_income: MoneyOut
    total_expenses: MoneyOut
    net: MoneyOut
    transaction_count: int
    basis: str
    source: str


class DealPerformance(BaseModel):
    """A deal's realised results next to its projection."""

    deal_id: uuid.UUID
    strategy: DealStrategy | None
    status: DealStatus
    state: Literal["realised", "realised so far", "to date", "nothing booked"] = Field(
        description="realised: sold (flip, wholesale, a rental sold); realised so far: not "
        "sold yet; to date: a rental, still running; nothing booked: no ledger transaction on "
        "the deal"
    )
    period_start: dt.date | None = Field(description="first ledger transaction on the deal")
    period_end: dt.date = Field(
        description="the actuals run to this day (as_of; default today, company-local)"
    )
    operating_start: dt.date | None = Field(
        default=None, description="rentals: the first rent received (prorating starts here)"
    )
    open_items: list[str] = Field(description="what is still open")
    lines: list[PerformanceLine]
    returns: list[ReturnLine]
    projection_missing: str | None = Field(
        description="why there is no projection (every projected figure is then missing)"
    )
    projection_sources: dict[str, str] = Field(
        description="where the projection's deal figures came from (GET /projections/{dealId})"
    )
    ledger: LedgerPnl
    notes: list[str]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as % of ``whole`` to one place, rounded once, half-up, from the exact ratio."""
    if whole == 0:
        return None
    return (part * HUNDRED / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def compare(
    *,
    key: str,
    label: str,
    kind: CostOrIncome,
    projected: Decimal | None,
    actual: Decimal | None,
    projected_source: str | None,
    actual_source: str | None,
    missing: Iterable[str] = (),
) -> PerformanceLine:
    """A line with its difference (actual − projected), its % and whether it is favourable."""
    difference = pct = favourable = None
    if projected is not None and actual is not None:
        difference = _cents(actual - projected)
        pct = _pct(actual - projected, abs(projected))  # once, from the exact difference
        favourable = None if difference == 0 else (difference < 0) == (kind == "cost")
    return PerformanceLine(
        key=key,
        label=label,
        kind=kind,
        projected=None if projected is None else _cents(projected),
        actual=None if actual is None else _cents(actual),
        difference=difference,
        difference_pct=pct,
        favourable=favourable,
        projected_source=projected_source if projected is not None else None,
        actual_source=actual_source if actual is not None else None,
        missing=list(missing),
    )


class _Ledger:
    """The deal's ledger rows summed by category, before or from a day.

    A transaction voided with ``POST /transactions/{id}/void`` and its void (both on or
    before the day the actuals run to: a void keeps its original's date) are left out
    together: voided income is no income received (no sale, no first rent), a voided cost no
    cost booked. Project expense voids net against their expense as the P&L nets them.
    """

    def __init__(
        self, rows: list[LedgerRow], voids: dict[uuid.UUID, uuid.UUID] | None = None
    ) -> None:
        ids = {r.id for r in rows}
        pairs = {v: o for v, o in (voids or {}).items() if o in ids}
        gone = set(pairs) | set(pairs.values())
        self.rows = [r for r in rows if r.id not in gone]

    def sums(
        self,
        categories: Iterable[str] | None,
        *,
        section: Literal["income", "expenses"] = "expenses",
        before: dt.date | None = None,
        since: dt.date | None = None,
        exclude: Iterable[str] = (),
    ) -> Decimal | None:
        """The P&L amount of ``categories`` (None: all but ``exclude``); None when none booked."""
        wanted = None if categories is None else set(categories)
        skip = set(exclude)
        picked = [
            r
            for r in self.rows
            if r.category is not None
            and (wanted is None or r.category in wanted)
            and r.category not in skip
            and (before is None or r.date < before)
            and (since is None or r.date >= since)
        ]
        group = pnl_from_rows(picked, org_id=uuid.uuid4(), start=dt.date.min, end=dt.date.max).total
        values = group.income if section == "income" else group.expenses
        if not values:
            return None
        return sum(values.values(), ZERO)

    def first(self, categories: Iterable[str], *, income: bool) -> dt.date | None:
        """The first day a row of ``categories`` (income or spending) is dated, or None."""
        wanted = set(categories)
        dates = [
            r.date
            for r in self.rows
            if r.category in wanted and (r.type is TransactionType.income) == income
        ]
        return min(dates) if dates else None


def _booked(categories: Iterable[str], when: str = "") -> str:
    return "ledger: " + " + ".join(categories) + (f" {when}" if when else "") + " on the deal"


def _nothing(categories: Iterable[str], when: str = "") -> str:
    return (
        "nothing booked on the deal under " + ", ".join(categories) + (f" {when}" if when else "")
    )


def _actual_line(
    ledger: _Ledger,
    *,
    key: str,
    label: str,
    kind: CostOrIncome,
    categories: tuple[str, ...],
    projected: Decimal | None,
    projected_source: str | None,
    projection_gap: str | None,
    before: dt.date | None = None,
    since: dt.date | None = None,
    when: str = "",
) -> PerformanceLine:
    actual = ledger.sums(
        categories,
        section="income" if kind == "income" else "expenses",
        before=before,
        since=since,
    )
    missing = []
    if projected is None and projection_gap:
        missing.append(f"projected: {projection_gap}")
    if actual is None:
        missing.append(f"actual: {_nothing(categories, when)}")
    return compare(
        key=key,
        label=label,
        kind=kind,
        projected=projected,
        actual=actual,
        projected_source=projected_source,
        actual_source=_booked(categories, when),
        missing=missing,
    )


def deal_performance(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None = None,
    assumptions: ProjectionAssumptions | None = None,
    today: dt.date | None = None,
    as_of: dt.date | None = None,
) -> DealPerformance:
    """The deal's projection next to its ledger: differences, returns, period, what is open.

    ``as_of`` (default: company-local today; a later day is ``DealValidationError``): the
    actuals are the ledger rows dated on or before it, a rental's projected figures are
    prorated to it, and the period ends on it. The projection itself is the deal's current
    one (its figures and latest valuation): it keeps no history to project as at a past day.

    Visibility is the projection's: ``DealNotFoundError`` for a deal of another organisation
    or one the caller may not see (an investor: their own deals only).
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart

    deal = service.get_deal(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    now = local_today()
    end = as_of or today or now
    if as_of is not None and as_of > now:
        raise service.DealValidationError(
            f"as_of {as_of.isoformat()} is after today ({now.isoformat()}): performance runs to"
            " today at the latest"
        )
    projected: DealProjection | None = None
    gap: str | None = None
    try:
        projected = service.deal_projection(
            session=session,
            org_id=org_id,
            deal_id=deal_id,
            assumptions=assumptions,
            principal=principal,
        )
    except service.DealValidationError as exc:
        gap = f"the deal cannot be projected: {exc}"
    strategy = projected.strategy if projected is not None else deal.strategy
    rows = reports.fetch_rows(session=session, org_id=org_id, end=end, deal_id=deal.id)
    report = reports.pnl_from_rows(rows, org_id=org_id, start=dt.date.min, end=end, deal_id=deal.id)
    voids = finance_service.void_pairs(
        session=session, org_id=org_id, transaction_ids=[r.id for r in rows if r.is_void]
    )
    ledger = _Ledger(rows, voids)
    start = min((r.date for r in rows), default=None)
    sources = dict(projected.sources) if projected is not None else {}
    if projected is not None and projected.arv_source is not None:
        sources["arv_source"] = projected.arv_source.source + (
            f" (stale: {projected.arv_source.stale_reason})" if projected.arv_source.stale else ""
        )
    notes: list[str] = []
    open_items: list[str] = []
    if deal.status != DealStatus.closed:
        open_items.append(f"the deal is {deal.status.replace('_', ' ')}, not closed")
    lines: list[PerformanceLine] = []
    returns: list[ReturnLine] = []
    operating_start: dt.date | None = None
    analysis = projected.analysis if projected is not None else None
    if strategy is None:
        gap = gap or "the deal has no strategy"
    if strategy in (DealStrategy.flip, None) or isinstance(analysis, FlipResult):
        state, op = _flip(ledger, analysis, gap, lines, returns, open_items, report.total)
    elif strategy == DealStrategy.wholesale:
        state = _wholesale(ledger, analysis, gap, lines, open_items, report.total)
        op = None
    else:
        state, op = _rental(
            ledger, analysis, gap, lines, returns, open_items, end, notes, report.total
        )
    operating_start = op
    if not rows:
        state = "nothing booked"
        open_items.append("nothing is booked on the deal in the ledger yet")
    if projected is not None and projected.projection is not None:
        notes.append("the multi-year hold projection is in GET /projections/{dealId} (projection)")
    total = report.total
    return DealPerformance(
        deal_id=deal.id,
        strategy=strategy,
        status=DealStatus(deal.status),
        state=state,
        period_start=start,
        period_end=end,
        operating_start=operating_start,
        open_items=open_items,
        lines=lines,
        returns=returns,
        projection_missing=gap if projected is None else None,
        projection_sources=sources,
        ledger=LedgerPnl(
            income=total.income,
            expenses=total.expenses,
            total_income=total.total_income,
            total_expenses=total.total_expenses,
            net=total.net,
            transaction_count=total.transaction_count,
            basis=f"every transaction on deal {deal.id} dated on or before {end.isoformat()}; "
            "income = income transactions; expenses = expenses and payments less refunds; "
            "transfers excluded",
            source=report.source,
        ),
        notes=notes,
    )


_State = Literal["realised", "realised so far", "to date", "nothing booked"]


def _flip(
    ledger: _Ledger,
    analysis: object,
    gap: str | None,
    lines: list[PerformanceLine],
    returns: list[ReturnLine],
    open_items: list[str],
    total: PnlGroup,
) -> tuple[_State, None]:
    fr = analysis if isinstance(analysis, FlipResult) else None
    if fr is None and gap is None:
        gap = "the projection is not a flip"
    src = "projection (GET /projections/{dealId}): "
    rehab = REHAB_ALWAYS + REHAB_UPKEEP
    months = f"over {fr.inputs.hold_months} months" if fr else ""
    spec: list[tuple[str, str, CostOrIncome, tuple[str, ...], Decimal | None, str]] = [
        ("sale_price", "Sale price", "income", SALE,
         fr.inputs.arv if fr else None, src + "ARV (the expected sale price)"),
        ("purchase_price", "Purchase price", "cost", PURCHASE,
         fr.inputs.purchase_price if fr else None, src + "purchase price"),
        ("buy_closing_costs", "Buy closing costs", "cost", CLOSING,
         fr.buy_closing_costs if fr else None, src + "buy closing costs"),
        ("rehab", "Rehab", "cost", rehab,
         fr.inputs.rehab_cost if fr else None, src + "rehab cost"),
        ("holding_costs", "Holding costs (tax, insurance, utilities)", "cost", HOLDING,
         fr.holding_costs if fr else None, src + f"holding costs {months}"),
        ("financing_costs", "Financing costs (interest, points)", "cost", FINANCING,
         fr.financing_cost if fr else None, src + "points + interest"),
        ("selling_costs", "Selling costs (commission, closing)", "cost", SELLING,
         fr.selling_costs if fr else None, src + "selling costs"),
    ]  # fmt: skip
    for key, label, kind, cats, value, source in spec:
        lines.append(
            _actual_line(
                ledger, key=key, label=label, kind=kind, categories=cats, projected=value,
                projected_source=source, projection_gap=gap,
            )
        )  # fmt: skip
    mapped = set(SALE + PURCHASE + CLOSING + rehab + HOLDING + FINANCING + SELLING)
    other = ledger.sums(None, exclude=mapped)
    if other is not None:
        lines.append(
            compare(
                key="other_costs", label="Other costs", kind="cost", projected=ZERO,
                actual=other, projected_source=src + "no other costs",
                actual_source="ledger: every other expense category on the deal",
            )
        )  # fmt: skip
    other_income = ledger.sums(None, section="income", exclude=SALE)
    if other_income is not None:
        lines.append(
            compare(
                key="other_income", label="Other income", kind="income", projected=ZERO,
                actual=other_income, projected_source=src + "no other income",
                actual_source="ledger: income other than sale_proceeds on the deal",
            )
        )  # fmt: skip
    sold = ledger.sums(SALE, section="income") is not None
    has_rows = total.transaction_count > 0
    lines.append(
        compare(
            key="profit", label="Profit" if sold else "Profit so far (not sold)", kind="income",
            projected=fr.profit if fr else None, actual=total.net if has_rows else None,
            projected_source=src + "profit", actual_source="ledger P&L net (income − expenses)",
            missing=([f"projected: {gap}"] if fr is None and gap else [])
            + ([] if has_rows else ["actual: nothing booked on the deal"]),
        )
    )  # fmt: skip
    if not sold:
        open_items.append(
            "no sale proceeds booked: the house is not sold (or its sale is not booked), so "
            "the actuals are realised so far"
        )
    costs = total.total_expenses
    proj_roc = _pct(fr.profit, fr.total_project_cost) if fr else None
    act_roc = _pct(total.net, costs) if sold and costs > 0 else None
    missing = []
    if fr is None and gap:
        missing.append(f"projected: {gap}")
    if act_roc is None:
        missing.append("actual: not sold yet" if not sold else "actual: no costs booked")
    returns.append(_return("return_on_cost", "Return on cost",
                           "profit / total costs (purchase, closing, rehab, holding, financing, "
                           "selling)", proj_roc, act_roc, missing))  # fmt: skip
    returns.append(
        _return(
            "roi_on_cash", "ROI on cash invested", "profit / cash invested (after the loan)",
            _pct(fr.profit, fr.cash_invested) if fr and fr.cash_invested > 0 else None, None,
            ([f"projected: {gap}"] if fr is None and gap else [])
            + ["actual: the ledger does not record how much of the cost was borrowed"],
        )
    )  # fmt: skip
    return ("realised" if sold else "realised so far"), None


def _return(
    key: str,
    label: str,
    basis: str,
    projected: Decimal | None,
    actual: Decimal | None,
    missing: list[str],
) -> ReturnLine:
    """A return line from two percentages ``_pct`` already rounded (never rounded again).

    The difference is that of the two figures shown, so it always adds up on the page.
    """
    diff = None
    if projected is not None and actual is not None:
        diff = (actual - projected).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return ReturnLine(
        key=key,
        label=label,
        basis=basis,
        projected_pct=projected,
        actual_pct=actual,
        difference_pts=diff,
        missing=missing,
    )


def _wholesale(
    ledger: _Ledger,
    analysis: object,
    gap: str | None,
    lines: list[PerformanceLine],
    open_items: list[str],
    total: PnlGroup,
) -> _State:
    wr = analysis if isinstance(analysis, WholesaleResult) else None
    src = "projection (GET /projections/{dealId}): "
    pgap = [f"projected: {gap}"] if wr is None and gap else []
    income = ledger.sums(None, section="income")
    costs = ledger.sums(None)
    lines.append(
        compare(
            key="assignment_fee", label="Assignment fee", kind="income",
            projected=wr.assignment_fee if wr else None, actual=income,
            projected_source=src + "assignment fee", actual_source="ledger: income on the deal",
            missing=pgap + ([] if income is not None else ["actual: no income booked"]),
        )
    )  # fmt: skip
    lines.append(
        compare(
            key="wholesale_costs", label="Wholesale costs", kind="cost",
            projected=wr.inputs.wholesale_costs if wr else None, actual=costs,
            projected_source=src + "wholesale costs", actual_source="ledger: expenses on the deal",
            missing=pgap + ([] if costs is not None else ["actual: no expense booked"]),
        )
    )  # fmt: skip
    has_rows = total.transaction_count > 0
    lines.append(
        compare(
            key="profit", label="Net fee", kind="income",
            projected=wr.net_fee if wr else None, actual=total.net if has_rows else None,
            projected_source=src + "net fee", actual_source="ledger P&L net (income − expenses)",
            missing=pgap + ([] if has_rows else ["actual: nothing booked on the deal"]),
        )
    )  # fmt: skip
    if income is None:
        open_items.append("no income booked: the assignment fee is not received yet")
        return "realised so far"
    return "realised"


def _rental_rehab(ledger: _Ledger, first_rent: dt.date | None) -> Decimal | None:
    """A rental's rehab spending: rehab work whenever booked, upkeep until the first rent.

    Rehab materials, labour and permits are the work on the house (capital) at any date;
    repairs, supplies and cleaning from the first rent on are operating expenses. The deal's
    rehab budget (finance ``budget_status``) counts the same transactions.
    """
    work = ledger.sums(REHAB_ALWAYS)
    upkeep = ledger.sums(REHAB_UPKEEP, before=first_rent)
    if work is None and upkeep is None:
        return None
    return (work or ZERO) + (upkeep or ZERO)


def _rental_rehab_line(
    ledger: _Ledger,
    projected: Decimal | None,
    src: str,
    gap: str | None,
    first_rent: dt.date | None,
) -> PerformanceLine:
    """The rental's rehab line (see ``_rental_rehab``)."""
    actual = _rental_rehab(ledger, first_rent)
    upkeep = " + ".join(REHAB_UPKEEP) + (" before the first rent" if first_rent else "")
    missing = []
    if projected is None and gap:
        missing.append(f"projected: {gap}")
    if actual is None:
        missing.append(
            "actual: nothing booked on the deal under " + ", ".join(REHAB_ALWAYS) + f", {upkeep}"
        )
    return compare(
        key="rehab", label="Rehab", kind="cost", projected=projected, actual=actual,
        projected_source=src + "rehab", actual_source="ledger: " + " + ".join(REHAB_ALWAYS)
        + f" (any date), {upkeep} on the deal",
        missing=missing,
    )  # fmt: skip


def _rental(
    ledger: _Ledger,
    analysis: object,
    gap: str | None,
    lines: list[PerformanceLine],
    returns: list[ReturnLine],
    open_items: list[str],
    end: dt.date,
    notes: list[str],
    total: PnlGroup,
) -> tuple[_State, dt.date | None]:
    """A rental's lines: buying, rehab, holding, then renting to date; a sold one's sale too.

    A sale booked (``sale_proceeds``) ends the rental: it is realised, renting (if any rent
    was received) runs from the first rent to the sale, and ``_rental_sale`` adds the sale,
    selling costs, profit and return on cost from the ledger.
    """
    rr: RentalResult | None = None
    br: BrrrrResult | None = None
    if isinstance(analysis, Section8Result):
        rr = analysis.section8
    elif isinstance(analysis, RentalResult):
        rr = analysis
    elif isinstance(analysis, BrrrrResult):
        br = analysis
    if rr is None and br is None and gap is None:
        gap = "the projection is not a rental"
    src = "projection (GET /projections/{dealId}): "
    pgap = [f"projected: {gap}"] if gap and rr is None and br is None else []
    rent_cats = ("rents_received",)
    first_rent = ledger.first(rent_cats, income=True)
    sale_day = ledger.first(SALE, income=True)
    price = rehab = closing = holding = None
    if rr is not None:
        price, rehab = rr.inputs.purchase_price, rr.inputs.rehab_cost
        closing = _cents(rr.inputs.buy_closing_cost + price * rr.inputs.buy_closing_pct / HUNDRED)
    if br is not None:
        price, rehab = br.inputs.purchase_price, br.inputs.rehab_cost
        closing, holding = br.buy_closing_costs, br.holding_costs
    when = "before the first rent" if first_rent else ""
    for key, label, cats, value in (
        ("purchase_price", "Purchase price", PURCHASE, price),
        ("buy_closing_costs", "Buy closing costs", CLOSING, closing),
    ):
        lines.append(
            _actual_line(
                ledger, key=key, label=label, kind="cost", categories=cats, projected=value,
                projected_source=src + label.lower(), projection_gap=gap,
            )
        )  # fmt: skip
    lines.append(_rental_rehab_line(ledger, rehab, src, gap, first_rent))
    if br is not None or ledger.sums(HOLDING, before=first_rent) is not None:
        lines.append(
            _actual_line(
                ledger, key="holding_costs", kind="cost", categories=HOLDING,
                label="Holding costs until the sale" if first_rent is None and sale_day
                else "Holding costs while rehabbed", projected=holding,
                projected_source=src + "holding costs during the rehab",
                projection_gap=gap or "a rental projection has no holding period",
                before=first_rent, when=when,
            )
        )  # fmt: skip
    if first_rent is None and sale_day is not None:
        notes.append("no rent received is booked on the deal: it was sold without renting")
        _rental_sale(ledger, first_rent, gap, lines, returns, total)
        return "realised", None
    if first_rent is None:
        open_items.append("no rent received is booked yet: the rental has not started earning")
        for key, label in (("rents_collected", "Rents collected"), ("noi", "NOI to date"),
                           ("cash_flow", "Cash flow to date")):  # fmt: skip
            lines.append(
                compare(
                    key=key, label=label, kind="income", projected=None, actual=None,
                    projected_source=None, actual_source=None,
                    missing=["no rent received booked on the deal: nothing to prorate to"],
                )
            )  # fmt: skip
        return "to date", None
    # Sold: renting ran from the first rent to the sale (selling costs are no operating cost).
    let_end = sale_day if sale_day is not None and sale_day >= first_rent else end
    days = Decimal((let_end - first_rent).days + 1)
    share = days / DAYS_A_YEAR
    notes.append(
        f"yearly projected rental figures prorated to {days} days ({first_rent} to {let_end}"
        f"{', the sale' if sale_day is not None else ''}) / 365"
    )
    if sale_day is None:
        open_items.append(f"a rental keeps running: figures are to date ({end})")
    since = first_rent
    rents = ledger.sums(None, section="income", since=since, exclude=SALE)
    not_opex = FINANCING + NON_CASH + REHAB_ALWAYS + (SELLING if sale_day is not None else ())
    opex = ledger.sums(None, since=since, exclude=not_opex)
    interest = ledger.sums(FINANCING, since=since)
    noi = (rents or ZERO) - (opex or ZERO)
    cash = noi - (interest or ZERO)
    p_rents = p_opex = p_noi = p_cash = p_yearly_noi = None
    if rr is not None:
        p_rents = _cents(rr.effective_gross_income_annual * share)
        p_opex = _cents(rr.operating_expenses_annual.total * share)
        p_yearly_noi = rr.noi_annual
        p_noi = _cents(rr.noi_annual * share)
        p_cash = _cents(rr.annual_cash_flow * share)
    if br is not None:
        p_yearly_noi = br.noi_annual
        p_noi = _cents(br.noi_annual * share)
        p_cash = _cents(br.annual_cash_flow * share)
    brrrr_gap = ["projected: the BRRRR projection gives only NOI and cash flow"] if br else []
    lines.append(
        compare(
            key="rents_collected", label="Rents collected (after vacancy)", kind="income",
            projected=p_rents, actual=rents,
            projected_source=src + "effective gross income, prorated",
            actual_source="ledger: income other than sale_proceeds from the first rent",
            missing=pgap + brrrr_gap,
        )
    )  # fmt: skip
    lines.append(
        compare(
            key="operating_expenses", label="Operating expenses", kind="cost",
            projected=p_opex, actual=opex if opex is not None else ZERO,
            projected_source=src + "operating expenses, prorated",
            actual_source="ledger: expenses from the first rent (interest, depreciation and"
            f" rehab work{', selling costs' if sale_day is not None else ''} aside)",
            missing=pgap + brrrr_gap,
        )
    )  # fmt: skip
    lines.append(
        compare(
            key="noi", label="NOI to date", kind="income", projected=p_noi, actual=noi,
            projected_source=src + "NOI, prorated",
            actual_source="ledger: rents collected − operating expenses", missing=pgap,
        )
    )  # fmt: skip
    lines.append(
        compare(
            key="cash_flow", label="Cash flow to date", kind="income", projected=p_cash,
            actual=cash, projected_source=src + "cash flow after debt service, prorated",
            actual_source="ledger: NOI − interest booked (principal repayments are not in the "
            "P&L)",
            missing=pgap,
        )
    )  # fmt: skip
    bought = [ledger.sums(c) for c in (PURCHASE, CLOSING)]
    spent_rehab = _rental_rehab(ledger, first_rent) or ZERO
    act_yield = None
    why: list[str] = list(pgap)
    if bought[0] is None:
        why.append("actual: no purchase booked on the deal")
    else:
        basis = bought[0] + (bought[1] or ZERO) + spent_rehab
        act_yield = _pct(noi * DAYS_A_YEAR / days, basis)
    proj_yield = None
    if p_yearly_noi is not None and price is not None:
        proj_yield = _pct(p_yearly_noi, price + (closing or ZERO) + (rehab or ZERO))
    returns.append(
        _return(
            "yield_on_cost", "Yield on cost",
            "yearly NOI (actual: annualised) / (purchase + buy closing + rehab)",
            proj_yield, act_yield, why,
        )
    )  # fmt: skip
    if sale_day is not None:
        _rental_sale(ledger, first_rent, gap, lines, returns, total)
        return "realised", first_rent
    return "to date", first_rent


def _rental_sale(
    ledger: _Ledger,
    first_rent: dt.date | None,
    gap: str | None,
    lines: list[PerformanceLine],
    returns: list[ReturnLine],
    total: PnlGroup,
) -> None:
    """A sold rental's realised lines: sale, selling costs, other costs, profit, return.

    The rental projection has no sale, so these lines have no projected side. Other costs are
    the expenses no other line holds (interest and the rest before the first rent, or at
    any date when no rent was received; depreciation), so the lines add up to the profit, the
    ledger P&L net.
    """
    no_sale = "projected: a rental projection has no sale" + (f" ({gap})" if gap else "")
    spec: list[tuple[str, str, CostOrIncome, tuple[str, ...]]] = [
        ("sale_price", "Sale price", "income", SALE),
        ("selling_costs", "Selling costs (commission, closing)", "cost", SELLING),
    ]
    for key, label, kind, cats in spec:
        lines.append(
            _actual_line(
                ledger, key=key, label=label, kind=kind, categories=cats, projected=None,
                projected_source=None, projection_gap=None,
            )
        )  # fmt: skip
        lines[-1].missing.insert(0, no_sale)
    held = PURCHASE + CLOSING + REHAB_ALWAYS + REHAB_UPKEEP + HOLDING + SELLING
    when = "before the first rent" if first_rent else "at any date"
    before = ledger.sums(None, before=first_rent, exclude=held)
    after = ledger.sums(NON_CASH, since=first_rent) if first_rent else None
    if before is not None or after is not None:
        lines.append(
            compare(
                key="other_costs", label="Other costs (interest, fees)", kind="cost",
                projected=None, actual=(before or ZERO) + (after or ZERO),
                projected_source=None,
                actual_source=f"ledger: every other expense category on the deal {when}"
                + (" + depreciation from the first rent" if first_rent else ""),
                missing=[no_sale],
            )
        )  # fmt: skip
    lines.append(
        compare(
            key="profit", label="Profit (sold)", kind="income", projected=None, actual=total.net,
            projected_source=None, actual_source="ledger P&L net (income − expenses)",
            missing=[no_sale],
        )
    )  # fmt: skip
    costs = total.total_expenses
    act_roc = _pct(total.net, costs) if costs > 0 else None
    returns.append(
        _return(
            "return_on_cost", "Return on cost",
            "profit / total costs (purchase, closing, rehab, holding, operating, financing, "
            "selling)",
            None, act_roc,
            [no_sale] + ([] if act_roc is not None else ["actual: no costs booked"]),
        )
    )  # fmt: skip
