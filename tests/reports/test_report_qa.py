"""The deal report read as an investor and a lender read it: real analyses, PDF text read back.

Each test builds its market with the factories, analyses through ``domain.analysis.service``,
renders with ``reports.property_report`` (or the whole flow: POST /reports/generate, the RQ
job, GET /reports/{id}) and checks what the PDF says against the analysis it came from.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from pypdf._page import PageObject
from redis import Redis
from reportlab.pdfbase.pdfmetrics import stringWidth
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.analysis import service as analysis_service
from domain.analysis.assumptions import AnalysisAssumptions
from domain.analysis.formatting import cents, dollars, percent
from domain.analysis.models import PropertyAnalysis
from domain.auth.enums import Role
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentCostUpdate, ComponentInput
from domain.property.models import Property
from reports.property_report import CONTENT_WIDTH, MARGIN, PAGE_WIDTH, render_property_report
from store.events import load_subscribers
from tests.factories import (
    auth_headers,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)
from workers import events as relay
from workers.queues import get_queue
from workers.reports import report_filename

AS_OF = dt.date(2025, 1, 15)
LONG_ORG = (
    "Acme Property Partners of Greater Detroit, Southeast Michigan and the Ohio Valley "
    "Investment Holdings LLC"
)
# Parses as one street line (the property service normalises addresses) and is long.
LONG_STREET = "12345 North Avenida de la Peña Ñandú Española Grand Boulevard Extension Apt 4B"
# Every catalogue component with a default quantity rule, for a long rehab table.
EVERY_COMPONENT = (
    "roof_shingles gutters siding exterior_paint landscaping_cleanup foundation_repair "
    "sewer_line furnace ac_condenser water_heater electrical_panel rewire plumbing_repipe "
    "kitchen_cabinets countertops kitchen_appliances bath_full_remodel windows exterior_doors "
    "interior_doors flooring_lvp interior_paint drywall_repair mold_remediation dumpster permits"
).split()


def _analyse(db: Session, org_id: uuid.UUID, property_id: uuid.UUID, **kw: Any) -> PropertyAnalysis:
    return analysis_service.analyze_property(
        session=db, org_id=org_id, property_id=property_id, as_of=AS_OF, **kw
    )


def _market(db: Session, name: str = "Acme Property Partners", sales: int = 24) -> Any:
    org = make_org(db, name)
    make_sold_market(db, org, sales=sales)
    return org


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _flat(value: str) -> str:
    """Paragraphs wrap: compare on single spaces."""
    return " ".join(value.split())


def _all_text(pdf: bytes) -> str:
    return "\n".join(_pages(pdf))


def _footer(page: PageObject) -> list[tuple[float, str]]:
    """The footer's text pieces (x where each starts, its text), left to right."""
    found: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        # Where the text starts on the page: the text matrix in the current transformation.
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        if text.strip() and y < MARGIN:
            found.append((float(x), text.strip()))

    page.extract_text(visitor_text=visit)
    return sorted(found)


def _no_stand_ins(content: str) -> None:
    """Nothing a reader would take for a figure or a bug stands in for an unknown."""
    for word in (r"\bNone\b", r"\bnan\b", r"\$-", r"\binf\b", "■", r"[A-Za-z]+\.[a-z_]+:"):
        assert not re.search(word, content), word
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", content)  # no ISO timestamps


# --- figures ---------------------------------------------------------------------------


