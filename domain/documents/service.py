"""Store, find, read and delete documents; every incoming file is checked before it is kept.

The checks, in order: not empty; not over ``settings.max_upload_bytes``; a content type
recognised from the file's own bytes (never from its name or the sender's word); that type
allowed for the document's kind; the declared type (if any) agreeing with the bytes; and the
size within the limit for the type (images 5 MB, audio 16 MB, as WhatsApp enforces).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, event, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.config import get_settings
from core.paging import count_rows
from domain.documents.enums import DocumentKind, DocumentSource, RejectionReason
from domain.documents.models import Document
from store.storage import ObjectNotFound, Storage, StorageBackend, get_storage, new_key

if TYPE_CHECKING:
    from domain.auth.service import Principal

log = logging.getLogger(__name__)

MB = 1024 * 1024
IMAGE_MAX_BYTES = 5 * MB
AUDIO_MAX_BYTES = 16 * MB

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/gif"})
AUDIO_TYPES = frozenset(
    {"audio/ogg", "audio/mpeg", "audio/wav", "audio/mp4", "audio/aac", "audio/amr"}
)
PDF = "application/pdf"
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
VIDEO_TYPES = frozenset({"video/mp4"})

ALLOWED_TYPES: dict[DocumentKind, frozenset[str]] = {
    DocumentKind.photo: IMAGE_TYPES,
    DocumentKind.voice_note: AUDIO_TYPES,
    DocumentKind.report: frozenset({PDF, "text/csv"}),
    DocumentKind.receipt: IMAGE_TYPES | {PDF},
    DocumentKind.contract: IMAGE_TYPES | {PDF},
    DocumentKind.other: IMAGE_TYPES | AUDIO_TYPES | TEXT_TYPES | VIDEO_TYPES | {PDF},
}

# Declared types that name the same format under another spelling.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/heif": "image/heic",
    "image/x-png": "image/png",
    "audio/opus": "audio/ogg",
    "application/ogg": "audio/ogg",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/m4a": "audio/mp4",
    "audio/x-m4a": "audio/mp4",
    "audio/aacp": "audio/aac",
    "audio/x-aac": "audio/aac",
    "application/x-pdf": PDF,
    "application/csv": "text/csv",
    "text/comma-separated-values": "text/csv",
    # Browsers on Windows declare .csv files this way; real Excel files fail the sniff anyway.
    "application/vnd.ms-excel": "text/csv",
}
# Declared types that say nothing about the format.
_UNINFORMATIVE = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Formats the bytes cannot tell apart; the declared type picks the precise one.
_FAMILIES = (frozenset({"audio/mp4", "video/mp4"}), TEXT_TYPES)

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/gif": ".gif",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "video/mp4": ".mp4",
    PDF: ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
}

# Extensions that name each format, beyond the canonical one above; a stored name ending in one
# of these for a *different* format gets the right extension (a PDF sent as "photo.jpg" is
# saved as "photo.pdf", so the downloaded file opens in the right program).
_OTHER_EXTENSIONS = {
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".heif": "image/heic",
    ".opus": "audio/ogg",
    ".oga": "audio/ogg",
    ".m4b": "audio/mp4",
    ".m4v": "video/mp4",
    ".wave": "audio/wav",
}
_EXTENSION_TYPES = {ext: ctype for ctype, ext in _EXTENSIONS.items()} | _OTHER_EXTENSIONS

_ENTITY_TYPE = re.compile(r"[a-z][a-z0-9_]{0,49}")
# What an upload may be linked to: the entity types ``check_linked_deal`` checks access to.
UPLOAD_ENTITY_TYPES = ("deal", "project", "property")
_PENDING_DELETES = "documents.pending_blob_deletes"


class DocumentRejected(ValueError):
    """An incoming file failed a check; ``reason`` says which, the message says it plainly."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        """Record the reason code and the human-readable message."""
        super().__init__(message)
        self.reason = reason
        self.message = message


class DocumentNotFound(LookupError):
    """No document with that id in this organisation (or its bytes are gone)."""


class DocumentCorrupted(RuntimeError):
    """The stored bytes no longer match the checksum recorded when they were accepted."""


class LinkedDealNotFound(LookupError):
    """An upload names a deal, project or property the caller cannot see (or none such)."""


class LinkedDealForbidden(PermissionError):
    """An upload names a deal or property, and the caller's role has no access (contractors)."""


