"""The PDF's rehab table when the budget used is not the estimate's total (live QA).

Was: with the deal's estimated repairs ($25,000) the table printed "Subtotal $14,345 /
Contingency (10%) $1,435 / Rehab total $25,000", figures that do not add up, explained only
on the assumptions page. Now the estimate's own total is printed, then the budget used and
where it comes from (the deal's estimated repairs, or the investor's own figure).
"""

from __future__ import annotations

import io
from decimal import Decimal

from pypdf import PdfReader
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.formatting import dollars
from reports.property_report import render_property_report
from tests.factories import make_deal, make_org, make_sold_market, make_subject_property


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


def test_the_deals_repairs_are_printed_beside_the_estimate(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    deal = make_deal(
        db,
        org,
        property_id=subject.id,
        strategy="flip",
        purchase_price=Decimal(40000),
        estimated_repairs=Decimal(25000),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, deal_id=deal.id
    )
    content = _text(render_property_report(analysis).data)
    assert f"Estimate total {dollars(analysis.rehab.estimate.total)}" in content
    assert "Rehab budget used (the deal's estimated repairs) $25,000" in content
    # Without a deal the table ends on the estimate's own total, as before.
    plain = analysis_service.analyze_property(session=db, org_id=org.id, property_id=subject.id)
    plain_text = _text(render_property_report(plain).data)
    assert "Rehab budget used" not in plain_text
    assert f"Rehab total {plain.figures.rehab_total}" in plain_text
