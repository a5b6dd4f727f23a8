"""Object storage for files (voice notes, photos, reports): a local directory or an S3 bucket.

Files are addressed by keys that dealdesk generates (``new_key``); a caller-supplied path
never becomes a key. Keys are a few ``/``-separated segments of letters, digits, ``.``,
``_`` and ``-``; anything else (``..``, absolute paths, backslashes, empty segments) is
refused before it reaches a filesystem or a bucket.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from core.config import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_SIZE = 64 * 1024
StorageBackend = Literal["local", "s3"]

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_KEY_LENGTH = 512
_MAX_SEGMENTS = 8


class StorageError(Exception):
    """Base class for storage failures."""


class InvalidKey(StorageError, ValueError):
    """A key that is not one dealdesk could have generated (or would escape the root)."""


class ObjectNotFound(StorageError, LookupError):
    """No object is stored under the key."""


class StorageNotConfigured(StorageError):
    """The requested backend has no configuration (for example S3 without a bucket)."""


def new_key(*prefix: str) -> str:
    """Return a fresh key: the prefix segments (ids, never user text) and a random UUID."""
    return validate_key("/".join([*prefix, uuid.uuid4().hex]))


def validate_key(key: str) -> str:
    """Return ``key`` if it is well formed; raise ``InvalidKey`` otherwise."""
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY_LENGTH:
        raise InvalidKey(f"invalid storage key: {key!r}")
    segments = key.split("/")
    if len(segments) > _MAX_SEGMENTS:
        raise InvalidKey(f"invalid storage key: {key!r}")
    for segment in segments:
        # ``_SEGMENT`` forbids a leading dot, so "." and ".." can never match.
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKey(f"invalid storage key: {key!r}")
    return key


def _chunks(data: bytes | IO[bytes]) -> Iterator[bytes]:
    """Yield the content in chunks, whether it is bytes or a binary stream."""
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    while True:
        chunk = data.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


@runtime_checkable
class Storage(Protocol):
    """The one small interface every file store offers."""

    backend: StorageBackend

    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str) -> int:
        """Store ``data`` under ``key`` (replacing any object there); return its size in bytes."""
        ...

    def get(self, key: str) -> bytes:
        """Return the whole object; raise ``ObjectNotFound`` when there is none."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """Return the object as chunks; raise ``ObjectNotFound`` at once if it is absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Return True when an object is stored under ``key``."""
        ...


class LocalStorage:
    """Files in a directory (by default ``<data dir>/files``); writes are atomic."""

    backend: StorageBackend = "local"

    def __init__(self, root: Path) -> None:
        """Use ``root`` as the store's directory (created on first write)."""
        self.root = Path(root).expanduser().resolve()

    def path_for(self, key: str) -> Path:
        """Return the file that holds ``key``; refuse any key that would land outside the root."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"storage key escapes the storage root: {key!r}")
        return path

    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str) -> int:
        """Write to a temporary file beside the target, then rename it into place."""
        del content_type  # the database row records it; a directory has nowhere to keep it
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(data):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str) -> bytes:
        """Read the whole file."""
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc

    def open(self, key: str) -> Iterator[bytes]:
        """Open the file now (so a missing file fails here) and stream it in chunks."""
        try:
            handle = self.path_for(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        return _read_and_close(handle)

    def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Return True when the file exists."""
        return self.path_for(key).is_file()


def _read_and_close(handle: IO[bytes]) -> Iterator[bytes]:
    """Yield chunks of an open file and close it when done (or abandoned)."""
    with handle:
        yield from _chunks(handle)


class S3Storage:
    """Objects in a bucket of any S3-compatible store (AWS S3, MinIO, Ceph, moto ...)."""

    backend: StorageBackend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str = "us-east-1",
        client: S3Client | None = None,
    ) -> None:
        """Connect to ``bucket``; credentials fall back to boto3's usual chain when unset."""
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client: S3Client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # Path-style addressing works with every S3-compatible server.
                s3={"addressing_style": "path"} if endpoint_url else {},
            ),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str) -> int:
        """Upload the object with its content type."""
        validate_key(key)
        body = data if isinstance(data, bytes) else b"".join(_chunks(data))
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return len(body)

    def _get_object(self, key: str) -> Any:
        """Return the ``GetObject`` response, or raise ``ObjectNotFound``."""
        from botocore.exceptions import ClientError

        validate_key(key)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectNotFound(key) from exc
            raise

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        body = self._get_object(key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def open(self, key: str) -> Iterator[bytes]:
        """Start the download now and stream the body in chunks."""
        body = self._get_object(key)["Body"]

        def stream() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            finally:
                body.close()

        return stream()

    def delete(self, key: str) -> None:
        """Delete the object (S3 does not complain about a missing key)."""
        validate_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        """Return True when ``HeadObject`` finds the key."""
        from botocore.exceptions import ClientError

        validate_key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True


def _error_code(exc: Any) -> str:
    """Return the S3 error code of a botocore ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def configured_backend(settings: Settings | None = None) -> StorageBackend:
    """Return ``s3`` when a bucket is configured, otherwise ``local``."""
    settings = settings or get_settings()
    return "s3" if settings.s3_bucket else "local"


def local_root(settings: Settings | None = None) -> Path:
    """Return the local store's directory: ``files`` under the data directory."""
    return (settings or get_settings()).data_path / "files"


def get_storage(backend: StorageBackend | None = None) -> Storage:
    """Return the store for ``backend`` (default: the configured one), one per configuration.

    Reading an existing file passes the backend recorded with it, so files written before a
    switch to S3 stay readable from the local directory.
    """
    settings = get_settings()
    backend = backend or configured_backend(settings)
    if backend == "local":
        return _local_storage(local_root(settings))
    if backend == "s3":
        if not settings.s3_bucket:
            raise StorageNotConfigured("S3 storage requested but S3_BUCKET is not set")
        secret = settings.s3_secret_access_key
        return _s3_storage(
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_access_key_id,
            secret.get_secret_value() if secret else None,
            settings.s3_region,
        )
    raise StorageNotConfigured(f"unknown storage backend: {backend!r}")


@lru_cache(maxsize=4)
def _local_storage(root: Path) -> LocalStorage:
    """Build one ``LocalStorage`` per root."""
    return LocalStorage(root)


@lru_cache(maxsize=4)
def _s3_storage(
    bucket: str,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str,
) -> S3Storage:
    """Build one ``S3Storage`` (its boto3 client is thread-safe) per configuration."""
    return S3Storage(
        bucket,
        endpoint_url=endpoint_url,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region,
    )
