"""Underwriting: the pure calculation functions behind every deal analysis.

Every public function is keyword-only, takes a validated input model from
``domain.underwriting.models`` and returns a typed result that echoes those inputs and lists
its formulas with the figures filled in. Nothing here touches a database, so the deal service,
``GET /projections/{dealId}`` and the agent's tools all call the same functions.

Money is Decimal and rounded half-up to cents where an amount is paid or reported; rates are
percentages (``7.5`` = 7.5 %); see ``models`` for the conventions. Bad input is refused by the
models (``pydantic.ValidationError``; ``describe_validation_error`` words it for a person);
valid input without an answer raises ``UnderwritingError`` (``TargetUnreachableError``,
``IrrUndefinedError``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from domain.underwriting import amortization as am
from domain.underwriting.errors import (
    IrrUndefinedError,
    TargetUnreachableError,
    UnderwritingError,
)
from domain.underwriting.irr import irr_fraction
from domain.underwriting.models import (
    AmortizationSchedule,
    BrrrrInput,
    BrrrrResult,
    FlipInput,
    FlipResult,
    HoldingCosts,
    LoanScheduleInput,
    OfferSolution,
    OfferSolveInput,
    OfferTarget,
    OperatingExpenses,
    ProjectionInput,
    ProjectionResult,
    ProjectionYear,
    RentalInput,
    RentalOperations,
    RentalResult,
    Section8Input,
    Section8Result,
    UnderwritingInput,
    UnderwritingResult,
    UnderwritingStrategy,
    WholesaleInput,
    WholesaleResult,
)

__all__ = [
    "IrrUndefinedError",
    "TargetUnreachableError",
    "UnderwritingError",
    "amortization_schedule",
    "analyze",
    "analyze_brrrr",
    "analyze_flip",
    "analyze_rental",
    "analyze_section8",
    "analyze_wholesale",
    "describe_validation_error",
    "input_model_for",
    "internal_rate_of_return",
    "max_allowable_offer",
    "monthly_payment",
    "project_hold",
    "solve_offer_price",
]

ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")
TWELVE = Decimal("12")
to_cents = am.to_cents
_M = TypeVar("_M", bound=UnderwritingInput)


def _pct(value: Decimal) -> Decimal:
    """A percentage rounded to two decimal places."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ratio(value: Decimal) -> Decimal:
    """A ratio (DSCR, GRM, equity multiple) rounded to two decimal places."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _m(value: Decimal) -> str:
    """Money for a formula line: thousands separators, two decimals."""
    return f"{value:,.2f}"


def _p(value: Decimal | None) -> str:
    """A percentage for a formula line (None is an infinite return)."""
    if value is None:
        return "∞"
    if value.is_infinite():
        return "−∞" if value < 0 else "∞"
    return f"{_pct(value)} %"


def _holding_for(costs: HoldingCosts, price: Decimal, months: int) -> Decimal:
    """Holding costs for ``months`` at ``price``: the monthly figure times the months, rounded once.

    The share of the price (tax, insurance) is rarely whole cents a month (370.8333...):
    rounding it first and multiplying would be off by up to half a cent a month.
    """
    return to_cents(costs.total_monthly * months + price * costs.price_pct_yearly / 1200 * months)


def _holding_line(costs: HoldingCosts, price: Decimal, months: int, total: Decimal) -> str:
    """The formula line of the holding costs.

    It names the unrounded monthly figure when that is not whole cents, so 370.83 × 6 =
    2,224.98 does not read as a mistake for the 2,225.00 charged.
    """
    exact = costs.total_monthly + price * costs.price_pct_yearly / 1200
    monthly = _m(to_cents(exact))
    if exact != to_cents(exact):
        monthly += f" ({exact.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP)} unrounded)"
    return f"holding costs = {monthly}/month × {months} months = {_m(total)} (rounded once)"


def _share(amount: Decimal, pct: Decimal) -> Decimal:
    """``pct`` percent of ``amount``, in cents."""
    return to_cents(amount * pct / HUNDRED)


def _return_pct(gain: Decimal, cash_invested: Decimal) -> Decimal | None:
    """Gain as a percentage of cash invested; None when nothing is invested (see _no_cash_note)."""
    if cash_invested <= 0:
        return None
    return gain / cash_invested * HUNDRED


def _is_infinite(gain: Decimal, cash_invested: Decimal) -> bool:
    """A gain on no cash invested is an infinite return; a loss or nothing on none is undefined."""
    return cash_invested <= 0 and gain > 0


def _return_text(value: Decimal | None, gain: Decimal) -> str:
    """A return for a formula line: a null one is ∞ with a gain, else undefined (not ∞)."""
    if value is not None:
        return _p(value)
    return "∞" if gain > 0 else "undefined"


def _no_cash_note(gain: Decimal, what: str) -> str:
    """The formula line that explains a null return."""
    if gain > 0:
        return f"{what} ≤ 0 with a gain: the return is infinite (null, infinite_return = true)"
    return f"{what} ≤ 0 and no gain: the return is undefined (null, infinite_return = false)"


# --------------------------------------------------------------------------- small tools


def max_allowable_offer(
    *, arv: Decimal, rehab_cost: Decimal, rule_pct: Decimal = Decimal("70")
) -> Decimal:
    """The rule-of-thumb maximum offer: ARV × rule % − rehab (negative: no deal at any price)."""
    return to_cents(arv * rule_pct / HUNDRED - rehab_cost)


def monthly_payment(
    *, principal: Decimal, annual_rate_pct: Decimal, term_months: int, interest_only: bool = False
) -> Decimal:
    """The monthly loan payment in cents (level P&I, or interest alone when interest-only)."""
    return am.monthly_payment(principal, annual_rate_pct, term_months, interest_only=interest_only)


def amortization_schedule(*, inputs: LoanScheduleInput) -> AmortizationSchedule:
    """Every monthly payment of a loan (interest, principal, balance) and a yearly summary."""
    rows = am.schedule_rows(
        inputs.principal,
        inputs.annual_rate_pct,
        inputs.term_months,
        interest_only=inputs.interest_only,
    )
    payment = am.monthly_payment(
        inputs.principal,
        inputs.annual_rate_pct,
        inputs.term_months,
        interest_only=inputs.interest_only,
    )
    total_interest = sum((r.interest for r in rows), ZERO)
    kind = (
        "interest-only, principal repaid with the last payment"
        if inputs.interest_only
        else "level payment = P·r / (1 − (1 + r)^−n)"
    )
    return AmortizationSchedule(
        inputs=inputs,
        monthly_payment=payment,
        total_payments=total_interest + inputs.principal,
        total_interest=total_interest,
        monthly=rows,
        annual=am.annual_summary(rows),
        formulas=[
            f"r = {inputs.annual_rate_pct} % / 12 per month, n = {inputs.term_months} months",
            f"monthly payment {_m(payment)} ({kind})",
            "each month: interest = balance × r rounded to the cent; principal = payment − "
            "interest; the last payment clears the balance to 0.00",
        ],
    )


def internal_rate_of_return(*, cash_flows: Sequence[Decimal]) -> Decimal:
    """IRR per period in percent (two places) of flows c0 (now), c1, …; raises if there is none."""
    return _pct(Decimal(repr(irr_fraction(cash_flows))) * HUNDRED)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field.path: what is wrong``, for an API answer or the agent."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "input"
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


# --------------------------------------------------------------------------- the search


def _highest_price_meeting(
    *,
    metric: Callable[[Decimal], Decimal | None],
    target: Decimal,
    ceiling: Decimal,
    what: str,
    shown: Callable[[Decimal | None], str],
) -> Decimal:
    """The highest price in cents whose metric still meets the target (metric falls with price).

    ``metric`` returns None for an infinite value, which meets any target. Bisection over whole
    cents between 0 and ``ceiling``.
    """

    def meets(cents: int) -> bool:
        value = metric(Decimal(cents) / HUNDRED)
        return value is None or value >= target

    low, high = 0, int((ceiling * HUNDRED).to_integral_value())
    if not meets(low):
        raise TargetUnreachableError(
            f"target {what} of {shown(target)} is unreachable: even at a purchase price of 0.00 "
            f"the {what} is {shown(metric(ZERO))}"
        )
    if meets(high):
        raise UnderwritingError(
            f"the {what} target of {shown(target)} is still met at the search ceiling of "
            f"{_m(ceiling)} ({what} {shown(metric(ceiling))}); give a higher max_price"
        )
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            low = middle
        else:
            high = middle
    if low == 0:
        raise TargetUnreachableError(
            f"target {what} of {shown(target)} is unreachable: only a purchase price of 0.00 "
            f"meets it (at 0.01 the {what} is {shown(metric(Decimal('0.01')))})"
        )
    return Decimal(low) / HUNDRED


# --------------------------------------------------------------------------- flip


@dataclass(frozen=True)
class _FlipFigures:
    buy_closing: Decimal
    holding: Decimal
    loan_amount: Decimal
    points: Decimal
    held: am.HeldLoan
    selling: Decimal
    total_project_cost: Decimal
    cash_invested: Decimal
    profit: Decimal


def _flip_figures(inputs: FlipInput, price: Decimal) -> _FlipFigures:
    buy_closing = inputs.buy_closing_cost + _share(price, inputs.buy_closing_pct)
    holding = _holding_for(inputs.holding_costs, price, inputs.hold_months)
    loan = inputs.financing
    if loan is None:
        loan_amount = ZERO
        held = am.HeldLoan(payments=ZERO, interest_paid=ZERO, principal_paid=ZERO, payoff=ZERO)
        points = ZERO
    else:
        loan_amount = to_cents(loan.amount_for(purchase_price=price, rehab_cost=inputs.rehab_cost))
        points = _share(loan_amount, loan.points_pct)
        held = am.hold_loan(
            loan_amount,
            loan.annual_rate_pct,
            inputs.hold_months,
            interest_only=loan.interest_only,
            amortization_months=loan.amortization_months,
        )
    selling = _share(inputs.arv, inputs.agent_commission_pct + inputs.sell_closing_pct)
    financing_cost = points + held.interest_paid
    total = price + buy_closing + inputs.rehab_cost + holding + financing_cost + selling
    # Principal repaid while holding is the investor's cash too; it comes back at the sale.
    cash = price + buy_closing + inputs.rehab_cost + holding + points + held.payments - loan_amount
    return _FlipFigures(
        buy_closing=buy_closing,
        holding=holding,
        loan_amount=loan_amount,
        points=points,
        held=held,
        selling=selling,
        total_project_cost=total,
        cash_invested=cash,
        profit=inputs.arv - total,
    )


def _flip_max_offer_for_profit(inputs: FlipInput, target: Decimal, ceiling: Decimal) -> Decimal:
    return _highest_price_meeting(
        metric=lambda price: _flip_figures(inputs, price).profit,
        target=target,
        ceiling=ceiling,
        what="flip profit",
        shown=lambda v: "∞" if v is None else _m(v),
    )


MAX_ANNUALIZED_ROI_PCT = Decimal("1000")
"""Above this an annualised flip ROI is not reported: compounding one short flip's return
12 / months times a year (a 1-month flip at 50 % would be 12,875 % a year) assumes the same
flip repeated back to back all year, which no analyst would underwrite on."""


def _annualized_roi(
    roi: Decimal | None, profit: Decimal, hold_months: int
) -> tuple[Decimal | None, str]:
    """The annualised ROI (compounded) and its formula line's right-hand side.

    None when there is no meaningful annual rate, the line saying why (only a gain on no cash
    invested is infinite).
    """
    if roi is None:
        if profit > 0:
            return None, "∞ (a gain on no cash invested)"
        return None, "undefined (no cash invested and no gain)"
    if roi <= -HUNDRED:
        return None, "undefined (the loss is at least the cash invested: no annual rate exists)"
    annualized = ((ONE + roi / HUNDRED) ** (TWELVE / hold_months) - ONE) * HUNDRED
    if annualized > MAX_ANNUALIZED_ROI_PCT:
        return None, (
            f"not reported: compounded it exceeds {MAX_ANNUALIZED_ROI_PCT:,} % a year, which "
            f"assumes this {hold_months}-month flip repeated back to back all year (the ROI "
            "itself stands)"
        )
    return annualized, _p(annualized)


def analyze_flip(*, inputs: FlipInput) -> FlipResult:
    """Costs, profit, ROI and annualised ROI of a flip, with its 70 %-rule and target offers.

    The annualised ROI is null when there is no annual rate: no cash invested (the return is
    infinite with a gain, ``infinite_return``), a loss of at least all the cash invested, or a
    compounded rate over ``MAX_ANNUALIZED_ROI_PCT``; the formula line says which.
    """
    f = _flip_figures(inputs, inputs.purchase_price)
    roi = _return_pct(f.profit, f.cash_invested)
    annualized, annualized_text = _annualized_roi(roi, f.profit, inputs.hold_months)
    rule_offer = max_allowable_offer(
        arv=inputs.arv, rehab_cost=inputs.rehab_cost, rule_pct=inputs.mao_rule_pct
    )
    formulas = [
        f"buy closing costs = {_m(inputs.buy_closing_cost)} + {inputs.buy_closing_pct} % × "
        f"price {_m(inputs.purchase_price)} = {_m(f.buy_closing)}",
        _holding_line(inputs.holding_costs, inputs.purchase_price, inputs.hold_months, f.holding),
    ]
    if inputs.financing is not None:
        loan = inputs.financing
        formulas += [
            f"loan {_m(f.loan_amount)}; points {loan.points_pct} % = {_m(f.points)}",
            f"interest at {loan.annual_rate_pct} %/yr for {inputs.hold_months} months "
            f"({'interest-only' if loan.interest_only else 'amortizing'}) = "
            f"{_m(f.held.interest_paid)}, charged on the full loan from day one (draws ignored)",
            f"loan payoff at sale = {_m(f.held.payoff)}",
        ]
    else:
        formulas.append("no financing: all cash")
    formulas += [
        f"selling costs = ({inputs.agent_commission_pct} % agent + {inputs.sell_closing_pct} % "
        f"closing) × ARV {_m(inputs.arv)} = {_m(f.selling)}",
        "total project cost = price + buy closing + rehab + holding + points + interest + "
        f"selling = {_m(f.total_project_cost)}",
        f"profit = ARV {_m(inputs.arv)} − total project cost = {_m(f.profit)}",
        "cash invested = price + buy closing + rehab + holding + points + loan payments − loan "
        f"= {_m(f.cash_invested)} (selling costs come out of the sale)",
        "ROI = profit / cash invested = "
        + (_p(roi) if roi is not None else "∞" if f.profit > 0 else "undefined"),
        f"annualised ROI = (1 + ROI)^(12 / {inputs.hold_months}) − 1 = {annualized_text}",
        f"max offer by the {inputs.mao_rule_pct} % rule = ARV × {inputs.mao_rule_pct} % − rehab "
        f"{_m(inputs.rehab_cost)} = {_m(rule_offer)}",
    ]
    if roi is None:
        formulas.append(_no_cash_note(f.profit, "cash invested"))
    target_offer: Decimal | None = None
    if inputs.target_profit is not None:
        try:
            target_offer = _flip_max_offer_for_profit(
                inputs, inputs.target_profit, inputs.arv + Decimal("0.01")
            )
            formulas.append(
                f"max offer for a profit of {_m(inputs.target_profit)} = {_m(target_offer)} "
                "(highest price, to the cent, whose profit after all price-dependent costs "
                "still meets the target)"
            )
        except UnderwritingError as exc:
            formulas.append(f"max offer for target profit: none ({exc})")
    return FlipResult(
        inputs=inputs,
        buy_closing_costs=f.buy_closing,
        holding_costs=f.holding,
        loan_amount=f.loan_amount,
        points_cost=f.points,
        interest_cost=f.held.interest_paid,
        financing_cost=f.points + f.held.interest_paid,
        selling_costs=f.selling,
        total_project_cost=f.total_project_cost,
        loan_payoff=f.held.payoff,
        cash_invested=f.cash_invested,
        profit=f.profit,
        roi_pct=None if roi is None else _pct(roi),
        annualized_roi_pct=None if annualized is None else _pct(annualized),
        infinite_return=_is_infinite(f.profit, f.cash_invested),
        max_offer_by_rule=rule_offer,
        max_offer_for_target_profit=target_offer,
        formulas=formulas,
    )


# --------------------------------------------------------------------------- rental


@dataclass(frozen=True)
class _Operations:
    gross_rent: Decimal
    gross_scheduled_income: Decimal
    vacancy_loss: Decimal
    effective_gross_income: Decimal
    expenses: OperatingExpenses
    noi: Decimal


def _operate(
    ops: RentalOperations, *, income_factor: Decimal = ONE, expense_factor: Decimal = ONE
) -> _Operations:
    """One year of operations; income and fixed expenses scaled by growth factors."""
    rent = to_cents(ops.gross_rent_monthly * TWELVE * income_factor)
    other_income = to_cents(ops.other_income_monthly * TWELVE * income_factor)
    gsi = rent + other_income
    vacancy = _share(gsi, ops.vacancy_pct)
    egi = gsi - vacancy
    items = {
        "property_taxes": to_cents(ops.property_taxes_annual * expense_factor),
        "insurance": to_cents(ops.insurance_annual * expense_factor),
        "management": _share(egi, ops.management_pct),
        "maintenance": _share(rent, ops.maintenance_pct),
        "capex_reserve": _share(rent, ops.capex_reserve_pct),
        "utilities": to_cents(ops.utilities_monthly * TWELVE * expense_factor),
        "hoa": to_cents(ops.hoa_monthly * TWELVE * expense_factor),
        "other": to_cents(ops.other_expenses_monthly * TWELVE * expense_factor),
    }
    total = sum(items.values(), ZERO)
    return _Operations(
        gross_rent=rent,
        gross_scheduled_income=gsi,
        vacancy_loss=vacancy,
        effective_gross_income=egi,
        expenses=OperatingExpenses(**items, total=total),
        noi=egi - total,
    )


@dataclass(frozen=True)
class _RentalFigures:
    ops: _Operations
    buy_closing: Decimal
    loan_amount: Decimal
    points: Decimal
    payment: Decimal
    debt_service: Decimal
    annual_cash_flow: Decimal
    cash_invested: Decimal

    @property
    def monthly_cash_flow(self) -> Decimal:
        return self.ops.noi / TWELVE - self.payment

    @property
    def cash_on_cash(self) -> Decimal | None:
        return _return_pct(self.annual_cash_flow, self.cash_invested)

    @property
    def cash_on_cash_for_search(self) -> Decimal | None:
        """Cash-on-cash, None for +∞ and −∞ for a loss or nothing on no cash invested."""
        if self.cash_invested <= 0 and self.annual_cash_flow <= 0:
            return Decimal("-Infinity")
        return self.cash_on_cash


def _rental_figures(inputs: RentalInput, price: Decimal) -> _RentalFigures:
    ops = _operate(inputs.operations)
    buy_closing = inputs.buy_closing_cost + _share(price, inputs.buy_closing_pct)
    loan = inputs.loan
    loan_amount = points = payment = ZERO
    if loan is not None:
        loan_amount = to_cents(loan.amount_for(purchase_price=price))
        points = _share(loan_amount, loan.points_pct)
        payment = am.monthly_payment(
            loan_amount,
            loan.annual_rate_pct,
            loan.term_years * 12,
            interest_only=loan.interest_only,
        )
    debt_service = payment * TWELVE
    return _RentalFigures(
        ops=ops,
        buy_closing=buy_closing,
        loan_amount=loan_amount,
        points=points,
        payment=payment,
        debt_service=debt_service,
        annual_cash_flow=ops.noi - debt_service,
        cash_invested=price + buy_closing + points + inputs.rehab_cost - loan_amount,
    )


def _break_even_occupancy(ops: RentalOperations, o: _Operations, debt: Decimal) -> Decimal | None:
    """Occupancy at which collected income pays operating expenses and debt service.

    Management scales with collected income; every other expense is fixed in the year.
    """
    keep = ONE - ops.management_pct / HUNDRED
    if o.gross_scheduled_income == 0 or keep == 0:
        return None
    fixed = o.expenses.total - o.expenses.management
    return (fixed + debt) / (o.gross_scheduled_income * keep) * HUNDRED


def _operations_formulas(ops: RentalOperations, o: _Operations) -> list[str]:
    e = o.expenses
    return [
        f"gross scheduled income = (rent {_m(ops.gross_rent_monthly)} + other "
        f"{_m(ops.other_income_monthly)}) × 12 = {_m(o.gross_scheduled_income)}",
        f"vacancy = {ops.vacancy_pct} % × GSI = {_m(o.vacancy_loss)}",
        f"EGI = GSI − vacancy = {_m(o.effective_gross_income)}",
        f"operating expenses = taxes {_m(e.property_taxes)} + insurance {_m(e.insurance)} + "
        f"management {ops.management_pct} % of EGI {_m(e.management)} + maintenance "
        f"{ops.maintenance_pct} % of rent {_m(e.maintenance)} + capex {ops.capex_reserve_pct} % "
        f"of rent {_m(e.capex_reserve)} + utilities {_m(e.utilities)} + HOA {_m(e.hoa)} + "
        f"other {_m(e.other)} = {_m(e.total)} a year",
        f"NOI = EGI − operating expenses = {_m(o.noi)} (debt service is not an operating expense)",
    ]


def analyze_rental(*, inputs: RentalInput) -> RentalResult:
    """NOI, cap rate, P&I, cash flow, cash-on-cash, DSCR, break-even occupancy and GRM."""
    f = _rental_figures(inputs, inputs.purchase_price)
    o = f.ops
    price = inputs.purchase_price
    cap_rate = o.noi / price * HUNDRED if price > 0 else None
    coc = f.cash_on_cash
    dscr = o.noi / f.debt_service if f.debt_service > 0 else None
    grm = price / o.gross_rent if o.gross_rent > 0 else None
    break_even = _break_even_occupancy(inputs.operations, o, f.debt_service)
    schedule: list[am.AnnualRow] = []
    formulas = _operations_formulas(inputs.operations, o)
    formulas.append(f"cap rate = NOI / purchase price {_m(price)} = {_p(cap_rate)}")
    if inputs.loan is not None:
        loan = inputs.loan
        months = loan.term_years * 12
        schedule = am.annual_summary(
            am.schedule_rows(
                f.loan_amount, loan.annual_rate_pct, months, interest_only=loan.interest_only
            )
        )
        formulas.append(
            f"loan {_m(f.loan_amount)} at {loan.annual_rate_pct} % over {loan.term_years} years"
            f"{' (interest-only)' if loan.interest_only else ''}: monthly P&I {_m(f.payment)} = "
            "P·r / (1 − (1 + r)^−n), r = rate / 12"
        )
    else:
        formulas.append("no loan: all cash, no debt service")
    formulas += [
        f"annual debt service = P&I × 12 = {_m(f.debt_service)}",
        f"cash flow = NOI − debt service = {_m(f.annual_cash_flow)} a year, "
        f"{_m(to_cents(f.monthly_cash_flow))} a month",
        f"cash invested = price − loan + closing {_m(f.buy_closing)} + points {_m(f.points)} + "
        f"rehab {_m(inputs.rehab_cost)} = {_m(f.cash_invested)}",
        "cash-on-cash = annual cash flow / cash invested = "
        + _return_text(coc, f.annual_cash_flow),
        "DSCR = NOI / annual debt service = "
        + ("n/a (no debt)" if dscr is None else f"{_ratio(dscr)}"),
        "break-even occupancy = (operating expenses except management + debt service) / "
        f"(GSI × (1 − management %)) = {'n/a' if break_even is None else _p(break_even)}",
        "GRM = price / annual gross rent = " + ("n/a" if grm is None else f"{_ratio(grm)}"),
    ]
    if coc is None:
        formulas.append(_no_cash_note(f.annual_cash_flow, "cash invested"))
    return RentalResult(
        inputs=inputs,
        gross_scheduled_income_annual=o.gross_scheduled_income,
        vacancy_loss_annual=o.vacancy_loss,
        effective_gross_income_annual=o.effective_gross_income,
        operating_expenses_annual=o.expenses,
        noi_annual=o.noi,
        cap_rate_pct=None if cap_rate is None else _pct(cap_rate),
        loan_amount=f.loan_amount,
        monthly_principal_and_interest=f.payment,
        annual_debt_service=f.debt_service,
        monthly_cash_flow=to_cents(f.monthly_cash_flow),
        annual_cash_flow=f.annual_cash_flow,
        cash_invested=f.cash_invested,
        cash_on_cash_pct=None if coc is None else _pct(coc),
        infinite_return=_is_infinite(f.annual_cash_flow, f.cash_invested),
        dscr=None if dscr is None else _ratio(dscr),
        break_even_occupancy_pct=None if break_even is None else _pct(break_even),
        gross_rent_multiplier=None if grm is None else _ratio(grm),
        loan_schedule_annual=schedule,
        formulas=formulas,
    )


# --------------------------------------------------------------------------- BRRRR


def analyze_brrrr(*, inputs: BrrrrInput) -> BrrrrResult:
    """Cash in, refinance proceeds, cash left in the deal and the returns after the refinance."""
    months = inputs.refinance_after_months
    price = inputs.purchase_price
    buy_closing = inputs.buy_closing_cost + _share(price, inputs.buy_closing_pct)
    holding = _holding_for(inputs.holding_costs, price, months)
    st = inputs.short_term_loan
    if st is None:
        st_amount = points = ZERO
        held = am.HeldLoan(payments=ZERO, interest_paid=ZERO, principal_paid=ZERO, payoff=ZERO)
    else:
        st_amount = to_cents(st.amount_for(purchase_price=price, rehab_cost=inputs.rehab_cost))
        points = _share(st_amount, st.points_pct)
        held = am.hold_loan(
            st_amount,
            st.annual_rate_pct,
            months,
            interest_only=st.interest_only,
            amortization_months=st.amortization_months,
        )
    total_cash_in = (
        price + buy_closing + inputs.rehab_cost + holding + points + held.payments - st_amount
    )
    refi = inputs.refinance
    refi_amount = _share(inputs.arv, refi.ltv_pct)
    refi_costs = refi.closing_cost + _share(refi_amount, refi.closing_pct + refi.points_pct)
    cash_out = refi_amount - held.payoff - refi_costs
    cash_left = total_cash_in - cash_out
    ops = _operate(inputs.operations)
    payment = am.monthly_payment(
        refi_amount, refi.annual_rate_pct, refi.term_years * 12, interest_only=refi.interest_only
    )
    debt_service = payment * TWELVE
    annual_cash_flow = ops.noi - debt_service
    coc = _return_pct(annual_cash_flow, cash_left)
    dscr = ops.noi / debt_service if debt_service > 0 else None
    formulas = [
        f"buy closing costs = {_m(buy_closing)}; "
        + _holding_line(inputs.holding_costs, price, months, holding),
        f"short-term loan {_m(st_amount)}, points {_m(points)}, interest over {months} months "
        f"{_m(held.interest_paid)}, payoff at the refinance {_m(held.payoff)}",
        "total cash in = price + closing + rehab + holding + points + loan payments − short-term "
        f"loan = {_m(total_cash_in)} (no rent assumed before the refinance)",
        f"refinance loan = {refi.ltv_pct} % × ARV {_m(inputs.arv)} = {_m(refi_amount)}",
        f"refinance costs = {_m(refi.closing_cost)} + ({refi.closing_pct} % closing + "
        f"{refi.points_pct} % points) × new loan = {_m(refi_costs)}",
        f"cash out = refinance loan − payoff − refinance costs = {_m(cash_out)}"
        + (" (negative: cash brought to the refinance)" if cash_out < 0 else ""),
        f"cash left in the deal = total cash in − cash out = {_m(cash_left)}",
        *_operations_formulas(inputs.operations, ops),
        f"post-refinance P&I {_m(payment)} at {refi.annual_rate_pct} % over {refi.term_years} "
        f"years; cash flow = NOI − {_m(debt_service)} = {_m(annual_cash_flow)} a year",
        "cash-on-cash = annual cash flow / cash left in the deal = "
        + _return_text(coc, annual_cash_flow),
    ]
    if coc is None:
        formulas.append(
            "cash left in the deal ≤ 0: all the cash came back out at the refinance; "
            + _no_cash_note(annual_cash_flow, "cash left")
        )
    return BrrrrResult(
        inputs=inputs,
        buy_closing_costs=buy_closing,
        short_term_loan_amount=st_amount,
        short_term_points_cost=points,
        short_term_interest_cost=held.interest_paid,
        holding_costs=holding,
        total_cash_in=total_cash_in,
        refinance_loan_amount=refi_amount,
        short_term_payoff=held.payoff,
        refinance_closing_costs=refi_costs,
        cash_out=cash_out,
        cash_left_in_deal=cash_left,
        equity_after_refinance=inputs.arv - refi_amount,
        noi_annual=ops.noi,
        monthly_principal_and_interest=payment,
        monthly_cash_flow=to_cents(ops.noi / TWELVE - payment),
        annual_cash_flow=annual_cash_flow,
        dscr=None if dscr is None else _ratio(dscr),
        cash_on_cash_pct=None if coc is None else _pct(coc),
        infinite_return=_is_infinite(annual_cash_flow, cash_left),
        formulas=formulas,
    )


# --------------------------------------------------------------------------- Section 8


def analyze_section8(*, inputs: Section8Input) -> Section8Result:
    """The rental at market rent and at the Section 8 rent (payment standard − allowance)."""
    market_inputs = inputs.rental
    market_ops = market_inputs.operations
    section8_rent = inputs.payment_standard_monthly - inputs.utility_allowance_monthly
    vacancy = (
        market_ops.vacancy_pct
        if inputs.section8_vacancy_pct is None
        else inputs.section8_vacancy_pct
    )
    section8_inputs = RentalInput.model_validate(
        market_inputs.model_dump()
        | {
            "operations": market_ops.model_dump()
            | {"gross_rent_monthly": section8_rent, "vacancy_pct": vacancy}
        }
    )
    market = analyze_rental(inputs=market_inputs)
    section8 = analyze_rental(inputs=section8_inputs)
    cash_flow_difference = section8.monthly_cash_flow - market.monthly_cash_flow
    better: Literal["section8", "market", "equal"] = "equal"
    if cash_flow_difference != 0:
        better = "section8" if cash_flow_difference > 0 else "market"
    source = f" ({inputs.payment_standard_source})" if inputs.payment_standard_source else ""
    reasonableness = (
        [
            f"the Section 8 rent is {_m(section8_rent - market_ops.gross_rent_monthly)} a month "
            "above market rent: the housing authority approves a contract rent only if it is "
            "reasonable against comparable unassisted units (rent reasonableness), so the "
            "approved rent may be lower"
        ]
        if section8_rent > market_ops.gross_rent_monthly
        else []
    )
    return Section8Result(
        inputs=inputs,
        market_rent_monthly=market_ops.gross_rent_monthly,
        section8_rent_monthly=section8_rent,
        market=market,
        section8=section8,
        rent_difference_monthly=section8_rent - market_ops.gross_rent_monthly,
        noi_difference_annual=section8.noi_annual - market.noi_annual,
        cash_flow_difference_monthly=cash_flow_difference,
        better=better,
        formulas=[
            f"Section 8 rent = payment standard {_m(inputs.payment_standard_monthly)} for "
            f"{inputs.bedrooms} bedrooms{source} − utility allowance "
            f"{_m(inputs.utility_allowance_monthly)} = {_m(section8_rent)} a month",
            f"market rent = {_m(market_ops.gross_rent_monthly)} a month; vacancy "
            f"{market_ops.vacancy_pct} % at market, {vacancy} % under Section 8",
            "both analysed with the same price, loan and expenses (management and reserves "
            "follow each rent)",
            f"monthly cash flow: Section 8 {_m(section8.monthly_cash_flow)} vs market "
            f"{_m(market.monthly_cash_flow)}, difference {_m(cash_flow_difference)}",
            *reasonableness,
        ],
    )


# --------------------------------------------------------------------------- wholesale


def analyze_wholesale(*, inputs: WholesaleInput) -> WholesaleResult:
    """The end buyer's maximum offer, our maximum contract price, spread and assignment fee."""
    if inputs.end_buyer_flip is not None and inputs.end_buyer_target_profit is not None:
        try:
            end_buyer_offer = _flip_max_offer_for_profit(
                inputs.end_buyer_flip, inputs.end_buyer_target_profit, inputs.arv + Decimal("0.01")
            )
        except UnderwritingError as exc:
            raise TargetUnreachableError(f"the end buyer cannot buy at any price: {exc}") from exc
        method = (
            f"end buyer's max offer = highest price earning them "
            f"{_m(inputs.end_buyer_target_profit)} on their flip = {_m(end_buyer_offer)}"
        )
    else:
        end_buyer_offer = max_allowable_offer(
            arv=inputs.arv, rehab_cost=inputs.rehab_cost, rule_pct=inputs.end_buyer_rule_pct
        )
        method = (
            f"end buyer's max offer = ARV {_m(inputs.arv)} × {inputs.end_buyer_rule_pct} % − "
            f"rehab {_m(inputs.rehab_cost)} = {_m(end_buyer_offer)}"
        )
    max_contract = end_buyer_offer - inputs.assignment_fee
    contract = max_contract if inputs.contract_price is None else inputs.contract_price
    spread = end_buyer_offer - contract
    headroom = spread - inputs.assignment_fee
    net_fee = inputs.assignment_fee - inputs.wholesale_costs
    works = headroom >= 0 and contract > 0
    return WholesaleResult(
        inputs=inputs,
        end_buyer_max_offer=end_buyer_offer,
        max_contract_price=max_contract,
        contract_price=contract,
        spread=spread,
        assignment_fee=inputs.assignment_fee,
        net_fee=net_fee,
        end_buyer_headroom=headroom,
        deal_works=works,
        formulas=[
            method,
            f"max contract price = end buyer's max offer − assignment fee "
            f"{_m(inputs.assignment_fee)} = {_m(max_contract)}",
            f"contract price {_m(contract)}"
            + (" (the maximum)" if inputs.contract_price is None else " (given)"),
            f"spread = end buyer's max offer − contract price = {_m(spread)}",
            f"net fee = assignment fee − our costs {_m(inputs.wholesale_costs)} = {_m(net_fee)}",
            f"end buyer's headroom = spread − fee = {_m(headroom)}; the deal works when it is "
            "≥ 0 and the contract price is positive",
        ],
    )


