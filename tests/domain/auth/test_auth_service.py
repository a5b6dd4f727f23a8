"""Users, sign-in, token resolution and the audit log, through the auth service."""

from __future__ import annotations

import contextvars
import uuid
from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlmodel import Session

from domain.auth import security
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import ApiToken, UserCreate, UserUpdate
from store.base import utcnow
from tests.factories import (
    DEFAULT_PASSWORD,
    make_api_token,
    make_org,
    make_user,
    override_settings,
    principal_for,
)


def test_the_four_roles_are_seeded_as_reference_rows(db: Session) -> None:
    roles = {role.name: role for role in auth_service.list_roles(session=db)}

    assert set(roles) == {role.value for role in Role}
    assert roles["admin"].permissions == ["*"]
    assert "audit:read" in roles["analyst"].permissions
    assert "audit:read" not in roles["investor"].permissions


def test_create_user_normalises_email_and_phone_and_hashes_the_password(db: Session) -> None:
    org = make_org(db)
    user = auth_service.create_user(
        session=db,
        org_id=org.id,
        user_in=UserCreate(
            email="  Jane.Investor@Example.COM ",
            phone_number="+1 (313) 555-0101",
            password=DEFAULT_PASSWORD,
            role=Role.investor,
        ),
    )

    assert user.email == "jane.investor@example.com"
    assert user.phone_number == "+13135550101"
    assert user.hashed_password and DEFAULT_PASSWORD not in user.hashed_password
    assert auth_service.get_user_by_phone(session=db, phone_number="+13135550101") == user


@pytest.mark.parametrize("phone", ["3135550101", "+0313555010", "+1313555010199999", "+1 313 abc"])
def test_phone_numbers_not_in_e164_are_refused(phone: str) -> None:
    with pytest.raises(ValidationError, match="E.164"):
        UserCreate(email="x@example.com", phone_number=phone)


def test_email_and_phone_number_are_unique_across_organisations(db: Session) -> None:
    org_a, org_b = make_org(db, "A"), make_org(db, "B")
    make_user(db, org_a, email="dup@example.com", phone_number="+13135550102")

    with pytest.raises(auth_service.EmailTakenError):
        make_user(db, org_b, email="DUP@example.com")
    with pytest.raises(auth_service.PhoneNumberTakenError):
        make_user(db, org_b, phone_number="+1-313-555-0102")


def test_authenticate_checks_password_and_active_status(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, email="ops@example.com", password=DEFAULT_PASSWORD)
    make_user(db, org, email="gone@example.com", password=DEFAULT_PASSWORD, is_active=False)

    found = auth_service.authenticate(
        session=db, email="OPS@example.com", password=DEFAULT_PASSWORD
    )
    assert found is not None and found.id == user.id
    assert (
        auth_service.authenticate(session=db, email="ops@example.com", password="wrong-pass")
        is None
    )
    assert auth_service.authenticate(session=db, email="nobody@example.com", password="x") is None
    assert (
        auth_service.authenticate(session=db, email="gone@example.com", password=DEFAULT_PASSWORD)
        is None
    )


