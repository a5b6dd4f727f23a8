"""The property analysis PDF, read back with pypdf: its figures are the analysis's."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image
from pypdf import PdfReader
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.models import PropertyAnalysis
from reports.property_report import render_property_report, text
from tests.factories import make_org, make_sold_market, make_subject_property

AS_OF = dt.date(2025, 1, 15)


def _analysis(db: Session, *, market: bool = True) -> PropertyAnalysis:
    org = make_org(db)
    if market:
        make_sold_market(db, org)
    subject = make_subject_property(db, org)
    return analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (90, 120, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_the_report_prints_the_analysis_figures_exactly(db: Session) -> None:
    analysis = _analysis(db)
    rendered = render_property_report(analysis, photo=_jpeg())
    assert rendered.data.startswith(b"%PDF-")
    pages, content = _text(rendered.data)
    # Cover, value and comps, rehab and Section 8, returns and projection, assumptions.
    assert pages == rendered.pages == 5
    f = analysis.figures
    assert f.address == "1234 Subject Ave, Detroit, MI 48201"
    for figure in (
        f.address,
        f.as_is_value,
        f.arv,
        f.rehab_total,
        f.max_offer,
        f.fmr,
        f.payment_standard,
        f.purchase_price,
        f.flip_profit,
        f.rental_cash_flow,
        analysis.verdict.headline,
    ):
        assert "not available" not in figure
        assert figure in content, figure
    assert analysis.verdict.reasons[0] in content  # e.g. "rental cash flow a month $526 >= $200"
    assert f.fmr == "$1,329"  # Detroit's 2024 3-bedroom FMR
    # The comps table: each comp's address, sale date and adjusted price.
    assert analysis.as_is is not None
    for comp in analysis.as_is.comps:
        assert comp.label in content
        assert comp.sale_date.isoformat() in content
    # Sources: comp ids, the FMR year and the cost catalogue's date.
    assert str(analysis.sources.as_is_comp_ids[0]) in content
    assert "FY2024" in content
    assert analysis.sources.cost_catalogue_date is not None
    assert f"prices as of {analysis.sources.cost_catalogue_date.isoformat()}" in content
    # Rehab lines, contingency and the projection's five years.
    assert "Contingency (10%)" in content
    assert "5-year hold projection" in content
    # The photo is embedded on the cover.
    assert len(PdfReader(io.BytesIO(rendered.data)).pages[0].images) == 1


def test_a_report_without_photo_or_comps_still_renders_and_says_why(db: Session) -> None:
    analysis = _analysis(db, market=False)
    rendered = render_property_report(analysis)
    pages, content = _text(rendered.data)
    assert pages >= 4
    assert "Photo: not available: no photo of this property has been stored" in content
    assert "As-is value: not available: only 0 prior sales" in content
    assert "ARV: not available" in content
    assert "Flip: not available: no ARV" in content
    assert "Maximum offer: not available" in content
    assert "Comps map: not available" in content
    # What could be analysed still is: the Section 8 rent and the rental.
    assert analysis.figures.fmr in content
    assert analysis.figures.rental_cash_flow in content
    assert len(PdfReader(io.BytesIO(rendered.data)).pages[0].images) == 0


def test_an_unreadable_photo_is_reported_not_fatal(db: Session) -> None:
    analysis = _analysis(db, market=False)
    rendered = render_property_report(analysis, photo=b"<html>not an image</html>")
    _, content = _text(rendered.data)
    assert "Photo: not available: the stored photo could not be read (it is text/plain)" in content
    # A truncated JPEG: right format, bytes that do not decode.
    rendered = render_property_report(analysis, photo=_jpeg()[:200])
    _, content = _text(rendered.data)
    assert "Photo: not available: the stored photo could not be read" in content


def test_text_is_escaped_and_spelled_in_the_fonts_characters() -> None:
    # Paragraph markup: escaped; characters Helvetica lacks: spelled in ASCII.
    assert text("ROI ≥ 20 % & cash − costs <5>") == "ROI &gt;= 20 % &amp; cash - costs &lt;5&gt;"
