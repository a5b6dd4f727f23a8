"""The audio endpoints: starting transcriptions, reading transcripts, extracting conditions.

The transcription itself runs in a job (tests/workers/test_audio_jobs.py); here the requests,
their validation, roles and the synchronous extractor. Figures come from the default cost
catalogue (domain/pricing/catalogue.py): a gas water heater replaced is $900 + $600 = $1,500.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from domain.audio import service as audio_service
from domain.audio import synthetic
from domain.audio.enums import WalkthroughStatus
from domain.audio.models import Walkthrough
from domain.auth.enums import Role
from domain.documents import service as documents_service
from tests.factories import auth_headers, make_org, make_property, make_user
from workers.queues import get_queue

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_parse_components_finds_catalogue_components_and_counts(
    client: TestClient, db: Session
) -> None:
    investor = make_user(db, make_org(db), role=Role.investor)
    response = client.post(
        "/api/v1/parse/components",
        headers=auth_headers(db, investor),
        json={"text": "Twelve windows, a furnace, and about 20 squares of shingles."},
    )
    assert response.status_code == 200, response.text
    found = {c["component_key"]: c for c in response.json()["components"]}
    assert set(found) == {"windows", "furnace", "roof_shingles"}
    assert Decimal(found["windows"]["quantity"]) == 12
    assert (Decimal(found["roof_shingles"]["quantity"]), found["roof_shingles"]["unit"]) == (
        20,
        "square",
    )
    assert found["furnace"]["component_name"].startswith("Gas furnace")


def test_extract_conditions_from_text_prices_what_it_can(client: TestClient, db: Session) -> None:
    investor = make_user(db, make_org(db), role=Role.investor)
    response = client.post(
        "/api/v1/extract/conditions",
        headers=auth_headers(db, investor),
        json={"text": "The roof is shot. The water heater is leaking. The front door is there."},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "deterministic"
    assert body["transcript_id"] is None
    conditions = {c["component_key"]: c for c in body["conditions"]}
    assert conditions["roof_shingles"]["condition"] == "poor"
    assert conditions["roof_shingles"]["cues"] == ["shot"]
    assert conditions["exterior_doors"]["condition"] is None
    estimate = body["rehab_estimate"]
    # The water heater: $1,500; the roof needs the house's area (not given); the door was
    # mentioned without a condition, so it is not priced.
    assert [line["component_key"] for line in estimate["line_items"]] == ["water_heater"]
    assert Decimal(estimate["subtotal"]) == Decimal("1500.00")
    assert Decimal(estimate["total"]) == Decimal("1650.00")  # + 10% contingency
    assert [u["reason"] for u in estimate["unpriced"]] == ["quantity_needed"]
    assert estimate["not_graded"] == ["front door"]


def test_extract_conditions_from_text_sizes_the_roof_with_the_narrated_area(
    client: TestClient, db: Session
) -> None:
    """Was: "the house is about 1,100 square feet" was heard but the roof stayed unpriced."""
    investor = make_user(db, make_org(db), role=Role.investor)
    response = client.post(
        "/api/v1/extract/conditions",
        headers=auth_headers(db, investor),
        json={"text": "The house is about 1,100 square feet. The roof is shot."},
    )
    assert response.status_code == 200, response.text
    estimate = response.json()["rehab_estimate"]
    roof = {line["component_key"]: line for line in estimate["line_items"]}["roof_shingles"]
    assert Decimal(roof["quantity"]) == 13  # 1,100 sqft x 1.15 / 100, rounded up
    assert estimate["unpriced"] == []
    assert any("1100 sqft as narrated" in a for a in estimate["assumptions"])


def test_extract_conditions_needs_exactly_one_source(client: TestClient, db: Session) -> None:
    analyst = make_user(db, make_org(db), role=Role.analyst)
    headers = auth_headers(db, analyst)
    both = {"text": "roof is shot", "transcript_id": "00000000-0000-0000-0000-000000000003"}
    for body in ({}, both):
        response = client.post("/api/v1/extract/conditions", headers=headers, json=body)
        assert response.status_code == 422
    response = client.post("/api/v1/extract/conditions", headers=headers, json={})
    assert "give exactly one of transcript_id or text" in response.text


def _transcribed(db: Session, org_id: uuid.UUID, property_id: uuid.UUID, text: str) -> Walkthrough:
    walkthrough = Walkthrough(
        org_id=org_id,
        property_id=property_id,
        status=WalkthroughStatus.completed,
        transcript=text,
        segments=[{"start": 0.0, "end": 3.0, "text": text}],
    )
    db.add(walkthrough)
    db.flush()
    return walkthrough


def test_re_extracting_a_stored_transcript_replaces_its_conditions(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    investor = make_user(db, org, role=Role.investor)
    house = make_property(db, org, square_feet=1200)
    walkthrough = _transcribed(db, org.id, house.id, "The water heater is leaking.")

    forbidden = client.post(
        "/api/v1/extract/conditions",
        headers=auth_headers(db, investor),
        json={"transcript_id": str(walkthrough.id)},
    )
    assert forbidden.status_code == 403

    for _ in range(2):  # twice: the second run replaces, not duplicates
        response = client.post(
            "/api/v1/extract/conditions",
            headers=auth_headers(db, analyst),
            json={"transcript_id": str(walkthrough.id)},
        )
        assert response.status_code == 200, response.text
    assert Decimal(response.json()["rehab_estimate"]["total"]) == Decimal("1650.00")

    read = client.get(f"/api/v1/transcripts/{walkthrough.id}", headers=auth_headers(db, investor))
    assert read.status_code == 200
    body = read.json()
    assert [c["component_key"] for c in body["conditions"]] == ["water_heater"]
    assert body["extraction_method"] == "deterministic"
    assert Decimal(body["rehab_estimate"]["total"]) == Decimal("1650.00")


def test_unknown_or_foreign_transcripts_are_not_found(client: TestClient, db: Session) -> None:
    org, other = make_org(db), make_org(db, "Other LLC")
    analyst = make_user(db, org, role=Role.analyst)
    theirs = _transcribed(db, other.id, make_property(db, other).id, "The roof is shot.")
    headers = auth_headers(db, analyst)

    assert client.get(f"/api/v1/transcripts/{theirs.id}", headers=headers).status_code == 404
    response = client.post(
        "/api/v1/extract/conditions", headers=headers, json={"transcript_id": str(theirs.id)}
    )
    assert response.status_code == 404
    assert "No transcript" in response.json()["detail"]


def test_a_walkthrough_without_a_transcript_cannot_be_extracted_yet(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    waiting = Walkthrough(org_id=org.id, property_id=make_property(db, org).id)
    db.add(waiting)
    db.flush()
    response = client.post(
        "/api/v1/extract/conditions",
        headers=auth_headers(db, analyst),
        json={"transcript_id": str(waiting.id)},
    )
    assert response.status_code == 422
    assert "has no text yet" in response.json()["detail"]


def test_starting_a_transcription_of_a_stored_voice_note(
    client: TestClient, db: Session, redis: Redis
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    house = make_property(db, org)
    note = audio_service.store_recording(
        session=db,
        org_id=org.id,
        data=synthetic.silence_wav(1.0),
        filename="note.wav",
        content_type="audio/wav",
        property_id=house.id,
    )
    response = client.post(
        "/api/v1/transcribe/walkthrough",
        headers=auth_headers(db, analyst),
        data={"property_id": str(house.id), "document_id": str(note.id)},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["document_id"] == str(note.id)
    assert get_queue("transcribe").job_ids == [body["job_id"]]


def test_transcribe_requests_that_cannot_start(
    client: TestClient, db: Session, redis: Redis
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    investor = make_user(db, org, role=Role.investor)
    house = make_property(db, org)
    photo = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=PNG,
        filename="kitchen.png",
        declared_content_type="image/png",
        kind="photo",
    )
    headers = auth_headers(db, analyst)
    url = "/api/v1/transcribe/walkthrough"

    neither = client.post(url, headers=headers, data={"property_id": str(house.id)})
    assert neither.status_code == 422
    assert "Send either a file" in neither.json()["detail"]

    not_audio = client.post(
        url, headers=headers, data={"property_id": str(house.id), "document_id": str(photo.id)}
    )
    assert not_audio.status_code == 422
    assert "not a voice note" in not_audio.json()["detail"]

    no_document = client.post(
        url,
        headers=headers,
        data={"property_id": str(house.id), "document_id": "00000000-0000-0000-0000-000000000001"},
    )
    assert no_document.status_code == 404

    no_property = client.post(
        url,
        headers=headers,
        data={"property_id": "00000000-0000-0000-0000-000000000002"},
        files={"file": ("walk.wav", synthetic.silence_wav(1.0), "audio/wav")},
    )
    assert no_property.status_code == 404
    assert "No property" in no_property.json()["detail"]

    as_investor = client.post(
        url,
        headers=auth_headers(db, investor),
        data={"property_id": str(house.id)},
        files={"file": ("walk.wav", synthetic.silence_wav(1.0), "audio/wav")},
    )
    assert as_investor.status_code == 403
    assert len(get_queue("transcribe")) == 0


def test_contractors_cannot_read_transcripts(client: TestClient, db: Session) -> None:
    org = make_org(db)
    contractor = make_user(db, org, role=Role.contractor)
    walkthrough = _transcribed(db, org.id, make_property(db, org).id, "The roof is shot.")
    response = client.get(
        f"/api/v1/transcripts/{walkthrough.id}", headers=auth_headers(db, contractor)
    )
    assert response.status_code == 403
