"""Revision 4bf2e0b87533 upgrades a database that already holds duplicate pending calls."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from store import migrate

INSERT = text(
    "INSERT INTO voice_service.call_schedules (id, org_id, contractor_id, project_id, purpose,"
    " scheduled_for, status, attempts, max_attempts, created_at, updated_at)"
    " VALUES (:id, :org, :contractor, :project, :purpose, :at, :status, 0, 3, :at, :at)"
)


def _statuses(engine: Engine, org_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, reason FROM voice_service.call_schedules WHERE org_id = :o"),
            {"o": org_id},
        ).all()
    return {row.id: (row.status, row.reason) for row in rows}


def test_the_revision_keeps_one_pending_call_per_contractor_and_project(engine: Engine) -> None:
    """Before it nothing stopped two pending calls: the one under way (else earliest) stays."""
    org_id, contractor, project, other = (uuid.uuid4() for _ in range(4))
    ringing, later, earliest, elsewhere, lead = (uuid.uuid4() for _ in range(5))
    try:
        migrate.downgrade("0004")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO auth.organisations (id, name, slug) VALUES (:id, 'V', :slug)"),
                {"id": org_id, "slug": f"v-{org_id.hex[:8]}"},
            )
            for row_id, project_id, status, at in (
                (later, project, "scheduled", "2026-03-01T10:00:00Z"),
                (ringing, project, "in_progress", "2026-03-02T10:00:00Z"),
                (earliest, project, "scheduled", "2026-02-01T10:00:00Z"),
                (elsewhere, other, "scheduled", "2026-02-01T10:00:00Z"),
            ):
                conn.execute(
                    INSERT,
                    {
                        "id": row_id,
                        "org": org_id,
                        "contractor": contractor,
                        "project": project_id,
                        "purpose": "bid_request",
                        "at": at,
                        "status": status,
                    },
                )
            conn.execute(
                INSERT,
                {
                    "id": lead,
                    "org": org_id,
                    "contractor": None,
                    "project": None,
                    "purpose": "lead_qualification",
                    "at": "2026-02-01T10:00:00Z",
                    "status": "scheduled",
                },
            )
        migrate.upgrade("head")
        after = _statuses(engine, org_id)
        assert after[ringing][0] == "in_progress" and after[elsewhere][0] == "scheduled"
        assert after[later][0] == after[earliest][0] == "cancelled"
        assert "already pending" in (after[later][1] or "")
        assert after[lead][0] == "for_team"
        migrate.downgrade("0004")
        assert _statuses(engine, org_id)[lead][0] == "scheduled"
    finally:
        migrate.upgrade("head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM auth.organisations WHERE id = :id"), {"id": org_id})
