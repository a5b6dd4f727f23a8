"""Action items API: the team's inbox of what contractors' calls and messages left to do.

Admins and analysts only (contractors and investors get 403). Errors: 404 for an unknown
action item (or one of another organisation); 409 when closing one that is already done or
dismissed; 422 for invalid values or unknown fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlmodel import Session, col, select

from core.deps import SessionDep, Writer
from core.paging import Offset, send_total, total_count
from domain.auth.service import record_audit
from domain.inbox import service
from domain.inbox.enums import ActionItemStatus
from domain.inbox.models import ActionItem, ActionItemRead, ResolveRequest

router = APIRouter(tags=["action items"])

ItemId = Annotated[uuid.UUID, Path(alias="id", description="The action item's id")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such action item in your organisation"},
    422: {"description": "A value is invalid; the message says which"},
}


# The kinds the calls, recordings and contractors' messages give items (``kind`` filter);
# a kind the organisation's own items have is accepted too.
KNOWN_KINDS = frozenset(
    {"answer_contractor", "await_quote", "await_reply", "call_back", "call_lead",
     "call_office", "check_insurance", "check_opt_out", "check_recording", "check_twilio",
     "confirm_start", "contractor_withdrew", "enter_bid", "find_bids", "find_lead_phone",
     "firm_price", "fix_number", "fix_phone", "lead", "lead_opted_out", "listen", "opted_out",
     "price_per_unit", "progress_note", "read_message", "review_bid", "review_duration",
     "review_photos", "review_price", "send_details", "site_visit", "walkthrough"}
)  # fmt: skip


def _checked_kind(session: Session, org_id: uuid.UUID, kind: str | None) -> str | None:
    """``kind`` when it is a kind of action item, else a 422 that lists the kinds."""
    if kind is None:
        return None
    kind = kind.strip()
    stored = set(
        session.exec(
            select(col(ActionItem.kind)).where(ActionItem.org_id == org_id).distinct()
        ).all()
    )
    kinds = KNOWN_KINDS | stored
    if kind not in kinds:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"unknown action item kind {kind!r}: use one of {', '.join(sorted(kinds))}",
        )
    return kind


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the service's typed errors into HTTP errors with its message."""
    try:
        yield
    except service.ActionItemNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except service.ActionItemClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except service.InboxInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


@router.get(
    "/action-items",
    response_model=list[ActionItemRead],
    summary="What contractors' calls and messages left the team to do (X-Total-Count)",
    responses=total_count("action items"),
)
def list_action_items(
    response: Response,
    session: SessionDep,
    principal: Writer,
    item_status: Annotated[
        ActionItemStatus | None,
        Query(alias="status", description="open (the default), done or dismissed"),
    ] = ActionItemStatus.open,
    project_id: uuid.UUID | None = None,
    contractor_id: uuid.UUID | None = None,
    kind: Annotated[
        str | None,
        Query(min_length=1, max_length=50, description="review_bid, question, new_start ..."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
    offset: Offset = 0,
) -> list[ActionItemRead]:
    """Action items newest first, each with its project's address and its contractor.

    Open ones unless ``status`` says otherwise. Items arrive from ``action.items.created``
    (a contractor's call, its recording, or a message they texted). An unknown ``kind`` is a
    422 that lists the kinds.
    """
    filters: dict[str, Any] = {
        "status": item_status,
        "project_id": project_id,
        "contractor_id": contractor_id,
        "kind": _checked_kind(session, principal.org_id, kind),
    }
    with _mapped_errors():
        rows = service.list_items(
            session=session, org_id=principal.org_id, limit=limit, offset=offset, **filters
        )
    send_total(response, service.count_items(session=session, org_id=principal.org_id, **filters))
    return service.views(session=session, org_id=principal.org_id, rows=rows)


@router.get(
    "/action-items/{id}",
    response_model=ActionItemRead,
    summary="One action item",
    responses=_ERRORS,
)
def get_action_item(item_id: ItemId, session: SessionDep, principal: Writer) -> ActionItemRead:
    """An action item of your organisation, with what it rests on (``facts``)."""
    with _mapped_errors():
        row = service.get_item(session=session, org_id=principal.org_id, item_id=item_id)
    (view,) = service.views(session=session, org_id=principal.org_id, rows=[row])
    return view


@router.post(
    "/action-items/{id}/resolve",
    response_model=ActionItemRead,
    summary="Close an action item: done or dismissed, with an optional note",
    responses=_ERRORS | {409: {"description": "The action item is already done or dismissed"}},
)
def resolve_action_item(
    item_id: ItemId, body: ResolveRequest, session: SessionDep, principal: Writer
) -> ActionItemRead:
    """Mark an open action item done (acted on) or dismissed (nothing to do)."""
    with _mapped_errors():
        row = service.resolve_item(
            session=session,
            org_id=principal.org_id,
            item_id=item_id,
            status=body.status,
            resolved_by=principal.user_id,
            note=body.note,
        )
    record_audit(
        session=session,
        principal=principal,
        action="resolve",
        entity="action_item",
        entity_id=row.id,
        changes={"status": str(row.status), "note": row.resolution_note},
    )
    session.commit()
    (view,) = service.views(session=session, org_id=principal.org_id, rows=[row])
    return view