# --------------------------------------------------------------------------- projection


def project_hold(*, inputs: ProjectionInput) -> ProjectionResult:
    """Year-by-year cash flows of a hold and its sale: IRR, equity multiple and total profit."""
    price = inputs.purchase_price
    buy_closing = inputs.buy_closing_cost + _share(price, inputs.buy_closing_pct)
    loan = inputs.loan
    rows: list[am.MonthlyRow] = []
    loan_amount = points = ZERO
    if loan is not None:
        loan_amount = to_cents(loan.amount_for(purchase_price=price))
        points = _share(loan_amount, loan.points_pct)
        rows = am.schedule_rows(
            loan_amount,
            loan.annual_rate_pct,
            loan.term_years * 12,
            interest_only=loan.interest_only,
        )
    cash_invested = price + buy_closing + points + inputs.rehab_cost - loan_amount
    start_value = price if inputs.starting_value is None else inputs.starting_value
    rent_growth = ONE + inputs.rent_growth_pct / HUNDRED
    expense_growth = ONE + inputs.expense_growth_pct / HUNDRED
    appreciation = ONE + inputs.appreciation_pct / HUNDRED

    years: list[ProjectionYear] = []
    balance = loan_amount
    for year in range(1, inputs.hold_years + 1):
        o = _operate(
            inputs.operations,
            income_factor=rent_growth ** (year - 1),
            expense_factor=expense_growth ** (year - 1),
        )
        months = rows[12 * (year - 1) : 12 * year]
        debt_service = sum((r.payment for r in months), ZERO)
        if months:
            balance = months[-1].balance
        value = to_cents(start_value * appreciation**year)
        years.append(
            ProjectionYear(
                year=year,
                gross_scheduled_income=o.gross_scheduled_income,
                vacancy_loss=o.vacancy_loss,
                effective_gross_income=o.effective_gross_income,
                operating_expenses=o.expenses.total,
                noi=o.noi,
                debt_service=debt_service,
                cash_flow=o.noi - debt_service,
                loan_balance=balance,
                property_value=value,
                equity=value - balance,
            )
        )
    last = years[-1]
    sale_price = last.property_value
    selling = _share(sale_price, inputs.agent_commission_pct + inputs.sell_closing_pct)
    net_sale = sale_price - selling - last.loan_balance
    flows = [-cash_invested] + [y.cash_flow for y in years]
    flows[-1] += net_sale
    total_cash_flow = sum((y.cash_flow for y in years), ZERO)
    total_profit = total_cash_flow + net_sale - cash_invested
    formulas = [
        f"cash invested = price {_m(price)} − loan {_m(loan_amount)} + closing {_m(buy_closing)}"
        f" + points {_m(points)} + rehab {_m(inputs.rehab_cost)} = {_m(cash_invested)}",
        f"rent and other income grow {inputs.rent_growth_pct} % a year; fixed expenses (taxes, "
        f"insurance, utilities, HOA, other) grow {inputs.expense_growth_pct} % a year; "
        "management, maintenance and capex stay a share of income; vacancy "
        f"{inputs.operations.vacancy_pct} % every year",
        f"value starts at {_m(start_value)} and appreciates {inputs.appreciation_pct} % a year",
        "debt service = the loan's scheduled payments in each year; equity = value − loan balance",
        f"sale at the end of year {inputs.hold_years}: price {_m(sale_price)} − selling costs "
        f"({inputs.agent_commission_pct} % + {inputs.sell_closing_pct} %) {_m(selling)} − "
        f"payoff {_m(last.loan_balance)} = net proceeds {_m(net_sale)}",
        f"total profit = cash flows {_m(total_cash_flow)} + net proceeds − cash invested = "
        f"{_m(total_profit)}",
    ]
    irr: Decimal | None = None
    multiple: Decimal | None = None
    if cash_invested > 0:
        multiple = _ratio((total_cash_flow + net_sale) / cash_invested)
        formulas.append(
            f"equity multiple = (cash flows + net proceeds) / cash invested = {multiple}"
        )
        try:
            irr = internal_rate_of_return(cash_flows=flows)
            formulas.append(
                f"IRR = the yearly rate r with Σ cash flow_t / (1 + r)^t = 0, t = 0 … "
                f"{inputs.hold_years} = {irr} %"
            )
        except IrrUndefinedError as exc:
            formulas.append(f"IRR: none ({exc})")
    else:
        formulas.append(
            "cash invested ≤ 0: equity multiple and IRR are infinite or undefined (null)"
        )
    return ProjectionResult(
        inputs=inputs,
        cash_invested=cash_invested,
        years=years,
        sale_price=sale_price,
        selling_costs=selling,
        loan_payoff=last.loan_balance,
        net_sale_proceeds=net_sale,
        total_cash_flow=total_cash_flow,
        total_profit=total_profit,
        equity_multiple=multiple,
        irr_pct=irr,
        cash_flows=flows,
        formulas=formulas,
    )


