"""The real path: photos uploaded through the API → a job on the ``vision`` queue → stored results.

Data is committed (the job opens its own sessions), the job runs in-process on a
``SimpleWorker`` with the JSON serializer, and the classifier is the tiny one trained on
synthetic photos. Event subscribers run inline in the test's session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.documents import service as documents_service
from domain.vision import model, subscribers
from domain.vision.models import ComponentCondition, PropertyAnalysis
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.domain.vision.photos import corrupt_jpeg, photo_bytes, trained_weights
from tests.factories import auth_headers, make_org, make_property, make_user, override_settings
from workers import vision as vision_jobs
from workers.main import PRELOADERS, preload_models
from workers.queues import get_queue

API = "/api/v1"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point VISION_MODEL at the test classifier."""
    override_settings(monkeypatch, vision_model=str(trained_weights()))


@pytest.fixture
def live_client(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client whose requests commit for real (the job must see what they stored)."""
    from app import app

    redis.flushdb()
    with TestClient(app) as client:
        yield client


def _work(redis: Redis) -> None:
    worker = SimpleWorker([get_queue("vision")], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)


def _upload(
    client: TestClient, headers: dict[str, str], property_id: uuid.UUID, **photos: bytes
) -> Any:
    return client.post(
        f"{API}/analyze/property-photos",
        data={"property_id": str(property_id)},
        files=[("files", (f"{name}.jpg", data, "image/jpeg")) for name, data in photos.items()],
        headers=headers,
    )


@pytest.mark.usefixtures("configured")
def test_uploaded_photos_are_analysed_by_the_vision_job(
    live_client: TestClient, committed_db: Session, redis: Redis
) -> None:
    db = committed_db
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    prop = make_property(db, org)
    db.commit()
    headers = auth_headers(db, investor)

    first = _upload(
        live_client,
        headers,
        prop.id,
        roof_poor=photo_bytes("roof_poor", 11),
        broken=corrupt_jpeg(),
        furnace=photo_bytes("furnace_fair", 12),
    )
    second = _upload(live_client, headers, prop.id, roof_good=photo_bytes("roof_good", 13))
    assert first.status_code == second.status_code == 202, first.text
    body = first.json()
    assert [a["status"] for a in body["analyses"]] == ["queued"] * 3
    assert len(get_queue("vision")) == 2

    _work(redis)  # one burst runs both jobs: the damaged photo does not stop the worker

    for response in (first, second):
        job = Job.fetch(response.json()["job_id"], connection=redis, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FINISHED
    job = Job.fetch(body["job_id"], connection=redis, serializer=JSONSerializer)
    roof_id, broken_id, furnace_id = (a["id"] for a in body["analyses"])
    result = job.return_value()
    assert result is not None
    outcomes = result["analyses"]
    assert outcomes[roof_id]["status"] == "completed" and outcomes[roof_id]["condition"] == "poor"
    assert outcomes[broken_id]["status"] == "failed"
    assert "damaged and cannot be decoded" in outcomes[broken_id]["error"]
    assert result["counts"] == {"completed": 2, "failed": 1}

    report = live_client.get(f"{API}/analysis/{prop.id}", headers=headers).json()
    by_id = {a["id"]: a for a in report["analyses"]}
    assert (by_id[roof_id]["component"], by_id[roof_id]["condition"]) == ("roof", "poor")
    assert float(by_id[roof_id]["confidence_score"]) > 0.5
    assert (by_id[furnace_id]["component"], by_id[furnace_id]["condition"]) == ("furnace", "fair")
    assert by_id[broken_id]["status"] == "failed" and by_id[broken_id]["condition"] is None
    latest = {c["component_name"]: c["condition"] for c in report["latest_by_component"]}
    assert latest == {"roof": "good", "furnace": "fair"}
    roof = next(c for c in report["component_conditions"] if c["analysis_id"] == roof_id)
    assert roof["replacement_needed"] is True and roof["repair_priority"] == "high"

    # Running the job again (a retry) changes nothing: finished analyses are skipped.
    again = vision_jobs.analyse_photos(str(org.id), [roof_id, broken_id, furnace_id])
    assert again["counts"] == {"completed": 2, "failed": 1}
    assert len(db.exec(select(ComponentCondition)).all()) == 3
    names = [e.name for e in db.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))]
    assert names.count("photo.analysis.completed") == 4
    assert names.count("condition.assessed") == 3


def test_a_queued_photo_without_a_model_is_stored_as_not_configured(
    live_client: TestClient, committed_db: Session, redis: Redis, monkeypatch: Any
) -> None:
    override_settings(monkeypatch, vision_model=None)
    db = committed_db
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org)
    db.commit()

    response = _upload(
        live_client, auth_headers(db, analyst), prop.id, roof=photo_bytes("roof_good")
    )
    _work(redis)

    [analysis] = db.exec(select(PropertyAnalysis)).all()
    assert str(analysis.id) == response.json()["analyses"][0]["id"]
    assert analysis.status == "not_configured" and analysis.condition is None
    assert analysis.error == model.NOT_CONFIGURED_MESSAGE
    assert db.exec(select(ComponentCondition)).all() == []


def test_component_condition_can_be_queued_instead_of_awaited(
    live_client: TestClient, committed_db: Session, redis: Redis, configured: None
) -> None:
    db = committed_db
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org)
    db.commit()

    response = live_client.post(
        f"{API}/analyze/component-condition",
        params={"wait": "false"},
        data={"property_id": str(prop.id)},
        files={"file": ("roof.jpg", photo_bytes("roof_good", 21), "image/jpeg")},
        headers=auth_headers(db, analyst),
    )
    assert response.status_code == 202
    assert response.json()["analysis"]["status"] == "queued" and response.json()["job_id"]
    _work(redis)
    [analysis] = db.exec(select(PropertyAnalysis)).all()
    assert (analysis.status, analysis.condition) == ("completed", "good")


def _event(db: Session, org_id: uuid.UUID, name: str, payload: dict[str, Any]) -> Event:
    event_id = publish(db, org_id=org_id, name=name, payload=payload)
    db.flush()
    row = db.get(OutboxEvent, event_id)
    assert row is not None
    return Event(id=row.id, org_id=row.org_id, name=row.name, payload=row.payload)


def _store_photo(db: Session, org_id: uuid.UUID, property_id: uuid.UUID, data: bytes) -> Any:
    return documents_service.store_document(
        session=db,
        org_id=org_id,
        data=data,
        filename="photo.jpg",
        declared_content_type="image/jpeg",
        kind="photo",
        entity_type="property",
        entity_id=property_id,
    )


@pytest.mark.usefixtures("configured")
def test_photos_uploaded_event_is_analysed_once_per_event(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org)
    photo = _store_photo(db, org.id, prop.id, photo_bytes("roof_poor", 31))
    voice_note = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=b"OggS" + b"\0" * 100,
        filename="note.ogg",
        declared_content_type="audio/ogg",
        kind="voice_note",
    )
    event = _event(
        db,
        org.id,
        "property.photos.uploaded",
        {"property_id": str(prop.id), "document_ids": [str(photo.id), str(voice_note.id)]},
    )

    subscribers.analyse_uploaded_photos(db, event)
    subscribers.analyse_uploaded_photos(db, event)  # redelivered: nothing new

    analyses = db.exec(select(PropertyAnalysis).where(PropertyAnalysis.org_id == org.id)).all()
    assert len(analyses) == 2
    by_status = {str(a.status): a for a in analyses}
    assert by_status["completed"].condition == "poor"
    assert by_status["completed"].source_event_id == event.id
    assert "audio/ogg, not a photo" in (by_status["failed"].error or "")
    assert len(db.exec(select(ComponentCondition)).all()) == 1


@pytest.mark.usefixtures("configured")
def test_analysis_requested_analyses_the_photos_not_yet_analysed(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org)
    seen = _store_photo(db, org.id, prop.id, photo_bytes("roof_good", 41))
    fresh = _store_photo(db, org.id, prop.id, photo_bytes("furnace_fair", 42))
    first = _event(
        db,
        org.id,
        "property.photos.uploaded",
        {"property_id": str(prop.id), "document_id": str(seen.id)},
    )
    subscribers.analyse_uploaded_photos(db, first)

    requested = _event(db, org.id, "analysis.requested", {"property_id": str(prop.id)})
    subscribers.analyse_requested_property(db, requested)
    subscribers.analyse_requested_property(db, requested)

    rows = db.exec(
        select(PropertyAnalysis).where(PropertyAnalysis.source_event_id == requested.id)
    ).all()
    assert [(r.document_id, r.component, r.condition) for r in rows] == [
        (fresh.id, "furnace", "fair")
    ]


def test_an_event_for_an_unknown_property_analyses_nothing(db: Session) -> None:
    org = make_org(db)
    event = _event(
        db,
        org.id,
        "property.photos.uploaded",
        {"property_id": str(uuid.uuid4()), "document_ids": [str(uuid.uuid4())]},
    )
    subscribers.analyse_uploaded_photos(db, event)
    assert db.exec(select(PropertyAnalysis)).all() == []


def test_the_worker_preloads_the_configured_model(configured: None, engine: Engine) -> None:
    assert "workers.vision.preload" in PRELOADERS
    assert "workers.vision.preload" in preload_models()
    assert model.get_classifier() is model.get_classifier()  # loaded once, then cached


def test_a_forking_worker_process_preloads_the_model_and_runs_the_job(
    live_client: TestClient, committed_db: Session, redis: Redis, configured: None
) -> None:
    db = committed_db
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org)
    db.commit()
    response = _upload(
        live_client, auth_headers(db, analyst), prop.id, roof=photo_bytes("roof_poor", 51)
    )
    assert response.status_code == 202

    env = {**os.environ, "VISION_MODEL": str(trained_weights())}
    worker = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--queues", "vision", "--burst"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "vision model preloaded" in worker.stderr + worker.stdout
    db.expire_all()
    [analysis] = db.exec(select(PropertyAnalysis)).all()
    assert (analysis.status, analysis.component, analysis.condition) == (
        "completed",
        "roof",
        "poor",
    )
