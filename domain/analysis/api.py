"""Analysis API: the full deal analysis of a property, with the investor's what-ifs.

``POST /properties/{id}/analysis`` answers what the agent's ``analyze_property`` tool and the
PDF report are built from: as-is value and ARV with their comps, the rehab budget, rent against
HUD's Fair Market Rent, flip, rental and BRRRR figures, the projection, the maximum offer and
the verdict, each part with its sources or the reason it is missing. The body may name a deal
(its contract price is used), a price, a rehab budget, a living area or the rehab components
to price instead of the defaults. With no ``deal_id`` the caller's relevant deal on the property
is used (``service.relevant_deal``: their most recently changed open deal, else a closed one), as
the chat and the PDF report use it; ``"use_deal": false`` analyses the property as listed.
``deal_id`` and ``deal_status`` in the answer say which deal was used. Admins, analysts and
investors may ask (an investor only about a deal they may see); contractors may not. It
publishes ``analysis.completed``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.deps import SessionDep, require_roles
from domain.analysis import service
from domain.analysis.models import PropertyAnalysis
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.deal import service as deal_service
from domain.pricing.models import ComponentInput
from domain.valuation import service as valuation_service

router = APIRouter(tags=["analysis"])

Member = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]


class AnalysisRequest(BaseModel):
    """What to analyse the property with; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    deal_id: uuid.UUID | None = Field(
        default=None,
        description="a deal on this property: its contract price is the price and its "
        "estimated repairs the rehab budget. Default: your relevant deal on the property (your "
        "most recently changed open deal, else a closed one), as the chat and the PDF report "
        "use; the answer's deal_id and deal_status say which deal was used (null: none)",
    )
    use_deal: bool = Field(
        default=True,
        description="false: analyse the property as listed (list price and the rehab "
        "estimate), ignoring any deal on it; cannot be combined with deal_id",
    )
    # A value date after today (company-local) is a 422 in the valuation routes' shape.
    as_of: Annotated[dt.date | None, AfterValidator(valuation_service.check_as_of)] = Field(
        default=None, description="value date, today or earlier (default: today)"
    )
    purchase_price: Decimal | None = Field(
        default=None,
        gt=0,
        le=service.MAX_PURCHASE_PRICE,
        decimal_places=2,
        description="the price to analyse at, instead of the deal's or the list price",
    )
    rehab_cost: Decimal | None = Field(
        default=None,
        ge=0,
        le=service.MAX_REHAB_COST,
        decimal_places=2,
        description="your own rehab budget: it replaces the estimate's total in every figure",
    )
    square_feet: int | None = Field(
        default=None,
        ge=1,
        le=service.MAX_SQUARE_FEET,
        description="the living area: sizes the rehab, and the values when none is on file",
    )
    components: list[ComponentInput] | None = Field(
        default=None,
        max_length=100,
        description="components to price instead of the latest walkthrough or photo conditions",
    )


@router.post(
    "/properties/{id}/analysis",
    response_model=PropertyAnalysis,
    summary="Full deal analysis: values, rehab, rent vs FMR, flip/rental/BRRRR, max offer",
    responses={
        404: {"description": "No such property or deal in your organisation"},
        422: {"description": "Invalid values, or a deal for another property; the message says"},
    },
)
def analyse_property(
    id: uuid.UUID, body: AnalysisRequest, session: SessionDep, principal: Member
) -> PropertyAnalysis:
    """Analyse the property now; parts that cannot be computed say why (never a 500)."""
    deal_id = body.deal_id
    if deal_id is not None and not body.use_deal:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="deal_id names a deal to use while use_deal is false: send one or the other",
        )
    if deal_id is None and body.use_deal:
        # The deal the chat and the PDF use for this caller (their figures match this answer).
        deal = service.relevant_deal(
            session=session, org_id=principal.org_id, property_id=id, principal=principal
        )
        deal_id = deal.id if deal is not None else None
    elif body.deal_id is not None:
        try:  # an investor may only analyse against a deal they may see
            deal_service.get_deal(
                session=session, org_id=principal.org_id, deal_id=body.deal_id, principal=principal
            )
        except deal_service.DealNotFoundError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    try:
        analysis = service.analyze_property(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            deal_id=deal_id,
            as_of=body.as_of,
            components=body.components,
            rehab_cost=body.rehab_cost,
            square_feet=body.square_feet,
            purchase_price=body.purchase_price,
        )
    except service.AnalysisNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except service.AnalysisInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    service.publish_completed(
        session=session, analysis=analysis, requested_by=principal.user_id, channel="api"
    )
    session.commit()
    return analysis