# --------------------------------------------------------------------------- offer solving


def solve_offer_price(*, inputs: OfferSolveInput) -> OfferSolution:
    """The highest purchase price (to the cent) that still meets a cash-flow, CoC or profit target.

    Raises TargetUnreachableError when even a price of 0.00 misses the target, and
    UnderwritingError when the target is still met at the search ceiling.
    """
    target = inputs.target_value
    if inputs.target is OfferTarget.flip_profit:
        flip = inputs.flip
        assert flip is not None
        ceiling = inputs.max_price if inputs.max_price is not None else flip.arv + Decimal("0.01")
        offer = _highest_price_meeting(
            metric=lambda p: _flip_figures(flip, p).profit,
            target=target,
            ceiling=ceiling,
            what="flip profit",
            shown=lambda v: "∞" if v is None else _m(v),
        )
        analysis: FlipResult | RentalResult = analyze_flip(
            inputs=_revalidated(flip, purchase_price=offer)
        )
        assert isinstance(analysis, FlipResult)
        achieved: Decimal | None = analysis.profit
        what_metric, target_shown = "flip profit", _m(target)
    else:
        rental = inputs.rental
        assert rental is not None
        default_ceiling = _operate(rental.operations).gross_scheduled_income * HUNDRED
        ceiling = inputs.max_price if inputs.max_price is not None else default_ceiling
        if inputs.target is OfferTarget.monthly_cash_flow:

            def rental_metric(p: Decimal) -> Decimal | None:
                return _rental_figures(rental, p).monthly_cash_flow

            what_metric, shown = "monthly cash flow", (lambda v: "∞" if v is None else _m(v))
        else:

            def rental_metric(p: Decimal) -> Decimal | None:
                return _rental_figures(rental, p).cash_on_cash_for_search

            what_metric, shown = "cash-on-cash return", _p
        offer = _highest_price_meeting(
            metric=rental_metric, target=target, ceiling=ceiling, what=what_metric, shown=shown
        )
        analysis = analyze_rental(inputs=_revalidated(rental, purchase_price=offer))
        assert isinstance(analysis, RentalResult)
        achieved = (
            analysis.monthly_cash_flow
            if inputs.target is OfferTarget.monthly_cash_flow
            else analysis.cash_on_cash_pct
        )
        target_shown = shown(target)
    return OfferSolution(
        inputs=inputs,
        offer_price=offer,
        achieved_value=achieved,
        analysis=analysis,
        formulas=[
            f"offer price = the highest price, to the cent, between 0.00 and {_m(ceiling)} whose "
            f"{what_metric} still meets the target {target_shown}, found by "
            "bisection (the metric falls as the price rises; price-dependent costs such as "
            "closing %, points and the loan amount move with the price)",
            f"at {_m(offer)} it is {achieved if achieved is not None else '∞'}; one cent more "
            "misses the target",
        ],
    )


