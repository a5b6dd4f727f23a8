"""The property analysis PDF: data in (a ``PropertyAnalysis`` and optional photo bytes), PDF out.

Pages: the cover (address, photo, verdict, headline figures); value and ARV with the comps
tables and a map of the comps; the rehab budget and Section 8 rent vs. FMR; the flip, rental
and BRRRR returns with the hold projection; assumptions and sources. A part the analysis could
not produce is printed as "Not available: <why>", never left out silently. Every page's footer
names the organisation, the property, the date the values are as of and "Page X of Y".

Figures are printed with ``domain.analysis.formatting`` (the headline ones straight from
``analysis.figures``), so the PDF and the agent's message say the same numbers. Text is
drawn in the PDF standard fonts; characters they lack are spelled in ASCII, Latin letters
they lack lose their accents ("Ő" -> "O"), and other scripts (Chinese, Japanese, Korean,
Cyrillic, Greek ...) are drawn in a CID font the PDF viewer supplies, so no text is lost.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from domain.analysis import service as analysis_service
from domain.analysis.formatting import (
    NOT_AVAILABLE,
    REHAB_GAP_PREFIX,
    annualised_roi_text,
    cents,
    dollars,
    percent,
)
from domain.analysis.models import PropertyAnalysis
from domain.documents.service import sniff_content_type
from domain.underwriting import service as underwriting
from domain.valuation.models import CompAnalysis
from reports import charts

PAGE_WIDTH, PAGE_HEIGHT = LETTER
MARGIN = 0.6 * inch
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
PHOTO_MAX_PIXELS = 1000
PHOTO_BOX = (4.6 * inch, 3.0 * inch)
DRAWABLE_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# Characters the PDF standard fonts (WinAnsi) lack, spelled so a reader still sees them.
_ASCII = str.maketrans(
    {
        "\u2212": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2265": ">=",
        "\u2264": "<=",
        "\u221e": "infinite",
        "\u2192": "->",
        "\u2248": "~",
        "\u2009": " ",
        "\u00a0": " ",
    }
)
# Latin letters with no decomposition to a letter the standard fonts have.
_LATIN = str.maketrans(
    {
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0126": "H",
        "\u0127": "h",
        "\u0131": "i",
        "\u0166": "T",
        "\u0167": "t",
        "\u014a": "N",
        "\u014b": "n",
    }
)
# Text in other scripts: CID fonts need no font file (the viewer supplies the glyphs) and keep
# the text searchable; Adobe-GB1 also covers Japanese kana, Cyrillic and Greek.
CID_FONT = "STSong-Light"
HANGUL_FONT = "HYSMyeongJo-Medium"
for _cid_font in (CID_FONT, HANGUL_FONT):
    pdfmetrics.registerFont(UnicodeCIDFont(_cid_font))
FOOTER_FONT = ("Helvetica", 7)
VALUE_FONT = ("Helvetica-Bold", 8.5)
# How ``domain.section8`` says the utility allowance is unknown (and $0 stands in for it).
NO_UTILITY_ALLOWANCE = "no utility allowance on file"

_BASE = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_BASE["Title"], fontSize=20, alignment=TA_LEFT),
    "address": ParagraphStyle("address", parent=_BASE["Heading1"], fontSize=16, spaceAfter=2),
    "h1": ParagraphStyle("h1", parent=_BASE["Heading1"], fontSize=14, spaceBefore=4),
    "h2": ParagraphStyle("h2", parent=_BASE["Heading2"], fontSize=11, spaceBefore=8),
    "body": ParagraphStyle("body", parent=_BASE["BodyText"], fontSize=9, leading=11.5),
    "small": ParagraphStyle("small", parent=_BASE["BodyText"], fontSize=7.5, leading=9.5),
    "cell": ParagraphStyle("cell", parent=_BASE["BodyText"], fontSize=7.5, leading=9),
    "value": ParagraphStyle(
        "value",
        parent=_BASE["BodyText"],
        fontName="Helvetica-Bold",
        fontSize=8.5,
        leading=10,
        alignment=TA_RIGHT,
    ),
    "missing": ParagraphStyle(
        "missing",
        parent=_BASE["BodyText"],
        fontSize=9,
        textColor=colors.HexColor("#b45309"),
    ),
    "verdict": ParagraphStyle(
        "verdict", parent=_BASE["Heading1"], fontSize=18, textColor=colors.white, leading=22
    ),
    "verdict_body": ParagraphStyle(
        "verdict_body", parent=_BASE["BodyText"], fontSize=9, textColor=colors.white
    ),
}
VERDICT_COLOURS = {
    "strong flip": colors.HexColor("#15803d"),
    "rental fits Section 8": colors.HexColor("#1d4ed8"),
    "strong BRRRR": colors.HexColor("#7c3aed"),
    "good rental": colors.HexColor("#0e7490"),
    "pass": colors.HexColor("#b91c1c"),
    "insufficient data": colors.HexColor("#6b7280"),
}
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d1d5db")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)
KEY_VALUE = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8.5),
        ("FONT", (1, 0), (1, -1), "Helvetica-Bold", 8.5),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d1d5db")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)


def _standard(char: str) -> bool:
    """Whether the standard fonts (WinAnsi encoding) have the character."""
    try:
        char.encode("winansi")
    except UnicodeEncodeError:
        return False
    return True


def _spelled(char: str) -> str:
    if _standard(char):
        return char
    if unicodedata.category(char) == "Cc":
        return " "
    base = "".join(
        part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part)
    )
    return base if base and all(_standard(part) for part in base) else char


def plain(value: Any) -> str:
    """Text in characters the standard fonts have, where a spelling exists (others kept)."""
    translated = str(value).translate(_ASCII).translate(_LATIN)
    return "".join(_spelled(char) for char in translated)


def _font_for(char: str) -> str | None:
    """None for the standard font, else the CID font that draws the character."""
    if _standard(char):
        return None
    hangul = "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f"
    return HANGUL_FONT if hangul or "\uac00" <= char <= "\ud7af" else CID_FONT


def runs(value: Any) -> list[tuple[str, str | None]]:
    """``plain(value)`` cut into runs of one font: (text, None) standard, (text, CID font)."""
    found: list[tuple[str, str | None]] = []
    for char in plain(value):
        font = _font_for(char)
        if found and found[-1][1] == font:
            found[-1] = (found[-1][0] + char, font)
        else:
            found.append((char, font))
    return found


def text(value: Any) -> str:
    """Text safe for a Paragraph: XML-escaped, other scripts in their CID font."""
    return "".join(
        escape(run) if font is None else f'<font name="{font}">{escape(run)}</font>'
        for run, font in runs(value)
    )


def _cell(value: Any) -> Any:
    """A table cell: a flowable as is, text as a string (or a Paragraph if it needs a CID font)."""
    if isinstance(value, Flowable):
        return value
    spelled = plain(value)
    if all(_standard(char) for char in spelled):
        return spelled
    return Paragraph(text(value), STYLES["cell"])


def _p(value: Any, style: str = "body") -> Paragraph:
    return Paragraph(text(value), STYLES[style])


def _missing(what: str, why: str | None) -> Paragraph:
    return Paragraph(
        f"<b>{text(what)}: not available</b>: {text(why or 'no reason recorded')}",
        STYLES["missing"],
    )


def _key_values(rows: Sequence[tuple[str, str]], width: float = CONTENT_WIDTH) -> Table:
    room = width * 0.38 - 12  # the value column less its padding

    def value(figure: str) -> Any:
        # A value wider than its column (a long HUD area name) wraps instead of running
        # left over its label.
        spelled = plain(figure)
        if (
            all(_standard(c) for c in spelled)
            and pdfmetrics.stringWidth(spelled, *VALUE_FONT) <= room
        ):
            return spelled
        return Paragraph(text(figure), STYLES["value"])

    table = Table(
        [[_cell(k), value(v)] for k, v in rows],
        colWidths=[width * 0.62, width * 0.38],
        hAlign="LEFT",
    )
    table.setStyle(KEY_VALUE)
    return table


def _grid(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    right_from: int = 1,
) -> Table:
    data: list[list[Any]] = [[plain(h) for h in header]]
    for row in rows:
        data.append([_cell(c) for c in row])
    table = Table(data, colWidths=list(widths), hAlign="LEFT", repeatRows=1)
    table.setStyle(GRID)
    table.setStyle(TableStyle([("ALIGN", (right_from, 0), (-1, -1), "RIGHT")]))
    return table


def _unit_cost(value: Decimal) -> str:
    """A unit rate in cents, or to the 4 places it is priced at.

    "$0.375" x quantity is the line total a reader can check; "$0.38" would not be.
    """
    if value == value.quantize(Decimal("0.01")):
        return cents(value)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value).quantize(Decimal('0.0001')).normalize():,f}"


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + dollars(value)


# --- photo -------------------------------------------------------------------------------


def photo_flowable(photo: bytes) -> Image:
    """The photo scaled into the cover's box (downsampled first, so the PDF stays small).

    Raises ``ValueError`` when the bytes are not a JPEG, PNG, GIF or WEBP image.
    """
    found = sniff_content_type(photo[:64])
    if found not in DRAWABLE_PHOTO_TYPES:
        raise ValueError(f"it is {found or 'not an image format dealdesk knows'}")
    with PILImage.open(io.BytesIO(photo)) as opened:
        # JPEGs decode straight at a reduced scale: a phone photo costs a fraction of the time.
        opened.draft("RGB", (PHOTO_MAX_PIXELS, PHOTO_MAX_PIXELS))
        image = opened.convert("RGB")
    image.thumbnail((PHOTO_MAX_PIXELS, PHOTO_MAX_PIXELS))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    buffer.seek(0)
    width, height = image.size
    scale = min(PHOTO_BOX[0] / width, PHOTO_BOX[1] / height)
    flowable = Image(buffer, width=width * scale, height=height * scale)
    flowable.hAlign = "LEFT"
    return flowable


# --- sections ----------------------------------------------------------------------------


def _cover(
    analysis: PropertyAnalysis,
    photo: bytes | None,
    photo_note: str | None,
    organisation: str | None,
) -> list[Any]:
    s = analysis.subject
    facts = [
        f"{s.bedrooms} bd" if s.bedrooms is not None else None,
        f"{s.bathrooms.normalize():f} ba" if s.bathrooms is not None else None,
        f"{s.square_feet:,} sqft" if s.square_feet else None,
        f"built {s.year_built}" if s.year_built else None,
        f"condition {s.condition_rating}/10" if s.condition_rating is not None else None,
    ]
    story: list[Any] = [
        _p("Property analysis", "title"),
        _p(analysis.figures.address, "address"),
        *([_p(f"Prepared by {organisation}", "body")] if organisation else []),
        _p(" | ".join(f for f in facts if f) or "No facts on file", "body"),
        Spacer(1, 8),
    ]
    why_no_photo = photo_note or analysis.photo_missing
    if photo is not None:
        try:
            story.append(photo_flowable(photo))
        except Exception as exc:  # any photo that will not decode: the report goes on without
            why_no_photo = f"the stored photo could not be read ({exc})"
            photo = None
    if photo is None:
        story.append(_missing("Photo", why_no_photo))
    story.append(Spacer(1, 10))
    verdict = analysis.verdict
    verdict_rows: list[list[Any]] = [
        [Paragraph(text(verdict.headline), STYLES["verdict"])],
    ]
    for reason in verdict.reasons[:6]:
        verdict_rows.append([Paragraph("- " + text(reason), STYLES["verdict_body"])])
    box = Table(verdict_rows, colWidths=[CONTENT_WIDTH])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), VERDICT_COLOURS.get(verdict.label.value)),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
                ("TOPPADDING", (0, 0), (0, 0), 8),
                ("BOTTOMPADDING", (0, -1), (-1, -1), 8),
            ]
        )
    )
    story += [box, Spacer(1, 10)]
    f = analysis.figures
    bedrooms = analysis.rent.section8.bedrooms if analysis.rent.section8 else None
    fmr_label = f"Section 8 FMR ({bedrooms} bd)" if bedrooms is not None else "Section 8 FMR"
    story.append(
        _key_values(
            [
                (_price_label(analysis), f.purchase_price),
                ("As-is value", f.as_is_value),
                ("After-repair value (ARV)", f.arv),
                (_rehab_cover_label(analysis), f.rehab_total),
                (f"Maximum offer ({analysis.assumptions.mao_rule_pct}% rule)", f.max_offer),
                (fmr_label, f.fmr),
                ("Section 8 payment standard", f.payment_standard),
                ("Rent used", f.rent),
                ("Flip profit", f.flip_profit),
                ("Rental cash flow a month", f.rental_cash_flow),
            ],
            # Bounds ("at most $46,083 (rehab incomplete)") and labelled values ("$108,575
            # (not size-adjusted)") need the wider value column.
            width=CONTENT_WIDTH
            * (0.75 if analysis.rehab_complete and analysis.values_square_feet else 1.0),
        )
    )
    story.append(Spacer(1, 6))
    story.append(
        _p(
            f"Analysis as of {analysis.as_of.isoformat()}; generated "
            f"{analysis.generated_at.strftime('%Y-%m-%d %H:%M UTC')}.",
            "small",
        )
    )
    return story


# "deal 1a2b...-... price", "deal 1a2b...'s estimated repairs": a reader sees "the deal's".
_DEAL_ID = re.compile(r"\b(?:the )?deal [0-9a-f]{8}-[0-9a-f-]{27}(?:'s)?", re.I)


def _without_deal_ids(line: str) -> str:
    """``line`` with each "deal <uuid>" said as "the deal's" (a raw id means nothing on paper)."""
    return _DEAL_ID.sub("the deal's", line)


def _price_label(analysis: PropertyAnalysis) -> str:
    """The cover's label: "Purchase price (list price)", or plain when there is no price."""
    price = analysis.purchase_price
    return f"Purchase price ({_without_deal_ids(price.source)})" if price else "Purchase price"


