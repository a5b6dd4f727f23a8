"""Vision API: one photo analysed while the request waits, reports, before/after, bad photos.

The classifier is the tiny one trained on synthetic photos (``photos.trained_weights``).
Queued batches and the job that runs them are in ``tests/workers/test_vision_jobs.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.vision.models import ComponentCondition, PropertyAnalysis
from store.outbox import OutboxEvent
from tests.domain.vision.photos import corrupt_jpeg, photo_bytes, trained_weights
from tests.factories import auth_headers, make_org, make_property, make_user, override_settings

API = "/api/v1"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point VISION_MODEL at the test classifier."""
    override_settings(monkeypatch, vision_model=str(trained_weights()))


@pytest.fixture
def org(db: Session) -> Organisation:
    return make_org(db)


@pytest.fixture
def analyst(db: Session, org: Organisation) -> User:
    return make_user(db, org, role=Role.analyst)


def _analyse(
    client: TestClient,
    headers: dict[str, str],
    property_id: uuid.UUID,
    label: str = "roof_poor",
    *,
    data: bytes | None = None,
    content_type: str = "image/jpeg",
    wait: bool = True,
) -> Any:
    files = {"file": (f"{label}.jpg", data or photo_bytes(label), content_type)}
    return client.post(
        f"{API}/analyze/component-condition",
        params={"wait": str(wait).lower()},
        data={"property_id": str(property_id)},
        files=files,
        headers=headers,
    )


def _events(db: Session, name: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent).where(OutboxEvent.name == name).order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


