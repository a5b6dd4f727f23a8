"""QA pass 9: the web chat after a session ends, and an account that may not chat.

Found live: an admin's session expired with a draft in the box; the "session expired" sign-out
cleared the log, but the failed question then wrote the server's "The token is invalid..."
into it and put the draft back, so the contractor who signed in next on that tab saw both
(and a chat that answered every question with a 403). Now every way out leaves an empty log
and box, and an account whose role may not chat is refused at sign-in, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import User

# Skips this module (or fails it in CI) when Chromium or Playwright is missing, as there.
from tests.channels import test_web_browser as web
from tests.conftest import truncate_all
from tests.factories import DEFAULT_PASSWORD, make_org, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The browser tests' fixtures: the served app, Chromium and a fresh page per test.
server = web.server
browser = web.browser
page = web.page
expect = web.expect


@dataclass(frozen=True)
class SignOutWorld:
    """An analyst and a contractor of one organisation, both with ``DEFAULT_PASSWORD``."""

    analyst: User
    contractor: User


@pytest.fixture(scope="module")
def world() -> Iterator[SignOutWorld]:
    """Committed users (the server process must see them); truncated after the module."""
    from store.db import get_engine

    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        org = make_org(session, "Sign-out Test Partners")
        analyst = make_user(session, org, Role.analyst, password=DEFAULT_PASSWORD)
        contractor = make_user(session, org, Role.contractor, password=DEFAULT_PASSWORD)
        session.commit()
        built = SignOutWorld(analyst=analyst, contractor=contractor)
    yield built
    truncate_all(engine)


def _sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_expired_session_leaves_nothing_and_a_contractor_is_refused_at_sign_in(
    page: Page,
    server: str,
    world: SignOutWorld,
) -> None:
    page.goto(server + "/")
    _sign_in(page, world.analyst.email)
    box = page.get_by_label("Your question")
    expect(box).to_be_visible()

    # The session ends on the server (expiry, or a sign-out elsewhere) while a draft waits.
    token = page.evaluate("() => sessionStorage.getItem('dealdesk.chat.token')")
    assert token, "the chat keeps its token in sessionStorage"
    ended = httpx.post(
        f"{server}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert ended.status_code in (200, 204), ended.text
    box.fill("what's the P&L for deal 42, confidential draft")
    box.press("Enter")

    expect(page.get_by_role("alert")).to_have_text(
        "Your session has expired: please sign in again."
    )
    expect(page.get_by_label("Email")).to_be_visible()
    # Nothing of that session is left on the page, even once the failed question settles.
    page.wait_for_timeout(500)
    assert page.locator(".ddc-log").first.inner_text() == ""
    assert box.input_value() == ""
    assert page.locator(".ddc-notice").count() == 0

    # A contractor signing in on the same tab is refused, saying why; no chat is shown.
    _sign_in(page, world.contractor.email)
    expect(page.get_by_role("alert")).to_have_text(
        "This account cannot use the chat: This needs one of the roles: admin, analyst, "
        "investor (you are contractor)."
    )
    expect(page.get_by_label("Email")).to_be_visible()
    expect(box).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('dealdesk.chat.token')") is None
    assert page.locator(".ddc-log").first.inner_text() == ""
    assert box.input_value() == ""

    # The analyst can still sign in on that tab and gets an empty chat.
    _sign_in(page, world.analyst.email)
    expect(box).to_be_visible()
    expect(page.locator(".ddc-empty")).to_be_visible()
    assert box.input_value() == ""