def test_every_figure_is_the_analysis_figure(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org)
    analysis = _analyse(db, org.id, subject.id)
    content = _flat(_all_text(render_property_report(analysis).data))
    assert analysis.as_is and analysis.arv and analysis.flip and analysis.rental
    assert analysis.brrrr and analysis.max_offer and analysis.rent.section8
    # Values: point, range, confidence and comp count.
    for name, part in (("As-is", analysis.as_is), ("ARV", analysis.arv)):
        assert (
            f"{name} {dollars(part.value)} {dollars(part.low)} - {dollars(part.high)} "
            f"{percent(part.confidence * 100, 0)} {len(part.comps)}"
        ) in content
    # Rehab: each line's quantity, unit cost and total; subtotal, contingency, total.
    estimate = analysis.rehab.estimate
    for line in estimate.line_items:
        quantity = f"{line.quantity.normalize():,f}"
        assert f"{quantity} " in content
        assert f"{cents(line.unit_total)} {dollars(line.line_total)}" in content, line
    assert f"Subtotal {dollars(estimate.subtotal)}" in content
    assert f"Contingency (10%) {dollars(estimate.contingency)}" in content
    assert f"Rehab total {dollars(estimate.total)}" in content
    # Section 8: FMR, payment standard, maximum contract rent, rent used.
    s8 = analysis.rent.section8
    assert f"Fair Market Rent {dollars(s8.fmr)}" in content
    assert f"Payment standard {dollars(s8.payment_standard)}" in content
    assert f"FMR year FY{s8.year}" in content
    # The area's name is wider than its column: it wraps (after a hyphen too), whole.
    assert f"FMRarea{s8.area}".replace(" ", "") in content.replace(" ", "")
    # Flip, rental, BRRRR and the maximum offer with its formula.
    flip, rental, brrrr = analysis.flip, analysis.rental, analysis.brrrr
    assert f"Profit {dollars(flip.profit)}" in content
    assert f"ROI {percent(flip.roi_pct)}" in content
    assert f"NOI a year {dollars(rental.noi_annual)}" in content
    assert f"Cash flow a month {dollars(rental.monthly_cash_flow)}" in content
    assert f"Cash-on-cash {percent(rental.cash_on_cash_pct)}" in content
    assert (
        f"{dollars(brrrr.total_cash_in)} {dollars(brrrr.refinance_loan_amount)} "
        f"{dollars(brrrr.cash_out)} {dollars(brrrr.cash_left_in_deal)}"
    ) in content
    offer = analysis.max_offer
    assert f"Maximum offer: {offer.formula}." in content
    assert offer.formula == (
        f"ARV {dollars(offer.arv)} x 70% - rehab {dollars(offer.rehab_total)} = "
        f"{dollars(offer.amount)}"
    )
    assert analysis.verdict.headline in content
    _no_stand_ins(content)


def test_a_losing_flip_prints_its_loss_with_the_sign_before_the_dollar(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org, list_price=Decimal("150000"))
    analysis = _analyse(db, org.id, subject.id)
    assert analysis.flip is not None and analysis.flip.profit < 0
    assert analysis.rental is not None and analysis.rental.monthly_cash_flow < 0
    content = _flat(_all_text(render_property_report(analysis).data))
    loss = dollars(analysis.flip.profit)
    assert re.fullmatch(r"-\$\d{1,3}(,\d{3})+", loss)
    assert f"Flip profit {loss}" in content and f"Profit {loss}" in content
    assert f"Rental cash flow a month {dollars(analysis.rental.monthly_cash_flow)}" in content
    assert f"ROI {percent(analysis.flip.roi_pct)}" in content and "ROI -" in content
    # A loss beyond the cash put in has no annual rate: say why, not "not available".
    assert analysis.flip.roi_pct is not None and analysis.flip.roi_pct <= -100
    assert "Annualised ROI n/a (the loss exceeds the cash invested)" in content
    assert analysis.verdict.label.value == "pass"
    assert "Pass: no strategy clears its thresholds" in content
    _no_stand_ins(content)


def test_a_sub_cent_unit_rate_is_printed_as_priced(db: Session) -> None:
    """A repair share of $2.75/sqft is $1.375/sqft: "$1.38" x 1,500 sqft is not the line total."""
    org = _market(db)
    paint = next(
        row
        for row in pricing_service.list_costs(session=db, org_id=org.id)
        if row.component_key == "interior_paint"
    )
    pricing_service.update_cost(
        session=db,
        org_id=org.id,
        cost_id=paint.id,
        cost_in=ComponentCostUpdate(
            material_cost=Decimal("1.00"), labor_cost=Decimal("1.75"), reason="supplier quote"
        ),
    )
    subject = make_subject_property(db, org)
    analysis = _analyse(
        db,
        org.id,
        subject.id,
        components=[ComponentInput(component="interior_paint", condition="fair")],
    )
    (line,) = analysis.rehab.estimate.line_items
    assert line.unit_total == Decimal("1.375") and line.quantity == 1500
    content = _flat(_all_text(render_property_report(analysis).data))
    assert "1,500 sqft $1.375 $2,063" in content
    assert "$1.38" not in content


# --- missing data ------------------------------------------------------------------------