# --- content checks (pure) ---------------------------------------------------------------


def _mp4_type(data: bytes) -> str | None:
    """Classify an ISO base-media file (``ftyp`` box) by its major brand."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}:
        return "image/heic"
    if brand in {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}:
        return "audio/mp4"
    if brand.startswith(b"qt"):
        return None  # QuickTime video: not a format dealdesk keeps
    return "video/mp4"


def _mpeg_audio_type(data: bytes) -> str | None:
    """MP3 (ID3 tag or MPEG frame sync) or AAC in ADTS frames."""
    if data.startswith(b"ID3"):
        return "audio/mpeg"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        layer = (data[1] >> 1) & 0x03
        return "audio/aac" if layer == 0 else "audio/mpeg"
    return None


def _sample_is_text(sample: bytes, encoding: str, cut: int) -> bool:
    """``sample`` decodes as ``encoding`` with no control characters but tab, newlines, form feed.

    A character cut off by the sample's end (within its last ``cut`` bytes) is still text.
    """
    try:
        text = sample.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - cut:
            return False
        text = sample[: exc.start].decode(encoding)
    return not any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text)


def _is_text(data: bytes) -> bool:
    """UTF-8 text with no control characters other than tab, newline, carriage return."""
    return _sample_is_text(data[:8192], "utf-8", 3)


def _is_utf16_text(data: bytes) -> bool:
    """Text in UTF-16 with its byte-order mark (Excel's "Unicode text", Notepad's "Unicode").

    Checked before the audio sniffers: ``FF FE`` also reads as an MPEG frame sync.
    """
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    sample = data[:8192]
    return _sample_is_text(sample[: len(sample) - len(sample) % 2], "utf-16", 2)


# The largest picture accepted (width x height), whatever its file size: a 30000x30000 PNG of
# one colour is under 1 MB yet would take gigabytes to decode (thumbnails, condition analysis).
# The same limit as the condition model's (domain.vision.model.MAX_IMAGE_PIXELS).
MAX_IMAGE_PIXELS = 50_000_000
# Pillow's readers of the image formats accepted, by content type (HEIC has none: not checked).
_IMAGE_READERS = {
    "image/jpeg": ("PIL.JpegImagePlugin", "JpegImageFile"),
    "image/png": ("PIL.PngImagePlugin", "PngImageFile"),
    "image/gif": ("PIL.GifImagePlugin", "GifImageFile"),
    "image/webp": ("PIL.WebPImagePlugin", "WebPImageFile"),
}


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """An image's width and height read from its header (no pixel decoded); None if unknown.

    The format's reader is used directly: ``PIL.Image.open`` refuses a huge image before it
    says how large it is (its decompression-bomb check), and the refusal must name the size.
    """
    reader = _IMAGE_READERS.get(sniff_content_type(data) or "")
    if reader is None:
        return None
    import importlib
    import io
    import struct

    try:
        image_class = getattr(importlib.import_module(reader[0]), reader[1])
        with image_class(io.BytesIO(data)) as image:
            width, height = image.size
    except (ImportError, OSError, SyntaxError, ValueError, IndexError, TypeError, struct.error):
        return None  # unreadable: the decoders that run later say so
    return int(width), int(height)


def check_image_pixels(data: bytes) -> None:
    """Refuse (``DocumentRejected``, 422) an image of more than ``MAX_IMAGE_PIXELS`` pixels.

    The one size check every photo upload runs (``POST /documents``, project photos, photos
    for condition analysis), before anything is stored or decoded.
    """
    size = image_dimensions(data)
    if size is None or size[0] * size[1] <= MAX_IMAGE_PIXELS:
        return
    width, height = size
    megapixels = f"{width * height / 1_000_000:.1f}".removesuffix(".0")
    raise DocumentRejected(
        RejectionReason.too_many_pixels,
        f"The image is too large ({megapixels} megapixels; at most "
        f"{MAX_IMAGE_PIXELS // 1_000_000}): it is {width}x{height} pixels; send a smaller copy.",
    )


def sniff_content_type(data: bytes) -> str | None:
    """Return the content type the bytes themselves show, or None for an unknown format."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"#!AMR"):
        return "audio/amr"
    for sniff in (_mp4_type, _mpeg_audio_type):
        found = sniff(data)
        if found:
            return found
    if _is_text(data):
        return "text/plain"
    return None


