"""The team's inbox in the chat: open action items, newest first, and closing one (team only).

``action_items`` answers "what needs my attention?", "any action items?" and "what did the
contractors say on the ridgewood rehab?" (a project by id, address or bare street, as
``project_status`` finds it): the open items with their project and contractor. With
``resolve`` (an item's id or its first 8 characters) it first marks that item done (or
dismissed), as ``POST /action-items/{id}/resolve`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_day
from domain.auth.enums import Role
from domain.construction.service import project_label
from domain.inbox import service as inbox_service
from domain.inbox.models import ActionItemRead
from tools._common import ToolError, parse_uuid, require_roles, run_tool
from tools.construction import resolve_project

_T = TypeVar("_T")
MAX_SHOWN = 10


def _checked(call: Callable[[], _T]) -> _T:
    """Run an inbox call; its refusals (already closed, not found) become messages."""
    try:
        return call()
    except inbox_service.InboxError as exc:
        raise ToolError(str(exc)) from exc


def _row(number: int, view: ActionItemRead) -> dict[str, Any]:
    return {
        "number": number,
        "id": view.id,
        "kind": view.kind,
        "text": view.text,
        "project": view.project,
        "project_id": view.project_id,
        "contractor": view.contractor,
        "source": view.source,
        "on": local_day(view.created_at),
        "status": view.status,
    }


def _find_item(session: Session, ctx: Context, ref: str) -> Any:
    """An open item by id, or by the first 6+ characters of its id."""
    text = ref.strip().lower()
    item_id = parse_uuid(text)
    if item_id is not None:
        return _checked(
            lambda: inbox_service.get_item(session=session, org_id=ctx.org_id, item_id=item_id)
        )
    prefix = text.replace("-", "")
    if len(prefix) < 6 or any(ch not in "0123456789abcdef" for ch in prefix):
        raise ToolError(f"{ref!r} is no action item id: give its id or its first 8 characters")
    rows = inbox_service.list_items(
        session=session, org_id=ctx.org_id, status=None, limit=inbox_service.MAX_LIST_LIMIT
    )
    hits = [row for row in rows if row.id.hex.startswith(prefix)]
    if len(hits) != 1:
        raise ToolError(
            f"{len(hits)} action items start with {ref!r}: give more of the id"
            if hits
            else f"action item {ref} not found"
        )
    return hits[0]


@tool(parse_docstring=True)
def action_items(
    runtime: ToolRuntime[Context],
    project: Annotated[str | None, Field(max_length=300)] = None,
    resolve: Annotated[str | None, Field(max_length=64)] = None,
    status: Literal["done", "dismissed"] = "done",
    note: Annotated[str | None, Field(max_length=2000)] = None,
) -> dict[str, Any]:
    """The team's open action items from contractors' calls and texts, newest first.

    Each with its project and contractor: a question to answer, a bid to review, a new
    start or price to confirm, a job they can't do. Use for "what needs my attention?",
    "any action items?", "what did the contractors say on the ridgewood rehab?". Team only.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: Only this project's items: its id (or first 8 characters), its property's
            address, or its street ("ridgewood").
        resolve: Close this item first: its id or the first 8 characters of its id.
        status: How to close the item named in resolve: done or dismissed.
        note: What was done about it (kept with the item).

    """
    ctx = runtime.context
    ctx.progress("checking the action items…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        closed: dict[str, Any] | None = None
        if resolve:
            item = _find_item(session, ctx, resolve)
            row = _checked(
                lambda: inbox_service.resolve_item(
                    session=session,
                    org_id=ctx.org_id,
                    item_id=item.id,
                    status=status,
                    resolved_by=ctx.user_id,
                    note=note,
                )
            )
            (view,) = inbox_service.views(session=session, org_id=ctx.org_id, rows=[row])
            closed = {**_row(0, view), "note": view.resolution_note}
            del closed["number"]
        found = resolve_project(session, ctx, project) if project else None
        project_id = found.id if found is not None else None
        rows = inbox_service.list_items(
            session=session, org_id=ctx.org_id, project_id=project_id, limit=MAX_SHOWN
        )
        total = inbox_service.count_items(session=session, org_id=ctx.org_id, project_id=project_id)
        views = inbox_service.views(session=session, org_id=ctx.org_id, rows=rows)
        return {
            **({"resolved": closed} if closed else {}),
            "project": project_label(session=session, project=found) if found else None,
            "project_id": project_id,
            "project_name": found.name if found is not None else None,
            "open_count": total,
            "shown": len(views),
            "items": [_row(n, view) for n, view in enumerate(views, start=1)],
            "source": "inbox.action_items (from contractors' calls and messages)",
        }

    return run_tool(ctx, "action_items", body)


TOOLS: list[BaseTool] = [action_items]
