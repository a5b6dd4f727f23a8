"""`dealdesk user create` and `dealdesk token create` against the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from app import app
from domain.auth import service as auth_service

REPO = Path(__file__).resolve().parents[2]


def _dealdesk(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if password is not None:
        env["DEALDESK_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_user_and_token_commands(committed_db: Session) -> None:
    created = _dealdesk(
        "user",
        "create",
        "Ana@Example.com",
        "--org",
        "acme",
        "--create-org",
        "--role",
        "investor",
        "--phone",
        "+13135550142",
        password="correct horse battery",
    )
    assert created.returncode == 0, created.stderr
    assert "created investor ana@example.com in 'acme'" in created.stderr

    user = auth_service.get_user_by_email(session=committed_db, email="ana@example.com")
    assert user is not None and user.role == "investor" and user.phone_number == "+13135550142"

    duplicate = _dealdesk(
        "user", "create", "ana@example.com", "--org", "acme", password="another password"
    )
    assert duplicate.returncode != 0
    # The same message as the API's: it never says which organisation has the address.
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", duplicate.stderr).split())
    assert "this email address can't be used for a new user" in said

    unknown_org = _dealdesk(
        "user", "create", "bo@example.com", "--org", "nope", password="another password"
    )
    assert unknown_org.returncode != 0 and "--create-org" in unknown_org.stderr

    token = _dealdesk("token", "create", "ana@example.com", "--name", "laptop")
    assert token.returncode == 0, token.stderr
    plaintext = token.stdout.strip()
    assert plaintext.startswith("dd_")

    with TestClient(app) as client:
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status_code == 200
    assert me.json()["email"] == "ana@example.com"