def _confidence(part: CompAnalysis) -> str:
    """The valuation's confidence, or "low" when its newest comp is over a year old.

    The valuation's confidence measures how closely its comps agree, not their age
    (``analysis_service.comps_out_of_date``); the notes give the figure and the reason.
    """
    newest = analysis_service.comps_out_of_date(part)
    if newest is not None:
        return f"low (comps {newest.year})"
    return percent(part.confidence * 100, 0)


def _comps_table(comps: CompAnalysis) -> Table:
    rows = []
    for comp in comps.comps:
        net_pct = f"{comp.net_adjustment_pct:+.1f}%"
        rows.append(
            [
                Paragraph(text(comp.label), STYLES["cell"]),
                f"{comp.distance_miles:.2f} mi" if comp.distance_miles is not None else "n/a",
                comp.sale_date.isoformat(),
                dollars(comp.sale_price),
                f"{_signed(comp.net_adjustment)} ({net_pct})",
                dollars(comp.adjusted_price),
                f"{comp.weight * 100:.0f}%",
            ]
        )
    w = CONTENT_WIDTH
    return _grid(
        ["Address", "Distance", "Sale date", "Price", "Adjustments (net)", "Adjusted", "Weight"],
        rows,
        [w * 0.27, w * 0.09, w * 0.12, w * 0.12, w * 0.19, w * 0.12, w * 0.09],
    )


