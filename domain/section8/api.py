"""Section 8 API: the HUD FMR table and rent analysis against FMR / payment standard."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.deps import Reader, SessionDep
from core.paging import Offset
from domain.auth.enums import Role
from domain.property.errors import PropertyNotFoundError
from domain.section8 import service
from domain.section8.service import MAX_BEDROOMS, RentAnalysis

router = APIRouter(tags=["section8"])


class FmrAreaYearRead(BaseModel):
    """One FMR area's figures for one year, by bedroom count (0-4)."""

    area: str
    year: int
    shared: bool = Field(description="HUD's shared rows (no organisation-specific override)")
    fmr_by_bedrooms: dict[int, Decimal]
    payment_standard_by_bedrooms: dict[int, Decimal]
    utility_allowance_by_bedrooms: dict[int, Decimal]


class FmrList(BaseModel):
    """A page of FMR areas and years."""

    items: list[FmrAreaYearRead]
    total: int = Field(description="areas and years matching the filters, over all pages")
    limit: int
    offset: int


class RentAnalysisRequest(BaseModel):
    """Body of ``POST /section8/rent-analysis``: a unit by bedrooms, or a property by id."""

    model_config = ConfigDict(extra="forbid")

    bedrooms: int | None = Field(default=None, ge=0, le=MAX_BEDROOMS)
    property_id: uuid.UUID | None = Field(
        default=None, description="take bedrooms (and target rent) from this property"
    )
    area: str | None = Field(
        default=None, max_length=200, description="FMR area name or words of it; default Detroit"
    )
    year: int | None = Field(default=None, ge=1983, le=2100, description="default: latest")
    target_rent: Decimal | None = Field(
        default=None, le=Decimal("99999999"), description="more than 0 (422 otherwise)"
    )
    market_rent: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999"))
    utilities_included: bool = Field(default=False, description="the owner pays all utilities")
    utility_allowance: Decimal | None = Field(
        default=None, ge=0, le=Decimal("99999"), description="overrides the table's allowance"
    )
    save: bool = Field(
        default=False,
        description="with property_id: store target_rent and fmr_compliant on the property "
        "(admins and analysts)",
    )

    @field_validator("target_rent")
    @classmethod
    def _target_rent_positive(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value <= 0:
            raise ValueError(service.TARGET_RENT_NOT_POSITIVE)
        return value


class RentAnalysisResponse(RentAnalysis):
    """A rent analysis, and the property it was saved on (if any)."""

    property_id: uuid.UUID | None = None
    saved: bool = False


@router.get(
    "/section8/fmr",
    response_model=FmrList,
    summary="HUD Fair Market Rent areas and years on file",
)
def list_fmr(
    session: SessionDep,
    principal: Reader,
    area: Annotated[str | None, Query(max_length=200, description="words of the area")] = None,
    year: Annotated[int | None, Query(ge=1983, le=2100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> FmrList:
    """FMR, payment standard and utility allowance by bedroom count, per area and year."""
    total, items = service.list_fmr(
        session=session,
        org_id=principal.org_id,
        area=area,
        year=year,
        limit=limit,
        offset=offset,
    )
    return FmrList(
        items=[FmrAreaYearRead.model_validate(i, from_attributes=True) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/section8/rent-analysis",
    response_model=RentAnalysisResponse,
    summary="Target rent vs. Section 8 FMR, payment standard and utility allowance",
    responses={
        403: {"description": "Saving on a property needs the admin or analyst role"},
        404: {"description": "No such property, or no FMR for the area/year"},
        422: {"description": "Invalid bedrooms, rents or an ambiguous area"},
    },
)
def rent_analysis(
    body: RentAnalysisRequest, session: SessionDep, principal: Reader
) -> RentAnalysisResponse:
    """The most a voucher supports, whether the target rent is FMR-compliant, vs. market.

    The maximum contract rent is the payment standard less the utility allowance for
    tenant-paid utilities.
    """
    if body.property_id is None and body.bedrooms is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Give bedrooms, or a property_id to take them from",
        )
    if body.save and body.property_id is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "save needs a property_id")
    if body.save and not (principal.is_admin or principal.has_role(Role.analyst)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Saving on a property needs the admin or analyst role"
        )
    try:
        if body.property_id is not None:
            result = service.assess_property_rent(
                session=session,
                org_id=principal.org_id,
                property_id=body.property_id,
                bedrooms=body.bedrooms,
                target_rent=body.target_rent,
                area=body.area,
                year=body.year,
                market_rent=body.market_rent,
                utilities_included=body.utilities_included,
                utility_allowance=body.utility_allowance,
                save=body.save,
                principal=principal,
            )
            if result.saved:
                session.commit()
            return RentAnalysisResponse(
                **result.analysis.model_dump(), property_id=result.property_id, saved=result.saved
            )
        analysis = service.rent_analysis(
            session=session,
            org_id=principal.org_id,
            bedrooms=body.bedrooms or 0,
            area=body.area,
            year=body.year,
            target_rent=body.target_rent,
            market_rent=body.market_rent,
            utilities_included=body.utilities_included,
            utility_allowance=body.utility_allowance,
        )
    except (service.FmrNotFoundError, PropertyNotFoundError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.RentAnalysisInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return RentAnalysisResponse(**analysis.model_dump())
