"""Pricing API: rehab estimates from the organisation's cost book, and editing the cost book."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status

from core.deps import Reader, SessionDep, Writer
from core.paging import Offset, send_total, total_count
from domain.pricing import service
from domain.pricing.models import (
    ComponentCostRead,
    ComponentCostUpdate,
    CostHistoryRead,
    RehabEstimate,
    RehabEstimateRequest,
)

router = APIRouter(tags=["pricing"])

# Investors read estimates and the cost book; admins and analysts edit it; contractors neither.

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such cost-book row in your organisation"}
}


@router.post(
    "/valuations/component-costs",
    response_model=RehabEstimate,
    summary="Estimate a rehab budget from components and their condition",
    responses={422: {"description": "Invalid items, square feet or contingency"}},
)
def estimate_component_costs(
    body: RehabEstimateRequest, session: SessionDep, principal: Reader
) -> RehabEstimate:
    """Price each component, plus a contingency.

    Poor (or no condition): replace; fair: repair; good/excellent: nothing. Components not in
    the catalogue are listed under ``unpriced`` with the reason.
    """
    try:
        estimate = service.estimate_rehab(
            session=session,
            org_id=principal.org_id,
            items=body.items,
            square_feet=body.square_feet,
            stories=body.stories,
            contingency_pct=body.contingency_pct,
        )
    except service.InvalidCostError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    session.commit()  # the organisation's cost book is created on first use
    return estimate


@router.get(
    "/component-costs",
    response_model=list[ComponentCostRead],
    summary="The organisation's rehab cost catalogue",
)
def list_component_costs(
    session: SessionDep,
    principal: Reader,
    category: Annotated[
        str | None, Query(description="roof, exterior, hvac, kitchen, bath, ...")
    ] = None,
) -> list[ComponentCostRead]:
    """Every catalogue row: unit, material and labour per unit, repair share, basis."""
    rows = service.list_costs(session=session, org_id=principal.org_id, category=category)
    session.commit()
    return [ComponentCostRead.model_validate(row) for row in rows]


@router.put(
    "/component-costs/{id}",
    response_model=ComponentCostRead,
    summary="Change a component's unit costs (recorded in its cost history)",
    responses=_NOT_FOUND | {422: {"description": "Nothing to change, or a negative cost"}},
)
def update_component_cost(
    id: uuid.UUID, body: ComponentCostUpdate, session: SessionDep, principal: Writer
) -> ComponentCostRead:
    """Set material and/or labour cost per unit.

    The old and new totals, the reason and who changed it go into the cost history, and the
    next estimate uses the new figures.
    """
    try:
        row = service.update_cost(
            session=session,
            org_id=principal.org_id,
            cost_id=id,
            cost_in=body,
            actor=principal,
        )
    except service.NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.InvalidCostError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    session.commit()
    return ComponentCostRead.model_validate(row)


@router.get(
    "/component-costs/{id}/history",
    response_model=list[CostHistoryRead],
    summary="Price changes of one cost-book row, newest first (X-Total-Count: how many)",
    responses={**_NOT_FOUND, **total_count("price changes")},
)
def component_cost_history(
    id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=service.MAX_HISTORY_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[CostHistoryRead]:
    """Old and new total cost per unit, reason and who changed it."""
    try:
        rows = service.list_history(
            session=session, org_id=principal.org_id, cost_id=id, limit=limit, offset=offset
        )
        total = service.count_history(session=session, org_id=principal.org_id, cost_id=id)
    except service.NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    send_total(response, total)
    return [CostHistoryRead.model_validate(row) for row in rows]
