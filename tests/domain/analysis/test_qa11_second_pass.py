"""Second-pass QA (eleventh session): company-local catalogue dates, a duplex with no kitchens."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.pricing import service as pricing_service
from tests.factories import make_org, make_sold_market, make_subject_property


def test_the_cost_catalogue_date_is_the_company_s_day(db: Session) -> None:
    """Was the UTC date: a price changed at 9 pm in Detroit on November 30 read December 1."""
    org = make_org(db, "Catalogue Date Co")
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    evening = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 9 pm on Nov 30 in Detroit
    for row in pricing_service.list_costs(session=db, org_id=org.id):  # the org's cost book
        row.last_updated = evening
        db.add(row)
    db.flush()
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    assert analysis.sources.cost_catalogue_date == dt.date(2026, 11, 30)


def test_a_duplex_with_no_kitchen_count_says_it_was_rented_as_one_unit(db: Session) -> None:
    """Was analysed as one 4-bedroom unit with no word of the building type."""
    org = make_org(db, "Duplex Note Co")
    make_sold_market(db, org)
    prop = make_subject_property(db, org, bedrooms=4, features={"building_type": "Duplex"})
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    assert any(
        n.startswith("building type Duplex but no kitchen count on file: rented as one unit")
        for n in analysis.notes
    ), analysis.notes