def _revalidated(model: _M, **changes: Any) -> _M:
    """A copy of an input model with fields changed, validated again (so rules still hold)."""
    try:
        return type(model).model_validate(model.model_dump() | changes)
    except ValidationError as exc:
        raise UnderwritingError(
            f"the solved price breaks an input rule: {describe_validation_error(exc)}"
        ) from exc


# --------------------------------------------------------------------------- by strategy

_INPUT_MODELS: dict[UnderwritingStrategy, type[UnderwritingInput]] = {
    UnderwritingStrategy.flip: FlipInput,
    UnderwritingStrategy.rental: RentalInput,
    UnderwritingStrategy.brrrr: BrrrrInput,
    UnderwritingStrategy.section8: Section8Input,
    UnderwritingStrategy.wholesale: WholesaleInput,
    UnderwritingStrategy.projection: ProjectionInput,
}


def input_model_for(strategy: UnderwritingStrategy) -> type[UnderwritingInput]:
    """The input model an analysis of ``strategy`` takes (for request bodies and tool schemas)."""
    return _INPUT_MODELS[strategy]


def analyze(*, strategy: UnderwritingStrategy, payload: Mapping[str, Any]) -> UnderwritingResult:
    """Validate ``payload`` for ``strategy`` and run that analysis (ValidationError if invalid)."""
    inputs = input_model_for(strategy).model_validate(dict(payload))
    if isinstance(inputs, FlipInput):
        return analyze_flip(inputs=inputs)
    if isinstance(inputs, RentalInput):
        return analyze_rental(inputs=inputs)
    if isinstance(inputs, BrrrrInput):
        return analyze_brrrr(inputs=inputs)
    if isinstance(inputs, Section8Input):
        return analyze_section8(inputs=inputs)
    if isinstance(inputs, WholesaleInput):
        return analyze_wholesale(inputs=inputs)
    assert isinstance(inputs, ProjectionInput)
    return project_hold(inputs=inputs)
