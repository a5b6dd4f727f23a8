"""The team's inbox: the action items contractors' calls and messages leave, until closed.

``record_items`` stores the items of one ``action.items.created`` event (the subscriber calls
it; a second delivery of the same event finds them and adds nothing). The team lists them
(open ones first by default, newest first), and closes one as ``done`` or ``dismissed``
with an optional note; closing a closed item is refused. Every function is scoped to one
organisation: another organisation's item is "not found".
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from domain.construction.models import Contractor, Project
from domain.construction.service import project_label
from domain.inbox.enums import ActionItemSource, ActionItemStatus
from domain.inbox.models import MAX_NOTE, ActionItem, ActionItemRead
from store.base import utcnow

log = logging.getLogger(__name__)

MAX_LIST_LIMIT = 200
MAX_ITEMS_PER_EVENT = 50
MAX_TEXT = 2000
_KIND_CHARS = 50


class InboxError(Exception):
    """Base class of the inbox's errors."""


class ActionItemNotFound(InboxError, LookupError):
    """No such action item in the organisation (HTTP 404)."""


class ActionItemClosed(InboxError):
    """The action item is already done or dismissed (HTTP 409)."""


class InboxInputError(InboxError, ValueError):
    """A value is not acceptable; the message says which (HTTP 422)."""


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _own(
    session: Session, model: type[Project] | type[Contractor], org_id: uuid.UUID, ref: Any
) -> uuid.UUID | None:
    """``ref`` when it names a row of ``model`` in the organisation, else None."""
    row_id = _uuid(ref)
    if row_id is None:
        return None
    row = session.get(model, row_id)
    return row_id if row is not None and getattr(row, "org_id", None) == org_id else None


def _source(payload: dict[str, Any], call_id: uuid.UUID | None) -> ActionItemSource:
    said = str(payload.get("source") or "")
    if said.startswith("lead"):
        return ActionItemSource.lead
    if said == "recording":
        return ActionItemSource.recording
    if call_id is not None:
        return ActionItemSource.call
    return ActionItemSource.message


def record_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    payload: dict[str, Any],
    created_at: dt.datetime | None = None,
) -> list[ActionItem]:
    """Store each item of an ``action.items.created`` event once (idempotent per event).

    Items that are not objects with a ``kind`` and a ``text`` are skipped (logged); ids of
    rows that are not the organisation's are dropped, never stored.
    """
    existing = session.exec(
        select(ActionItem).where(ActionItem.org_id == org_id, ActionItem.event_id == event_id)
    ).all()
    if existing:
        return list(existing)
    items = payload.get("items")
    if not isinstance(items, list):
        log.info("action.items.created %s carries no list of items", event_id)
        return []
    project_id = _own(session, Project, org_id, payload.get("project_id"))
    contractor_id = _own(session, Contractor, org_id, payload.get("contractor_id"))
    call_id = _uuid(payload.get("call_id"))
    channel = payload.get("channel")
    stored: list[ActionItem] = []
    for position, item in enumerate(items[:MAX_ITEMS_PER_EVENT]):
        if not isinstance(item, dict):
            continue
        kind, text = item.get("kind"), item.get("text")
        if not isinstance(kind, str) or not isinstance(text, str) or not text.strip():
            log.info("action item %s of event %s has no kind or text", position, event_id)
            continue
        facts = {k: v for k, v in item.items() if k not in ("kind", "text")}
        row = ActionItem(
            org_id=org_id,
            event_id=event_id,
            position=position,
            project_id=project_id,
            contractor_id=contractor_id,
            bid_id=_uuid(payload.get("bid_id")),
            call_id=call_id,
            source=_source(payload, call_id),
            channel=channel[:40] if isinstance(channel, str) else None,
            kind=kind.strip()[:_KIND_CHARS] or "other",
            text=" ".join(text.split())[:MAX_TEXT],
            facts=facts,
        )
        if created_at is not None:
            row.created_at = created_at
        session.add(row)
        stored.append(row)
    session.flush()
    return stored


def _filtered(
    org_id: uuid.UUID,
    *,
    status: ActionItemStatus | None,
    project_id: uuid.UUID | None,
    contractor_id: uuid.UUID | None,
    kind: str | None,
) -> SelectOfScalar[ActionItem]:
    statement = select(ActionItem).where(ActionItem.org_id == org_id)
    if status is not None:
        statement = statement.where(ActionItem.status == status)
    if project_id is not None:
        statement = statement.where(ActionItem.project_id == project_id)
    if contractor_id is not None:
        statement = statement.where(ActionItem.contractor_id == contractor_id)
    if kind is not None:
        statement = statement.where(ActionItem.kind == kind)
    return statement


