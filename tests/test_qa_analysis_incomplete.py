"""QA: an analysis whose rehab budget leaves lines out must not look complete.

A property with no living area on file (MLS imports store a LivingArea of 0 as unknown) gets
a rehab estimate whose roof, windows, flooring, paint and drywall lines cannot be sized. Was:
the headline rehab total left them out ($29,920 shown), and the flip profit, maximum offer,
BRRRR and the verdict ("Rental fits Section 8 (also: strong BRRRR)") were built on it. Now
the budget is marked incomplete, the figures that depend on it are withheld with the bound
the priced lines allow, the verdict recommends nothing, and the square footage or the
investor's own rehab budget completes it. Other unknowns (bedrooms, market rent, comps) are
stated where the figures are.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import Session, col, select

from domain.analysis import service as analysis_service
from domain.analysis.assumptions import VerdictThresholds
from domain.analysis.formatting import NOT_AVAILABLE, dollars
from domain.analysis.models import PricedFigure, PropertyAnalysis, RentSection, VerdictLabel
from domain.underwriting import service as underwriting
from domain.underwriting.models import FlipInput
from reports.property_report import render_property_report
from store.outbox import OutboxEvent
from tests.factories import make_org, make_sold_market, make_subject_property
from tools.analysis import analysis_result

AS_OF = dt.date(2025, 1, 15)
FIX = "send the square footage or your rehab budget"
# The default scope of a condition-3 house that needs a living area to be sized.
SIZED_BY_AREA = ["roof_shingles", "windows", "flooring_lvp", "interior_paint", "drywall_repair"]


def _analyse(db: Session, prop_id: uuid.UUID, org_id: uuid.UUID, **kw: object) -> PropertyAnalysis:
    return analysis_service.analyze_property(
        session=db,
        org_id=org_id,
        property_id=prop_id,
        as_of=AS_OF,
        **kw,  # type: ignore[arg-type]
    )


def _unknown_area(db: Session, **fields: object) -> tuple[uuid.UUID, uuid.UUID]:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org, square_feet=None, **fields)
    return org.id, subject.id


def _pdf_text(analysis: PropertyAnalysis) -> str:
    reader = PdfReader(io.BytesIO(render_property_report(analysis).data))
    # Paragraphs wrap: compare on single spaces.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_an_unknown_living_area_withholds_every_figure_built_on_the_rehab(db: Session) -> None:
    org_id, prop_id = _unknown_area(db)
    analysis = _analyse(db, prop_id, org_id)
    estimate = analysis.rehab.estimate
    assert [u.component for u in estimate.unpriced] == SIZED_BY_AREA
    assert estimate.total > 0  # the lines that need no area are priced

    # The budget says it is incomplete, what is missing, why, and how to complete it.
    assert analysis.rehab_complete is False
    assert analysis.rehab.missing_components == SIZED_BY_AREA
    assert analysis.rehab_missing == (
        "the rehab budget is incomplete: roof shingles, windows, flooring lvp, interior paint "
        "and drywall repair not priced (no square footage on file to size them); " + FIX
    )
    f = analysis.figures
    assert f.rehab_total == f"at least {dollars(estimate.total)} (incomplete)"

    # The parts built on the rehab are withheld; each reason carries the bound.
    assert analysis.arv is not None
    arv = analysis.arv.value.quantize(Decimal("0.01"))
    bound = underwriting.max_allowable_offer(arv=arv, rehab_cost=estimate.total)
    assert analysis.max_offer is None
    assert f.max_offer == f"at most {dollars(bound)} (rehab incomplete)"
    assert analysis.max_offer_missing is not None
    assert f"so the maximum offer is at most {dollars(bound)}" in analysis.max_offer_missing
    assert analysis.max_offer_missing.endswith(FIX)
    assert analysis.flip is None and f.flip_profit.startswith("at most $")
    assert analysis.flip_missing is not None and "flip profit is at most $" in analysis.flip_missing
    assert analysis.brrrr is None
    assert analysis.brrrr_missing is not None
    assert "cash left in the deal is at least $" in analysis.brrrr_missing
    assert analysis.rental is None and analysis.projection is None
    assert analysis.rental_missing is not None and "cash-on-cash at most" in analysis.rental_missing

    # No strategy is recommended on it (was: "Rental fits Section 8 (also: strong BRRRR)").
    verdict = analysis.verdict
    assert verdict.label is VerdictLabel.insufficient_data
    assert verdict.qualifying == []
    assert "rehab budget is incomplete" in verdict.headline
    assert verdict.reasons[0] == analysis.rehab_missing
    assert not [c for c in verdict.checks if c.passed]

    # The monthly cash flow does not depend on the rehab: it is still shown, and it is the
    # same figure the completed analysis gives (completed by a budget: a given square
    # footage would also size the ARV, which the rental's taxes and insurance are taken on).
    complete = _analyse(db, prop_id, org_id, rehab_cost=Decimal("60000"))
    assert complete.rental is not None
    assert f.rental_cash_flow == dollars(complete.rental.monthly_cash_flow)


def test_the_agent_sees_the_bounds_the_reasons_and_how_to_complete_it(db: Session) -> None:
    org_id, prop_id = _unknown_area(db)
    result = analysis_result(_analyse(db, prop_id, org_id))
    assert result["verdict"] == "insufficient data"
    assert result["rehab_total"].startswith("at least $")
    assert result["max_offer"].startswith("at most $")
    assert result["flip_profit"].startswith("at most $")
    assert result["brrrr_cash_left_in_deal"] == NOT_AVAILABLE
    assert result["strategies"] == {}  # no complete-looking flip/rental/BRRRR figures
    assert result["reasons"][0].endswith(FIX)
    for part in ("flip", "max_offer", "brrrr", "rental"):
        assert result["missing"][part].endswith(FIX), part


def test_the_square_footage_or_a_rehab_budget_completes_the_analysis(db: Session) -> None:
    org_id, prop_id = _unknown_area(db)
    sized = _analyse(db, prop_id, org_id, square_feet=1500)
    assert sized.rehab_complete is True and sized.rehab_missing is None
    assert sized.rehab.estimate.unpriced == []
    assert sized.rehab.estimate.square_feet == 1500
    assert "values and rehab sized on 1,500 sqft as given" in sized.notes
    assert sized.flip is not None and sized.max_offer is not None and sized.brrrr is not None
    assert sized.figures.rehab_total == dollars(sized.rehab.estimate.total)
    assert sized.figures.max_offer == dollars(sized.max_offer.amount)
    assert sized.verdict.label is not VerdictLabel.insufficient_data

    # The same house with its area on file prices the same rehab.
    org = make_org(db, "Other Org")
    make_sold_market(db, org)
    on_file = make_subject_property(db, org, square_feet=1500)
    assert _analyse(db, on_file.id, org.id).rehab.estimate.total == sized.rehab.estimate.total

    budget = _analyse(db, prop_id, org_id, rehab_cost=Decimal("60000"))
    assert budget.rehab_complete is True and budget.rehab_missing is None
    assert budget.max_offer is not None and budget.max_offer.rehab_total == Decimal("60000.00")
    assert budget.flip is not None
    assert budget.figures.rehab_total == "$60,000"
    # The estimate it replaced is named as the floor it was.
    partial = dollars(budget.rehab.estimate.total)
    assert f"rehab $60,000 as given, instead of the estimate's at least {partial}" in budget.notes

    for bad in (0, -5, 100_001):
        with pytest.raises(analysis_service.AnalysisInputError, match="square footage"):
            _analyse(db, prop_id, org_id, square_feet=bad)


def test_the_pdf_says_the_budget_is_incomplete_and_how_to_complete_it(db: Session) -> None:
    org_id, prop_id = _unknown_area(db)
    analysis = _analyse(db, prop_id, org_id)
    content = _pdf_text(analysis)
    f = analysis.figures
    assert analysis.verdict.headline in content
    for figure in (f.rehab_total, f.max_offer, f.flip_profit, f.arv, f.as_is_value):
        assert figure in content, figure
    assert analysis.rehab_missing is not None
    detail = analysis.rehab_missing.removeprefix("the rehab budget is incomplete: ")
    assert detail != analysis.rehab_missing
    assert f"Rehab budget incomplete: {detail}" in content
    assert "incomplete: the rehab budget is incomplete" not in content  # said once
    assert analysis.max_offer_missing is not None
    assert f"Maximum offer: not available: {analysis.max_offer_missing}" in content
    assert "Flip: not available: the rehab budget is incomplete" in content
    assert "BRRRR: not available: the rehab budget is incomplete" in content

    complete = _pdf_text(_analyse(db, prop_id, org_id, square_feet=1500))
    assert "Rehab budget incomplete" not in complete
    assert "at most $" not in complete


def test_the_event_carries_no_understated_rehab_total(db: Session) -> None:
    org_id, prop_id = _unknown_area(db)
    for kwargs, complete in (({}, False), ({"square_feet": 1500}, True)):
        analysis = _analyse(db, prop_id, org_id, **kwargs)
        event_id = analysis_service.publish_completed(session=db, analysis=analysis)
        event = db.exec(select(OutboxEvent).where(col(OutboxEvent.id) == event_id)).one()
        assert event.payload["rehab_complete"] is complete
        expected = str(analysis.rehab.estimate.total) if complete else None
        assert event.payload["rehab_total"] == expected


def test_decide_recommends_nothing_on_an_incomplete_budget() -> None:
    flip = underwriting.analyze_flip(
        inputs=FlipInput(
            arv=Decimal("200000"),
            purchase_price=Decimal("100000"),
            rehab_cost=Decimal("30000"),
            hold_months=6,
            agent_commission_pct=Decimal("5"),
        )
    )
    kwargs: dict[str, Any] = {
        "flip": flip,
        "rental": None,
        "brrrr": None,
        "max_offer": None,
        "price": PricedFigure(amount=Decimal("100000"), source="list price"),
        "rent": RentSection(rent_monthly=None, rent_source="none", market_rent=None, section8=None),
        "missing": [],
        "thresholds": VerdictThresholds(),
    }
    assert analysis_service.decide(**kwargs).label is VerdictLabel.strong_flip
    held = analysis_service.decide(**kwargs, rehab_incomplete="the rehab budget is incomplete")
    assert held.label is VerdictLabel.insufficient_data
    assert held.qualifying == []
    assert held.reasons == ["the rehab budget is incomplete"]


def test_other_unknowns_are_stated_where_the_figures_are(db: Session) -> None:
    # No bedrooms: the FMR is for an assumed count, and says so.
    org_id, prop_id = _unknown_area(db, bedrooms=None)
    analysis = _analyse(db, prop_id, org_id, square_feet=1500)
    assert analysis.rent.section8 is not None
    assert analysis.figures.fmr == f"{dollars(analysis.rent.section8.fmr)} (3 bedrooms assumed)"
    assert "3 bedrooms (assumed: none on file)" in analysis.rent.rent_source
    # No living area on file or given: the values are not size-adjusted, and they say so.
    unsized = _analyse(db, prop_id, org_id)
    assert unsized.arv is not None and unsized.as_is is not None
    assert unsized.figures.arv == f"{dollars(unsized.arv.value)} (not size-adjusted)"
    assert unsized.figures.as_is_value == f"{dollars(unsized.as_is.value)} (not size-adjusted)"
    assert "no living area on file: the as-is value and ARV are not adjusted for size" in (
        unsized.notes
    )
    # No market rent: the rent is the Section 8 maximum, so "fits Section 8" is by
    # construction; the check says the rent was assumed rather than presenting it as a finding.
    fit = next(c for c in analysis.verdict.checks if c.strategy == "section8")
    assert "no market-rent estimate on file, so the rent is assumed at that maximum" in fit.text

    # No comps: no ARV, so no maximum offer or flip; nothing is shown as $0.
    org = make_org(db, "No Market")
    bare = make_subject_property(db, org, square_feet=None)
    alone = _analyse(db, bare.id, org.id)
    assert alone.arv is None and alone.arv_missing
    assert alone.max_offer is None and alone.max_offer_missing == f"no ARV: {alone.arv_missing}"
    assert alone.figures.arv == NOT_AVAILABLE
    assert alone.figures.max_offer == NOT_AVAILABLE
    assert alone.figures.flip_profit == NOT_AVAILABLE
    assert "$0" not in alone.figures.model_dump_json()