def test_an_unknown_utility_allowance_is_not_printed_as_zero(db: Session) -> None:
    """The FMR table has no allowance: "$0" would read as "the owner pays every utility"."""
    org = _market(db)
    subject = make_subject_property(db, org)
    analysis = _analyse(db, org.id, subject.id)
    s8 = analysis.rent.section8
    assert s8 is not None and s8.utility_allowance == 0 and not s8.utilities_included
    content = _flat(_all_text(render_property_report(analysis).data))
    assert "Utility allowance none on file ($0 used)" in content
    assert f"Maximum contract rent {dollars(s8.max_contract_rent)} or less" in content
    assert "Utility allowance $0" not in content
    # The Section 8 assumptions are printed beside the figures they shape.
    assert "the maximum contract rent is an upper bound" in content
    assert "utility_allowance" not in content


def test_no_comps_and_no_price_are_worded_not_zeroed(db: Session) -> None:
    org = make_org(db)  # no sales: no comps
    subject = make_subject_property(db, org, list_price=None)
    analysis = _analyse(db, org.id, subject.id)
    assert analysis.purchase_price is None and analysis.as_is is None
    content = _flat(_all_text(render_property_report(analysis).data))
    assert "Purchase price not available" in content
    assert "Purchase price (none)" not in content
    assert "As-is value not available" in content
    assert "As-is comps: none" in content and "ARV comps: none" in content
    _no_stand_ins(content)


def test_an_incomplete_rehab_budget_is_labelled_in_words(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org, square_feet=None)
    analysis = _analyse(db, org.id, subject.id)
    assert analysis.rehab_complete is False
    content = _flat(_all_text(render_property_report(analysis).data))
    assert f"Rehab total {analysis.figures.rehab_total}" in content
    assert analysis.figures.rehab_total.startswith("at least $")
    assert f"Maximum offer (70% rule) {analysis.figures.max_offer}" in content
    assert analysis.figures.max_offer.startswith("at most $")
    assert analysis.rehab_missing is not None
    detail = analysis.rehab_missing.removeprefix("the rehab budget is incomplete: ")
    assert f"Rehab budget incomplete: {detail}" in content
    # Catalogue keys and field names are not printed as they are stored.
    assert "Price of 'roof shingles': not available" in content
    assert "roof_shingles" not in content and "square_feet" not in content
    _no_stand_ins(content)


# --- layout ------------------------------------------------------------------------------


def test_every_page_names_the_organisation_the_dates_and_page_x_of_y(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org)
    analysis = _analyse(db, org.id, subject.id)
    rendered = render_property_report(analysis, organisation=org.name)
    pages = _pages(rendered.data)
    assert len(pages) == rendered.pages >= 5
    for number, page in enumerate(pages, 1):
        assert f"Values as of 2025-01-15 | Page {number} of {len(pages)}" in page
        assert f"{org.name} | {analysis.figures.address}" in page
    generated = analysis.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    assert f"Analysis as of 2025-01-15; generated {generated}." in pages[0]
    assert f"Prepared by {org.name}" in pages[0]
    meta = PdfReader(io.BytesIO(rendered.data)).metadata
    assert meta is not None
    assert meta.title == f"Property analysis: {analysis.figures.address}"
    assert meta.author == org.name


def test_a_long_address_wraps_and_the_footer_never_runs_into_the_page_number(
    db: Session,
) -> None:
    org = _market(db, LONG_ORG)
    subject = make_subject_property(db, org, address_line=LONG_STREET)
    analysis = _analyse(db, org.id, subject.id)
    address = analysis.figures.address
    # As the property service normalises it ("North" -> "N", "Apt" -> "#").
    assert address == (
        "12345 N Avenida de la Peña Ñandú Española Grand Boulevard Extension #4B, Detroit, MI 48201"
    )
    rendered = render_property_report(analysis, organisation=org.name)
    pages = PdfReader(io.BytesIO(rendered.data)).pages
    # The whole address is on the cover (wrapped) and in the title.
    assert _flat(address) in _flat(pages[0].extract_text())
    for number, page in enumerate(pages, 1):
        pieces = _footer(page)
        (left_x, left), (right_x, right) = pieces[0], pieces[-1]
        assert right.endswith(f"Page {number} of {len(pages)}")
        assert left.startswith(LONG_ORG[:40]) and left.endswith("...")
        assert left_x >= MARGIN - 0.5
        assert left_x + stringWidth(left, "Helvetica", 7) < right_x  # no overlap
        assert right_x + stringWidth(right, "Helvetica", 7) <= PAGE_WIDTH - MARGIN + 0.5


