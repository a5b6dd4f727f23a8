"""The adjustment grid and reconciliation on hand-made figures (no database)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from domain.valuation.adjustments import (
    NUMERIC_VARIABLES,
    Column,
    MarketModel,
    NotEnoughSalesError,
    Sale,
    adjustment_grid,
    fit_market_model,
    month_number,
    reconcile,
    similarity_score,
)
from domain.valuation.features import HomeFacts

AS_OF = dt.date(2010, 6, 15)
COMP_MONTH = month_number(dt.date(2010, 4, 1))
INDEX_MONTH = month_number(dt.date(2010, 5, 1))
SIZE = next(v for v in NUMERIC_VARIABLES if v.name == "log_living_area")
CONDITION = next(v for v in NUMERIC_VARIABLES if v.name == "condition")


def hand_model() -> MarketModel:
    """Rates chosen by hand: size elasticity 0.6, +5% per condition grade, +2% market since April.

    The market index is 1.00 in April 2010 (coefficient 0) and e^0.02 in May 2010, the index
    month (the latest month with sales before the as-of date).
    """
    return MarketModel(
        columns=[
            Column("log_living_area", "size", "numeric", 0.55, variable=SIZE),
            Column("condition", "condition", "numeric", 0.04, variable=CONDITION),
            Column(f"month:{COMP_MONTH}", "time", "month", month=COMP_MONTH),
            Column(f"month:{INDEX_MONTH}", "time", "month", month=INDEX_MONTH),
        ],
        coefficients=np.array([0.6, 0.05, 0.0, 0.02]),
        intercept=0.0,
        medians={"log_living_area": math.log(1900), "condition": 5.0},
        index_month=INDEX_MONTH,
        as_of=AS_OF,
        n_sales=100,
        residual_sd=0.1,
        r_squared=0.8,
        first_sale=dt.date(2010, 1, 15),
        last_sale=dt.date(2010, 5, 15),
        median_price=200_000.0,
        median_square_feet=1_900.0,
    )


SUBJECT = HomeFacts(square_feet=2000, condition=6)


def grid_for(facts: HomeFacts, price: float, sold: dt.date, model: MarketModel | None = None):
    model = model or hand_model()
    comp = Sale(uuid.uuid4(), "comp", price, sold, facts)
    return adjustment_grid(
        model=model,
        subject=SUBJECT,
        subject_row=model.row(SUBJECT, None),
        comp=comp,
        comp_row=model.row(facts, sold),
        as_of=AS_OF,
        distance_miles=0.4,
    )


def test_grid_applies_time_then_size_then_condition_in_whole_dollars() -> None:
    # Comp A: 1,800 sqft, condition 5, sold for $200,000 in April 2010.
    #   time:      200,000 x e^0.02                    = 204,040.27 -> +$4,040
    #   size:      x e^(0.6 x ln(2000/1800) = 0.063216) = 217,355.37 -> +$13,315
    #   condition: x e^(0.05 x (6 - 5))                 = 228,499.42 -> +$11,144
    grid = grid_for(HomeFacts(square_feet=1800, condition=5), 200_000, dt.date(2010, 4, 15))
    amounts = {line.line: line.amount for line in grid.lines}
    assert amounts == {
        "time": Decimal("4040"),
        "size": Decimal("13315"),
        "condition": Decimal("11144"),
    }
    assert [line.line for line in grid.lines] == ["time", "size", "condition"]
    assert grid.adjusted_price == Decimal("228499")
    assert grid.net_adjustment == Decimal("28499")
    assert grid.gross_adjustment == Decimal("28499")
    assert grid.net_adjustment_pct == pytest.approx(14.2495)
    size_line = next(line for line in grid.lines if line.line == "size")
    assert size_line.subject == {"square_feet": 2000}
    assert size_line.comp == {"square_feet": 1800}
    time_line = grid.lines[0]
    assert time_line.subject == {"market_month": "2010-05"}
    assert time_line.comp == {"sale_month": "2010-04"}


def test_grid_with_offsetting_lines_has_gross_above_net() -> None:
    # Comp C: 2,200 sqft, condition 4, $240,000 in April 2010.
    #   time +$4,848 (x e^0.02); size -$13,609 (x e^(0.6 x ln(2000/2200)));
    #   condition +$24,320 (x e^(0.05 x 2)) -> adjusted $255,559.
    grid = grid_for(HomeFacts(square_feet=2200, condition=4), 240_000, dt.date(2010, 4, 15))
    assert [line.amount for line in grid.lines] == [
        Decimal("4848"),
        Decimal("-13609"),
        Decimal("24320"),
    ]
    assert grid.adjusted_price == Decimal("255559")
    assert grid.net_adjustment == Decimal("15559")
    assert grid.gross_adjustment == Decimal("42777")  # 4,848 + 13,609 + 24,320
    assert grid.gross_adjustment_pct == pytest.approx(42777 / 240000 * 100)


def test_a_comp_sold_in_the_index_month_gets_no_time_adjustment() -> None:
    # Comp B: 2,200 sqft, condition 6, $250,000 in May 2010: only size, -$13,895.
    grid = grid_for(HomeFacts(square_feet=2200, condition=6), 250_000, dt.date(2010, 5, 15))
    amounts = {line.line: line.amount for line in grid.lines}
    assert amounts == {"time": Decimal("0"), "size": Decimal("-13895"), "condition": Decimal("0")}
    assert grid.adjusted_price == Decimal("236105")


def test_reconciliation_weights_similar_lightly_adjusted_comps_most() -> None:
    a = grid_for(HomeFacts(square_feet=1800, condition=5), 200_000, dt.date(2010, 4, 15))
    b = grid_for(HomeFacts(square_feet=2200, condition=6), 250_000, dt.date(2010, 5, 15))
    c = grid_for(HomeFacts(square_feet=2200, condition=4), 240_000, dt.date(2010, 4, 15))
    for grid in (a, b, c):
        grid.score = similarity_score(
            distance_miles=grid.distance_miles, net_log=grid.net_log, years=grid.years_since_sale
        )
    result = reconcile([a, b, c])
    # weight_i = 1/(1 + score_i) / (0.05 + gross log adjustment_i), normalised.
    raw = [1 / (1 + g.score) / (0.05 + g.gross_log) for g in (a, b, c)]
    expected = [w / sum(raw) for w in raw]
    assert [a.weight, b.weight, c.weight] == pytest.approx(expected)
    assert b.weight == max(a.weight, b.weight, c.weight)  # the least adjusted comp
    logs = [math.log(float(g.adjusted_price)) for g in (a, b, c)]
    centre = sum(w * x for w, x in zip(expected, logs, strict=True))
    assert result.value == Decimal(round(math.exp(centre)))
    assert result.low < result.value < result.high
    assert Decimal("0") < result.confidence < Decimal("1")
    # Three comps (< 5) widen the error scale by sqrt(5/3).
    dispersion = math.sqrt(sum(w * (x - centre) ** 2 for w, x in zip(expected, logs, strict=True)))
    scale = math.sqrt(dispersion**2 + 0.05**2) * math.sqrt(5 / 3)
    assert result.error_scale_log == pytest.approx(scale)
    assert result.confidence == Decimal(str(round(math.erf(0.10 / (scale * math.sqrt(2))), 3)))


def test_the_market_model_recovers_rates_from_sales() -> None:
    # 1,200 sales (100 a month, so the month penalty barely shrinks the index) priced
    # exactly 50 x sqft^0.7 x 1.06^condition x 1.01^(months since Jan 2009): the fitted
    # rates come back close to 0.7, ln(1.06) and a 1%-a-month index, which the smoothed
    # index carries one month on to the as-of month (January 2010, no sales yet).
    rng = np.random.default_rng(7)
    sales = []
    for i in range(1200):
        sqft = float(rng.integers(900, 3200))
        condition = float(rng.integers(3, 9))
        month = int(rng.integers(0, 12))
        price = 50 * sqft**0.7 * 1.06**condition * 1.01**month
        sold = dt.date(2009 + month // 12, month % 12 + 1, 15)
        sales.append(Sale(uuid.uuid4(), f"s{i}", price, sold, HomeFacts(sqft, condition=condition)))
    model = fit_market_model(sales=sales, subject=SUBJECT, as_of=dt.date(2010, 1, 15))
    assert model.coefficient("log_living_area") == pytest.approx(0.7, abs=0.01)
    assert model.coefficient("condition") == pytest.approx(math.log(1.06), abs=0.003)
    index = model.month_index()
    assert model.index_month == month_number(dt.date(2010, 1, 15))
    assert index["2010-01"] == 1.0
    assert index["2009-12"] == pytest.approx(1.01**-1, abs=0.002)
    assert index["2009-01"] == pytest.approx(1.01**-12, abs=0.01)
    assert model.r_squared > 0.99


def test_too_few_sales_is_a_clear_error() -> None:
    sales = [
        Sale(uuid.uuid4(), "s", 100_000.0, dt.date(2009, 1, 15), HomeFacts(1000.0))
        for _ in range(3)
    ]
    with pytest.raises(NotEnoughSalesError, match="only 3 prior sales"):
        fit_market_model(sales=sales, subject=SUBJECT, as_of=AS_OF)


def _sized_sales(rng: np.random.Generator, n: int, start: dt.date) -> list[Sale]:
    """``n`` sales in one month priced exactly 100 x sqft^0.6."""
    sales = []
    for i in range(n):
        sqft = float(rng.integers(900, 3200))
        sales.append(Sale(uuid.uuid4(), f"s{i}", 100 * sqft**0.6, start, HomeFacts(sqft)))
    return sales


def test_a_few_wild_sales_do_not_move_the_rates() -> None:
    # 300 sales priced exactly 100 x sqft^0.6, plus 15 of the largest homes sold at a
    # third of that (data errors or distress the arm's-length filter missed). A plain
    # least-squares fit would pull the size elasticity well below 0.6; the Huber
    # re-weighting counts those sales less, so the rate stays near 0.6.
    rng = np.random.default_rng(11)
    sales = _sized_sales(rng, 300, dt.date(2009, 6, 15))
    for i in range(15):
        sqft = 3000.0 + 10 * i
        sales.append(
            Sale(
                uuid.uuid4(), f"wild{i}", 100 * sqft**0.6 / 3, dt.date(2009, 6, 15), HomeFacts(sqft)
            )
        )
    model = fit_market_model(sales=sales, subject=SUBJECT, as_of=dt.date(2009, 7, 15))
    assert model.coefficient("log_living_area") == pytest.approx(0.6, abs=0.03)
    # The same sales without the re-weighting: the rate is dragged far down.
    x = np.log([s.facts.square_feet or 0 for s in sales])
    y = np.log([s.price for s in sales])
    plain = np.polyfit(x, y, 1)[0]
    assert plain < 0.45


def test_the_market_index_carries_the_recent_trend_to_the_as_of_month() -> None:
    # 12 months of sales (60 a month) in a market falling 1% a month, valued three months
    # after the last sale: the index months without sales follow the trend, so a comp
    # sold in the last month is adjusted down by 2-3% (the full trend would be 3%; the
    # month-to-month penalty damps it a little), not held at its month's level (0%).
    rng = np.random.default_rng(5)
    sales = []
    for month in range(12):
        sold = dt.date(2009, month + 1, 15)
        for sale in _sized_sales(rng, 60, sold):
            sales.append(replace(sale, price=sale.price * 0.99**month))
    model = fit_market_model(sales=sales, subject=SUBJECT, as_of=dt.date(2010, 3, 15))
    index = model.month_index()
    assert model.index_month == month_number(dt.date(2010, 3, 1))
    assert index["2010-03"] == 1.0
    assert 1.02 < index["2009-12"] <= 0.99**-3
    # Within the sales the index is the market's own: 11 months of 1% falls.
    assert index["2009-01"] / index["2009-12"] == pytest.approx(0.99**-11, abs=0.005)