def normalise_content_type(content_type: str | None) -> str:
    """Lower-case, drop parameters (``audio/ogg; codecs=opus`` → ``audio/ogg``), resolve aliases."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def resolve_content_type(sniffed: str, declared: str | None) -> str:
    """Return the type to store: the sniffed one, refined by the declared one within a family.

    Raises ``DocumentRejected`` when the declared type names a different format.
    """
    wanted = normalise_content_type(declared)
    if wanted in _UNINFORMATIVE or wanted == sniffed:
        return sniffed
    for family in _FAMILIES:
        if sniffed in family and wanted in family:
            return wanted
    raise DocumentRejected(
        RejectionReason.type_mismatch,
        f"The file was sent as {wanted} but its contents are {sniffed}.",
    )


def size_limit(content_type: str) -> int:
    """Return the most bytes a file of this type may have (never over MAX_UPLOAD_BYTES)."""
    overall = get_settings().max_upload_bytes
    if content_type.startswith("image/"):
        return min(overall, IMAGE_MAX_BYTES)
    if content_type.startswith("audio/"):
        return min(overall, AUDIO_MAX_BYTES)
    return overall


def human_size(size: int) -> str:
    """Format bytes as a short human-readable figure (``5 MB``, ``1.5 MB``, ``800 bytes``)."""
    if size >= MB:
        return f"{size / MB:.1f}".removesuffix(".0") + " MB"
    if size >= 1024:
        return f"{size / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{size} bytes"


def sanitise_filename(filename: str | None, *, content_type: str, kind: DocumentKind) -> str:
    """Make a safe display name: no directories, control or odd characters; never empty."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch if ch.isalnum() or ch in " ._-()" else "_" for ch in name)
    name = re.sub(r"_+", "_", re.sub(r"\s+", " ", name)).strip(" ._")
    if not name:
        name = f"{kind.value}{_EXTENSIONS.get(content_type, '')}"
    name = _fix_extension(name, content_type)
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 200 - len(ext) - 1] + "." + ext if dot and len(ext) <= 10 else name[:200]
    return name


def _same_format(first: str, second: str) -> bool:
    """True when two content types are one format, or ones the bytes cannot tell apart."""
    return first == second or any(first in fam and second in fam for fam in _FAMILIES)


def _fix_extension(name: str, content_type: str) -> str:
    """Swap an extension that names another known format for the stored format's own."""
    stem, dot, ext = name.rpartition(".")
    claimed = _EXTENSION_TYPES.get(f".{ext.lower()}") if dot and stem else None
    right = _EXTENSIONS.get(content_type)
    if claimed is None or right is None or _same_format(claimed, content_type):
        return name
    return stem + right