@pytest.mark.usefixtures("configured")
def test_a_photo_of_a_poor_roof_is_assessed_while_the_request_waits(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    response = _analyse(client, auth_headers(db, analyst), prop.id, "roof_poor")

    assert response.status_code == 200, response.text
    body = response.json()
    analysis, condition = body["analysis"], body["component_condition"]
    assert analysis["status"] == "completed"
    assert (analysis["component"], analysis["condition"]) == ("roof", "poor")
    confidence = float(analysis["confidence_score"])
    assert confidence >= 0.6  # the tiny model is sure of its own classes
    assert analysis["predictions"][0]["label"] == "roof_poor"
    assert analysis["model_ref"].startswith("condition.pt@sha256:")
    assert analysis["issues_detected"][0]["issue"] == "poor_condition"
    # poor at confidence >= 0.60: replace, high priority; score = 50 - 40 x confidence
    assert condition["component_name"] == "roof"
    assert condition["replacement_needed"] is True
    assert condition["repair_priority"] == "high"
    assert condition["condition_score"] == round(50 - 40 * confidence)
    assert body["job_id"] is None

    # The photo is stored as a document of the property, and the analysis links to it.
    document = client.get(
        f"{API}/documents/{analysis['document_id']}", headers=auth_headers(db, analyst)
    ).json()
    assert (document["kind"], document["entity_id"]) == ("photo", str(prop.id))
    assert analysis["photo_url"] == f"/api/v1/documents/{analysis['document_id']}/content"

    [completed] = _events(db, "photo.analysis.completed")
    assert completed["status"] == "completed" and completed["component"] == "roof"
    [assessed] = _events(db, "condition.assessed")
    assert assessed["repair_priority"] == "high" and assessed["property_id"] == str(prop.id)


def test_without_a_model_the_answer_says_so_and_invents_nothing(
    client: TestClient, db: Session, org: Organisation, analyst: User, monkeypatch: Any
) -> None:
    override_settings(monkeypatch, vision_model=None)
    prop = make_property(db, org)
    response = _analyse(client, auth_headers(db, analyst), prop.id)

    assert response.status_code == 200
    analysis = response.json()["analysis"]
    assert analysis["status"] == "not_configured"
    assert "No vision model is configured" in analysis["error"]
    assert "VISION_MODEL" in analysis["error"] and "dealdesk vision train" in analysis["error"]
    assert analysis["component"] is None and analysis["condition"] is None
    assert response.json()["component_condition"] is None
    assert db.exec(select(ComponentCondition)).all() == []
    report = client.get(f"{API}/analysis/{prop.id}", headers=auth_headers(db, analyst)).json()
    assert report["model_configured"] is False
    assert [a["status"] for a in report["analyses"]] == ["not_configured"]
    [event] = _events(db, "photo.analysis.completed")
    assert event["status"] == "not_configured"
    assert _events(db, "condition.assessed") == []


@pytest.mark.usefixtures("configured")
def test_a_stored_photo_can_be_analysed_by_its_document_id(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)
    uploaded = client.post(
        f"{API}/documents",
        data={"kind": "photo"},
        files={"file": ("good.png", photo_bytes("roof_good", fmt="PNG"), "image/png")},
        headers=headers,
    ).json()
    response = client.post(
        f"{API}/analyze/component-condition",
        data={"property_id": str(prop.id), "document_id": uploaded["id"]},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["analysis"]["condition"] == "good"
    assert response.json()["component_condition"]["repair_priority"] == "low"


@pytest.mark.usefixtures("configured")
def test_bad_photos_end_as_stored_failures_with_the_reason(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)
    html = b"<!DOCTYPE html><html><body>not a photo</body></html>"
    fake_png = _analyse(client, headers, prop.id, data=html, content_type="image/png")
    huge = _analyse(client, headers, prop.id, data=b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024))
    broken = _analyse(client, headers, prop.id, data=corrupt_jpeg())

    assert fake_png.status_code == huge.status_code == broken.status_code == 200
    errors = {
        name: r.json()["analysis"]["error"]
        for name, r in (("html", fake_png), ("huge", huge), ("broken", broken))
    }
    assert "sent as image/png but its contents are text/plain" in errors["html"]
    assert "the most dealdesk accepts is 16 MB" in errors["huge"]
    assert "damaged and cannot be decoded" in errors["broken"]
    stored = db.exec(select(PropertyAnalysis).where(PropertyAnalysis.property_id == prop.id)).all()
    assert sorted(a.status for a in stored) == ["failed"] * 3
    assert all(a.condition is None for a in stored)
    # The damaged JPEG passed the format check, so its bytes are kept for a person to see.
    assert [a.document_id is not None for a in stored].count(True) == 1


@pytest.mark.usefixtures("configured")
def test_the_property_report_lists_newest_first_and_the_latest_per_component(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)
    ids = [
        _analyse(client, headers, prop.id, label).json()["analysis"]["id"]
        for label in ("roof_poor", "furnace_fair", "roof_good")
    ]
    report = client.get(f"{API}/analysis/{prop.id}", headers=headers)
    assert report.status_code == 200
    body = report.json()
    assert [a["id"] for a in body["analyses"]] == ids[::-1]
    assert [c["analysis_id"] for c in body["component_conditions"]] == ids[::-1]
    latest = {c["component_name"]: c["condition"] for c in body["latest_by_component"]}
    assert latest == {"furnace": "fair", "roof": "good"}


@pytest.mark.usefixtures("configured")
def test_before_and_after_photos_show_which_components_changed(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)

    def analysed(label: str, seed: int) -> dict[str, Any]:
        body = _analyse(client, headers, prop.id, data=photo_bytes(label, seed)).json()
        return body["analysis"]

    before = [analysed("roof_poor", 1), analysed("furnace_fair", 2)]
    after = [analysed("roof_good", 3), analysed("furnace_fair", 4)]
    response = client.post(
        f"{API}/compare/before-after",
        json={
            "property_id": str(prop.id),
            "before_analysis_ids": [a["id"] for a in before],
            "after_document_ids": [a["document_id"] for a in after],
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["improved"], body["worsened"], body["unchanged"]) == (
        ["roof"],
        [],
        ["furnace"],
    )
    roof = next(c for c in body["components"] if c["component"] == "roof")
    assert (roof["before"]["condition"], roof["after"]["condition"]) == ("poor", "good")
    assert (
        roof["score_change"] == roof["after"]["condition_score"] - roof["before"]["condition_score"]
    )
    assert roof["score_change"] > 0
    assert sorted(body["after_analysis_ids"]) == sorted(a["id"] for a in after)


@pytest.mark.usefixtures("configured")
def test_before_after_refuses_what_cannot_be_compared(
    client: TestClient, db: Session, org: Organisation, analyst: User, monkeypatch: Any
) -> None:
    prop, other = make_property(db, org), make_property(db, org)
    headers = auth_headers(db, analyst)
    done = _analyse(client, headers, prop.id).json()["analysis"]["id"]
    elsewhere = _analyse(client, headers, other.id).json()["analysis"]["id"]
    override_settings(monkeypatch, vision_model=None)
    unconfigured = _analyse(client, headers, prop.id).json()["analysis"]["id"]

    def compare(**sets: Any) -> Any:
        body = {"property_id": str(prop.id), **sets}
        return client.post(f"{API}/compare/before-after", json=body, headers=headers)

    cases = {
        "empty": (compare(before_analysis_ids=[done]), 422, "after set is empty"),
        "other property": (
            compare(before_analysis_ids=[done], after_analysis_ids=[elsewhere]),
            422,
            "another property",
        ),
        "no condition": (
            compare(before_analysis_ids=[done], after_analysis_ids=[unconfigured]),
            422,
            "not_configured",
        ),
        "both sets": (
            compare(before_analysis_ids=[done], after_analysis_ids=[done]),
            422,
            "in both sets",
        ),
        "unknown": (
            compare(before_analysis_ids=[done], after_analysis_ids=[str(uuid.uuid4())]),
            404,
            "not found",
        ),
    }
    for name, (response, code, message) in cases.items():
        assert response.status_code == code, name
        assert message in response.json()["detail"], name


def test_requests_that_name_nothing_or_unknown_things_are_refused(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)
    unknown_property = _analyse(client, headers, uuid.uuid4())
    no_photo = client.post(
        f"{API}/analyze/property-photos", data={"property_id": str(prop.id)}, headers=headers
    )
    unknown_document = client.post(
        f"{API}/analyze/property-photos",
        data={"property_id": str(prop.id), "document_ids": [str(uuid.uuid4())]},
        headers=headers,
    )
    both = client.post(
        f"{API}/analyze/component-condition",
        data={"property_id": str(prop.id), "document_id": str(uuid.uuid4())},
        files={"file": ("a.jpg", photo_bytes("roof_good"), "image/jpeg")},
        headers=headers,
    )
    assert unknown_property.status_code == 404
    assert no_photo.status_code == 422 and "at least one photo" in no_photo.json()["detail"]
    assert unknown_document.status_code == 404
    assert both.status_code == 422 and "exactly one photo" in both.json()["detail"]
    assert client.get(f"{API}/analysis/{uuid.uuid4()}", headers=headers).status_code == 404
    assert db.exec(select(PropertyAnalysis)).all() == []


@pytest.mark.usefixtures("configured")
def test_another_organisation_sees_and_uses_nothing(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    prop = make_property(db, org)
    mine = _analyse(client, auth_headers(db, analyst), prop.id).json()["analysis"]
    rival = make_org(db, "Rival Homes")
    theirs = auth_headers(db, make_user(db, rival, role=Role.admin))

    assert client.get(f"{API}/analysis/{prop.id}", headers=theirs).status_code == 404
    assert _analyse(client, theirs, prop.id).status_code == 404
    their_prop = make_property(db, rival)
    borrowed = client.post(
        f"{API}/analyze/property-photos",
        data={"property_id": str(their_prop.id), "document_ids": [mine["document_id"]]},
        headers=theirs,
    )
    assert borrowed.status_code == 404 and "not found" in borrowed.json()["detail"]
    compared = client.post(
        f"{API}/compare/before-after",
        json={
            "property_id": str(their_prop.id),
            "before_analysis_ids": [mine["id"]],
            "after_analysis_ids": [mine["id"]],
        },
        headers=theirs,
    )
    assert compared.status_code == 404


def test_contractors_may_not_use_the_vision_api(
    client: TestClient, db: Session, org: Organisation
) -> None:
    prop = make_property(db, org)
    contractor = make_user(db, org, role=Role.contractor)
    headers = auth_headers(db, contractor)
    assert _analyse(client, headers, prop.id).status_code == 403
    assert client.get(f"{API}/analysis/{prop.id}", headers=headers).status_code == 403


@pytest.mark.usefixtures("configured")
def test_photo_conditions_feed_the_rehab_scope_of_the_analysis(
    client: TestClient, db: Session, org: Organisation, analyst: User
) -> None:
    from domain.analysis import service as analysis_service
    from domain.vision import service as vision_service

    prop = make_property(db, org, address_line="5 Roof Rd", city="Detroit", state="MI")
    assert (
        vision_service.latest_component_conditions(session=db, org_id=org.id, property_id=prop.id)
        is None
    )
    response = _analyse(client, auth_headers(db, analyst), prop.id, "roof_poor")
    assert response.status_code == 200, response.text
    observed = vision_service.latest_component_conditions(
        session=db, org_id=org.id, property_id=prop.id
    )
    assert observed is not None
    assert [(c.component, c.condition) for c in observed.components] == [("roof", "poor")]
    observed_by_analysis = analysis_service.observed_conditions(
        session=db, org_id=org.id, property_id=prop.id
    )
    assert observed_by_analysis is not None and observed_by_analysis.source == observed.source
