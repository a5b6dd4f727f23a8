"""What an investor sees on WhatsApp: the defects an exploratory pass found, kept fixed.

Each test drives the real path (signed webhook → stored message → RQ job in-process → outbox
rows, real PostgreSQL and Redis, Whisper's real base weights for the voice note); only Twilio's
HTTP API is mocked, with respx.
"""

from __future__ import annotations

import io
import re
import uuid
from decimal import Decimal

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pypdf import PdfReader
from redis import Redis
from sqlmodel import Session, select

from domain.analysis import service as analysis_service
from domain.audio import synthetic
from domain.auth.models import Organisation
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.models import Conversation
from reports.property_report import render_property_report
from tests.factories import make_org, make_property, make_sold_market, make_subject_property
from tests.workers.test_whatsapp_jobs import (  # noqa: F401 (fixtures)
    ACCOUNT,
    MESSAGES_API,
    _media_message,
    accepted,
    investor,
    live,
    post,
    replies,
    twilio_on,
    work,
)
from tests.workers.test_whatsapp_media_failures import ACK, _texts
from workers.main import build_worker

# --- quantities heard in a voice note ------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "shown"),
    [
        (Decimal("20.00"), "square", "20 squares"),  # normalize() alone: "2E+1"
        (Decimal("1.00"), "square", "1 square"),
        (Decimal("12.00"), None, "x12"),
        (Decimal("1200.00"), "sqft", "1,200 sqft"),
        (Decimal("40.50"), "linear ft", "40.5 linear ft"),
    ],
)
def test_a_heard_quantity_is_written_without_an_exponent(
    quantity: Decimal, unit: str | None, shown: str
) -> None:
    assert whatsapp_service.spoken_quantity(quantity, unit) == shown


def test_a_voice_note_reply_names_quantities_plainly_and_its_budget_is_the_analysis_rehab(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
) -> None:
    """ "Twenty squares" read "(x2E+1)", and the PDF priced its default window count, not 12."""
    if not synthetic.espeak_available():
        pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")
    org = committed_db.get(Organisation, investor)
    assert org is not None
    # 2,000 sqft: the cost book's default window count for this size is not twelve.
    prop = make_property(committed_db, org, square_feet=2000, bedrooms=3)
    committed_db.commit()
    narration = (
        "The roof is shot and needs replacing, about twenty squares. "
        "There are twelve windows, all original and drafty."
    )
    voice_note = synthetic.to_ogg_opus(synthetic.speak(narration))
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MQ1/Media/MEQ1"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        post(live, "help")
        work(redis)
        conversation = committed_db.exec(select(Conversation)).one()
        conversation.property_id = prop.id
        conversation.property_address = "1234 Main St"
        committed_db.add(conversation)
        committed_db.commit()
        respx.get(media).mock(
            return_value=httpx.Response(
                200, content=voice_note, headers={"content-type": "audio/ogg"}
            )
        )
        sid = _media_message(live, media, "audio/ogg")
        work(redis)  # stores the voice note, enqueues its transcription
        build_worker(["transcribe"]).work(burst=True)
    ack, text = _texts(committed_db, sid)
    assert ack == ACK
    assert "E+" not in text, text
    assert "roof poor (20 squares)" in text, text
    assert re.search(r"windows (poor|fair) \(x12\)", text), text
    budget = re.search(r"New rehab budget for 1234 Main St: (\$[\d,]+)\.", text)
    assert budget is not None, text
    # The analysis (and so the PDF) prices the walkthrough exactly as the reply did.
    committed_db.expire_all()
    analysis = analysis_service.analyze_property(
        session=committed_db, org_id=investor, property_id=prop.id
    )
    windows = [
        line for line in analysis.rehab.estimate.line_items if line.component_key == "windows"
    ]
    assert [line.quantity for line in windows] == [Decimal("12")]
    assert analysis.figures.rehab_total == budget.group(1)


# --- media of an unexpected type -----------------------------------------------------------


