"""Construction API: projects, scope, contractors, bids, tasks, photos, expenses, progress.

Reads are open to admins, analysts and investors; changes need admin or analyst; contractors
have no access. The contractor directory (names, phones, emails) is for the team only: reading
it needs admin or analyst too (investors are outside partners: 403). Errors: 404 for an
unknown project, contractor, bid, task, milestone or scope line (or one of another
organisation), 409 for a change the current state does not allow (a phone another
contractor has, completing a task before its dependencies, a deal that already has a
project), 422 for invalid values, with a message saying what is wrong.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.config import get_settings
from core.deps import Reader, SessionDep, Writer
from core.location import LOCATION_201, CreatedLocation
from core.paging import Offset, send_total, total_count
from domain.auth.service import Principal
from domain.construction import service
from domain.construction.enums import PhotoPhase, ProjectStatus
from domain.construction.models import (
    AwardResult,
    BidCreate,
    BidLeveling,
    BidRead,
    BidRescheduleBody,
    BidRescheduleResult,
    ContractorCreate,
    ContractorRead,
    ContractorUpdate,
    ExpenseCreate,
    ExpenseRead,
    ExpenseVoidBody,
    ExpenseVoidRead,
    MilestoneCreate,
    MilestoneRead,
    PhotoRead,
    ProjectCreate,
    ProjectCreateBody,
    ProjectDetail,
    ProjectProgress,
    ProjectRead,
    ProjectUpdate,
    ScopeItemCreate,
    ScopeItemRead,
    TaskCreate,
    TaskRead,
    TaskUpdate,
    TradeStartRead,
)

router = APIRouter(tags=["construction"])

ProjectId = Annotated[uuid.UUID, Path(alias="id", description="The project's id")]
ContractorId = Annotated[uuid.UUID, Path(alias="id", description="The contractor's id")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such project (or contractor, bid, task ...) in your organisation"},
    409: {"description": "The current state does not allow this; the message says why"},
    422: {"description": "A value is invalid; the message says which"},
}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the service's typed errors into HTTP errors with its message."""
    try:
        yield
    except service.NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except service.ConstructionInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    except service.ConstructionConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


def _project_reader(project_id: ProjectId, session: SessionDep, principal: Reader) -> Principal:
    """The reader, once the project is one they may see (an investor: only their deals')."""
    with _mapped_errors():
        service.require_visible_project(
            session=session, org_id=principal.org_id, project_id=project_id, principal=principal
        )
    return principal


ProjectReader = Annotated[Principal, Depends(_project_reader)]


def _require_visible(session: SessionDep, principal: Principal, project_id: uuid.UUID) -> None:
    """``NotFoundError`` unless the reader may see the project.

    The paged lists check in their body rather than through ``ProjectReader``, so a bad
    ``limit`` or ``offset`` is a 422 whatever the project (a dependency's 404 would win).
    """
    service.require_visible_project(
        session=session, org_id=principal.org_id, project_id=project_id, principal=principal
    )


# A page of a list: at most this many rows, after skipping this many.
PageLimit = Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)]
PageOffset = Offset  # 0 to core.paging.MAX_OFFSET (a bigger one was a 500)


# --- projects -------------------------------------------------------------------------------


