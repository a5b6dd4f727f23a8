"""Walkthrough evidence goes to the right property (a live QA pass, each finding reproduced).

- A loose address after another ("1215 Kellogg Ave roof" after 2718 Duff Ave) moves the
  WhatsApp conversation to Kellogg, as the tool that answered resolved it; media sent then
  are Kellogg's.
- A stored voice note or photo of one property is refused (422) as evidence for another.
- The voice-note reply names what was heard but not graded (not priced) and the maximum offer.
- Phrases an investor says that got no condition, and "Okay," opening a sentence.
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis
from sqlmodel import Session, col, select

from domain.audio import service as audio_service
from domain.audio import synthetic
from domain.audio.extraction import extract_from_text
from domain.audio.models import Walkthrough
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.pricing.enums import Condition
from domain.vision.models import PropertyAnalysis
from domain.whatsapp.enums import MessageDirection
from domain.whatsapp.models import Conversation
from tests.factories import auth_headers, make_org, make_property, make_user
from tests.workers.test_whatsapp_jobs import investor, live, post, work  # noqa: F401
from workers import whatsapp as jobs

# --- the property a loose address names --------------------------------------------------


def _duff_and_kellogg(db: Session, org: Organisation) -> tuple[uuid.UUID, uuid.UUID]:
    duff = make_property(
        db, org, address_line="2718 Duff Ave", city="Ames", state="IA", zip_code="50010"
    )
    kellogg = make_property(
        db, org, address_line="1215 Kellogg Ave", city="Ames", state="IA", zip_code="50010"
    )
    return duff.id, kellogg.id


@pytest.mark.parametrize("said", ["1215 Kellogg Ave roof", "1215 Kellogg Ave pics"])
def test_a_loose_address_is_the_house_it_names_not_the_last_one(db: Session, said: str) -> None:
    org = make_org(db)
    duff, kellogg = _duff_and_kellogg(db, org)
    ask = jobs.PropertyAsk("analyze_property", said, None, {})
    assert jobs._resolve_property(db, org.id, ask, duff) == kellogg
    # An address that names no house keeps none (never the previous one).
    nowhere = jobs.PropertyAsk("analyze_property", "9999 Nowhere Rd", None, {})
    assert jobs._resolve_property(db, org.id, nowhere, duff) is None


def test_the_conversation_follows_a_loose_address_and_so_does_its_media(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
) -> None:
    org = committed_db.get(Organisation, investor)
    assert org is not None
    duff, kellogg = _duff_and_kellogg(committed_db, org)
    committed_db.commit()
    post(live, "2718 Duff Ave, Ames, IA 50010")
    work(redis)
    conversation = committed_db.exec(select(Conversation)).one()
    assert conversation.property_id == duff
    post(live, "1215 Kellogg Ave roof")
    work(redis)
    committed_db.expire_all()
    conversation = committed_db.exec(select(Conversation)).one()
    assert conversation.property_id == kellogg
    # A voice note stored now (ingest_media) is Kellogg's, and stays so when the
    # conversation moves on before it is transcribed.
    note = documents_service.store_document(
        session=committed_db,
        org_id=org.id,
        data=synthetic.silence_wav(1.0),
        filename="note.wav",
        declared_content_type="audio/wav",
        kind=DocumentKind.voice_note,
        source=DocumentSource.whatsapp,
        entity_type="property",
        entity_id=conversation.property_id,
    )
    conversation.property_id = duff
    committed_db.add(conversation)
    committed_db.commit()
    message = jobs.Message(
        org_id=org.id, conversation_id=conversation.id, direction=MessageDirection.inbound
    )
    assert jobs._media_property(message, conversation, note.id) == kellogg


# --- evidence of another property -------------------------------------------------------


def _photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_voice_note_of_another_property_is_no_walkthrough_of_this_one(
    client: TestClient, db: Session, redis: Redis
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    duff, kellogg = _duff_and_kellogg(db, org)
    note = audio_service.store_recording(
        session=db,
        org_id=org.id,
        data=synthetic.silence_wav(1.0),
        filename="kellogg.wav",
        content_type="audio/wav",
        property_id=kellogg,
    )
    url = "/api/v1/transcribe/walkthrough"
    headers = auth_headers(db, analyst)
    response = client.post(
        url, headers=headers, data={"property_id": str(duff), "document_id": str(note.id)}
    )
    assert response.status_code == 422, response.text
    assert "another property" in response.json()["detail"]
    assert not db.exec(select(Walkthrough).where(Walkthrough.property_id == duff)).all()
    # Its own property may use it; a note linked to none is linked to the first one using it.
    ok = client.post(
        url, headers=headers, data={"property_id": str(kellogg), "document_id": str(note.id)}
    )
    assert ok.status_code == 202, ok.text
    loose = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=synthetic.silence_wav(1.0),
        filename="loose.wav",
        declared_content_type="audio/wav",
        kind=DocumentKind.voice_note,
    )
    first = client.post(
        url, headers=headers, data={"property_id": str(duff), "document_id": str(loose.id)}
    )
    assert first.status_code == 202, first.text
    db.expire_all()
    again = client.post(
        url, headers=headers, data={"property_id": str(kellogg), "document_id": str(loose.id)}
    )
    assert again.status_code == 422, again.text


def test_a_photo_of_another_property_is_not_assessed_for_this_one(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor_user = make_user(db, org, role=Role.analyst)
    _, kellogg = _duff_and_kellogg(db, org)
    ridgewood = make_property(db, org, address_line="3100 Ridgewood Dr", city="Ames", state="IA")
    photo = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=_photo_bytes(),
        filename="kellogg.jpg",
        declared_content_type="image/jpeg",
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=kellogg,
    )
    headers = auth_headers(db, investor_user)
    for url in ("/api/v1/analyze/component-condition", "/api/v1/analyze/property-photos"):
        field = "document_id" if url.endswith("condition") else "document_ids"
        response = client.post(
            url, headers=headers, data={"property_id": str(ridgewood.id), field: str(photo.id)}
        )
        assert response.status_code == 422, (url, response.text)
        assert "another property" in response.json()["detail"]
    assert not db.exec(
        select(PropertyAnalysis).where(PropertyAnalysis.property_id == ridgewood.id)
    ).all()


# --- the voice-note reply -----------------------------------------------------------------


def test_the_voice_note_reply_names_what_was_not_graded_and_the_max_offer(
    committed_db: Session, redis: Redis
) -> None:
    if not synthetic.espeak_available():
        pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")
    from domain.whatsapp import service as whatsapp_service
    from tests.factories import make_sold_market, make_subject_property

    org = make_org(committed_db)
    user = make_user(committed_db, org, role=Role.investor, phone_number="+13135550177")
    prop = make_subject_property(committed_db, org)
    make_sold_market(committed_db, org)
    conversation = whatsapp_service.get_or_create_conversation(
        session=committed_db, org_id=org.id, phone_number="+13135550177", user_id=user.id
    )
    conversation.property_id = prop.id
    note = documents_service.store_document(
        session=committed_db,
        org_id=org.id,
        data=synthetic.to_ogg_opus(
            synthetic.speak(
                "The roof is shot and needs replacing, about twenty squares. "
                "There are twelve windows, all original and drafty. "
                "Then we have the kitchen cabinets."
            )
        ),
        filename=None,
        declared_content_type="audio/ogg",
        kind=DocumentKind.voice_note,
        source=DocumentSource.whatsapp,
        entity_type="property",
        entity_id=prop.id,
    )
    message = jobs.Message(
        org_id=org.id,
        conversation_id=conversation.id,
        direction=MessageDirection.inbound,
        media=[{"content_type": "audio/ogg", "document_id": str(note.id)}],
    )
    committed_db.add_all([conversation, message])
    committed_db.commit()
    text = jobs._voice_note_reply(message.id, 0)
    assert "roof poor" in text, text
    assert "Heard but not graded, so not priced: kitchen cabinet" in text, text
    assert "e.g. 'kitchen cabinet" in text and " poor'" in text, text
    assert "unrated" not in text
    assert "Max offer: $" in text, text


# --- phrases that got no condition ------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "condition"),
    [
        ("The kitchen needs cabinets.", "kitchen_cabinets", Condition.poor),
        ("Water heater is from 1998.", "water_heater", Condition.poor),
        ("Roof has maybe five years left.", "roof_shingles", Condition.fair),
    ],
)
def test_phrases_an_investor_says_get_a_condition(
    said: str, key: str, condition: Condition
) -> None:
    found = {f.component_key: f for f in extract_from_text(said)}
    assert found[key].condition == condition, found[key]


def test_an_opening_okay_is_no_praise() -> None:
    (roof,) = extract_from_text("Okay, so the roof is shot.")
    assert roof.cue_texts == ["shot"]
    assert roof.confidence == Decimal("0.70")
    (furnace,) = extract_from_text("Okay, the furnace is okay.")
    assert furnace.cue_texts == ["okay"]


# --- the voice-note reply agrees with the chat's analysis (live QA re-check) -------------


def _voice_note_on(db: Session, phone: str, *, deal_repairs: Decimal | None) -> tuple[Any, ...]:
    """An investor's conversation on a subject house (their deal when repairs are given)."""
    from domain.whatsapp import service as whatsapp_service
    from tests.factories import make_deal, make_sold_market, make_subject_property

    org = make_org(db)
    user = make_user(db, org, role=Role.investor, phone_number=phone)
    prop = make_subject_property(db, org)
    make_sold_market(db, org)
    if deal_repairs is not None:
        make_deal(
            db,
            org,
            owner=user,
            property_id=prop.id,
            strategy="flip",
            purchase_price=Decimal("60000"),
            estimated_repairs=deal_repairs,
        )
    conversation = whatsapp_service.get_or_create_conversation(
        session=db, org_id=org.id, phone_number=phone, user_id=user.id
    )
    conversation.property_id = prop.id
    note = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=synthetic.to_ogg_opus(synthetic.speak("The roof is shot and needs replacing.")),
        filename=None,
        declared_content_type="audio/ogg",
        kind=DocumentKind.voice_note,
        source=DocumentSource.whatsapp,
        entity_type="property",
        entity_id=prop.id,
    )
    message = jobs.Message(
        org_id=org.id,
        conversation_id=conversation.id,
        direction=MessageDirection.inbound,
        media=[{"content_type": "audio/ogg", "document_id": str(note.id)}],
    )
    db.add_all([conversation, message])
    db.commit()
    return org, user, prop, message


