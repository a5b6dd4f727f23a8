"""Document metadata (schema ``documents``): the bytes live in object storage, addressed by id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlmodel import Field, SQLModel

from domain.documents.enums import DocumentKind, DocumentSource
from store.base import CreatedAt, OrgScoped, UUIDPrimaryKey

SCHEMA = "documents"


class DocumentBase(SQLModel):
    """Fields every view of a document shares."""

    kind: DocumentKind = Field(sa_type=String(20), index=True)  # type: ignore[call-overload]
    filename: str = Field(max_length=255, description="sanitised, for display only")
    content_type: str = Field(max_length=100, description="sniffed from the file's bytes")
    size_bytes: int = Field(sa_type=BigInteger, ge=0)  # type: ignore[call-overload]
    sha256: str = Field(max_length=64, min_length=64, index=True)
    source: DocumentSource = Field(
        default=DocumentSource.upload,
        sa_type=String(20),  # type: ignore[call-overload]
    )
    entity_type: str | None = Field(
        default=None, max_length=50, description="what the file belongs to: property, deal ..."
    )
    entity_id: uuid.UUID | None = Field(default=None)
    uploaded_by: uuid.UUID | None = Field(
        default=None, foreign_key="auth.users.id", ondelete="SET NULL"
    )


class Document(UUIDPrimaryKey, OrgScoped, CreatedAt, DocumentBase, table=True):
    """A stored file's metadata; ``storage_key`` is generated, never supplied by a caller."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_org_entity", "org_id", "entity_type", "entity_id"),
        Index("ix_documents_org_created", "org_id", "created_at"),
        {"schema": SCHEMA},
    )

    storage_key: str = Field(max_length=512, unique=True)
    storage_backend: str = Field(
        max_length=10,
        sa_type=String(10),  # type: ignore[call-overload]
        description="local or s3: where the bytes are, so a backend switch keeps old files",
    )


class DocumentRead(DocumentBase):
    """A document as the API returns it (no storage internals)."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: datetime