@router.get(
    "/projects",
    response_model=list[ProjectRead],
    summary="List rehab projects (X-Total-Count gives the number matching)",
    responses=total_count("projects"),
)
def list_projects(
    response: Response,
    session: SessionDep,
    principal: Reader,
    project_status: Annotated[ProjectStatus | None, Query(alias="status")] = None,
    deal_id: uuid.UUID | None = None,
    property_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[ProjectRead]:
    """The organisation's rehab projects, most recently changed first."""
    projects = service.list_projects(
        session=session,
        org_id=principal.org_id,
        status=project_status,
        deal_id=deal_id,
        property_id=property_id,
        limit=limit,
        offset=offset,
        principal=principal,
    )
    total = service.count_projects(
        session=session,
        org_id=principal.org_id,
        status=project_status,
        deal_id=deal_id,
        property_id=property_id,
        principal=principal,
    )
    send_total(response, total)
    return [ProjectRead.model_validate(p) for p in projects]


@router.post(
    "/projects",
    response_model=ProjectDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Open a rehab project",
    responses=_ERRORS | LOCATION_201,
)
def create_project(
    body: ProjectCreateBody, session: SessionDep, principal: Writer, location: CreatedLocation
) -> ProjectDetail:
    """Open a project, optionally on a deal (its property becomes the project's).

    With a deal and no ``scope``, the scope comes from the deal's rehab estimate: the
    property's walkthrough or photo conditions priced line by line from the cost book, or else
    one line "rehab (from deal estimate)". The budget defaults to the deal's estimate or the
    scope's total. A deal has one project (409 for a second). Publishes ``project.created``.
    """
    with _mapped_errors():
        project = service.create_project(
            session=session,
            org_id=principal.org_id,
            project_in=ProjectCreate.model_validate(body.model_dump(exclude={"scope"})),
            scope=body.scope,
            principal=principal,
        )
        session.refresh(project)  # money as stored (two decimals), the same as a later GET
        detail = service.project_detail(
            session=session, org_id=principal.org_id, project_id=project.id
        )
    session.commit()
    location.created(project.id)
    return detail


@router.get(
    "/projects/starts",
    response_model=list[TradeStartRead],
    summary="When contractors start on the open projects, from their live bids",
    responses=total_count("start dates"),
)
def list_trade_starts(
    response: Response,
    session: SessionDep,
    principal: Reader,
    trade: Annotated[
        str | None, Query(max_length=60, description='e.g. "plumbing" or "plumber"')
    ] = None,
    project_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[TradeStartRead]:
    """The start dates on the live bids, booked before offered.

    Awarded bids first (booked dates), then open bids (dates offered), each by start date with
    unknown dates last; rejected and withdrawn bids and closed projects are left out. An
    investor sees the projects on their own deals only.
    """
    rows = service.trade_starts(
        session=session, org_id=principal.org_id, trade=trade, project_id=project_id,
        principal=principal, limit=limit, offset=offset,
    )  # fmt: skip
    send_total(
        response,
        service.count_trade_starts(
            session=session, org_id=principal.org_id, trade=trade, project_id=project_id,
            principal=principal,
        ),
    )  # fmt: skip
    return [
        TradeStartRead(
            project_id=row.project.id,
            project=service.project_label(session=session, project=row.project),
            contractor_id=row.contractor.id,
            contractor=row.contractor.name,
            trades=list(row.contractor.trades),
            bid_id=row.bid.id,
            booked=row.booked,
            start_date=row.bid.start_date,
            duration_days=row.bid.duration_days,
            end_date=row.end_date,
            total_amount=row.bid.total_amount,
        )
        for row in rows
    ]


@router.get(
    "/projects/{id}",
    response_model=ProjectDetail,
    summary="Get a project with its scope",
    responses=_ERRORS,
)
def get_project(
    project_id: ProjectId, session: SessionDep, principal: ProjectReader
) -> ProjectDetail:
    """One project with its scope lines, milestones, accepted bid and latest activity."""
    with _mapped_errors():
        return service.project_detail(
            session=session, org_id=principal.org_id, project_id=project_id
        )


class ProjectStatusConflict(BaseModel):
    """The 409 of a status change ``service.PROJECT_MOVES`` does not allow."""

    detail: str = Field(description="why, naming the statuses it can move to")
    current_status: ProjectStatus = Field(description="the project's status, unchanged")
    requested_status: ProjectStatus = Field(description="the status asked for")
    allowed_next_statuses: list[ProjectStatus] = Field(
        description="where it can move from its status, in alphabetical order"
    )


@router.patch(
    "/projects/{id}",
    response_model=ProjectRead,
    summary="Change a project",
    responses=_ERRORS
    | {
        409: {
            "description": "The current state does not allow this; the message says why (a "
            "status it cannot move to: the allowed next statuses are listed)",
            "model": ProjectStatusConflict,
        }
    },
)
def update_project(
    project_id: ProjectId, project_in: ProjectUpdate, session: SessionDep, principal: Writer
) -> ProjectRead | JSONResponse:
    """Change a project's name, status, budget or dates; only the fields given change.

    Completing a project with open tasks is a 409 naming how many, unless
    ``close_open_tasks`` is true: then those tasks are cancelled with it. A status the
    project cannot move to is a 409 with ``allowed_next_statuses``.
    """
    with _mapped_errors():
        try:
            project = service.update_project(
                session=session,
                org_id=principal.org_id,
                project_id=project_id,
                project_in=project_in,
                principal=principal,
            )
        except service.IllegalProjectMoveError as exc:
            conflict = ProjectStatusConflict(
                detail=str(exc),
                current_status=exc.current,
                requested_status=exc.wanted,
                allowed_next_statuses=exc.allowed,
            )
            return JSONResponse(
                status_code=status.HTTP_409_CONFLICT, content=conflict.model_dump(mode="json")
            )
    session.commit()
    session.refresh(project)  # money as stored (two decimals), the same as a later GET
    return ProjectRead.model_validate(project)


@router.post(
    "/projects/{id}/scope",
    response_model=list[ScopeItemRead],
    status_code=status.HTTP_201_CREATED,
    summary="Add scope lines to a project",
    responses=_ERRORS,
)
def add_scope(
    project_id: ProjectId,
    lines: list[ScopeItemCreate],
    session: SessionDep,
    principal: Writer,
) -> list[ScopeItemRead]:
    """Add scope lines (component, quantity, unit, budgeted cost); the budget is unchanged."""
    with _mapped_errors():
        items = service.add_scope_items(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            scope=lines,
            principal=principal,
        )
    session.commit()
    for item in items:
        session.refresh(item)  # money as stored (two decimals), the same as a later GET
    return [ScopeItemRead.model_validate(i) for i in items]


@router.get(
    "/projects/{id}/progress",
    response_model=ProjectProgress,
    summary="A project's progress: tasks, budget, schedule",
    responses=_ERRORS,
)
def get_progress(
    project_id: ProjectId,
    session: SessionDep,
    principal: ProjectReader,
    as_of: Annotated[dt.date | None, Query(description="The day to measure on (today)")] = None,
) -> ProjectProgress:
    """Percent complete by tasks and by budget, spent per scope line, and schedule slip.

    The slip is the larger of the days past the target end date and the days the latest task
    is past its due date.
    """
    with _mapped_errors():
        return service.progress(
            session=session, org_id=principal.org_id, project_id=project_id, as_of=as_of
        )


# --- bids -----------------------------------------------------------------------------------


@router.post(
    "/projects/{id}/bids",
    response_model=BidRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record a contractor's bid",
    responses=_ERRORS,
)
def create_bid(
    project_id: ProjectId, bid_in: BidCreate, session: SessionDep, principal: Writer
) -> BidRead:
    """Record a contractor's bid; publishes ``bid.received``.

    Give a total and/or ``line_items`` ``[{scope_item_id, amount, note}]`` that price this
    project's scope lines (the total is their sum when not given). A scope line of another
    project is refused (422), and so is a ``start_date`` more than a year back or two years
    ahead. A bid on a line already awarded is recorded, with ``warnings`` saying it cannot be
    awarded as it stands (bid leveling says so too).
    """
    with _mapped_errors():
        bid = service.create_bid(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            bid_in=bid_in,
            principal=principal,
        )
        warnings = service.bid_warnings(session=session, org_id=principal.org_id, bid=bid)
    session.commit()
    return BidRead.model_validate(bid, update={"warnings": warnings})


@router.get(
    "/projects/{id}/bids",
    response_model=BidLeveling,
    summary="Compare a project's bids line by line (bid leveling)",
    responses=_ERRORS,
)
def list_bids(
    project_id: ProjectId,
    session: SessionDep,
    principal: ProjectReader,
    include_rejected: Annotated[
        bool,
        Query(description="also list rejected and withdrawn bids (never awardable or lowest)"),
    ] = False,
) -> BidLeveling:
    """Every open or accepted bid, leveled, and the lowest complete bid that can be awarded.

    Lines a bid leaves out are priced at the line's budgeted cost (from the cost catalogue
    for a line with no budget) and flagged. Each bid shows its ``exclusions``, whether it can
    still be awarded (``awardable``, ``not_awardable_reason``) and its ``outliers`` (lines
    priced at more than 3x their budget). A bid whose contractor texted that they can no
    longer do the job is flagged ``withdrawal_reported`` (with the message's date) and is not
    named lowest while that action item is open. ``?include_rejected=true`` also lists the
    bids an award rejected (and withdrawn ones).
    """
    with _mapped_errors():
        leveling = service.level_bids(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            include_rejected=include_rejected,
        )
    session.commit()  # the cost book may have been created on first use
    return leveling


@router.post(
    "/projects/{id}/bids/{bidId}/award",
    response_model=AwardResult,
    summary="Award a bid, trade by trade (its scope lines) or as a lump sum",
    responses=_ERRORS,
)
def award_bid(
    project_id: ProjectId,
    bid_id: Annotated[uuid.UUID, Path(alias="bidId", description="The bid's id")],
    session: SessionDep,
    principal: Writer,
) -> AwardResult:
    """Accept the bid.

    A bid with lines is awarded for those scope lines: open bids on any of the same lines and
    open lump sums are rejected, bids on other lines stay open; a line already covered by an
    accepted bid is a 409. Its lines become the scope lines' budgeted costs; the budget is the
    scope lines' budgets (awarded lines at the accepted bids' amounts) plus each accepted bid's
    total minus its lines (a fee). A lump sum (no lines) rejects every other open bid and its
    total is the budget; it is a 409 once bids on scope lines are accepted.
    """
    with _mapped_errors():
        result = service.award_bid(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            bid_id=bid_id,
            principal=principal,
        )
    session.commit()
    return result


@router.post(
    "/projects/{id}/bids/{bidId}/reschedule",
    response_model=BidRescheduleResult,
    summary="Accept an awarded contractor's new start date (moves the project's dates with it)",
    responses=_ERRORS,
)
def reschedule_bid(
    project_id: ProjectId,
    bid_id: Annotated[uuid.UUID, Path(alias="bidId", description="The bid's id")],
    body: BidRescheduleBody,
    session: SessionDep,
    principal: Writer,
) -> BidRescheduleResult:
    """Move an awarded bid's start (and ``duration_days``, when given) to the new date.

    For a contractor who "can't start until the 10th": the bid takes the new start, audited
    with ``reason``. The project's dates follow when they came from this bid: a project with
    no start takes it; dates awards set span the awarded bids again (earliest start, last
    end); a start set on this bid's old start moves to the new one (no later than another
    awarded trade's) and the target end by as many days. ``project_dates_note`` says why they
    stayed otherwise. The contractor's open ``confirm_start`` action items on the project are
    closed as done. 409 for a bid not
    awarded (an open bid's dates are the bid's own) or a completed or cancelled project; 422
    for a date before today, more than two years ahead, or a bad duration.
    """
    with _mapped_errors():
        result = service.reschedule_bid(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            bid_id=bid_id,
            start_date=body.start_date,
            duration_days=body.duration_days,
            reason=body.reason,
            principal=principal,
        )
    session.commit()
    return result


# --- tasks and milestones -------------------------------------------------------------------


@router.post(
    "/projects/{id}/tasks",
    response_model=TaskRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a task to a project",
    responses=_ERRORS,
)
def create_task(
    project_id: ProjectId, task_in: TaskCreate, session: SessionDep, principal: Writer
) -> TaskRead:
    """Add a task: status, assignee, due date, scope line, dependencies on this project's tasks.

    A task created done publishes ``task.completed``. A completed or cancelled project takes
    no new task (409: reopen it first).
    """
    with _mapped_errors():
        task = service.create_task(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            task_in=task_in,
            principal=principal,
        )
    session.commit()
    return TaskRead.model_validate(task)


@router.get(
    "/projects/{id}/tasks",
    response_model=list[TaskRead],
    summary="List a project's tasks (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("tasks")},
)
def list_tasks(
    project_id: ProjectId,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[TaskRead]:
    """A project's tasks by due date (undated last)."""
    with _mapped_errors():
        _require_visible(session, principal, project_id)
        tasks = service.list_tasks(
            session=session, org_id=principal.org_id, project_id=project_id,
            limit=limit, offset=offset,
        )  # fmt: skip
        total = service.count_tasks(session=session, org_id=principal.org_id, project_id=project_id)
    send_total(response, total)
    return [TaskRead.model_validate(t) for t in tasks]


@router.patch(
    "/projects/{id}/tasks/{taskId}",
    response_model=TaskRead,
    summary="Change a task (status, assignee, due date, dependencies)",
    responses=_ERRORS,
)
def update_task(
    project_id: ProjectId,
    task_id: Annotated[uuid.UUID, Path(alias="taskId", description="The task's id")],
    task_in: TaskUpdate,
    session: SessionDep,
    principal: Writer,
) -> TaskRead:
    """Change a task; done needs every dependency done (409) and publishes ``task.completed``.

    A dependency on itself, on another project's task or making a cycle is refused (422).
    """
    with _mapped_errors():
        task = service.update_task(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            task_id=task_id,
            task_in=task_in,
            principal=principal,
        )
    session.commit()
    return TaskRead.model_validate(task)


@router.get(
    "/projects/{id}/milestones",
    response_model=list[MilestoneRead],
    summary="List a project's milestones (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("milestones")},
)
def list_milestones(
    project_id: ProjectId,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[MilestoneRead]:
    """A project's milestones by target date, with when each was reached."""
    with _mapped_errors():
        _require_visible(session, principal, project_id)
        milestones = service.list_milestones(
            session=session, org_id=principal.org_id, project_id=project_id,
            limit=limit, offset=offset,
        )  # fmt: skip
        total = service.count_milestones(
            session=session, org_id=principal.org_id, project_id=project_id
        )
    send_total(response, total)
    return [MilestoneRead.model_validate(m) for m in milestones]


@router.post(
    "/projects/{id}/milestones",
    response_model=MilestoneRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a milestone to a project",
    responses=_ERRORS,
)
def create_milestone(
    project_id: ProjectId, milestone_in: MilestoneCreate, session: SessionDep, principal: Writer
) -> MilestoneRead:
    """Add a milestone such as "Demo done", "Rough-in inspection" or "Final inspection"."""
    with _mapped_errors():
        milestone = service.create_milestone(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            milestone_in=milestone_in,
            principal=principal,
        )
    session.commit()
    return MilestoneRead.model_validate(milestone)


@router.post(
    "/projects/{id}/milestones/{milestoneId}/reach",
    response_model=MilestoneRead,
    summary="Mark a milestone reached",
    responses=_ERRORS,
)
def reach_milestone(
    project_id: ProjectId,
    milestone_id: Annotated[uuid.UUID, Path(alias="milestoneId", description="The milestone")],
    session: SessionDep,
    principal: Writer,
) -> MilestoneRead:
    """Mark the milestone reached now and publish ``milestone.reached`` (once)."""
    with _mapped_errors():
        milestone = service.reach_milestone(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            milestone_id=milestone_id,
            principal=principal,
        )
    session.commit()
    return MilestoneRead.model_validate(milestone)


# --- photos and expenses --------------------------------------------------------------------


@router.post(
    "/projects/{id}/photos",
    response_model=list[PhotoRead],
    status_code=status.HTTP_201_CREATED,
    summary="Upload progress photos",
    responses=_ERRORS,
)
def upload_photos(
    project_id: ProjectId,
    session: SessionDep,
    principal: Writer,
    files: Annotated[list[UploadFile], File(description="Photos: JPEG, PNG, WEBP, GIF; 5 MB each")],
    caption: Annotated[str | None, Form(max_length=2000)] = None,
    phase: Annotated[PhotoPhase | None, Form(description="before, during or after")] = None,
    taken_at: Annotated[dt.datetime | None, Form(description="When they were taken")] = None,
) -> list[PhotoRead]:
    """Store progress photos; publishes ``property.photos.uploaded`` for condition analysis.

    Each file is checked (an image, within its size limit, and it decodes); one bad file
    refuses the upload with its name and the reason (422). The event is published when the
    project has a property.
    """
    limit = get_settings().max_upload_bytes
    uploads = [
        service.PhotoUpload(
            data=upload.file.read(limit + 1),
            filename=upload.filename,
            content_type=upload.content_type,
        )
        for upload in files
    ]
    with _mapped_errors():
        stored = service.add_photos(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            uploads=uploads,
            caption=caption,
            phase=phase,
            taken_at=taken_at,
            principal=principal,
        )
    session.commit()
    return [
        PhotoRead.model_validate(photo, update={"width_px": size[0], "height_px": size[1]})
        for photo, size in stored
    ]


@router.get(
    "/projects/{id}/photos",
    response_model=list[PhotoRead],
    summary="List a project's photos (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("photos")},
)
def list_photos(
    project_id: ProjectId,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[PhotoRead]:
    """A project's photos, newest first (the bytes: ``GET /documents/{document_id}``)."""
    with _mapped_errors():
        _require_visible(session, principal, project_id)
        photos = service.list_photos(
            session=session, org_id=principal.org_id, project_id=project_id,
            limit=limit, offset=offset,
        )  # fmt: skip
        total = service.count_photos(
            session=session, org_id=principal.org_id, project_id=project_id
        )
    send_total(response, total)
    return [PhotoRead.model_validate(p) for p in photos]


class ExpenseBooked(ExpenseRead):
    """A project expense as booked, with the earlier bookings that look like the same receipt."""

    possible_duplicates: list[uuid.UUID] = Field(
        default_factory=list,
        description="earlier live bookings of what looks like the same receipt (same amount,"
        " date and deal, same contractor or vendor, spacing and case ignored), from either"
        " route: a project expense's id (booked with POST /projects/{id}/expenses, void it"
        " on its project) or a ledger transaction's (booked with POST /expenses or"
        " /transactions, void it with POST /transactions/{id}/void); voided ones and voids"
        " left out; empty for a refund. The expense is booked all the same",
    )
    warning: str | None = Field(
        default=None, description="a heads-up naming them when possible_duplicates is not empty"
    )


@router.post(
    "/projects/{id}/expenses",
    response_model=ExpenseBooked,
    status_code=status.HTTP_201_CREATED,
    summary="Book an expense on a project",
    responses=_ERRORS,
)
def add_expense(
    project_id: ProjectId, expense_in: ExpenseCreate, session: SessionDep, principal: Writer
) -> ExpenseBooked:
    """Book money spent, optionally against a scope line.

    Dated today in the company's time zone unless ``spent_on`` says otherwise; a date more
    than 31 days ahead is refused (422). Publishes ``construction.expense.added``, which
    finance books as a ledger transaction. ``"refund": true`` books money back from the
    vendor or contractor (amount positive; stored negative on the line) and publishes
    ``construction.expense.refunded``, which finance books as a refund in the same category;
    422 when it would take the line's or project's net spent below zero (overall, or by the
    refund's date), 409 in a closed month; a refund leaves an ``expense_refunded`` entry on
    the project's activity. An expense that looks like a receipt already booked (on a
    project or in the ledger) is booked all the same, with ``possible_duplicates`` and a
    ``warning``.
    """
    with _mapped_errors():
        expense = service.add_expense(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            expense_in=expense_in,
            principal=principal,
        )
        duplicates = service.expense_duplicates(
            session=session, org_id=principal.org_id, expense=expense
        )
        warning = service.expense_duplicate_warning(
            session=session, org_id=principal.org_id, expense=expense, duplicates=duplicates
        )
    session.commit()
    return ExpenseBooked.model_validate(
        ExpenseRead.model_validate(expense).model_dump()
        | {"possible_duplicates": [d.id for d in duplicates], "warning": warning}
    )


@router.get(
    "/projects/{id}/expenses",
    response_model=list[ExpenseRead],
    summary="List a project's expenses (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("expenses")},
)
def list_expenses(
    project_id: ProjectId,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[ExpenseRead]:
    """A project's expenses, newest first."""
    with _mapped_errors():
        _require_visible(session, principal, project_id)
        expenses = service.list_expenses(
            session=session, org_id=principal.org_id, project_id=project_id,
            limit=limit, offset=offset,
        )  # fmt: skip
        total = service.count_expenses(
            session=session, org_id=principal.org_id, project_id=project_id
        )
        voids = service.voided_by(
            session=session, org_id=principal.org_id, expense_ids=[e.id for e in expenses]
        )
    send_total(response, total)
    return [
        ExpenseRead.model_validate(e).model_copy(update={"voided_by_expense_id": voids.get(e.id)})
        for e in expenses
    ]


ExpenseId = Annotated[uuid.UUID, Path(alias="expenseId", description="The expense's id")]


@router.post(
    "/projects/{id}/expenses/{expenseId}/void",
    response_model=ExpenseVoidRead,
    status_code=status.HTTP_201_CREATED,
    summary="Void an expense booked by mistake (books a reversing expense)",
    responses=_ERRORS,
)
def void_expense(
    project_id: ProjectId,
    expense_id: ExpenseId,
    session: SessionDep,
    principal: Writer,
    body: ExpenseVoidBody | None = None,
) -> ExpenseVoidRead:
    """Void an expense: a reversing expense (minus its amount, same line) is booked and linked.

    The original stays (audit trail); the pair nets to zero in progress, line budgets and the
    overview. Publishes ``construction.expense.voided``, which finance books as a refund in
    the same category. 409 when the expense was already voided or is itself a reversal.
    """
    with _mapped_errors():
        done = service.void_expense(
            session=session,
            org_id=principal.org_id,
            project_id=project_id,
            expense_id=expense_id,
            reason=body.reason if body else None,
            principal=principal,
        )
    session.commit()
    voided = ExpenseRead.model_validate(done.voided).model_copy(
        update={"voided_by_expense_id": done.reversal.id}
    )
    return ExpenseVoidRead(
        voided=voided, reversal=ExpenseRead.model_validate(done.reversal), progress=done.progress
    )


# --- contractors ----------------------------------------------------------------------------


@router.get(
    "/contractors",
    response_model=list[ContractorRead],
    summary="List contractors (X-Total-Count gives the number matching)",
    responses=total_count("contractors"),
)
def list_contractors(
    response: Response,
    session: SessionDep,
    principal: Writer,
    trade: Annotated[str | None, Query(max_length=100, description="e.g. roofing")] = None,
    include_opted_out: bool = True,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[ContractorRead]:
    """The organisation's contractors by name, optionally of one trade (the team only)."""
    contractors = service.list_contractors(
        session=session,
        org_id=principal.org_id,
        trade=trade,
        include_opted_out=include_opted_out,
        limit=limit,
        offset=offset,
    )
    total = service.count_contractors(
        session=session,
        org_id=principal.org_id,
        trade=trade,
        include_opted_out=include_opted_out,
    )
    send_total(response, total)
    return [ContractorRead.model_validate(c) for c in contractors]


@router.post(
    "/contractors",
    response_model=ContractorRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a contractor",
    responses=_ERRORS | LOCATION_201,
)
def create_contractor(
    contractor_in: ContractorCreate,
    session: SessionDep,
    principal: Writer,
    location: CreatedLocation,
) -> ContractorRead:
    """Add a contractor; the phone is stored as E.164 and unique in your organisation (409).

    Trades, phone, email, service area, licence and insurance expiry, contact hours and IANA
    time zone, opt-out flag and rating.
    """
    with _mapped_errors():
        contractor = service.create_contractor(
            session=session,
            org_id=principal.org_id,
            contractor_in=contractor_in,
            principal=principal,
        )
    session.commit()
    location.created(contractor.id)
    return ContractorRead.model_validate(contractor)


@router.get(
    "/contractors/{id}",
    response_model=ContractorRead,
    summary="Get a contractor",
    responses=_ERRORS,
)
def get_contractor(
    contractor_id: ContractorId, session: SessionDep, principal: Writer
) -> ContractorRead:
    """One contractor of your organisation (the team only: investors get 403)."""
    with _mapped_errors():
        contractor = service.get_contractor(
            session=session, org_id=principal.org_id, contractor_id=contractor_id
        )
    return ContractorRead.model_validate(contractor)


@router.patch(
    "/contractors/{id}",
    response_model=ContractorRead,
    summary="Change a contractor",
    responses=_ERRORS,
)
def update_contractor(
    contractor_id: ContractorId,
    contractor_in: ContractorUpdate,
    session: SessionDep,
    principal: Writer,
) -> ContractorRead:
    """Change a contractor; only the fields given change (the same checks as creating)."""
    with _mapped_errors():
        contractor = service.update_contractor(
            session=session,
            org_id=principal.org_id,
            contractor_id=contractor_id,
            contractor_in=contractor_in,
            principal=principal,
        )
    session.commit()
    return ContractorRead.model_validate(contractor)