def test_media_without_a_content_type_gets_a_readable_refusal(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
) -> None:
    """It read "I can't use an unknown type files."."""
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MQ2/Media/MEQ2"
    with respx.mock:
        fetch = respx.get(media).mock(return_value=httpx.Response(200, content=b"?"))
        sid = post(live, "", NumMedia="1", MediaUrl0=media)
        work(redis)
    assert not fetch.called
    assert _texts(committed_db, sid) == [
        "I can't use files of an unknown type. I can read voice notes from a walkthrough and "
        "photos of a property; text me an address for an analysis."
    ]


# --- the report link names the property the analysis is about -----------------------------


def test_the_report_link_names_the_property_found_not_the_words_typed(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
) -> None:
    """ "1234 ELM ST DETROIT" got "Your report for 1234 ELM ST DETROIT (PDF)"."""
    org = committed_db.get(Organisation, investor)
    assert org is not None
    make_property(
        committed_db,
        org,
        address_line="1234 Elm St",
        city="Detroit",
        state="MI",
        zip_code="48201",
        bedrooms=3,
        square_feet=1200,
    )
    committed_db.commit()
    sid = post(live, "1234 ELM ST DETROIT")
    work(redis)
    texts = _texts(committed_db, sid)
    assert texts[0].startswith("1234 Elm St, Detroit, MI 48201"), texts
    links = [t for t in texts if t.startswith("Your report for")]
    assert len(links) == 1, texts
    assert links[0].startswith("Your report for 1234 Elm St, Detroit, MI 48201 (PDF): "), links
    conversation = committed_db.exec(select(Conversation)).one()
    assert conversation.property_address == "1234 Elm St, Detroit, MI 48201"


# --- the PDF's rehab quantities -----------------------------------------------------------


def test_the_pdf_writes_rehab_quantities_with_thousands_separators(db: Session) -> None:
    """The rehab table printed "1500 sqft" where every other figure has its commas."""
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)  # 1,500 sqft: flooring and paint by the sqft
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=subject.id)
    large = [line for line in analysis.rehab.estimate.line_items if line.quantity >= Decimal(1000)]
    assert large, "the default scope prices something by the square foot"
    reader = PdfReader(io.BytesIO(render_property_report(analysis).data))
    content = "\n".join(page.extract_text() for page in reader.pages)
    for line in large:
        assert f"{line.quantity.normalize():,f} {line.unit}" in content
        assert f"\n{line.quantity.normalize():f} {line.unit}" not in content


def test_the_pdf_counts_roofing_in_squares(db: Session) -> None:
    """A roof priced by the square (100 sqft) reads "18 squares", not "18 square"."""
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=subject.id)
    roofs = [line for line in analysis.rehab.estimate.line_items if line.unit == "square"]
    assert roofs, "the default scope prices the roof by the square"
    reader = PdfReader(io.BytesIO(render_property_report(analysis).data))
    content = "\n".join(page.extract_text() for page in reader.pages)
    for line in roofs:
        assert line.quantity != 1
        assert f"{line.quantity.normalize():,f} squares" in content


def test_the_report_link_names_the_house_in_the_pdf_not_the_last_analysed(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
) -> None:
    """An analysis of Elm St, then "comps for 77 Oak St", then "send me the report": the PDF was
    Oak St's and its link said "Your report for 1234 Elm St ..." (the conversation's house)."""
    org = committed_db.get(Organisation, investor)
    assert org is not None
    for street in ("1234 Elm St", "77 Oak St"):
        make_property(committed_db, org, address_line=street, city="Detroit", state="MI",
                      zip_code="48201", bedrooms=3, square_feet=1200)  # fmt: skip
    committed_db.commit()
    post(live, "1234 Elm St, Detroit, MI 48201")
    work(redis)
    post(live, "comps for 77 Oak St, Detroit, MI 48201")
    work(redis)
    sid = post(live, "send me the report for 77 Oak St, Detroit, MI 48201")
    work(redis)
    links = [t for t in _texts(committed_db, sid) if t.startswith("Your report for")]
    assert len(links) == 1, _texts(committed_db, sid)
    assert links[0].startswith("Your report for 77 Oak St, Detroit, MI 48201 (PDF): "), links