def list_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ActionItemStatus | None = ActionItemStatus.open,
    project_id: uuid.UUID | None = None,
    contractor_id: uuid.UUID | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[ActionItem]:
    """The organisation's action items matching the filters, newest first."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InboxInputError(f"limit must be 1 to {MAX_LIST_LIMIT} (got {limit})")
    if offset < 0:
        raise InboxInputError(f"offset must not be negative (got {offset})")
    statement = _filtered(
        org_id, status=status, project_id=project_id, contractor_id=contractor_id, kind=kind
    )
    return list(
        session.exec(
            statement.order_by(
                col(ActionItem.created_at).desc(),
                col(ActionItem.event_id),
                col(ActionItem.position),
            )
            .offset(offset)
            .limit(limit)
        )
    )


def count_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ActionItemStatus | None = ActionItemStatus.open,
    project_id: uuid.UUID | None = None,
    contractor_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> int:
    """How many of the organisation's action items match the filters (over all pages)."""
    inner = _filtered(
        org_id, status=status, project_id=project_id, contractor_id=contractor_id, kind=kind
    ).subquery()
    return int(session.exec(select(func.count()).select_from(inner)).one())


def count_open(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> int:
    """How many action items on a project are still open."""
    return count_items(session=session, org_id=org_id, project_id=project_id)


def get_item(*, session: Session, org_id: uuid.UUID, item_id: uuid.UUID) -> ActionItem:
    """One of the organisation's action items; ``ActionItemNotFound`` otherwise."""
    row = session.get(ActionItem, item_id)
    if row is None or row.org_id != org_id:
        raise ActionItemNotFound(f"action item {item_id} not found")
    return row


def resolve_item(
    *,
    session: Session,
    org_id: uuid.UUID,
    item_id: uuid.UUID,
    status: ActionItemStatus | str,
    resolved_by: uuid.UUID | None,
    note: str | None = None,
) -> ActionItem:
    """Close an open action item as done or dismissed; a closed one is refused (409)."""
    try:
        closing = ActionItemStatus(status)
    except ValueError:
        closing = ActionItemStatus.open
    if closing == ActionItemStatus.open:
        raise InboxInputError(f"status must be done or dismissed (got {status!r})")
    said = " ".join(note.split()) if note else None
    if said is not None and len(said) > MAX_NOTE:
        raise InboxInputError(f"note is {len(said)} characters; at most {MAX_NOTE}")
    # Locked: two people closing the same item at once get one success and one 409.
    row = session.exec(
        select(ActionItem)
        .where(ActionItem.id == item_id, ActionItem.org_id == org_id)
        .with_for_update()
    ).first()
    if row is None:
        raise ActionItemNotFound(f"action item {item_id} not found")
    if row.status != ActionItemStatus.open:
        was = ActionItemStatus(row.status).value
        raise ActionItemClosed(
            f"action item {item_id} is already {was} (on {row.resolved_at:%Y-%m-%d})"
            if row.resolved_at
            else f"action item {item_id} is already {was}"
        )
    row.status = closing
    row.resolved_by = resolved_by
    row.resolved_at = utcnow()
    row.resolution_note = said or None
    session.add(row)
    session.flush()
    return row


def views(
    *, session: Session, org_id: uuid.UUID, rows: Sequence[ActionItem]
) -> list[ActionItemRead]:
    """The rows as the team reads them: each with its project's address and contractor."""
    projects: dict[uuid.UUID, str | None] = {}
    contractors: dict[uuid.UUID, str | None] = {}
    for row in rows:
        if row.project_id is not None and row.project_id not in projects:
            project = session.get(Project, row.project_id)
            projects[row.project_id] = (
                project_label(session=session, project=project)
                if project is not None and project.org_id == org_id
                else None
            )
        if row.contractor_id is not None and row.contractor_id not in contractors:
            contractor = session.get(Contractor, row.contractor_id)
            contractors[row.contractor_id] = (
                contractor.name if contractor is not None and contractor.org_id == org_id else None
            )
    return [
        ActionItemRead.model_validate(
            row,
            update={
                "project": projects.get(row.project_id) if row.project_id else None,
                "contractor": contractors.get(row.contractor_id) if row.contractor_id else None,
            },
        )
        for row in rows
    ]