def check_file(
    data: bytes, *, kind: DocumentKind | str, declared_content_type: str | None
) -> tuple[DocumentKind, str]:
    """Run every check on an incoming file; return its kind and the content type to store."""
    try:
        kind = DocumentKind(kind)
    except ValueError as exc:
        choices = ", ".join(k.value for k in DocumentKind)
        raise DocumentRejected(
            RejectionReason.invalid_kind, f"Unknown document kind {kind!r}; use one of: {choices}."
        ) from exc
    if not data:
        raise DocumentRejected(RejectionReason.empty, "The file is empty.")
    overall = get_settings().max_upload_bytes
    if len(data) > overall:
        raise DocumentRejected(
            RejectionReason.too_large,
            f"The file is {human_size(len(data))}; the most dealdesk accepts is "
            f"{human_size(overall)}.",
        )
    if _is_utf16_text(data):
        raise DocumentRejected(
            RejectionReason.unsupported_type,
            'The file is text saved as UTF-16 ("Unicode text"); save it as UTF-8 text or CSV '
            "and upload it again.",
        )
    sniffed = sniff_content_type(data)
    if sniffed is None:
        raise DocumentRejected(
            RejectionReason.unsupported_type,
            "The file's format is not one dealdesk accepts (photos: JPEG, PNG, WEBP, HEIC, GIF; "
            "voice notes: OGG/Opus, MP3, WAV, M4A, AAC, AMR; documents: PDF, CSV, text).",
        )
    content_type = resolve_content_type(sniffed, declared_content_type)
    allowed = ALLOWED_TYPES[kind]
    if content_type not in allowed:
        raise DocumentRejected(
            RejectionReason.type_not_allowed,
            f"A {kind.value.replace('_', ' ')} cannot be {content_type}; accepted: "
            f"{', '.join(sorted(allowed))}.",
        )
    limit = size_limit(content_type)
    if len(data) > limit:
        raise DocumentRejected(
            RejectionReason.too_large,
            f"The file is {human_size(len(data))}; {content_type} files may be at most "
            f"{human_size(limit)}.",
        )
    if content_type in IMAGE_TYPES:
        check_image_pixels(data)
    return kind, content_type


def _check_link(entity_type: str | None, entity_id: uuid.UUID | None) -> None:
    """Require an entity link to name both a type and an id, or neither."""
    if (entity_type is None) != (entity_id is None):
        raise DocumentRejected(
            RejectionReason.invalid_link, "Give both entity_type and entity_id, or neither."
        )
    if entity_type is not None and not _ENTITY_TYPE.fullmatch(entity_type):
        raise DocumentRejected(
            RejectionReason.invalid_link,
            f"entity_type {entity_type!r} must be a lower-case name such as 'property' or 'deal'.",
        )


# --- services ----------------------------------------------------------------------------


def check_linked_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    principal: Principal | None,
) -> None:
    """Refuse an upload that names a deal, project or property the caller could not open.

    A deal by the deal service's own rule: another organisation's deal, an unknown one, or
    (for an investor) one they are not on raises ``LinkedDealNotFound`` with the deal API's
    wording; a contractor ``LinkedDealForbidden``. A project or property the same way
    (``_check_linked_project``, ``_check_linked_property``): a file linked to one shows next
    to its photos and documents for everyone on it. Any other entity type (``properties``,
    ``organisation`` ...) is refused (``DocumentRejected``, ``invalid_link``): an upload links
    only to what this can check (``UPLOAD_ENTITY_TYPES``).
    """
    if entity_type is not None and entity_type not in UPLOAD_ENTITY_TYPES:
        raise DocumentRejected(
            RejectionReason.invalid_link,
            f"entity_type {entity_type!r} is not one an upload can be linked to: use "
            f"{', '.join(UPLOAD_ENTITY_TYPES)} (with its id as entity_id), or neither.",
        )
    if entity_id is None:
        return
    if entity_type == "project":
        _check_linked_project(
            session=session, org_id=org_id, project_id=entity_id, principal=principal
        )
        return
    if entity_type == "property":
        _check_linked_property(
            session=session, org_id=org_id, property_id=entity_id, principal=principal
        )
        return
    if entity_type != "deal":
        return
    from domain.deal import service as deal_service

    try:
        deal_service.get_deal(
            session=session, org_id=org_id, deal_id=entity_id, principal=principal
        )
    except deal_service.DealNotFoundError as exc:
        raise LinkedDealNotFound(str(exc)) from exc
    except deal_service.DealPermissionError as exc:
        raise LinkedDealForbidden(str(exc)) from exc


