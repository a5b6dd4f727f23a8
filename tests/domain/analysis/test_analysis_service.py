"""The assembled property analysis: its figures are the underlying services' own, and missing
data is said plainly instead of failing."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from PIL import Image
from sqlmodel import Session

from domain.analysis import service
from domain.analysis.assumptions import DEFAULT_SCOPES, AnalysisAssumptions, VerdictThresholds
from domain.analysis.models import RentSection, VerdictLabel
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.pricing import service as pricing_service
from domain.pricing.enums import Condition
from domain.pricing.models import ComponentInput
from domain.property import service as property_service
from domain.property.enums import MarketDataType
from domain.property.models import MarketDataCreate
from domain.section8 import service as section8_service
from domain.underwriting import service as underwriting
from domain.underwriting.models import (
    FlipInput,
    HoldingCosts,
    MortgageLoan,
    RentalInput,
    RentalOperations,
    ShortTermLoan,
)
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from tests.factories import make_deal, make_org, make_sold_market, make_subject_property

AS_OF = dt.date(2025, 1, 15)


def _analysed(db: Session, **subject_fields: object):  # type: ignore[no-untyped-def]
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org, **subject_fields)
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    return org, subject, analysis


def test_every_figure_is_the_underlying_services_own(db: Session) -> None:
    org, subject, analysis = _analysed(db)

    # Values: the valuation service's comps and reconciled values, its default count each.
    as_is = valuation_service.find_comps(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    arv = valuation_service.find_comps(
        session=db,
        org_id=org.id,
        property_id=subject.id,
        as_of=AS_OF,
        kind=ValuationKind.arv,
    )
    assert analysis.as_is is not None and analysis.arv is not None
    assert analysis.as_is.value == as_is.value
    assert analysis.arv.value == arv.value
    assert analysis.sources.as_is_comp_ids == [c.property_id for c in as_is.comps]
    assert analysis.sources.arv_comp_ids == [c.property_id for c in arv.comps]
    assert len(analysis.comp_locations) == len(
        {c.property_id for c in as_is.comps} | {c.property_id for c in arv.comps}
    )

    # Rehab: condition rating 3 takes the documented "poor" scope, priced by the cost book.
    poor_scope = next(iter(DEFAULT_SCOPES.values()))
    rehab = pricing_service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[ComponentInput(component=key, condition=cond) for key, cond in poor_scope],
        square_feet=1500,
        contingency_pct=Decimal("10"),
    )
    assert analysis.rehab.estimate == rehab
    assert analysis.rehab.scope_source.startswith("default scope, poor (rating 1-4)")
    assert analysis.rehab.catalogue_updated is not None

    # Section 8: Detroit's 2024 3-bedroom FMR from the seed ($1,329), found by the city.
    s8 = section8_service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Detroit")
    assert analysis.rent.section8 == s8
    assert s8.fmr == Decimal("1329.00") and s8.year == 2024
    # No market-rent estimate on file: the rent is the voucher's maximum contract rent.
    assert analysis.rent.rent_monthly == s8.max_contract_rent == Decimal("1329.00")

    # Flip, with the documented defaults written out: list price $45,000; holding costs
    # 1.5 % tax + 0.5 % insurance of the price a year ($75 a month at $45,000; the offer for
    # the target profit carries its own), $150 utilities.
    arv_value = arv.value.quantize(Decimal("0.01"))
    flip = underwriting.analyze_flip(
        inputs=FlipInput(
            arv=arv_value,
            purchase_price=Decimal("45000"),
            rehab_cost=rehab.total,
            buy_closing_pct=Decimal("2"),
            holding_costs=HoldingCosts(
                price_pct_yearly=Decimal("2"), utilities_monthly=Decimal("150")
            ),
            hold_months=6,
            agent_commission_pct=Decimal("5"),
            sell_closing_pct=Decimal("1"),
            financing=ShortTermLoan(
                ltc_pct=Decimal("85"), annual_rate_pct=Decimal("11"), points_pct=Decimal("2")
            ),
            mao_rule_pct=Decimal("70"),
            target_profit=Decimal("25000"),
        )
    )
    assert analysis.flip == flip
    assert flip.holding_costs == (Decimal("75") + Decimal("150")) * 6
    # The offer for the target profit is the highest price, to the cent, whose own profit
    # (taxes and insurance on that price, not the list price's) still meets the target.
    target = flip.max_offer_for_target_profit
    assert target is not None

    def profit_at(price: Decimal) -> Decimal:
        again = underwriting.analyze_flip(
            inputs=flip.inputs.model_copy(update={"purchase_price": price, "target_profit": None})
        )
        return again.profit

    assert profit_at(target) >= Decimal("25000") > profit_at(target + Decimal("0.01"))

    # Rental: taxes and insurance on the ARV (the renovated house), rounded half-up to cents;
    # 75 % LTV at 7.5 %.
    def cents(value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    rental = underwriting.analyze_rental(
        inputs=RentalInput(
            purchase_price=Decimal("45000"),
            buy_closing_pct=Decimal("2"),
            rehab_cost=rehab.total,
            operations=RentalOperations(
                gross_rent_monthly=Decimal("1329.00"),
                vacancy_pct=Decimal("8"),
                property_taxes_annual=cents(arv_value * Decimal("0.015")),
                insurance_annual=cents(arv_value * Decimal("0.005")),
                management_pct=Decimal("10"),
                maintenance_pct=Decimal("8"),
                capex_reserve_pct=Decimal("5"),
            ),
            loan=MortgageLoan(ltv_pct=Decimal("75"), annual_rate_pct=Decimal("7.5"), term_years=30),
        )
    )
    assert analysis.rental == rental
    assert analysis.brrrr is not None and analysis.brrrr.inputs.arv == arv_value
    assert analysis.projection is not None and len(analysis.projection.years) == 5

    # Maximum offer: ARV x 70 % - rehab, from the underwriting service.
    mao = underwriting.max_allowable_offer(arv=arv_value, rehab_cost=rehab.total)
    assert analysis.max_offer is not None and analysis.max_offer.amount == mao
    assert analysis.max_offer.for_target_profit == flip.max_offer_for_target_profit

    # The headline strings the agent and the PDF print.
    f = analysis.figures
    assert f.address == "1234 Subject Ave, Detroit, MI 48201"
    assert f.fmr == "$1,329" and f.payment_standard == "$1,329" and f.rent == "$1,329"
    assert f.purchase_price == "$45,000"
    assert f.rehab_total == f"${rehab.total:,.0f}"
    assert mao >= 0 and f.max_offer == f"${mao:,.0f}"  # a negative one: see the sanity sweep
    assert analysis.sources.fmr_year == 2024
    assert analysis.assumptions == AnalysisAssumptions()


def test_the_verdict_follows_the_documented_thresholds(db: Session) -> None:
    _, _, analysis = _analysed(db)
    t = VerdictThresholds()
    rental, flip = analysis.rental, analysis.flip
    assert rental is not None and flip is not None and rental.dscr is not None
    assert rental.cash_on_cash_pct is not None
    rental_ok = (
        rental.monthly_cash_flow >= t.rental_min_cash_flow_monthly
        and rental.cash_on_cash_pct >= t.rental_min_cash_on_cash_pct
        and rental.dscr >= t.rental_min_dscr
    )
    # This poor-condition house bought at list does not flip ($45,000 is above the maximum
    # offer), and its Section 8 rental clears the rental bars.
    assert flip.profit < t.flip_min_profit
    assert VerdictLabel.strong_flip not in analysis.verdict.qualifying
    assert rental_ok
    assert analysis.verdict.label is VerdictLabel.section8_rental
    assert any(r.startswith("rental cash flow a month $") for r in analysis.verdict.reasons)
    failed = {c.metric for c in analysis.verdict.checks if not c.passed}
    assert "flip profit" in failed


def _rent() -> RentSection:
    return RentSection(rent_monthly=None, rent_source="none", market_rent=None, section8=None)


def test_decide_picks_a_strong_flip_and_passes_a_weak_one() -> None:
    def flip_for(price: str) -> object:
        return underwriting.analyze_flip(
            inputs=FlipInput(
                arv=Decimal("200000"),
                purchase_price=Decimal(price),
                rehab_cost=Decimal("30000"),
                hold_months=6,
                agent_commission_pct=Decimal("5"),
            )
        )

    mao = underwriting.max_allowable_offer(arv=Decimal("200000"), rehab_cost=Decimal("30000"))
    assert mao == Decimal("110000.00")  # 200,000 x 70 % - 30,000
    from domain.analysis.models import MaxOffer, PricedFigure

    offer = MaxOffer(
        amount=mao,
        rule_pct=Decimal("70"),
        arv=Decimal("200000"),
        rehab_total=Decimal("30000"),
        formula="",
        for_target_profit=None,
    )
    # Bought at $100,000 (all cash): profit 200,000 - 100,000 - 30,000 - 10,000 selling
    # = $60,000 on $130,000 invested (46 %): a strong flip.
    strong = service.decide(
        flip=flip_for("100000"),  # type: ignore[arg-type]
        rental=None,
        brrrr=None,
        max_offer=offer,
        price=PricedFigure(amount=Decimal("100000"), source="list price"),
        rent=_rent(),
        missing=[],
        thresholds=VerdictThresholds(),
    )
    assert strong.label is VerdictLabel.strong_flip
    assert "flip profit $60,000 >= $25,000" in strong.reasons
    # At $150,000 the profit is $10,000 and the price is above the $110,000 maximum: pass.
    weak = service.decide(
        flip=flip_for("150000"),  # type: ignore[arg-type]
        rental=None,
        brrrr=None,
        max_offer=offer,
        price=PricedFigure(amount=Decimal("150000"), source="list price"),
        rent=_rent(),
        missing=[],
        thresholds=VerdictThresholds(),
    )
    assert weak.label is VerdictLabel.pass_
    assert "flip profit $10,000 < $25,000" in weak.reasons
    assert "purchase price $150,000 > $110,000" in weak.reasons
    nothing = service.decide(
        flip=None,
        rental=None,
        brrrr=None,
        max_offer=None,
        price=None,
        rent=_rent(),
        missing=["flip: no ARV: only 0 comparable sales"],
        thresholds=VerdictThresholds(),
    )
    assert nothing.label is VerdictLabel.insufficient_data
    assert nothing.reasons == ["flip: no ARV: only 0 comparable sales"]


def test_without_comps_the_parts_say_why_and_the_rest_is_analysed(db: Session) -> None:
    org = make_org(db)
    subject = make_subject_property(db, org)  # no sales in this organisation
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    assert analysis.as_is is None and analysis.arv is None
    assert "only 0 prior sales" in (analysis.as_is_missing or "")
    assert analysis.flip is None and (analysis.flip_missing or "").startswith("no ARV:")
    assert analysis.max_offer is None and analysis.figures.max_offer == "not available"
    assert analysis.figures.arv == "not available"
    # The rental still works from the list price and the Section 8 rent.
    assert analysis.rental is not None
    assert analysis.rental.inputs.purchase_price == Decimal("45000")
    assert "no ARV: rental taxes and insurance taken on the purchase price" in analysis.notes


def test_a_market_rent_on_file_is_the_rent_and_is_checked_against_the_voucher(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    row = property_service.add_market_data(
        session=db,
        org_id=org.id,
        property_id=subject.id,
        data_in=MarketDataCreate(
            data_type=MarketDataType.rent_estimate,
            value={"rent_monthly": 1450},
            source="rentometer",
        ),
    )
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    assert analysis.rent.rent_monthly == Decimal("1450.00")
    assert str(row.id) in analysis.rent.rent_source
    # $1,450 is above the 3-bedroom maximum contract rent of $1,329: it does not fit Section 8.
    fit = next(c for c in analysis.verdict.checks if c.strategy == "section8")
    assert not fit.passed and fit.text.startswith("rent $1,450 > $1,329")
    assert analysis.verdict.label is not VerdictLabel.section8_rental


def test_a_house_with_no_city_never_gets_another_states_fmr(db: Session) -> None:
    """Was: a house in Ohio with no city was analysed against Detroit's FMR (the default)."""
    org = make_org(db)
    ohio = make_subject_property(db, org, city=None, state="OH", zip_code="44101")
    analysis = service.analyze_property(session=db, org_id=org.id, property_id=ohio.id, as_of=AS_OF)
    assert analysis.rent.section8 is None
    assert "OH with no city" in (analysis.rent.section8_missing or "")
    # Its ZIP's city on file gives the area (and says so); in Michigan, the default area.
    make_subject_property(db, org, city="Detroit", state="MI", zip_code="48215")
    no_city = make_subject_property(db, org, city=None, state="MI", zip_code="48215")
    found = service.analyze_property(session=db, org_id=org.id, property_id=no_city.id, as_of=AS_OF)
    assert found.rent.section8 is not None
    assert any("Detroit, from other properties in ZIP 48215" in n for n in found.notes)