def test_access_token_resolves_to_the_user_with_their_current_role(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    user = make_user(db, org, role=Role.analyst)
    token = auth_service.issue_access_token(user=user)

    principal = auth_service.resolve_token(session=db, token=token)
    assert principal == auth_service.Principal(
        user_id=user.id, org_id=org.id, role=Role.analyst, email=user.email
    )

    # A demotion applies at once, even to a token issued before it.
    auth_service.update_user(
        session=db,
        org_id=org.id,
        user_id=user.id,
        user_in=UserUpdate(role=Role.investor),
        actor=principal_for(admin),
    )
    demoted = auth_service.resolve_token(session=db, token=token)
    assert demoted is not None and demoted.role is Role.investor


def test_access_token_rejected_when_expired_foreign_or_user_inactive(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(db)
    make_user(db, org)  # keeps an active admin in the organisation
    user = make_user(db, org, role=Role.analyst)
    expired = security.create_access_token(
        user_id=user.id, org_id=org.id, role=Role.analyst, expires_delta=timedelta(seconds=-5)
    )
    foreign = security.create_access_token(
        user_id=user.id, org_id=org.id, role=Role.analyst, secret="another-deployment"
    )
    wrong_org = security.create_access_token(
        user_id=user.id, org_id=uuid.uuid4(), role=Role.analyst
    )
    valid = auth_service.issue_access_token(user=user)

    assert auth_service.resolve_token(session=db, token=expired) is None
    assert auth_service.resolve_token(session=db, token=foreign) is None
    assert auth_service.resolve_token(session=db, token=wrong_org) is None
    assert auth_service.resolve_token(session=db, token=valid) is not None

    # Rotating SECRET_KEY invalidates every access token signed with the old one.
    override_settings(monkeypatch, secret_key=SecretStr("rotated-secret-key"))
    assert auth_service.resolve_token(session=db, token=valid) is None
    monkeypatch.undo()

    auth_service.update_user(
        session=db, org_id=org.id, user_id=user.id, user_in=UserUpdate(is_active=False)
    )
    assert auth_service.resolve_token(session=db, token=valid) is None


def test_api_token_resolves_records_use_and_stores_only_a_hash(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.investor)
    row, plaintext = make_api_token(db, user, name="spreadsheet sync")

    assert row.last_used_at is None
    principal = auth_service.resolve_token(session=db, token=plaintext)

    assert principal is not None and principal.user_id == user.id
    assert principal.role is Role.investor
    db.refresh(row)
    assert row.last_used_at is not None
    assert row.prefix == plaintext[:11] and row.token_hash != plaintext
    stored = (
        db.connection()
        .execute(
            text("SELECT count(*) FROM auth.api_tokens WHERE CAST(api_tokens AS text) LIKE :t"),
            {"t": f"%{plaintext[11:]}%"},
        )
        .scalar_one()
    )
    assert stored == 0


def test_api_token_rejected_when_revoked_expired_unknown_or_user_inactive(db: Session) -> None:
    org = make_org(db)
    make_user(db, org)
    user = make_user(db, org, role=Role.analyst)
    revoked_row, revoked = make_api_token(db, user, name="revoked")
    expired_row, expired = make_api_token(db, user, name="expired", expires_in_days=1)
    _, live = make_api_token(db, user, name="live")

    auth_service.revoke_api_token(session=db, org_id=org.id, token_id=revoked_row.id)
    expired_row.expires_at = utcnow() - timedelta(minutes=1)
    db.add(expired_row)
    db.flush()

    assert auth_service.resolve_token(session=db, token=revoked) is None
    assert auth_service.resolve_token(session=db, token=expired) is None
    assert auth_service.resolve_token(session=db, token=security.generate_api_token()) is None
    assert auth_service.resolve_token(session=db, token=live) is not None

    auth_service.update_user(
        session=db, org_id=org.id, user_id=user.id, user_in=UserUpdate(is_active=False)
    )
    assert auth_service.resolve_token(session=db, token=live) is None


def test_services_never_return_another_organisations_rows(db: Session) -> None:
    org_a, org_b = make_org(db, "A"), make_org(db, "B")
    user_a = make_user(db, org_a)
    user_b = make_user(db, org_b)
    token_b, _ = make_api_token(db, user_b)

    assert [u.id for u in auth_service.list_users(session=db, org_id=org_a.id)] == [user_a.id]
    assert auth_service.get_user(session=db, org_id=org_a.id, user_id=user_b.id) is None
    assert auth_service.list_api_tokens(session=db, org_id=org_a.id) == []
    assert auth_service.get_api_token(session=db, org_id=org_a.id, token_id=token_b.id) is None
    with pytest.raises(auth_service.NotFoundError):
        auth_service.revoke_api_token(session=db, org_id=org_a.id, token_id=token_b.id)
    with pytest.raises(auth_service.NotFoundError):
        auth_service.update_user(
            session=db, org_id=org_a.id, user_id=user_b.id, user_in=UserUpdate(full_name="x")
        )
    audit_b = auth_service.list_audit(session=db, org_id=org_b.id)
    assert audit_b and all(entry.org_id == org_b.id for entry in audit_b)
    assert auth_service.get_audit_entry(session=db, org_id=org_a.id, entry_id=audit_b[0].id) is None


def test_user_and_token_changes_are_audited_with_actor_and_without_secrets(db: Session) -> None:
    org = make_org(db)
    admin = principal_for(make_user(db, org, email="boss@example.com"))
    user = auth_service.create_user(
        session=db,
        org_id=org.id,
        user_in=UserCreate(email="new@example.com", password=DEFAULT_PASSWORD),
        actor=admin,
    )
    auth_service.update_user(
        session=db,
        org_id=org.id,
        user_id=user.id,
        user_in=UserUpdate(role=Role.investor, password="another-password"),
        actor=admin,
    )
    token, _ = auth_service.create_api_token(
        session=db, org_id=org.id, user_id=admin.user_id, name="ci", actor=admin
    )
    auth_service.revoke_api_token(session=db, org_id=org.id, token_id=token.id, actor=admin)
    with pytest.raises(auth_service.NotFoundError, match="already revoked"):
        auth_service.revoke_api_token(session=db, org_id=org.id, token_id=token.id, actor=admin)

    user_entries = auth_service.list_audit(session=db, org_id=org.id, entity_id=user.id)
    token_entries = auth_service.list_audit(session=db, org_id=org.id, entity="api_token")

    assert [e.action for e in user_entries] == ["update", "create"]
    assert {e.actor for e in user_entries} == {"boss@example.com"}
    assert user_entries[0].changes["role"] == {"from": "analyst", "to": "investor"}
    assert user_entries[0].changes["password_changed"] is True
    assert user_entries[1].changes["email"] == "new@example.com"
    assert "password" not in user_entries[1].changes
    # Revoking twice is harmless and audited once.
    assert [e.action for e in token_entries] == ["revoke", "create"]
    assert token_entries[1].changes["prefix"] == token.prefix
    assert "token_hash" not in token_entries[1].changes


def test_audit_entry_carries_the_correlation_id(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.observability as observability

    var = getattr(observability, "correlation_id", None)
    if not isinstance(var, contextvars.ContextVar):
        var = contextvars.ContextVar("correlation_id", default=None)
        monkeypatch.setattr(observability, "correlation_id", var, raising=False)
    org = make_org(db)

    reset = var.set("req-1234")
    try:
        entry = auth_service.record_audit(
            session=db, principal=None, org_id=org.id, action="sync", entity="job", actor="nightly"
        )
    finally:
        var.reset(reset)

    assert entry.correlation_id == "req-1234"
    assert entry.actor == "nightly" and entry.actor_user_id is None


def test_audit_entry_must_stay_in_the_actors_organisation(db: Session) -> None:
    org_a, org_b = make_org(db, "A"), make_org(db, "B")
    actor = principal_for(make_user(db, org_a))

    with pytest.raises(ValueError, match="organisation"):
        auth_service.record_audit(
            session=db, principal=actor, org_id=org_b.id, action="delete", entity="deal"
        )
    with pytest.raises(ValueError):
        auth_service.record_audit(session=db, principal=None, action="x", entity="deal")


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(db: Session) -> None:
    org = make_org(db)
    only_admin = make_user(db, org, role=Role.admin)

    for change in (UserUpdate(role=Role.analyst), UserUpdate(is_active=False)):
        with pytest.raises(auth_service.LastAdminError):
            auth_service.update_user(
                session=db, org_id=org.id, user_id=only_admin.id, user_in=change
            )

    make_user(db, org, role=Role.admin)
    updated = auth_service.update_user(
        session=db, org_id=org.id, user_id=only_admin.id, user_in=UserUpdate(role=Role.analyst)
    )
    assert updated.role == Role.analyst


def test_revoking_a_token_does_not_touch_the_owners_other_tokens(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org)
    first, first_plain = make_api_token(db, user, name="one")
    _, second_plain = make_api_token(db, user, name="two")

    auth_service.revoke_api_token(session=db, org_id=org.id, token_id=first.id)

    assert auth_service.resolve_token(session=db, token=first_plain) is None
    assert auth_service.resolve_token(session=db, token=second_plain) is not None
    assert db.get(ApiToken, first.id).revoked_at is not None  # type: ignore[union-attr]


def test_organisation_slugs_are_normalised_and_unique(db: Session) -> None:
    first = auth_service.create_organisation(session=db, name="Motor City Homes")
    second = auth_service.create_organisation(session=db, name="Motor City Homes")
    named = auth_service.create_organisation(session=db, name="Demo", slug="Demo Org")

    assert first.slug == "motor-city-homes"
    assert second.slug.startswith("motor-city-homes-") and second.slug != first.slug
    assert auth_service.get_organisation_by_slug(session=db, slug="Demo Org") == named
    with pytest.raises(auth_service.ConflictError):
        auth_service.create_organisation(session=db, name="Again", slug="demo-org")