def _check_linked_project(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, principal: Principal | None
) -> None:
    """Refuse a project the caller may not put files on (``LinkedDealNotFound``).

    The team any of the organisation's, an investor one on their deals, a contractor only a
    project they bid on; anything else is "not found" (no existence leak).
    """
    from domain.auth.enums import Role
    from domain.construction import service as construction_service
    from domain.construction.models import Bid

    not_found = LinkedDealNotFound(f"project {project_id} not found")
    try:
        construction_service.require_visible_project(
            session=session, org_id=org_id, project_id=project_id, principal=principal
        )
    except construction_service.NotFoundError as exc:
        raise not_found from exc
    if principal is None or principal.role != Role.contractor:
        return
    contractor = construction_service.contractor_of_user(
        session=session, org_id=org_id, user_id=principal.user_id
    )
    bid = (
        session.exec(
            select(Bid.id).where(
                Bid.org_id == org_id,
                Bid.project_id == project_id,
                Bid.contractor_id == contractor.id,
            )
        ).first()
        if contractor is not None
        else None
    )
    if bid is None:
        raise not_found


def _check_linked_property(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, principal: Principal | None
) -> None:
    """Refuse a property the caller may not put files on (not found, or forbidden).

    The team any of the organisation's; an investor one of their deals' (or their deals'
    projects') properties, the ones whose files they see; a contractor none (403).
    """
    from domain.auth.enums import Role
    from domain.construction.models import Project
    from domain.deal import service as deal_service
    from domain.deal.models import Deal
    from domain.property import service as property_service

    if principal is not None and principal.role == Role.contractor:
        raise LinkedDealForbidden(
            "contractors file photos and documents on the project of their bid "
            "(entity_type=project), not on a property"
        )
    not_found = LinkedDealNotFound(f"property {property_id} not found")
    if property_service.get(session=session, org_id=org_id, property_id=property_id) is None:
        raise not_found
    deals = deal_service.visible_deal_ids(org_id=org_id, principal=principal)
    if deals is None:
        return
    on_deal = session.exec(
        select(Deal.id).where(
            Deal.org_id == org_id, Deal.property_id == property_id, col(Deal.id).in_(deals)
        )
    ).first()
    on_project = session.exec(
        select(Project.id).where(
            Project.org_id == org_id,
            Project.property_id == property_id,
            col(Project.deal_id).in_(deals),
        )
    ).first()
    if on_deal is None and on_project is None:
        raise not_found


def store_document(
    *,
    session: Session,
    org_id: uuid.UUID,
    data: bytes,
    filename: str | None,
    declared_content_type: str | None,
    kind: DocumentKind | str,
    source: DocumentSource = DocumentSource.upload,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    uploaded_by: uuid.UUID | None = None,
    storage: Storage | None = None,
) -> Document:
    """Check the file, store its bytes under a generated key, then add its metadata row.

    The row is flushed, not committed: the caller commits. If the row cannot be written the
    stored bytes are removed again.
    """
    kind, content_type = check_file(data, kind=kind, declared_content_type=declared_content_type)
    _check_link(entity_type, entity_id)
    storage = storage or get_storage()
    document_id = uuid.uuid4()
    key = new_key(str(org_id), document_id.hex)
    document = Document(
        id=document_id,
        org_id=org_id,
        kind=kind,
        filename=sanitise_filename(filename, content_type=content_type, kind=kind),
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        source=DocumentSource(source),
        entity_type=entity_type,
        entity_id=entity_id,
        uploaded_by=uploaded_by,
        storage_key=key,
        storage_backend=storage.backend,
    )
    storage.put(key, data, content_type=content_type)
    try:
        session.add(document)
        session.flush()
    except Exception:
        storage.delete(key)
        raise
    return document