def test_a_city_without_fmr_rows_says_so(db: Session) -> None:
    org = make_org(db)
    subject = make_subject_property(db, org, city="Boise", state="ID", zip_code="83702")
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    assert analysis.rent.section8 is None
    assert analysis.rent.section8_missing is not None
    assert analysis.rent.section8_missing.startswith("no HUD FMR area on file matches Boise, ID")
    assert analysis.figures.fmr == "not available"
    assert analysis.rental is None and "no rent" in (analysis.rental_missing or "")
    assert analysis.verdict.label is VerdictLabel.insufficient_data


def test_the_rehab_scope_follows_given_components_then_the_condition_rating(db: Session) -> None:
    org = make_org(db)
    good = make_subject_property(db, org, condition_rating=8)
    analysis = service.analyze_property(session=db, org_id=org.id, property_id=good.id, as_of=AS_OF)
    assert analysis.rehab.scope_source.startswith("default scope, good (rating 7-10): make-ready")
    assert [i.component for i in analysis.rehab.scope] == ["interior_paint", "landscaping_cleanup"]
    given = [ComponentInput(component="roof", condition=Condition.poor)]
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=good.id, as_of=AS_OF, components=given
    )
    assert analysis.rehab.scope_source == "components given with the request"
    assert [line.component_key for line in analysis.rehab.estimate.line_items] == ["roof_shingles"]