def _value_section(analysis: PropertyAnalysis) -> list[Any]:
    story: list[Any] = [_p("Value and after-repair value", "h1")]
    rows = []
    for name, part in (("As-is", analysis.as_is), ("ARV", analysis.arv)):
        if part is not None:
            rows.append(
                [
                    name,
                    dollars(part.value),
                    f"{dollars(part.low)} - {dollars(part.high)}",
                    _confidence(part),
                    str(len(part.comps)),
                ]
            )
    if rows:
        w = CONTENT_WIDTH
        story.append(
            _grid(
                ["", "Value", "Range", "Confidence", "Comps"],
                rows,
                [w * 0.14, w * 0.18, w * 0.34, w * 0.17, w * 0.17],
            )
        )
    if analysis.as_is is None:
        story.append(_missing("As-is value", analysis.as_is_missing))
    if analysis.arv is None:
        story.append(_missing("ARV", analysis.arv_missing))
    for title, part in (
        ("Comparable sales: as-is", analysis.as_is),
        ("Comparable sales: after repair (top condition or renovated)", analysis.arv),
    ):
        if part is not None:
            story += [_p(title, "h2"), _comps_table(part)]
    subject = (
        (analysis.subject.latitude, analysis.subject.longitude)
        if analysis.subject.latitude is not None and analysis.subject.longitude is not None
        else None
    )
    series = [
        ("as-is comps", _comp_points(analysis, analysis.as_is)),
        ("ARV comps", _comp_points(analysis, analysis.arv)),
    ]
    if any(points for _, points in series):
        story += [
            _p("Where the comps are", "h2"),
            charts.comps_map(subject=subject, series=series, width=CONTENT_WIDTH, height=210),
        ]
    else:
        story.append(_missing("Comps map", "no comparable sales with coordinates"))
    return story


