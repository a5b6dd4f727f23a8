"""One deal, one set of numbers: the chat analysis, its PDF, REST and the deal projection agree.

Was: ``analyze_property`` (the agent tool) and the PDF never used the deal on the property, so
after a deal was priced at $95,000 a text still analysed at the list price; the analysis
ignored the deal's estimated repairs; ``GET /projections/{deal}`` had its own defaults (cash
flip, hard money at 12 %, management 8 %, maintenance 5 %) against the analysis's 85 % hard
money at 11 %, management 10 %, maintenance 8 %; and the analysis reconciled 8 comps where the
comps tool and the valuation API reconcile 10.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.assumptions import AnalysisAssumptions
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus
from domain.deal.projection import ProjectionAssumptions, deal_figures
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools import analysis as analysis_tools

API = "/api/v1"
D = Decimal


def _market(db: Session, name: str) -> tuple[Organisation, Any]:
    org = make_org(db, name)
    make_sold_market(db, org)
    return org, make_subject_property(db, org)


def _close(db: Session, org: Organisation, deal_id: uuid.UUID) -> None:
    for status in (DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed):
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal_id, status=status)


def test_chat_analysis_uses_the_callers_deal_price_and_says_which(
    client: TestClient, db: Session
) -> None:
    org, subject = _market(db, "One Deal Price Org")
    ivy = make_user(db, org, role=Role.investor)
    otto = make_user(db, org, role=Role.investor)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(
        db, org, owner=ivy, property_id=subject.id, strategy="flip", purchase_price=D("30000")
    )

    mine = call_tool(analysis_tools.analyze_property, context_for(db, ivy), address=None,
                     property_id=str(subject.id))  # fmt: skip
    team = call_tool(analysis_tools.analyze_property, context_for(db, analyst),
                     property_id=str(subject.id))  # fmt: skip
    other = call_tool(analysis_tools.analyze_property, context_for(db, otto),
                      property_id=str(subject.id))  # fmt: skip

    assert "error" not in mine, mine
    assert mine["purchase_price"] == "$30,000"
    assert mine["deal"]["deal_id"] == str(deal.id) and mine["deal"]["price_used"] is True
    assert str(deal.id)[:8] in mine["deal"]["text"] and "$30,000" in mine["deal"]["text"]
    assert team["purchase_price"] == "$30,000"
    # Otto may not see Ivy's deal: the list price, and nothing about the deal.
    assert other["purchase_price"] == "$45,000" and other["deal"] is None
    # REST with the deal gives the same figures as the chat.
    rest = client.post(
        f"{API}/properties/{subject.id}/analysis",
        json={"deal_id": str(deal.id)},
        headers=auth_headers(db, ivy),
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["figures"]["flip_profit"] == mine["flip_profit"]
    assert rest.json()["figures"]["purchase_price"] == "$30,000"
    # A price the investor gives is a what-if: it replaces the deal's.
    what_if = call_tool(analysis_tools.analyze_property, context_for(db, ivy),
                        property_id=str(subject.id), purchase_price=D("50000"))  # fmt: skip
    assert what_if["purchase_price"] == "$50,000" and what_if["deal"]["price_used"] is False


def test_an_open_deal_comes_before_a_closed_one_and_dead_deals_never_count(
    db: Session,
) -> None:
    org, subject = _market(db, "One Deal Pick Org")
    analyst = make_user(db, org, role=Role.analyst)
    closed = make_deal(db, org, property_id=subject.id, strategy="flip", purchase_price=D("28000"))
    _close(db, org, closed.id)
    dead = make_deal(db, org, property_id=subject.id, strategy="flip", purchase_price=D("99000"))
    deal_service.change_status(session=db, org_id=org.id, deal_id=dead.id, status=DealStatus.dead)
    ctx = context_for(db, analyst)

    only_closed = call_tool(analysis_tools.analyze_property, ctx, property_id=str(subject.id))
    assert only_closed["purchase_price"] == "$28,000"
    assert only_closed["deal"]["status"] == "closed"

    active = make_deal(db, org, property_id=subject.id, strategy="flip", purchase_price=D("33000"))
    with_active = call_tool(analysis_tools.max_offer, ctx, property_id=str(subject.id))
    assert with_active["purchase_price"] == "$33,000"
    picked = analysis_service.relevant_deal(
        session=db, org_id=org.id, property_id=subject.id, principal=None
    )
    assert picked is not None and picked.id == active.id


def test_the_pdf_runs_on_the_same_deal_as_the_reply(db: Session) -> None:
    org, subject = _market(db, "One Deal Report Org")
    ivy = make_user(db, org, role=Role.investor)
    deal = make_deal(
        db, org, owner=ivy, property_id=subject.id, strategy="flip", purchase_price=D("30000")
    )
    from workers.reports import generate_property_report

    result = call_tool(analysis_tools.generate_report, context_for(db, ivy),
                       property_id=str(subject.id))  # fmt: skip
    assert "error" not in result, result
    assert result["deal_id"] == str(deal.id)
    # The PDF WhatsApp sends after an analysis (no deal named, the requester known).
    report = generate_property_report(
        session=db, org_id=org.id, property_id=subject.id, requested_by=ivy.id
    )
    assert report.deal_id == deal.id
    # Someone who may not see the deal gets the list-price report.
    otto = make_user(db, org, role=Role.investor)
    theirs = generate_property_report(
        session=db, org_id=org.id, property_id=subject.id, requested_by=otto.id
    )
    assert theirs.deal_id is None


def test_the_analysis_uses_the_deals_estimated_repairs(db: Session) -> None:
    org, subject = _market(db, "One Deal Repairs Org")
    deal = make_deal(
        db,
        org,
        property_id=subject.id,
        strategy="flip",
        purchase_price=D("30000"),
        estimated_repairs=D("20000"),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id
    )
    assert analysis.figures.rehab_total == "$20,000"
    assert analysis.max_offer is not None and analysis.max_offer.rehab_total == D("20000")
    assert analysis.rehab_total_source == f"deal {deal.id} estimated repairs"
    # A budget the investor gives still wins.
    given = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id,
        rehab_cost=D("35000"),
    )  # fmt: skip
    assert given.figures.rehab_total == "$35,000" and given.rehab_total_source == "as given"


def test_projection_defaults_are_the_analysis_defaults() -> None:
    a, p = AnalysisAssumptions(), ProjectionAssumptions()
    pairs = {
        "buy_closing_pct": "buy_closing_pct",
        "property_tax_rate_pct": "property_tax_pct",
        "insurance_rate_pct": "insurance_pct",
        "hold_months": "flip_hold_months",
        "utilities_monthly_while_held": "utilities_while_holding_monthly",
        "short_term_ltc_pct": "short_term_ltc_pct",
        "short_term_rate_pct": "short_term_rate_pct",
        "short_term_points_pct": "short_term_points_pct",
        "management_pct": "management_pct",
        "maintenance_pct": "maintenance_pct",
        "vacancy_pct": "vacancy_pct",
        "capex_reserve_pct": "capex_reserve_pct",
        "loan_ltv_pct": "mortgage_ltv_pct",
        "loan_rate_pct": "mortgage_rate_pct",
        "mao_rule_pct": "mao_rule_pct",
        "refinance_ltv_pct": "refinance_ltv_pct",
    }
    for projection_name, analysis_name in pairs.items():
        assert getattr(p, projection_name) == getattr(a, analysis_name), projection_name


def test_same_deal_same_flip_and_rental_figures_in_projection_and_analysis(
    client: TestClient, db: Session
) -> None:
    org, subject = _market(db, "One Deal Projection Org")
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    deal = make_deal(
        db,
        org,
        property_id=subject.id,
        strategy="flip",
        purchase_price=D("30000"),
        estimated_repairs=D("20000"),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id
    )
    assert analysis.flip is not None and analysis.rental is not None and analysis.arv
    arv = str(analysis.arv.value.quantize(D("0.01")))

    flip = client.get(f"{API}/projections/{deal.id}", params={"arv": arv}, headers=headers)
    assert flip.status_code == 200, flip.text
    body = flip.json()["analysis"]
    assert D(body["profit"]) == analysis.flip.profit
    assert D(body["roi_pct"]) == analysis.flip.roi_pct
    assert body["inputs"]["financing"]["ltc_pct"] is not None

    rent = str(analysis.rent.rent_monthly)
    rental = client.get(
        f"{API}/projections/{deal.id}",
        params={"strategy": "rental", "arv": arv, "rent_monthly": rent},
        headers=headers,
    )
    assert rental.status_code == 200, rental.text
    assert D(rental.json()["analysis"]["monthly_cash_flow"]) == analysis.rental.monthly_cash_flow
    # Explicit query parameters still override the defaults.
    cash = client.get(
        f"{API}/projections/{deal.id}",
        params={"arv": arv, "short_term_ltc_pct": "0", "management_pct": "8"},
        headers=headers,
    )
    assert cash.status_code == 200, cash.text
    assert cash.json()["analysis"]["inputs"]["financing"] is None


def test_projection_figures_fall_back_like_the_analysis(db: Session) -> None:
    org, subject = _market(db, "One Deal Fallback Org")
    deal = make_deal(db, org, property_id=subject.id, strategy="flip")
    figures = deal_figures(
        session=db, org_id=org.id, deal=deal, prop=subject, assumptions=ProjectionAssumptions()
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id
    )
    assert figures.price == D("45000") == subject.list_price
    assert "list_price" in figures.sources["purchase_price"]
    assert figures.rehab == analysis.rehab.estimate.total
    assert figures.sources["rehab_cost"].startswith("priced scope: default scope")


def test_the_analysis_reconciles_as_many_comps_as_the_comps_tool(db: Session) -> None:
    org, subject = _market(db, "One Deal Comps Org")
    assert AnalysisAssumptions().max_comps == valuation_service.DEFAULT_MAX_COMPS == 10
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=subject.id)
    for kind, part in ((ValuationKind.as_is, analysis.as_is), (ValuationKind.arv, analysis.arv)):
        comps = valuation_service.find_comps(
            session=db, org_id=org.id, property_id=subject.id, as_of=analysis.as_of, kind=kind
        )
        assert part is not None
        assert len(part.comps) == len(comps.comps)
        assert part.value == comps.value


def test_a_flip_projection_without_a_deal_price_uses_the_list_price(
    client: TestClient, db: Session
) -> None:
    org, subject = _market(db, "One Deal No Price Org")
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, property_id=subject.id, strategy="flip")

    response = client.get(f"{API}/projections/{deal.id}", params={"arv": "90000"}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert D(body["analysis"]["inputs"]["purchase_price"]) == D("45000")
    assert "list_price" in body["sources"]["purchase_price"]
    assert body["sources"]["rehab_cost"].startswith("priced scope:")