def test_a_deals_price_is_the_purchase_price_and_its_photo_is_found(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    deal = make_deal(db, org, property_id=subject.id, purchase_price=Decimal("40000"))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, format="PNG")
    photo = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=buffer.getvalue(),
        filename="front.png",
        declared_content_type="image/png",
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=subject.id,
    )
    analysis = service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id, as_of=AS_OF
    )
    assert analysis.purchase_price is not None
    assert analysis.purchase_price.amount == Decimal("40000.00")
    assert analysis.purchase_price.source == f"deal {deal.id} price"
    assert analysis.photo is not None and analysis.photo.document_id == photo.id
    assert analysis.deal_id == deal.id


def test_unknown_ids_and_a_deal_of_another_property_are_refused(db: Session) -> None:
    org = make_org(db)
    subject = make_subject_property(db, org)
    with pytest.raises(service.AnalysisNotFoundError):
        service.analyze_property(session=db, org_id=org.id, property_id=uuid.uuid4())
    with pytest.raises(service.AnalysisNotFoundError):
        service.analyze_property(
            session=db, org_id=org.id, property_id=subject.id, deal_id=uuid.uuid4()
        )
    other_deal = make_deal(db, org)
    with pytest.raises(service.AnalysisInputError, match="another property"):
        service.analyze_property(
            session=db, org_id=org.id, property_id=subject.id, deal_id=other_deal.id
        )
    # Another organisation cannot analyse (or learn of) this property.
    with pytest.raises(service.AnalysisNotFoundError):
        service.analyze_property(session=db, org_id=make_org(db, "B").id, property_id=subject.id)


def test_the_offer_for_the_target_profit_is_that_profit_at_that_price(db: Session) -> None:
    """Analysed again at the offer for the target profit, the flip makes that profit; a dollar
    more, less. Before, its taxes and insurance were the list price's, so the offer was
    about $400 too low here."""
    org, subject, analysis = _analysed(db)
    assert analysis.max_offer is not None
    offer = analysis.max_offer.for_target_profit
    assert offer is not None and offer > 0
    target = analysis.thresholds.flip_min_profit

    def profit_at(price: Decimal) -> Decimal:
        again = service.analyze_property(
            session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF, purchase_price=price
        )
        assert again.flip is not None
        return again.flip.profit

    assert profit_at(offer) >= target > profit_at(offer + Decimal(1))
