"""GET /projections/{dealId}: the deal's figures run through the underwriting functions.

The expected results are computed here by calling ``domain.underwriting.service`` directly
with inputs written out by hand from the documented defaults, so the endpoint must pass on
exactly those figures and add nothing of its own.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.money import format_result_inputs
from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.projection import ProjectionAssumptions
from domain.property import service as property_service
from domain.property.models import PropertyCreate
from domain.underwriting import service as underwriting
from domain.underwriting.models import (
    FlipInput,
    HoldingCosts,
    MortgageLoan,
    ProjectionInput,
    RentalInput,
    RentalOperations,
    ShortTermLoan,
)
from tests.factories import auth_headers, make_deal, make_org, make_user

API = "/api/v1"
D = Decimal


def test_flip_projection_equals_the_flip_analysis(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(
        db, org, strategy="flip", purchase_price=D("100000"), estimated_repairs=D("30000")
    )
    response = client.get(
        f"{API}/projections/{deal.id}",
        params={"arv": "180000", "short_term_ltv_pct": "80", "target_profit": "25000"},
        headers=auth_headers(db, analyst),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Tax 1.5 % and insurance 0.5 % of the price a year (the analysis's defaults, which
    # follow the price); hard money at the analysis's 11 %, sized on the price as asked.
    expected = underwriting.analyze_flip(
        inputs=FlipInput(
            arv=D("180000"),
            purchase_price=D("100000"),
            rehab_cost=D("30000"),
            buy_closing_pct=D("2"),
            holding_costs=HoldingCosts(
                price_pct_yearly=D("1.5") + D("0.5"), utilities_monthly=D("150")
            ),
            hold_months=6,
            agent_commission_pct=D("5"),
            sell_closing_pct=D("1"),
            financing=ShortTermLoan(
                ltv_pct=D("80"), annual_rate_pct=D("11"), points_pct=D("2"), interest_only=True
            ),
            mao_rule_pct=D("70"),
            target_profit=D("25000"),
        )
    )
    assert body["analysis"] == format_result_inputs(expected.model_dump(mode="json"))
    # The 70 % rule: $180,000 × 70 % − $30,000 repairs = $96,000.
    assert D(body["analysis"]["max_offer_by_rule"]) == D("96000")
    assert body["strategy"] == "flip" and body["projection"] is None
    assert body["sources"] == {
        "purchase_price": "deal.purchase_price",
        "rehab_cost": "deal.estimated_repairs",
        "arv": "as given",
    }


def test_rental_projection_equals_the_rental_analysis_and_hold(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    prop = property_service.create(
        session=db,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line="18 Elm St",
            city="Detroit",
            state="MI",
            zip_code="48204",
            bedrooms=3,
            target_rent=D("1250"),
        ),
    )
    deal = make_deal(
        db,
        org,
        owner=investor,
        property_id=prop.id,
        strategy="rental",
        purchase_price=D("110000"),
        estimated_repairs=D("0"),  # turnkey: with no repairs figure the house has no size
    )
    response = client.get(f"{API}/projections/{deal.id}", headers=auth_headers(db, investor))
    assert response.status_code == 200, response.text
    body = response.json()
    # Tax 1.5 % of $110,000 = $1,650 a year, insurance 0.5 % = $550; 75 % loan at 7.5 %.
    operations = RentalOperations(
        gross_rent_monthly=D("1250"),
        vacancy_pct=D("8"),
        property_taxes_annual=D("1650.00"),
        insurance_annual=D("550.00"),
        management_pct=D("10"),  # the analysis's defaults (domain.analysis.assumptions)
        maintenance_pct=D("8"),
        capex_reserve_pct=D("5"),
    )
    loan = MortgageLoan(ltv_pct=D("75"), annual_rate_pct=D("7.5"), term_years=30)
    rental = underwriting.analyze_rental(
        inputs=RentalInput(
            purchase_price=D("110000"), buy_closing_pct=D("2"), operations=operations, loan=loan
        )
    )
    hold = underwriting.project_hold(
        inputs=ProjectionInput(
            purchase_price=D("110000"),
            buy_closing_pct=D("2"),
            operations=operations,
            loan=loan,
            rent_growth_pct=D("3"),
            expense_growth_pct=D("3"),
            appreciation_pct=D("3"),
            hold_years=5,
            agent_commission_pct=D("5"),
            sell_closing_pct=D("1"),
        )
    )
    assert body["analysis"] == format_result_inputs(rental.model_dump(mode="json"))
    assert body["projection"] == format_result_inputs(hold.model_dump(mode="json"))
    assert body["sources"]["rent_monthly"] == "property.target_rent"
    assert body["sources"]["rehab_cost"] == "deal.estimated_repairs"
    assert len(body["projection"]["years"]) == 5


def test_section8_projection_uses_the_fmr_payment_standard(db: Session) -> None:
    org = make_org(db)
    prop = property_service.create(
        session=db,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line="7 Oak St", city="Detroit", state="MI", zip_code="48205", bedrooms=3
        ),
    )
    deal = make_deal(
        db,
        org,
        property_id=prop.id,
        strategy="section8_rental",
        purchase_price=D("85000"),
        estimated_repairs=D("20000"),
    )
    result = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("1100")),
    )
    assert result.sources["payment_standard_monthly"].startswith("FMR table: ")
    assert result.analysis.inputs.bedrooms == 3  # type: ignore[union-attr]
    assert result.analysis.market_rent_monthly == D("1100")  # type: ignore[union-attr]
    assert result.projection is not None


def test_missing_or_invalid_figures_answer_422(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    headers = auth_headers(db, admin)
    flip = make_deal(
        db, org, strategy="flip", purchase_price=D("100000"), estimated_repairs=D("10000")
    )
    no_strategy = make_deal(db, org, purchase_price=D("100000"))
    no_price = make_deal(db, org, strategy="wholesale", estimated_repairs=D("10000"))
    unsized = make_deal(db, org, strategy="flip", purchase_price=D("100000"))

    def detail(deal_id: object, **params: str) -> str:
        response = client.get(f"{API}/projections/{deal_id}", params=params, headers=headers)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    needs_arv = detail(flip.id)
    assert needs_arv.startswith("a flip projection needs an ARV")
    assert "POST /valuations/arv" in needs_arv and "?arv=" in needs_arv
    assert "no strategy" in detail(no_strategy.id)
    assert "purchase price" in detail(no_price.id, arv="150000")  # no list price either
    # No repairs on the deal and a house with no size: the analysis's rule, a 422 naming it.
    assert "set the deal's estimated repairs or pass rehab_cost" in detail(unsized.id)
    # No rent given or on file: the analysis's rent (Section 8 maximum contract rent), no 422.
    rental = client.get(
        f"{API}/projections/{flip.id}", params={"strategy": "rental"}, headers=headers
    )
    assert rental.status_code == 200, rental.text
    assert rental.json()["sources"]["rent_monthly"].startswith("the analysis's rent: Section 8")
    detail(flip.id, arv="180000", vacancy_pct="150")  # a percentage over 100
    detail(flip.id, arv="180000", vacancy="8")  # a misspelt assumption
    # The strategy can be overridden: the flip deal analysed as a wholesale.
    response = client.get(
        f"{API}/projections/{flip.id}",
        params={"strategy": "wholesale", "arv": "180000", "purchase_price": "95000"},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["analysis_strategy"] == "wholesale"
    assert response.json()["sources"]["purchase_price"] == "as given"
    assert D(response.json()["analysis"]["contract_price"]) == D("95000")
    # $180,000 × 70 % − $10,000 repairs (the deal's) = $116,000 for the end buyer.
    assert D(response.json()["analysis"]["end_buyer_max_offer"]) == D("116000")


def test_brrrr_projection_runs_on_the_deal_and_assumptions(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(
        db, org, strategy="brrrr", purchase_price=D("70000"), estimated_repairs=D("35000")
    )
    result = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(
            arv=D("150000"), rent_monthly=D("1400"), short_term_ltv_pct=D("90")
        ),
    )
    inputs = result.analysis.inputs
    assert (inputs.purchase_price, inputs.rehab_cost, inputs.arv) == (  # type: ignore[union-attr]
        D("70000"),
        D("35000"),
        D("150000"),
    )
    # Refinanced at 75 % of the $150,000 ARV.
    assert result.analysis.refinance_loan_amount == D("112500.00")  # type: ignore[union-attr]
    assert result.projection is None