def _visible_to(*, org_id: uuid.UUID, principal: Principal | None) -> Any:
    """A WHERE clause limiting documents to those ``principal`` may see (None: no limit).

    The team (admins, analysts) and internal callers (no principal) see every document of the
    organisation. Everyone sees the files they uploaded themselves (a report counts as
    uploaded by whoever asked for it). Besides those, an investor sees the documents of the
    deals they are on (owner or team), the property-level documents (photos, voice notes ...)
    of those deals' properties and of their projects, but never a report someone else asked
    for (it holds that person's analysis and what-if figures). A contractor sees only their
    own uploads: no reports, no photos, no voice notes, nothing linked to a deal.
    """
    from domain.auth.enums import Role

    if principal is None or principal.role in (Role.admin, Role.analyst):
        return None
    own = col(Document.uploaded_by) == principal.user_id
    if principal.role != Role.investor:
        return own
    from domain.construction.models import Project
    from domain.deal import service as deal_service
    from domain.deal.models import Deal

    deals = deal_service.visible_deal_ids(org_id=org_id, principal=principal)
    properties = select(Deal.property_id).where(Deal.org_id == org_id, col(Deal.id).in_(deals))
    projects = select(Project.id).where(Project.org_id == org_id, col(Project.deal_id).in_(deals))
    project_properties = select(Project.property_id).where(
        Project.org_id == org_id, col(Project.deal_id).in_(deals)
    )
    entity_type = col(Document.entity_type)
    entity_id = col(Document.entity_id)
    return or_(
        own,
        and_(entity_type == "deal", entity_id.in_(deals)),
        and_(
            col(Document.kind) != DocumentKind.report,
            or_(
                and_(
                    entity_type == "property",
                    or_(entity_id.in_(properties), entity_id.in_(project_properties)),
                ),
                and_(entity_type == "project", entity_id.in_(projects)),
            ),
        ),
    )


def get_document(
    *,
    session: Session,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    principal: Principal | None = None,
) -> Document | None:
    """Return the organisation's document with this id that ``principal`` may see, or None.

    Another organisation's document, or one of a deal the caller may not see, finds nothing.
    """
    statement = select(Document).where(Document.id == document_id, Document.org_id == org_id)
    visible = _visible_to(org_id=org_id, principal=principal)
    if visible is not None:
        statement = statement.where(visible)
    return session.exec(statement).first()


def _require(
    *,
    session: Session,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    principal: Principal | None = None,
) -> Document:
    """Return the document or raise ``DocumentNotFound``."""
    document = get_document(
        session=session, org_id=org_id, document_id=document_id, principal=principal
    )
    if document is None:
        raise DocumentNotFound(str(document_id))
    return document


def storage_for(document: Document) -> Storage:
    """Return the store that holds this document's bytes (the one it was written to)."""
    return get_storage(cast(StorageBackend, document.storage_backend))


def read_document_bytes(*, session: Session, org_id: uuid.UUID, document_id: uuid.UUID) -> bytes:
    """Return the document's bytes, verified against the checksum taken when accepted."""
    document = _require(session=session, org_id=org_id, document_id=document_id)
    try:
        data = storage_for(document).get(document.storage_key)
    except ObjectNotFound as exc:
        raise DocumentNotFound(str(document_id)) from exc
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise DocumentCorrupted(f"document {document_id} does not match its recorded checksum")
    return data


@dataclass(frozen=True)
class DocumentStream:
    """A document's metadata and an iterator over its bytes (for streaming responses)."""

    document: Document
    chunks: Iterator[bytes]


