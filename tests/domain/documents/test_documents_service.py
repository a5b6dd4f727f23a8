"""Documents: every incoming file is checked, stored by generated key, and scoped by org."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from sqlmodel import Session

from core.config import get_settings
from domain.auth.models import Organisation
from domain.documents import service
from domain.documents.enums import DocumentKind, DocumentSource, RejectionReason
from domain.documents.models import Document
from domain.documents.service import DocumentNotFound, DocumentRejected
from store.storage import LocalStorage, S3Storage, get_storage
from tests.factories import make_org, override_settings


@pytest.fixture
def org(db: Session) -> Organisation:
    return make_org(db, "Alpha Homes")


@pytest.fixture
def other_org(db: Session) -> Organisation:
    return make_org(db, "Beta Holdings")


def _files_on_disk() -> set[Path]:
    root = get_settings().data_path / "files"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _store(db: Session, org: Organisation, data: bytes, **kwargs: object) -> Document:
    params: dict[str, object] = {
        "filename": "file.bin",
        "declared_content_type": None,
        "kind": DocumentKind.other,
    }
    params.update(kwargs)
    return service.store_document(session=db, org_id=org.id, data=data, **params)  # type: ignore[arg-type]


def _rejection(db: Session, org: Organisation, data: bytes, **kwargs: object) -> DocumentRejected:
    before = _files_on_disk()
    with pytest.raises(DocumentRejected) as caught:
        _store(db, org, data, **kwargs)
    assert _files_on_disk() == before, "a rejected file must not be stored"
    return caught.value


# --- accepted files ----------------------------------------------------------------------


def test_photo_is_stored_with_sniffed_type_size_and_checksum(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    data = samples["png"]
    doc = _store(
        db,
        org,
        data,
        filename="kitchen.png",
        declared_content_type="image/png",
        kind=DocumentKind.photo,
    )
    db.commit()

    stored = db.get(Document, doc.id)
    assert stored is not None
    assert stored.org_id == org.id
    assert stored.kind == DocumentKind.photo
    assert stored.content_type == "image/png"
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.filename == "kitchen.png"
    assert stored.storage_backend == "local"
    assert stored.source == DocumentSource.upload
    # The key is generated from ids: the uploaded name appears nowhere in it.
    assert "kitchen" not in stored.storage_key
    assert stored.storage_key.startswith(f"{org.id}/{doc.id.hex}/")
    assert (get_settings().data_path / "files" / stored.storage_key).read_bytes() == data
    assert service.read_document_bytes(session=db, org_id=org.id, document_id=doc.id) == data


@pytest.mark.parametrize(
    ("sample", "declared", "kind", "expected"),
    [
        ("jpeg", "image/jpg", DocumentKind.photo, "image/jpeg"),
        ("jpeg", None, DocumentKind.receipt, "image/jpeg"),
        ("ogg", "audio/ogg; codecs=opus", DocumentKind.voice_note, "audio/ogg"),
        ("m4a", "audio/x-m4a", DocumentKind.voice_note, "audio/mp4"),
        ("mp3", "audio/mpeg", DocumentKind.voice_note, "audio/mpeg"),
        ("wav", "audio/x-wav", DocumentKind.voice_note, "audio/wav"),
        ("pdf", "application/pdf", DocumentKind.report, "application/pdf"),
        ("pdf", "application/octet-stream", DocumentKind.contract, "application/pdf"),
        ("csv", "text/csv", DocumentKind.report, "text/csv"),
        ("csv", "application/vnd.ms-excel", DocumentKind.other, "text/csv"),
        ("csv", "text/plain", DocumentKind.other, "text/plain"),
    ],
)
def test_accepted_formats_store_their_true_type(
    db: Session,
    org: Organisation,
    samples: dict[str, bytes],
    sample: str,
    declared: str | None,
    kind: DocumentKind,
    expected: str,
) -> None:
    doc = _store(db, org, samples[sample], declared_content_type=declared, kind=kind)
    assert doc.content_type == expected


def test_filename_is_sanitised_for_display(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    doc = _store(db, org, samples["pdf"], filename="../../etc/<evil>\x00\n.pdf", kind="report")
    assert doc.filename == "evil_.pdf"
    doc = _store(db, org, samples["pdf"], filename="C:\\Users\\me\\Offer – 12 Elm St.pdf")
    assert doc.filename == "Offer _ 12 Elm St.pdf"
    doc = _store(db, org, samples["jpeg"], filename="", kind="photo")
    assert doc.filename == "photo.jpg"
    doc = _store(db, org, samples["ogg"], filename=None, kind="voice_note")
    assert doc.filename == "voice_note.ogg"


def test_an_audio_file_may_be_larger_than_a_photo(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    six_mb = 6 * 1024 * 1024
    doc = _store(db, org, samples["ogg"] + b"\x00" * six_mb, kind=DocumentKind.voice_note)
    assert doc.size_bytes > six_mb
    rejected = _rejection(db, org, samples["jpeg"] + b"\x00" * six_mb, kind=DocumentKind.photo)
    assert rejected.reason == RejectionReason.too_large
    assert "5 MB" in rejected.message


# --- rejected files ----------------------------------------------------------------------


def test_empty_file_is_refused(db: Session, org: Organisation) -> None:
    rejected = _rejection(db, org, b"", kind=DocumentKind.photo)
    assert rejected.reason == RejectionReason.empty
    assert "empty" in rejected.message


def test_file_over_the_configured_limit_is_refused(
    db: Session, org: Organisation, samples: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, max_upload_bytes=1000)
    rejected = _rejection(db, org, samples["pdf"] + b"\n" * 1000, kind=DocumentKind.report)
    assert rejected.reason == RejectionReason.too_large
    assert "1000 bytes" in rejected.message
    # Within the limit, the same kind of file goes through.
    assert _store(db, org, samples["pdf"], kind=DocumentKind.report).size_bytes < 1000


def test_unknown_format_is_refused(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    rejected = _rejection(
        db,
        org,
        samples["exe"],
        filename="photo.jpg",
        declared_content_type="image/jpeg",
        kind=DocumentKind.photo,
    )
    assert rejected.reason == RejectionReason.unsupported_type


def test_format_not_allowed_for_the_kind_is_refused(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    rejected = _rejection(
        db, org, samples["pdf"], declared_content_type="application/pdf", kind=DocumentKind.photo
    )
    assert rejected.reason == RejectionReason.type_not_allowed
    assert "application/pdf" in rejected.message and "image/jpeg" in rejected.message

    rejected = _rejection(db, org, samples["png"], kind=DocumentKind.voice_note)
    assert rejected.reason == RejectionReason.type_not_allowed


def test_declared_type_contradicting_the_bytes_is_refused(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    rejected = _rejection(
        db, org, samples["png"], declared_content_type="image/jpeg", kind=DocumentKind.photo
    )
    assert rejected.reason == RejectionReason.type_mismatch
    assert "image/jpeg" in rejected.message and "image/png" in rejected.message

    # A text file dressed up as a photo is caught the same way.
    rejected = _rejection(
        db,
        org,
        b"<script>alert(1)</script>",
        declared_content_type="image/png",
        kind=DocumentKind.photo,
    )
    assert rejected.reason == RejectionReason.type_mismatch


def test_unknown_kind_and_half_link_are_refused(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    assert _rejection(db, org, samples["png"], kind="selfie").reason == (
        RejectionReason.invalid_kind
    )
    assert _rejection(db, org, samples["png"], entity_type="property").reason == (
        RejectionReason.invalid_link
    )
    assert (
        _rejection(
            db, org, samples["png"], entity_type="Property; DROP", entity_id=uuid.uuid4()
        ).reason
        == RejectionReason.invalid_link
    )


# --- finding, listing, deleting -----------------------------------------------------------


def test_another_organisation_cannot_see_or_delete_a_document(
    db: Session, org: Organisation, other_org: Organisation, samples: dict[str, bytes]
) -> None:
    doc = _store(db, org, samples["pdf"], kind=DocumentKind.contract)

    assert service.get_document(session=db, org_id=other_org.id, document_id=doc.id) is None
    assert service.list_documents(session=db, org_id=other_org.id) == []
    with pytest.raises(DocumentNotFound):
        service.read_document_bytes(session=db, org_id=other_org.id, document_id=doc.id)
    with pytest.raises(DocumentNotFound):
        service.open_document(session=db, org_id=other_org.id, document_id=doc.id)
    assert service.delete_document(session=db, org_id=other_org.id, document_id=doc.id) is False

    assert service.get_document(session=db, org_id=org.id, document_id=doc.id) == doc


def test_list_filters_by_kind_source_and_entity(
    db: Session, org: Organisation, other_org: Organisation, samples: dict[str, bytes]
) -> None:
    property_id = uuid.uuid4()
    photo = _store(
        db,
        org,
        samples["png"],
        kind="photo",
        entity_type="property",
        entity_id=property_id,
        source=DocumentSource.whatsapp,
    )
    note = _store(
        db,
        org,
        samples["ogg"],
        kind="voice_note",
        entity_type="property",
        entity_id=property_id,
        source=DocumentSource.whatsapp,
    )
    report = _store(db, org, samples["pdf"], kind="report", source=DocumentSource.worker)
    _store(
        db, other_org, samples["png"], kind="photo", entity_type="property", entity_id=property_id
    )

    def ids(**filters: object) -> set[uuid.UUID]:
        found = service.list_documents(session=db, org_id=org.id, **filters)  # type: ignore[arg-type]
        return {d.id for d in found}

    assert ids() == {photo.id, note.id, report.id}
    assert ids(kind=DocumentKind.photo) == {photo.id}
    assert ids(entity_type="property", entity_id=property_id) == {photo.id, note.id}
    assert ids(source=DocumentSource.worker) == {report.id}
    assert len(service.list_documents(session=db, org_id=org.id, limit=2)) == 2


def test_delete_removes_the_bytes_only_after_commit(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    doc = _store(db, org, samples["pdf"], kind=DocumentKind.report)
    db.commit()
    storage = get_storage("local")

    assert service.delete_document(session=db, org_id=org.id, document_id=doc.id) is True
    db.rollback()
    # Rolled back: the row is back and its bytes are still there.
    assert service.read_document_bytes(session=db, org_id=org.id, document_id=doc.id)

    assert service.delete_document(session=db, org_id=org.id, document_id=doc.id) is True
    assert storage.exists(doc.storage_key)
    db.commit()
    assert not storage.exists(doc.storage_key)
    assert service.get_document(session=db, org_id=org.id, document_id=doc.id) is None


def test_bytes_changed_behind_our_back_are_detected(
    db: Session, org: Organisation, samples: dict[str, bytes]
) -> None:
    doc = _store(db, org, samples["pdf"], kind=DocumentKind.report)
    path = get_settings().data_path / "files" / doc.storage_key
    path.write_bytes(samples["pdf"].replace(b"612", b"999"))
    with pytest.raises(service.DocumentCorrupted):
        service.read_document_bytes(session=db, org_id=org.id, document_id=doc.id)

    path.unlink()
    with pytest.raises(DocumentNotFound):
        service.read_document_bytes(session=db, org_id=org.id, document_id=doc.id)


# --- S3 -------------------------------------------------------------------------------------


@pytest.fixture
def s3_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Settings pointing at a real S3-compatible server (moto) on localhost."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = f"dd-docs-{uuid.uuid4().hex[:12]}"
    for name, value in {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": f"http://{host}:{port}",
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    storage = get_storage()
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    yield bucket
    monkeypatch.undo()
    get_settings.cache_clear()
    server.stop()


def test_documents_go_to_s3_when_configured_and_old_local_files_stay_readable(
    db: Session, org: Organisation, samples: dict[str, bytes], s3_settings: str
) -> None:
    local_doc = _store(
        db,
        org,
        samples["png"],
        kind="photo",
        storage=LocalStorage(get_settings().data_path / "files"),
    )
    s3_doc = _store(db, org, samples["ogg"], kind="voice_note")

    assert s3_doc.storage_backend == "s3"
    s3 = get_storage()
    assert isinstance(s3, S3Storage)
    head = s3.client.head_object(Bucket=s3_settings, Key=s3_doc.storage_key)
    assert head["ContentType"] == "audio/ogg"
    assert head["ContentLength"] == len(samples["ogg"])

    assert (
        service.read_document_bytes(session=db, org_id=org.id, document_id=s3_doc.id)
        == (samples["ogg"])
    )
    assert (
        service.read_document_bytes(session=db, org_id=org.id, document_id=local_doc.id)
        == (samples["png"])
    )
    streamed = service.open_document(session=db, org_id=org.id, document_id=s3_doc.id)
    assert b"".join(streamed.chunks) == samples["ogg"]
