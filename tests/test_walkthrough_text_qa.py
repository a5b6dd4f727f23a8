"""Investor QA, findings 4 and 6: a texted walkthrough is priced and stored like a spoken one.

Was: "rehab estimate for 1215 Kellogg Ave: roof is shot, furnace is original, kitchen cabinets
are worn, twelve windows need replacing, the basement has water" priced only the roof and the
cabinets (the furnace, the 12 windows and the basement water silently dropped), and texted
conditions were never stored, so a later analysis and its PDF priced the default scope.

Now ``walkthrough_notes`` runs the voice note's own service path over the text
(``audio_service.walkthrough_from_text`` → ``extract_and_estimate``: the walkthrough
extractor, the conditions stored on the property, priced from the cost book) and returns
every finding, what was not priced and why, the rehab total and the analysis; and
``estimate_rehab`` reads ``notes`` with the same extractor (nothing stored).

The tools are looked up by name in each test, so each one fails on its own where a tool or
argument is missing. Figures are checked against the pricing service on the same components
(a fresh organisation's cost book, a 1,200 sqft one-story house).
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from typing import Any

from pypdf import PdfReader
from sqlmodel import Session, select

from agent.context import Context
from domain.audio import service as audio_service
from domain.audio.enums import WalkthroughStatus
from domain.audio.models import ExtractedCondition, Walkthrough
from domain.audio.whisper import TimedText, Transcript
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.documents import service as documents_service
from domain.pricing import service as pricing_service
from domain.pricing.enums import Condition as PricingCondition
from domain.pricing.models import ComponentInput
from domain.property.models import Property
from tests.factories import make_org, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tools import TOOLS_BY_NAME, tools_for_role
from tools._common import money

NOTES = (
    "roof is shot, furnace is original, kitchen cabinets are worn, twelve windows need "
    "replacing, the basement has water"
)
SIX = [
    ("roof", "poor", None),
    ("furnace", "fair", None),
    ("kitchen cabinets", "fair", None),
    ("windows", "poor", "12"),
    ("basement drain tile", "poor", None),
    ("sump pump", "poor", None),
]


def _tool(name: str, ctx: Context, **args: Any) -> Any:
    return call_tool(TOOLS_BY_NAME[name], ctx, **args)


def _kellogg(db: Session, org: Organisation, line: str = "1215 Kellogg Ave") -> Property:
    return make_property(
        db,
        org,
        address_line=line,
        city="Ames",
        state="IA",
        zip_code="50010",
        square_feet=1200,
        bedrooms=3,
        condition_rating=5,
        list_price=Decimal("124900"),
    )


def _investor(db: Session) -> tuple[Organisation, Context]:
    org = make_org(db)
    return org, context_for(db, make_user(db, org, Role.investor), channel="whatsapp")


def _expected_total(db: Session, org_id: uuid.UUID) -> str:
    """The six conditions priced by the pricing service itself (1,200 sqft)."""
    items = [
        ComponentInput(
            component=name,
            condition=PricingCondition(condition),
            quantity=Decimal(quantity) if quantity else None,
        )
        for name, condition, quantity in SIX
    ]
    estimate = pricing_service.estimate_rehab(
        session=db, org_id=org_id, items=items, square_feet=1200
    )
    return money(estimate.total)


def _walkthroughs(db: Session, prop: Property) -> list[Walkthrough]:
    return list(db.exec(select(Walkthrough).where(Walkthrough.property_id == prop.id)).all())


def test_the_six_findings_of_the_texted_note_are_priced_and_stored(db: Session) -> None:
    org, ctx = _investor(db)
    prop = _kellogg(db, org)

    result = _tool("walkthrough_notes", ctx, address="1215 Kellogg Ave", notes=NOTES)

    assert "error" not in result, result
    assert result["property_id"] == str(prop.id) and result["stored"] is True
    found = [(f["component"], f["condition"], f["quantity"]) for f in result["findings"]]
    assert found == SIX
    not_priced = {n["what"]: n["reason"] for n in result["not_priced"]}
    for finding in result["findings"]:
        # Each one is priced, or listed as not priced with a reason: never dropped.
        assert finding["priced"] or (finding["reason"] and finding["component"] in not_priced)
        assert finding["said"]
    assert all(f["priced"] and f["cost"].startswith("$") for f in result["findings"])
    assert [line["component"] for line in result["line_items"]] == [name for name, *_ in SIX]
    windows = next(line for line in result["line_items"] if line["component"] == "windows")
    assert (windows["quantity"], windows["unit"]) == ("12", "each")
    assert result["rehab_total"] == _expected_total(db, org.id)

    # Stored as a walkthrough of the property, as a voice note's transcript is.
    (stored,) = _walkthroughs(db, prop)
    assert stored.id == uuid.UUID(result["walkthrough_id"])
    assert stored.status == WalkthroughStatus.completed and stored.document_id is None
    assert stored.transcript == NOTES
    rows = db.exec(
        select(ExtractedCondition).where(ExtractedCondition.walkthrough_id == stored.id)
    ).all()
    assert sorted(r.component or "" for r in rows) == sorted(name for name, *_ in SIX)
    assert money(audio_service.rehab_total(stored)) == result["rehab_total"]


def test_a_later_analysis_prices_the_texted_conditions_as_after_a_voice_note(
    db: Session,
) -> None:
    org, ctx = _investor(db)
    texted = _kellogg(db, org)
    spoken = _kellogg(db, org, line="2718 Duff Ave")
    before = _tool("analyze_property", ctx, property_id=str(texted.id))
    assert before["rehab_scope"].startswith("default scope")

    result = _tool("walkthrough_notes", ctx, property_id=str(texted.id), notes=NOTES)
    after = _tool("analyze_property", ctx, property_id=str(texted.id))

    assert after["rehab_scope"].startswith(f"walkthrough {result['walkthrough_id']}")
    assert after["rehab_total"] == result["rehab_total"] == _expected_total(db, org.id)
    assert result["analysis"]["rehab_total"] == after["rehab_total"]
    assert result["analysis"]["rehab_scope"] == after["rehab_scope"]

    # The same words as a transcribed voice note (the worker's steps) price the same.
    voice = Walkthrough(org_id=org.id, property_id=spoken.id, status=WalkthroughStatus.transcribing)
    db.add(voice)
    db.flush()
    audio_service.record_transcript(
        session=db,
        org_id=org.id,
        walkthrough_id=voice.id,
        transcript=Transcript(
            text=NOTES,
            segments=[TimedText(start=0.0, end=7.0, text=NOTES)],
            duration_s=7.0,
            language="en",
            language_probability=0.99,
            model="whisper base int8",
            wall_s=1.0,
        ),
    )
    heard = audio_service.extract_and_estimate(session=db, org_id=org.id, walkthrough_id=voice.id)
    spoken_analysis = _tool("analyze_property", ctx, property_id=str(spoken.id))
    assert [(c.component, c.condition, c.quantity) for c in heard.conditions] == [
        (f["component"], f["condition"], Decimal(f["quantity"]) if f["quantity"] else None)
        for f in result["findings"]
    ]
    assert spoken_analysis["rehab_total"] == after["rehab_total"]


def test_a_texted_walkthrough_reaches_the_report(db: Session) -> None:
    org, ctx = _investor(db)
    prop = _kellogg(db, org)
    said = "Walked 1215 Kellogg today. Roof is shot, furnace is original, basement has water"

    result = _tool("walkthrough_notes", ctx, address="1215 Kellogg", notes=said)
    report = _tool("generate_report", ctx, property_id=str(prop.id))

    assert [f["component"] for f in result["findings"]] == [
        "roof",
        "furnace",
        "basement drain tile",
        "sump pump",
    ]
    assert all(f["priced"] for f in result["findings"]) and result["not_priced"] == []
    assert "error" not in report, report
    data = documents_service.read_document_bytes(
        session=db, org_id=org.id, document_id=uuid.UUID(report["report_document_id"])
    )
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert result["rehab_total"] in text
    assert f"walkthrough {result['walkthrough_id']}" in " ".join(text.split())


def test_what_is_not_priced_is_listed_with_why(db: Session) -> None:
    org, ctx = _investor(db)
    _kellogg(db, org)
    notes = "Roof is shot. The hot tub is broken. There's a fridge in the kitchen."

    result = _tool("walkthrough_notes", ctx, address="1215 Kellogg Ave", notes=notes)

    priced = [f["component"] for f in result["findings"] if f["priced"]]
    assert priced == ["roof"]
    reasons = {n["what"]: n["reason"] for n in result["not_priced"]}
    assert set(reasons) == {"fridge", "hot tub"}
    assert "without a condition" in reasons["fridge"]
    assert "no line" in reasons["hot tub"]
    roof = pricing_service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[ComponentInput(component="roof", condition=PricingCondition.poor)],
        square_feet=1200,
    )
    assert result["rehab_total"] == money(roof.total)


def test_notes_naming_no_condition_store_nothing(db: Session) -> None:
    org, ctx = _investor(db)
    prop = _kellogg(db, org)
    other_org = make_org(db, "Other Org")
    theirs = _kellogg(db, other_org)

    vague = _tool(
        "walkthrough_notes", ctx, address="1215 Kellogg Ave", notes="Nice street, the fridge."
    )
    foreign = _tool("walkthrough_notes", ctx, property_id=str(theirs.id), notes=NOTES)

    assert "nothing was stored" in vague["error"] and "fridge" in vague["error"]
    assert "not found" in foreign["error"]
    assert _walkthroughs(db, prop) == [] and _walkthroughs(db, theirs) == []


def test_estimate_rehab_reads_notes_with_the_walkthrough_extractor(db: Session) -> None:
    org, ctx = _investor(db)
    prop = _kellogg(db, org)

    result = _tool("estimate_rehab", ctx, address="1215 Kellogg Ave", notes=NOTES)
    both = _tool(
        "estimate_rehab",
        ctx,
        notes=NOTES,
        components=[{"component": "roof", "condition": "poor"}],
    )
    structured = _tool(
        "estimate_rehab", ctx, components=[{"component": "furnace", "condition": "poor"}]
    )

    assert "error" not in result, result
    found = [(f["component"], f["condition"], f["quantity"]) for f in result["findings"]]
    assert found == SIX
    assert [line["component"] for line in result["line_items"]] == [name for name, *_ in SIX]
    assert result["total"] == _expected_total(db, org.id)
    assert result["unpriced"] == [] and result["stored"] is False
    assert _walkthroughs(db, prop) == []  # a quote: the property's scope is unchanged
    assert "not both" in both["error"]
    assert [line["component"] for line in structured["line_items"]] == ["furnace"]


def test_investors_and_the_team_have_the_tool_contractors_do_not() -> None:
    for role in (Role.investor, Role.analyst, Role.admin):
        assert "walkthrough_notes" in {t.name for t in tools_for_role(role)}
    assert "walkthrough_notes" not in {t.name for t in tools_for_role(Role.contractor)}