def test_many_comps_and_rehab_lines_paginate_with_their_headers(db: Session) -> None:
    org = _market(db, sales=100)
    subject = make_subject_property(db, org)
    analysis = _analyse(
        db,
        org.id,
        subject.id,
        assumptions=AnalysisAssumptions(max_comps=25),
        components=[
            ComponentInput(component=key, condition=condition)
            for condition in ("poor", "fair")
            for key in EVERY_COMPONENT
        ],
    )
    assert analysis.as_is is not None and len(analysis.as_is.comps) >= 20
    lines = analysis.rehab.estimate.line_items
    assert len(lines) == 2 * len(EVERY_COMPONENT)
    rendered = render_property_report(analysis)
    pages = _pages(rendered.data)
    comp_header = "Address\nDistance\nSale date\nPrice\nAdjustments (net)\nAdjusted\nWeight"
    rehab_header = "Component\nCondition\nWork\nQuantity\nUnit cost\nLine total"
    comp_pages = [i for i, p in enumerate(pages) if re.search(r"\n\d{3} Comp St\n", p)]
    rehab_pages = [i for i, p in enumerate(pages) if "Kitchen cabinets" in p]
    assert len(set(comp_pages)) >= 2 and len(set(rehab_pages)) >= 2  # they do run on
    for i in comp_pages:
        assert comp_header in pages[i], i
    for i in rehab_pages:
        assert rehab_header in pages[i], i
    content = _flat("\n".join(pages))
    for comp in analysis.as_is.comps:
        assert (
            f"{comp.label}, sold {comp.sale_date.isoformat()} for {dollars(comp.sale_price)}"
            in (content)
        )
    assert f"Subtotal {dollars(analysis.rehab.estimate.subtotal)}" in content
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page


def test_the_sources_name_each_comp_by_address_and_sale_and_the_fmr(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org)
    analysis = _analyse(db, org.id, subject.id)
    content = _all_text(render_property_report(analysis).data)
    sources = _flat(content[content.rindex("Sources") :])
    assert analysis.as_is is not None and analysis.arv is not None
    for comp in [*analysis.as_is.comps, *analysis.arv.comps]:
        assert (
            f"{comp.label}, sold {comp.sale_date.isoformat()} for {dollars(comp.sale_price)} "
            f"(property {comp.property_id})"
        ) in sources
    assert "FMR: Detroit-Warren-Livonia, MI HUD Metro FMR Area, FY2024" in sources


# --- characters --------------------------------------------------------------------------


def test_text_outside_the_standard_fonts_is_drawn_not_lost(db: Session) -> None:
    org = _market(db)
    subject = make_subject_property(db, org, address_line="8 O\u2019Brien 東京 St", city="Détroit")
    unpriced = "hot tub \u2014 \u201cJacuzzi\u201d \u00bd done, Ñandú, 서울, Łódź, Ő"
    analysis = _analyse(
        db,
        org.id,
        subject.id,
        components=[
            ComponentInput(component="roof_shingles", condition="poor"),
            ComponentInput(component=unpriced, condition="poor"),
        ],
    )
    assert analysis.figures.address == "8 O\u2019Brien 東京 St, Détroit, MI 48201"
    content = _all_text(render_property_report(analysis).data)
    flat = _flat(content)
    assert "8 O\u2019Brien 東京 St, Détroit, MI 48201" in flat  # cover and footer
    assert "dealdesk | 8 O\u2019Brien 東京 St" in flat  # the footer
    # WinAnsi has ’ “ ” ½ Ñ é; the em dash is spelled "-"; Ł and Ő lose their accents; the
    # Korean and Chinese text is drawn in a CID font.
    assert "hot tub - \u201cJacuzzi\u201d \u00bd done, Ñandú, 서울, Lódz, O" in flat
    assert "■" not in content


def test_an_ames_sale_without_a_street_reports_by_its_label(db: Session) -> None:
    """The demo data (real Ames sales) has no street addresses: the report says what it has."""
    from domain.property.ames import load_ames
    from domain.valuation.service import reindex_comps

    org = make_org(db, "Ames Demo")
    load_ames(session=db, org_id=org.id, limit=300)
    reindex_comps(session=db, org_id=org.id)
    subject = db.exec(
        select(Property)
        .where(Property.org_id == org.id)
        .order_by(col(Property.close_date).desc(), col(Property.source_id))
    ).first()
    assert subject is not None and subject.close_date is not None
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=subject.close_date
    )
    assert analysis.figures.address.startswith("Ames sale #")
    content = _flat(_all_text(render_property_report(analysis).data))
    assert analysis.figures.address in content
    assert f"As-is value {analysis.figures.as_is_value}" in content
    _no_stand_ins(content)


