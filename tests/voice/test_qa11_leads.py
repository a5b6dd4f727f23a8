"""The seller-leads list shows a lead's live request, not the duplicate recorded cancelled."""

from __future__ import annotations

from sqlmodel import Session

from domain.auth.enums import Role
from domain.voice import service as voice_service
from domain.voice.enums import ScheduleStatus
from domain.voice.models import LeadCallRequest
from tests.factories import make_org, make_user


def test_a_lead_submitted_twice_is_listed_as_its_live_call(db: Session) -> None:
    """Was "cancelled; no call yet" while its call was still scheduled."""
    org = make_org(db, "Leads Twice Co")
    admin = make_user(db, org, Role.admin)
    lead = LeadCallRequest(
        phone="(313) 555-0161",
        address="5 Birch St, Detroit, MI 48215",
        name="Lee Seller",
        consent_to_call=True,
        consent_source="web form",
    )
    first = voice_service.submit_lead(session=db, org_id=org.id, requested_by=admin.id, lead=lead)
    again = voice_service.submit_lead(session=db, org_id=org.id, requested_by=admin.id, lead=lead)
    assert again.status == ScheduleStatus.cancelled  # the duplicate, as recorded
    (view,) = voice_service.list_leads(session=db, org_id=org.id)
    assert str(view.status) == str(first.status) != "cancelled"