def open_document(
    *,
    session: Session,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    principal: Principal | None = None,
) -> DocumentStream:
    """Open the document's bytes for streaming; ``DocumentNotFound`` if it or its bytes are gone."""
    document = _require(
        session=session, org_id=org_id, document_id=document_id, principal=principal
    )
    try:
        chunks = storage_for(document).open(document.storage_key)
    except ObjectNotFound as exc:
        raise DocumentNotFound(str(document_id)) from exc
    return DocumentStream(document=document, chunks=chunks)


def _documents_query(
    *,
    org_id: uuid.UUID,
    kind: DocumentKind | None,
    source: DocumentSource | None,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    principal: Principal | None,
) -> SelectOfScalar[Document]:
    """The documents ``principal`` may see, filtered (no order, no paging)."""
    query = select(Document).where(Document.org_id == org_id)
    visible = _visible_to(org_id=org_id, principal=principal)
    if visible is not None:
        query = query.where(visible)
    if kind is not None:
        query = query.where(Document.kind == kind)
    if source is not None:
        query = query.where(Document.source == source)
    if entity_type is not None:
        query = query.where(Document.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(Document.entity_id == entity_id)
    return query


def list_documents(
    *,
    session: Session,
    org_id: uuid.UUID,
    kind: DocumentKind | None = None,
    source: DocumentSource | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    limit: int = 100,
    offset: int = 0,
    principal: Principal | None = None,
) -> list[Document]:
    """List the organisation's documents ``principal`` may see, newest first, filtered."""
    query = _documents_query(
        org_id=org_id, kind=kind, source=source, entity_type=entity_type, entity_id=entity_id,
        principal=principal,
    ).order_by(col(Document.created_at).desc(), col(Document.id))  # fmt: skip
    return list(session.exec(query.offset(offset).limit(limit)).all())


def count_documents(
    *,
    session: Session,
    org_id: uuid.UUID,
    kind: DocumentKind | None = None,
    source: DocumentSource | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    principal: Principal | None = None,
) -> int:
    """How many documents ``list_documents`` with these filters would list over all pages."""
    return count_rows(
        session,
        _documents_query(
            org_id=org_id, kind=kind, source=source, entity_type=entity_type,
            entity_id=entity_id, principal=principal,
        ),
    )  # fmt: skip


def delete_document(*, session: Session, org_id: uuid.UUID, document_id: uuid.UUID) -> bool:
    """Delete the row now and the bytes once the transaction commits; False if not found.

    Removing the bytes only after the commit means a rolled-back delete never leaves a row
    that points at nothing. A project photo backed by the document goes with it, in the same
    transaction (a deleted deal or report document is likewise just gone): no project keeps
    listing a photo whose bytes no longer exist.
    """
    from sqlalchemy import delete

    from domain.construction.models import ProjectPhoto

    document = get_document(session=session, org_id=org_id, document_id=document_id)
    if document is None:
        return False
    session.execute(
        delete(ProjectPhoto).where(
            col(ProjectPhoto.org_id) == org_id, col(ProjectPhoto.document_id) == document.id
        )
    )
    _listen_for_transaction_end(session)
    pending: list[tuple[str, str]] = session.info.setdefault(_PENDING_DELETES, [])
    pending.append((document.storage_backend, document.storage_key))
    session.delete(document)
    session.flush()
    return True


def _listen_for_transaction_end(session: Session) -> None:
    """Delete pending blobs after the commit; forget them on rollback."""
    if session.info.get(f"{_PENDING_DELETES}.listening"):
        return
    session.info[f"{_PENDING_DELETES}.listening"] = True

    @event.listens_for(session, "after_commit")
    def _after_commit(committed: Any) -> None:
        for backend, key in committed.info.pop(_PENDING_DELETES, []):
            try:
                get_storage(cast(StorageBackend, backend)).delete(key)
            except Exception:
                # The row is gone already; an orphaned blob is harmless, a failed commit is not.
                log.exception("could not delete stored file", extra={"storage_key": key})

    @event.listens_for(session, "after_soft_rollback")
    def _after_rollback(rolled_back: Any, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:
            rolled_back.info.pop(_PENDING_DELETES, None)