# --- the flow: POST /reports/generate, the job, GET /reports/{id} ------------------------


@pytest.fixture
def api(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client on real, committed sessions (the job opens its own)."""
    from app import app

    with TestClient(app) as client:
        yield client


def test_the_downloaded_report_is_a_named_pdf_of_the_organisation(
    api: TestClient, committed_db: Session, redis: Redis
) -> None:
    db = committed_db
    org = _market(db, "Société Immobilière Detroit")
    subject = make_subject_property(db, org, address_line="1 Rue Crème Brûlée", city="Détroit")
    analyst = make_user(db, org, role=Role.analyst)
    db.commit()
    headers = auth_headers(db, analyst)

    asked = api.post(
        "/api/v1/reports/generate", json={"property_id": str(subject.id)}, headers=headers
    )
    assert asked.status_code == 202, asked.text
    report_id = asked.json()["report_id"]
    assert api.get(f"/api/v1/reports/{report_id}", headers=headers).status_code == 202
    SimpleWorker([get_queue("reports")], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )
    load_subscribers()
    relay.relay_once(inline=True)  # report.ready links the PDF to the request

    answer = api.get(f"/api/v1/reports/{report_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    today = local_today().isoformat()  # the analysis's value date: the company's today
    name = f"analysis-1-rue-creme-brulee-detroit-mi-48201-{today}.pdf"
    assert answer.headers["content-disposition"] == (
        f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    )
    reader = PdfReader(io.BytesIO(answer.content))
    assert reader.metadata is not None
    assert reader.metadata.title == "Property analysis: 1 Rue Crème Brûlée, Détroit, MI 48201"
    assert reader.metadata.author == "Société Immobilière Detroit"
    first = reader.pages[0].extract_text()
    assert "Prepared by Société Immobilière Detroit" in first
    assert f"Page 1 of {len(reader.pages)}" in first


def test_the_filename_keeps_the_letters_of_an_accented_address() -> None:
    name = report_filename("1 Rue Crème Brûlée, Détroit, MI 48201", AS_OF)
    assert name == "analysis-1-rue-creme-brulee-detroit-mi-48201-2025-01-15.pdf"
    assert report_filename("東京", AS_OF) == "analysis-property-2025-01-15.pdf"


def test_a_long_hud_area_name_wraps_in_its_column(db: Session) -> None:
    """HUD names run long ("Washington-Arlington-Alexandria, DC-VA-MD ..."): a value wider
    than its column ran left over the label beside it."""
    org = _market(db)
    subject = make_subject_property(db, org)
    analysis = _analyse(db, org.id, subject.id)
    assert analysis.rent.section8 is not None
    area = "Washington-Arlington-Alexandria, DC-VA-MD HUD Metro FMR Area"
    # The builder is data in, PDF out: the same analysis with a longer area name.
    section8 = analysis.rent.section8.model_copy(update={"area": area})
    analysis = analysis.model_copy(
        update={"rent": analysis.rent.model_copy(update={"section8": section8})}
    )
    reader = PdfReader(io.BytesIO(render_property_report(analysis).data))
    page = next(p for p in reader.pages if "Fair Market Rent" in p.extract_text())
    # Wrapped (at spaces and after hyphens), but whole.
    assert area.replace(" ", "") in "".join(page.extract_text().split())
    pieces: list[tuple[float, float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        if text.strip():
            pieces.append((y, x, text.strip()))

    page.extract_text(visitor_text=visit)
    ((_, label_x, _),) = [p for p in pieces if p[2] == "FMR area"]
    label_end = label_x + stringWidth("FMR area", "Helvetica", 8.5)
    table_right = MARGIN + CONTENT_WIDTH / 2  # the chart ("FMR" ...) is to its right
    value = [p for p in pieces if p[2] != "FMR area" and p[2] in area and p[1] < table_right]
    assert "".join(p[2] for p in value).replace(" ", "") == area.replace(" ", "")
    for _, x, text in value:
        assert x > label_end + 6, text  # the value starts clear of its label