def _comp_points(
    analysis: PropertyAnalysis, part: CompAnalysis | None
) -> list[tuple[float, float]]:
    """The (latitude, longitude) of a valuation's comps that have coordinates."""
    if part is None:
        return []
    located = {loc.property_id: (loc.latitude, loc.longitude) for loc in analysis.comp_locations}
    return [located[c.property_id] for c in part.comps if c.property_id in located]


def _rehab_used_source(analysis: PropertyAnalysis) -> str | None:
    """Where the rehab budget used came from when it is not the estimate; None for the estimate."""
    source = analysis.rehab_total_source
    if source == "estimate":
        return None
    if source == "as given":
        return "your figure"
    return source if source == "the rehab project's budget" else "the deal's estimated repairs"


def _rehab_cover_label(analysis: PropertyAnalysis) -> str:
    """The cover's rehab line, named by what it is: only the estimate carries a contingency."""
    used = _rehab_used_source(analysis)
    if used is not None:
        return f"Rehab budget used ({used})"
    contingency = analysis.rehab.estimate.contingency_pct
    return "Rehab total (with contingency)" if contingency else "Rehab total"


def _pct_of(value: Decimal | None, exact: Decimal | None = None) -> str:
    """A percentage as the verdict and the chat show it (``analysis_service.pct_text``)."""
    return NOT_AVAILABLE if value is None else analysis_service.pct_text(value, exact)