def _note_total(db: Session, org: Organisation, prop_id: uuid.UUID) -> str:
    (walkthrough,) = db.exec(
        select(Walkthrough).where(Walkthrough.org_id == org.id, Walkthrough.property_id == prop_id)
    ).all()
    total = audio_service.rehab_total(walkthrough)
    assert total is not None
    return f"${total:,.0f}"


def test_the_voice_note_reply_gives_the_deals_rehab_and_max_offer_as_the_chat_does(
    committed_db: Session, redis: Redis
) -> None:
    """Duff: deal repairs $30,000; the chat said max offer $81,913, the voice reply $102,343."""
    if not synthetic.espeak_available():
        pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")
    from domain.analysis import service as analysis_service
    from domain.auth.service import Principal

    org, user, prop, message = _voice_note_on(
        committed_db, "+13135550178", deal_repairs=Decimal("30000")
    )

    text = jobs._voice_note_reply(message.id, 0)

    committed_db.expire_all()
    deal = analysis_service.relevant_deal(
        session=committed_db,
        org_id=org.id,
        property_id=prop.id,
        principal=Principal.from_user(user),
    )
    assert deal is not None
    chat = analysis_service.analyze_property(
        session=committed_db, org_id=org.id, property_id=prop.id, deal_id=deal.id
    )
    no_deal = analysis_service.analyze_property(
        session=committed_db, org_id=org.id, property_id=prop.id
    )
    assert chat.figures.rehab_total == "$30,000"
    assert chat.figures.max_offer != no_deal.figures.max_offer
    assert f"This note's items: {_note_total(committed_db, org, prop.id)}." in text, text
    assert ": $30,000 (the deal's estimated repairs)." in text, text
    assert f"Max offer: {chat.figures.max_offer}." in text, text
    # The house was priced from the default scope (rating 3) until this walkthrough.
    assert "Components not mentioned are no longer priced from the default scope." in text, text


