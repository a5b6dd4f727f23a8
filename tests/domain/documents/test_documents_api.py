"""Documents over HTTP: upload, list, read, download, delete, each scoped to the caller's org."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from store.storage import get_storage
from tests.factories import auth_headers, make_org, make_property, make_user, override_settings

URL = "/api/v1/documents"


@pytest.fixture
def alice(db: Session) -> User:
    return make_user(db, make_org(db, "Alpha Homes"), role=Role.analyst)


@pytest.fixture
def bob(db: Session) -> User:
    return make_user(db, make_org(db, "Beta Holdings"), role=Role.admin)


def _upload(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    *,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    kind: str = "other",
    **form: str,
) -> dict:
    response = client.post(
        URL,
        headers=headers,
        files={"file": (filename, data, content_type)},
        data={"kind": kind, **form},
    )
    return {"status": response.status_code, "body": response.json(), "response": response}


def test_every_route_needs_a_token(client: TestClient, samples: dict[str, bytes]) -> None:
    some_id = uuid.uuid4()
    calls = [
        client.post(
            URL, files={"file": ("a.png", samples["png"], "image/png")}, data={"kind": "photo"}
        ),
        client.get(URL),
        client.get(f"{URL}/{some_id}"),
        client.get(f"{URL}/{some_id}/content"),
        client.delete(f"{URL}/{some_id}"),
    ]
    assert [c.status_code for c in calls] == [401] * len(calls)


def test_upload_round_trip(
    client: TestClient, db: Session, alice: User, samples: dict[str, bytes]
) -> None:
    headers = auth_headers(db, alice)
    # A real property of alice's organisation: a link to an unknown one is a 404.
    org = db.get(Organisation, alice.org_id)
    assert org is not None
    property_id = make_property(db, org).id
    created = _upload(
        client,
        headers,
        samples["ogg"],
        filename="walkthrough 12 Elm St.ogg",
        content_type="audio/ogg; codecs=opus",
        kind="voice_note",
        entity_type="property",
        entity_id=str(property_id),
    )
    assert created["status"] == 201, created["body"]
    doc = created["body"]
    assert doc["kind"] == "voice_note"
    assert doc["content_type"] == "audio/ogg"
    assert doc["size_bytes"] == len(samples["ogg"])
    assert doc["sha256"] == hashlib.sha256(samples["ogg"]).hexdigest()
    assert doc["filename"] == "walkthrough 12 Elm St.ogg"
    assert doc["org_id"] == str(alice.org_id)
    assert doc["uploaded_by"] == str(alice.id)
    assert doc["entity_id"] == str(property_id)
    assert "storage_key" not in doc

    meta = client.get(f"{URL}/{doc['id']}", headers=headers)
    assert meta.status_code == 200 and meta.json() == doc

    content = client.get(f"{URL}/{doc['id']}/content", headers=headers)
    assert content.status_code == 200
    assert content.content == samples["ogg"]
    assert content.headers["content-type"] == "audio/ogg"
    assert content.headers["content-disposition"].startswith(
        'attachment; filename="walkthrough 12 Elm St.ogg"'
    )
    assert content.headers["x-content-type-options"] == "nosniff"

    listed = client.get(
        URL, headers=headers, params={"entity_type": "property", "entity_id": str(property_id)}
    )
    assert [d["id"] for d in listed.json()] == [doc["id"]]
    assert client.get(URL, headers=headers, params={"kind": "photo"}).json() == []


def test_download_name_is_the_sanitised_one(
    client: TestClient, db: Session, alice: User, samples: dict[str, bytes]
) -> None:
    headers = auth_headers(db, alice)
    doc = _upload(
        client,
        headers,
        samples["pdf"],
        filename='../../"offer"\r\nX-Evil: 1.pdf',
        content_type="application/pdf",
        kind="contract",
    )["body"]
    assert "/" not in doc["filename"] and '"' not in doc["filename"]

    response = client.get(
        f"{URL}/{doc['id']}/content", headers=headers, params={"disposition": "inline"}
    )
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline; ")
    assert "\r" not in disposition and "\n" not in disposition
    assert "x-evil" not in response.headers
    assert f'filename="{doc["filename"]}"' in disposition


def test_another_org_cannot_see_read_or_delete_a_document(
    client: TestClient, db: Session, alice: User, bob: User, samples: dict[str, bytes]
) -> None:
    doc = _upload(
        client,
        auth_headers(db, alice),
        samples["pdf"],
        content_type="application/pdf",
        kind="contract",  # "report" is kept for generated reports (422 on upload)
    )["body"]
    bob_headers = auth_headers(db, bob)

    assert client.get(f"{URL}/{doc['id']}", headers=bob_headers).status_code == 404
    assert client.get(f"{URL}/{doc['id']}/content", headers=bob_headers).status_code == 404
    assert client.delete(f"{URL}/{doc['id']}", headers=bob_headers).status_code == 404
    assert client.get(URL, headers=bob_headers).json() == []

    # Still there for its own organisation.
    alice_headers = auth_headers(db, alice)
    assert client.get(f"{URL}/{doc['id']}", headers=alice_headers).status_code == 200
    assert [d["id"] for d in client.get(URL, headers=alice_headers).json()] == [doc["id"]]


@pytest.mark.parametrize(
    ("sample", "filename", "content_type", "kind", "status", "reason", "says"),
    [
        ("empty", "a.jpg", "image/jpeg", "photo", 422, "empty", "empty"),
        ("exe", "photo.jpg", "image/jpeg", "photo", 415, "unsupported_type", "format"),
        ("pdf", "photo.pdf", "application/pdf", "photo", 415, "type_not_allowed", "photo"),
        ("png", "photo.jpg", "image/jpeg", "photo", 415, "type_mismatch", "image/png"),
        ("big_jpeg", "big.jpg", "image/jpeg", "photo", 413, "too_large", "5 MB"),
    ],
)
def test_rejected_uploads_say_why_and_store_nothing(
    client: TestClient,
    db: Session,
    alice: User,
    samples: dict[str, bytes],
    sample: str,
    filename: str,
    content_type: str,
    kind: str,
    status: int,
    reason: str,
    says: str,
) -> None:
    data = {"empty": b"", "big_jpeg": samples["jpeg"] + b"\x00" * (5 * 1024 * 1024)}.get(sample)
    data = samples[sample] if data is None else data
    headers = auth_headers(db, alice)
    result = _upload(client, headers, data, filename=filename, content_type=content_type, kind=kind)
    assert result["status"] == status
    assert result["body"]["reason"] == reason
    assert says in result["body"]["detail"]
    assert client.get(URL, headers=headers).json() == []


def test_upload_over_the_configured_limit_is_refused(
    client: TestClient,
    db: Session,
    alice: User,
    samples: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override_settings(monkeypatch, max_upload_bytes=1024)
    result = _upload(
        client,
        auth_headers(db, alice),
        samples["pdf"] + b"\n" * 200_000,
        content_type="application/pdf",
        kind="report",
    )
    assert result["status"] == 413
    assert "1 KB" in result["body"]["detail"]


def test_unknown_kind_is_a_validation_error(
    client: TestClient, db: Session, alice: User, samples: dict[str, bytes]
) -> None:
    result = _upload(
        client, auth_headers(db, alice), samples["png"], content_type="image/png", kind="selfie"
    )
    assert result["status"] == 422


def test_delete_removes_metadata_and_bytes(
    client: TestClient, db: Session, alice: User, samples: dict[str, bytes]
) -> None:
    headers = auth_headers(db, alice)
    doc = _upload(client, headers, samples["png"], content_type="image/png", kind="photo")["body"]
    key = f"{doc['org_id']}/{uuid.UUID(doc['id']).hex}"
    local = get_storage("local")
    stored = [k for k in _keys(local, doc["org_id"]) if k.startswith(key)]
    assert len(stored) == 1

    assert client.delete(f"{URL}/{doc['id']}", headers=headers).status_code == 204
    assert client.get(f"{URL}/{doc['id']}", headers=headers).status_code == 404
    assert client.get(f"{URL}/{doc['id']}/content", headers=headers).status_code == 404
    assert not local.exists(stored[0])


def test_only_staff_or_the_uploader_may_delete(
    client: TestClient, db: Session, alice: User, samples: dict[str, bytes]
) -> None:
    from domain.auth.service import get_organisation

    org = get_organisation(session=db, org_id=alice.org_id)
    assert org is not None
    investor = make_user(db, org, role=Role.investor)
    other_investor = make_user(db, org, role=Role.investor)
    doc = _upload(
        client, auth_headers(db, investor), samples["jpeg"], content_type="image/jpeg", kind="photo"
    )["body"]

    # Another investor cannot even see a loose upload, so it is not found for them.
    denied = client.delete(f"{URL}/{doc['id']}", headers=auth_headers(db, other_investor))
    assert denied.status_code == 404
    assert client.delete(f"{URL}/{doc['id']}", headers=auth_headers(db, investor)).status_code == (
        204
    )


def _keys(storage: object, org_id: str) -> list[str]:
    root = storage.root / org_id  # type: ignore[attr-defined]
    return [str(p.relative_to(storage.root)) for p in root.rglob("*") if p.is_file()]  # type: ignore[attr-defined]