def _annualised_roi(analysis: PropertyAnalysis) -> str:
    """The flip's annualised ROI, or why there is none."""
    flip = analysis.flip
    assert flip is not None
    if flip.annualized_roi_pct is None and flip.roi_pct is not None and flip.roi_pct > -100:
        limit = underwriting.MAX_ANNUALIZED_ROI_PCT
        return f"n/a (over {limit:,}% a year compounded: not meaningful for one short flip)"
    return annualised_roi_text(flip.roi_pct, flip.annualized_roi_pct)


def _rehab_total_rows(analysis: PropertyAnalysis) -> list[tuple[str, str]]:
    """The total under the line items: the estimate's, then the budget used when it differs.

    With the deal's estimated repairs or the investor's own figure the table's subtotal and
    contingency do not add up to the budget used, so both are printed and labelled.
    """
    used = _rehab_used_source(analysis)
    if used is None:
        return [("Rehab total", analysis.figures.rehab_total)]
    return [
        ("Estimate total", dollars(analysis.rehab.estimate.total)),
        (f"Rehab budget used ({used})", analysis.figures.rehab_total),
    ]


def _short_ids(value: str) -> str:
    """A note's ids cut to their first 8 characters, as the report shows ids elsewhere."""
    return " ".join(
        word[:8] if len(word) == 36 and word.count("-") == 4 else word for word in value.split()
    )


def _line_notes(notes: str | None) -> list[str]:
    """What a rehab line shows under its name: where its condition came from, and a warning.

    The origin is the first clause of the notes the analysis wrote ("condition from photo
    analysis 2b0d9317 (2026-03-02)", or "condition assumed: default scope ..."); a poor photo
    the model was unsure of is priced as a repair, and the line says to have a person check.
    """
    if not notes:
        return []
    shown = []
    first = notes.split("; ", 1)[0]
    if first.startswith((analysis_service.CONDITION_FROM, analysis_service.CONDITION_ASSUMED)):
        shown.append(_short_ids(first))
    if analysis_service.UNSURE_POOR_NOTE in notes:
        shown.append(analysis_service.UNSURE_POOR_NOTE)
    return shown


def _rehab_section(analysis: PropertyAnalysis) -> list[Any]:
    rehab = analysis.rehab
    estimate = rehab.estimate
    story: list[Any] = [
        _p("Rehab budget", "h1"),
        _p(f"Scope: {rehab.scope_source}.", "small"),
    ]
    rows = []
    for line in estimate.line_items:
        rows.append(
            [
                Paragraph(
                    text(line.component_name)
                    + "".join(
                        f'<br/><font size="6.5" color="#555555">{text(note)}</font>'
                        for note in _line_notes(line.notes)
                    ),
                    STYLES["cell"],
                ),
                line.condition.value if line.condition else "unknown",
                line.action.value,
                f"{line.quantity.normalize():,f} "
                + ("squares" if line.unit == "square" and line.quantity != 1 else f"{line.unit}"),
                _unit_cost(line.unit_total),
                dollars(line.line_total),
            ]
        )
    w = CONTENT_WIDTH
    if rows:
        story.append(
            _grid(
                ["Component", "Condition", "Work", "Quantity", "Unit cost", "Line total"],
                rows,
                [w * 0.28, w * 0.12, w * 0.11, w * 0.19, w * 0.15, w * 0.15],
                right_from=3,
            )
        )
    else:
        story.append(_missing("Rehab line items", "no component needs work"))
    story.append(Spacer(1, 4))
    story.append(
        _key_values(
            [
                ("Subtotal", dollars(estimate.subtotal)),
                (
                    f"Contingency ({estimate.contingency_pct.normalize():f}%)",
                    dollars(estimate.contingency),
                ),
                *_rehab_total_rows(analysis),
            ],
            width=w * (0.5 if analysis.rehab_complete else 0.75),
        )
    )
    if analysis.rehab_missing:
        # The total leaves lines out: say so beside it, with how to complete it.
        story.append(
            Paragraph(
                "<b>Rehab budget incomplete</b>: "
                + text(analysis.rehab_missing.removeprefix(REHAB_GAP_PREFIX)),
                STYLES["missing"],
            )
        )
    for unpriced in estimate.unpriced:
        # Catalogue keys and field names ("roof_shingles", "square_feet") read as words.
        story.append(_missing(f"Price of '{_words(unpriced.component)}'", _words(unpriced.message)))
    return story