def test_the_voice_note_reply_tells_this_notes_items_from_the_houses_budget(
    committed_db: Session, redis: Redis
) -> None:
    """'New rehab budget: $2,035' was this recording's items; the house's analysis said $8,539."""
    if not synthetic.espeak_available():
        pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")
    from domain.analysis import service as analysis_service

    org, _, prop, message = _voice_note_on(committed_db, "+13135550179", deal_repairs=None)
    # An earlier walkthrough's furnace is still part of the house's budget.
    audio_service.walkthrough_from_text(
        session=committed_db, org_id=org.id, property_id=prop.id, text="The furnace is shot."
    )
    committed_db.commit()
    earlier = set(committed_db.exec(select(Walkthrough.id)).all())

    text = jobs._voice_note_reply(message.id, 0)

    committed_db.expire_all()
    (note,) = committed_db.exec(
        select(Walkthrough).where(col(Walkthrough.id).not_in(earlier))
    ).all()
    items = audio_service.rehab_total(note)
    assert items is not None
    house = analysis_service.analyze_property(
        session=committed_db, org_id=org.id, property_id=prop.id
    )
    assert house.figures.rehab_total != f"${items:,.0f}"
    assert f"This note's items: ${items:,.0f}." in text, text
    assert f": {house.figures.rehab_total}." in text, text
    assert f"Max offer: {house.figures.max_offer}." in text, text
    # An earlier walkthrough had already replaced the default scope.
    assert "default scope" not in text, text
