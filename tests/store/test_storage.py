"""File storage: a local directory and a real S3-compatible server (moto), one interface."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from core.config import get_settings
from store.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageNotConfigured,
    get_storage,
    new_key,
    validate_key,
)

ESCAPING_KEYS = [
    "../outside",
    "a/../../outside",
    "/etc/passwd",
    "a//b",
    "a\\..\\b",
    ".hidden",
    "a/./b",
    "",
    "a/b/",
    "name with spaces",
    "x" * 600,
]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server on localhost (S3 itself is out of reach here)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> S3Storage:
    storage = S3Storage(
        f"dd-test-{uuid.uuid4().hex[:12]}",
        endpoint_url=moto_endpoint,
        access_key_id="test",
        secret_access_key="test",
        region="us-east-1",
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    return request.getfixturevalue(request.param)


def test_round_trip_bytes_and_stream(storage: Storage) -> None:
    key = new_key("org", "doc")
    payload = os.urandom(200_000)  # spans several chunks

    assert not storage.exists(key)
    assert storage.put(key, payload, content_type="application/pdf") == len(payload)
    assert storage.exists(key)
    assert storage.get(key) == payload
    assert b"".join(storage.open(key)) == payload

    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(ObjectNotFound):
        storage.get(key)


def test_put_accepts_a_binary_stream(storage: Storage) -> None:
    key = new_key()
    payload = b"OggS" + os.urandom(100_000)
    assert storage.put(key, io.BytesIO(payload), content_type="audio/ogg") == len(payload)
    assert storage.get(key) == payload


def test_put_replaces_existing_object(storage: Storage) -> None:
    key = new_key()
    storage.put(key, b"first", content_type="text/plain")
    storage.put(key, b"second", content_type="text/plain")
    assert storage.get(key) == b"second"


def test_missing_object_fails_when_opened_not_when_read(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.open(new_key())
    storage.delete(new_key())  # deleting what is not there is not an error


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_malformed_keys_are_refused_everywhere(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put(key, b"x", content_type="text/plain")
    with pytest.raises(InvalidKey):
        storage.get(key)
    with pytest.raises(InvalidKey):
        storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)


def test_local_storage_never_writes_outside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "files"
    storage = LocalStorage(root)
    for key in ESCAPING_KEYS:
        with pytest.raises(InvalidKey):
            storage.put(key, b"pwned", content_type="text/plain")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []


def test_local_storage_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "files"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(root)
    with pytest.raises(InvalidKey):
        storage.put("link/secret", b"x", content_type="text/plain")
    assert list(outside.iterdir()) == []


def test_local_files_sit_under_the_root_at_the_key(local: LocalStorage) -> None:
    key = new_key("org1")
    local.put(key, b"hello", content_type="text/plain")
    assert (local.root / key).read_bytes() == b"hello"
    # No temporary files left beside it.
    assert [p.name for p in (local.root / "org1").iterdir()] == [key.split("/")[-1]]


def test_new_keys_are_unique_and_valid() -> None:
    keys = {new_key("a", "b") for _ in range(100)}
    assert len(keys) == 100
    assert all(validate_key(k) == k and k.startswith("a/b/") for k in keys)


def test_s3_object_keeps_its_content_type(s3: S3Storage) -> None:
    key = new_key()
    s3.put(key, b"%PDF-1.4 ...", content_type="application/pdf")
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentType"] == "application/pdf"


def test_get_storage_defaults_to_files_under_the_data_dir(data_dir: Path) -> None:
    storage = get_storage()
    assert isinstance(storage, LocalStorage)
    assert storage.backend == "local"
    assert storage.root == data_dir.resolve() / "files"


def test_get_storage_uses_s3_when_a_bucket_is_configured(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"dd-cfg-{uuid.uuid4().hex[:12]}"
    for name, value in {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": moto_endpoint,
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        storage.ensure_bucket()
        key = new_key()
        storage.put(key, b"through settings", content_type="text/plain")
        assert storage.client.get_object(Bucket=bucket, Key=key)["Body"].read() == (
            b"through settings"
        )
        # Files written before the switch stay readable through their recorded backend.
        assert isinstance(get_storage("local"), LocalStorage)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_s3_backend_without_bucket_is_a_clear_error() -> None:
    with pytest.raises(StorageNotConfigured, match="S3_BUCKET"):
        get_storage("s3")