def _rent_section(analysis: PropertyAnalysis) -> list[Any]:
    rent = analysis.rent
    story: list[Any] = [_p("Section 8 rent vs. Fair Market Rent", "h1")]
    s8 = rent.section8
    if s8 is None:
        story.append(_missing("Section 8 FMR", rent.section8_missing))
    else:
        # With tenant-paid utilities and no allowance on file, $0 is a stand-in, not a figure:
        # the maximum contract rent is then an upper bound (the service's assumption says so).
        no_allowance = any(NO_UTILITY_ALLOWANCE in line for line in s8.assumptions)
        table = _key_values(
            [
                ("FMR area", s8.area),
                ("FMR year", f"FY{s8.year}"),
                ("Bedrooms", str(s8.bedrooms)),
                ("Fair Market Rent", analysis.figures.fmr),
                ("Payment standard", analysis.figures.payment_standard),
                (
                    "Utility allowance",
                    "none on file ($0 used)" if no_allowance else dollars(s8.utility_allowance),
                ),
                (
                    "Maximum contract rent",
                    f"{dollars(s8.max_contract_rent)} or less"
                    if no_allowance
                    else dollars(s8.max_contract_rent),
                ),
                (
                    "Market rent",
                    dollars(rent.market_rent.amount) if rent.market_rent else "none on file",
                ),
                ("Rent used", analysis.figures.rent),
                (
                    "Rent within the voucher's maximum",
                    "yes"
                    if rent.rent_monthly is not None and rent.rent_monthly <= s8.max_contract_rent
                    else "no",
                ),
            ],
            width=CONTENT_WIDTH * 0.52,
        )
        labels = ["FMR", "Payment std", "Max contract"]
        values = [float(s8.fmr), float(s8.payment_standard), float(s8.max_contract_rent)]
        if rent.market_rent is not None:
            labels.append("Market rent")
            values.append(float(rent.market_rent.amount))
        chart = charts.bar_chart(
            labels=labels, values=values, width=CONTENT_WIDTH * 0.45, height=150
        )
        pair = Table([[table, chart]], colWidths=[CONTENT_WIDTH * 0.54, CONTENT_WIDTH * 0.46])
        pair.setStyle(
            TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        )
        story.append(pair)
        for warning in s8.warnings:
            # An FMR year older than HUD's current one: said by the figures, not only below.
            story.append(Paragraph(f"<b>FMR out of date</b>: {text(warning)}", STYLES["missing"]))
        for line in s8.assumptions:
            story.append(_bullet(line))
    story.append(_p(f"Rent source: {rent.rent_source}.", "small"))
    return story


def _returns_section(analysis: PropertyAnalysis) -> list[Any]:
    story: list[Any] = [_p("Flip, rental and BRRRR", "h1")]
    half = CONTENT_WIDTH / 2 - 6
    flip = analysis.flip
    if flip is not None:
        flip_block: Any = _key_values(
            [
                ("Purchase price", dollars(flip.inputs.purchase_price)),
                ("Rehab", dollars(flip.inputs.rehab_cost)),
                ("Buy closing", dollars(flip.buy_closing_costs)),
                ("Holding", dollars(flip.holding_costs)),
                ("Financing (points + interest)", dollars(flip.financing_cost)),
                ("Selling costs", dollars(flip.selling_costs)),
                ("Sale at ARV", dollars(flip.inputs.arv)),
                ("Profit", analysis.figures.flip_profit),
                ("Cash invested", dollars(flip.cash_invested)),
                ("ROI", _pct_of(flip.roi_pct, analysis_service.flip_roi_exact(flip))),
                ("Annualised ROI", _annualised_roi(analysis)),
            ],
            width=half,
        )
    else:
        flip_block = _missing("Flip", analysis.flip_missing)
    rental = analysis.rental
    if rental is not None:
        rental_block: Any = _key_values(
            [
                ("Rent a month", dollars(rental.inputs.operations.gross_rent_monthly)),
                ("Effective gross income a year", dollars(rental.effective_gross_income_annual)),
                ("Operating expenses a year", dollars(rental.operating_expenses_annual.total)),
                ("NOI a year", dollars(rental.noi_annual)),
                (
                    "Cap rate",
                    _pct_of(
                        rental.cap_rate_pct,
                        analysis_service.exact_pct(rental.noi_annual, rental.inputs.purchase_price),
                    ),
                ),
                ("Mortgage P&I a month", dollars(rental.monthly_principal_and_interest)),
                ("Cash flow a month", analysis.figures.rental_cash_flow),
                ("Cash invested", dollars(rental.cash_invested)),
                (
                    "Cash-on-cash",
                    _pct_of(rental.cash_on_cash_pct, analysis_service.cash_on_cash_exact(rental)),
                ),
                ("DSCR", f"{rental.dscr:.2f}" if rental.dscr is not None else "n/a"),
                ("Break-even occupancy", _pct_of(rental.break_even_occupancy_pct)),
            ],
            width=half,
        )
    else:
        rental_block = _missing("Rental", analysis.rental_missing)
    pair = Table(
        [[_p("Flip", "h2"), _p("Rental (buy and hold)", "h2")], [flip_block, rental_block]],
        colWidths=[half + 6, half + 6],
        hAlign="LEFT",
    )
    pair.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    story.append(pair)
    brrrr = analysis.brrrr
    story.append(_p("BRRRR (buy, rehab, rent, refinance)", "h2"))
    if brrrr is not None:
        story.append(
            _grid(
                ["Cash in", "Refi loan", "Cash out", "Left in deal", "Cash flow/mo", "DSCR", "CoC"],
                [
                    [
                        dollars(brrrr.total_cash_in),
                        dollars(brrrr.refinance_loan_amount),
                        dollars(brrrr.cash_out),
                        dollars(brrrr.cash_left_in_deal),
                        dollars(brrrr.monthly_cash_flow),
                        f"{brrrr.dscr:.2f}" if brrrr.dscr is not None else "n/a",
                        "infinite"
                        if brrrr.infinite_return
                        else _pct_of(
                            brrrr.cash_on_cash_pct,
                            analysis_service.exact_pct(
                                brrrr.annual_cash_flow, brrrr.cash_left_in_deal
                            ),
                        ),
                    ]
                ],
                [CONTENT_WIDTH / 7] * 7,
                right_from=0,
            )
        )
    else:
        story.append(_missing("BRRRR", analysis.brrrr_missing))
    if analysis.max_offer is not None:
        offer = analysis.max_offer
        line = f"Maximum offer: {offer.formula}."
        if offer.for_target_profit is not None:
            line += (
                f" Highest price still earning a {dollars(analysis.thresholds.flip_min_profit)} "
                f"flip profit: {dollars(offer.for_target_profit)}."
            )
        story.append(Spacer(1, 4))
        story.append(_p(line))
    else:
        story.append(_missing("Maximum offer", analysis.max_offer_missing))
    story.append(_p(f"{analysis.assumptions.projection_years}-year hold projection", "h2"))
    projection = analysis.projection
    if projection is None:
        story.append(_missing("Projection", analysis.projection_missing))
        return story
    years = [y.year for y in projection.years]
    story.append(
        charts.projection_chart(
            years=years,
            series=[
                ("property value", [float(y.property_value) for y in projection.years]),
                ("loan balance", [float(y.loan_balance) for y in projection.years]),
                ("equity", [float(y.equity) for y in projection.years]),
            ],
            width=CONTENT_WIDTH,
            height=170,
        )
    )
    rows = [
        [
            str(y.year),
            dollars(y.effective_gross_income),
            dollars(y.noi),
            dollars(y.cash_flow),
            dollars(y.property_value),
            dollars(y.equity),
        ]
        for y in projection.years
    ]
    story.append(
        _grid(
            ["Year", "Income", "NOI", "Cash flow", "Value", "Equity"],
            rows,
            [CONTENT_WIDTH / 6] * 6,
        )
    )
    irr = _pct_of(projection.irr_pct) if projection.irr_pct is not None else "undefined"
    multiple = f"{projection.equity_multiple:.2f}x" if projection.equity_multiple else "n/a"
    story.append(
        _p(
            f"Sold after year {years[-1]} for {dollars(projection.sale_price)}: net proceeds "
            f"{dollars(projection.net_sale_proceeds)}, total profit "
            f"{dollars(projection.total_profit)}, IRR {irr}, equity multiple {multiple}.",
            "small",
        )
    )
    return story


def _sources_section(analysis: PropertyAnalysis) -> list[Any]:
    src = analysis.sources
    story: list[Any] = [_p("Assumptions and sources", "h1")]
    for line in analysis.assumptions.describe(arv_known=analysis.arv is not None):
        story.append(_bullet(line))
    for line in analysis.notes:
        story.append(_bullet(_without_deal_ids(line)))
    story.append(_p("Verdict thresholds", "h2"))
    for line in analysis.thresholds.describe():
        story.append(_bullet(line))
    story.append(_p("Sources", "h2"))
    fmr = (
        f"{src.fmr_area}, FY{src.fmr_year} (row {src.fmr_row_id})"
        if src.fmr_year is not None
        else f"not available: {analysis.rent.section8_missing}"
    )
    catalogue_date = (
        src.cost_catalogue_date.isoformat() if src.cost_catalogue_date else "not available"
    )
    for label, value in (
        ("Valuation method", src.valuation_method or "not available"),
        ("FMR", fmr),
        ("Cost catalogue", f"{src.cost_basis}; prices as of {catalogue_date}"),
        ("Market rent", src.market_rent_source or "none on file"),
        ("Rehab scope", src.condition_source),
        ("Photo", str(src.photo_document_id) if src.photo_document_id else "none"),
    ):
        story.append(Paragraph(f"<b>{text(label)}:</b> {text(value)}", STYLES["small"]))
    # Each comp by its address, sale and id, so a lender can look the sale up.
    for title, part, ids in (
        ("As-is comps", analysis.as_is, src.as_is_comp_ids),
        ("ARV comps", analysis.arv, src.arv_comp_ids),
    ):
        story.append(Paragraph(f"<b>{title}:</b>{'' if ids else ' none'}", STYLES["small"]))
        comps = {comp.property_id: comp for comp in part.comps} if part else {}
        for comp_id in ids:
            comp = comps.get(comp_id)
            story.append(
                _bullet(
                    f"{comp.label}, sold {comp.sale_date.isoformat()} for "
                    f"{dollars(comp.sale_price)} (property {comp_id})"
                    if comp
                    else f"property {comp_id}"
                )
            )
    return story


def _words(value: str) -> str:
    return value.replace("_", " ")


def _bullet(line: str) -> Paragraph:
    return Paragraph("- " + text(_words(line)), STYLES["small"])


# --- the document ------------------------------------------------------------------------


def _width(value: str, size: float) -> float:
    return sum(
        pdfmetrics.stringWidth(run, font or FOOTER_FONT[0], size) for run, font in runs(value)
    )


def _fitted(value: str, width: float, size: float) -> str:
    """``value`` cut to ``width`` points with "..." (a long address must not run into "Page")."""
    if _width(value, size) <= width:
        return value
    while value and _width(value + "...", size) > width:
        value = value[:-1]
    return value.rstrip() + "..."


def _draw(canvas: Canvas, x: float, y: float, value: str, size: float) -> None:
    """Draw text left-aligned, each run in the font that has its characters."""
    for run, font in runs(value):
        canvas.setFont(font or FOOTER_FONT[0], size)
        canvas.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, font or FOOTER_FONT[0], size)


def _footer_canvas(left: str, right: str) -> type[Canvas]:
    """A canvas that holds its pages until the end, then writes each one's footer.

    ``left`` is fitted to the space ``right`` + "Page X of Y" leaves it.
    """
    font, size = FOOTER_FONT

    class FooterCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802  (reportlab's name)
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, 1):
                self.__dict__.update(state)
                self.saveState()
                self.setFillColor(colors.HexColor("#6b7280"))
                stamp = f"{right} | Page {number} of {total}"
                self.setFont(font, size)
                self.drawRightString(PAGE_WIDTH - MARGIN, 0.4 * inch, stamp)
                room = CONTENT_WIDTH - pdfmetrics.stringWidth(stamp, font, size) - 12
                _draw(self, MARGIN, 0.4 * inch, _fitted(left, room, size), size)
                self.restoreState()
                super().showPage()
            super().save()

    return FooterCanvas


@dataclass(frozen=True)
class RenderedReport:
    """A rendered PDF and its page count."""

    data: bytes
    pages: int


def build_property_report(
    analysis: PropertyAnalysis,
    *,
    photo: bytes | None = None,
    photo_note: str | None = None,
    organisation: str | None = None,
) -> bytes:
    """Render the analysis as a PDF and return its bytes (see ``render_property_report``)."""
    return render_property_report(
        analysis, photo=photo, photo_note=photo_note, organisation=organisation
    ).data


def render_property_report(
    analysis: PropertyAnalysis,
    *,
    photo: bytes | None = None,
    photo_note: str | None = None,
    organisation: str | None = None,
) -> RenderedReport:
    """Render the analysis as a PDF; return its bytes and page count.

    ``photo`` is the cover image's bytes (JPEG, PNG, GIF or WEBP); without it, or when it
    cannot be read, the cover says why (``photo_note`` or the analysis's own reason).
    ``organisation``: the name of the company the report is for, on the cover, in every
    footer and as the PDF's author (else "dealdesk").
    """
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"Property analysis: {analysis.figures.address}",
        author=organisation or "dealdesk",
        creator="dealdesk",
        subject=analysis.verdict.headline,
    )
    story: list[Any] = []
    story += _cover(analysis, photo, photo_note, organisation)
    story.append(PageBreak())
    story += _value_section(analysis)
    story.append(PageBreak())
    story += _rehab_section(analysis)
    story += [Spacer(1, 6), KeepTogether(_rent_section(analysis))]
    story.append(PageBreak())
    story += _returns_section(analysis)
    story += _sources_section(analysis)
    document.build(
        story,
        canvasmaker=_footer_canvas(
            f"{organisation or 'dealdesk'} | {analysis.figures.address}",
            f"Values as of {analysis.as_of.isoformat()}",
        ),
    )
    return RenderedReport(data=buffer.getvalue(), pages=document.page)
