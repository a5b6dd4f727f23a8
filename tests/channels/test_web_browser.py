"""The team chat in a real browser: Playwright for Python driving Debian's Chromium.

The real application runs in a subprocess (``python -m cli.main serve``) attached to this test
session's embedded PostgreSQL and Redis (through ``DEALDESK_DATA_DIR``), so the rows it reads
are committed first and truncated afterwards. The worked example is the deal ledger of
``web_chat_world``: income $4,350 (3 x $1,450 rent), expenses $3,895, net $455.

Without /usr/bin/chromium (the Debian package ``chromium``) the tests are skipped, except in
CI (``CI`` set), where they must run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import ConversationCreate
from tests.channels.web_chat_world import (
    PNL_EXPENSES,
    PNL_INCOME,
    PNL_NET,
    ChatWorld,
    build_chat_world,
)
from tests.conftest import truncate_all
from tests.factories import DEFAULT_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
# Set to a directory to keep screenshots of the page (for looking at the layout).
SCREENSHOT_DIR = os.environ.get("DEALDESK_SCREENSHOT_DIR")
WAIT_MS = 60_000


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(
            f"{CHROMIUM} (install the Debian package chromium: apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[test]')")
    if not missing:
        return
    message = "browser tests need " + " and ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run them")
    pytest.skip(message)


_require_browser()

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def world() -> Iterator[ChatWorld]:
    """Committed rows for the module (the server process must see them); truncated after."""
    from store.db import get_engine

    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        built = build_chat_world(session, password_for_analyst=True)
    yield built
    truncate_all(engine)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(world: ChatWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dealdesk serve`` on a free port, on this test session's database and Redis."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(WAIT_MS)
    pages = context.new_page()
    yield pages
    context.close()


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)


def sign_in(page: Page, world: ChatWorld) -> None:
    page.get_by_label("Email").fill(world.analyst.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Your question")).to_be_visible()


def test_a_team_member_signs_in_asks_for_a_deals_pnl_and_reads_it(
    page: Page, server: str, world: ChatWorld
) -> None:
    page.goto(server + "/")
    screenshot(page, "01-sign-in")
    sign_in(page, world)

    question = f"what's the P&L for deal {world.deal_id}"
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")

    answer = page.locator(".ddc-message--assistant[data-id]").last
    expect(answer).to_contain_text(PNL_INCOME)
    text = answer.inner_text()
    assert "P&L for deal" in text
    for figure in (PNL_INCOME, PNL_EXPENSES, PNL_NET):
        assert figure in text
    expect(page.locator(".ddc-message--user .ddc-bubble")).to_have_text(question)
    expect(answer.locator("summary")).to_contain_text("pnl")
    expect(page.locator(".ddc-conversation")).to_have_count(1)
    screenshot(page, "02-pnl-answer")

    # The history survives a reload (the token stays in this tab's sessionStorage).
    page.reload()
    expect(page.locator(".ddc-message--assistant[data-id]")).to_contain_text(PNL_NET)
    expect(page.locator(".ddc-conversation-title")).to_have_text(question)


def test_a_reply_renders_tables_and_links_and_never_runs_its_html(
    page: Page, server: str, world: ChatWorld
) -> None:
    # A reply as a model might write it: a pipe table, links, and HTML that must stay text.
    reply = (
        "Budget summary:\n"
        "| Line | Allocated | Spent |\n"
        "|---|---|---|\n"
        "| Roof | $12,000 | $9,500 |\n"
        "| Kitchen | $8,000 | $8,400 |\n"
        "Report: https://dealdesk.example.com/api/v1/reports/abc?sig=1 and [the deal](/deals/1)\n"
        "[click me](javascript:window.__xss=2)\n"
        '<img src=x onerror="window.__xss=1"><b>bold?</b>'
    )
    from store.db import session_scope

    with session_scope() as session:
        conversation = chat_service.create_conversation(
            session=session,
            org_id=world.org.id,
            user_id=world.analyst.id,
            conversation_in=ConversationCreate(title="Rendering check"),
        )
        chat_service.add_message(
            session=session,
            org_id=world.org.id,
            conversation=conversation,
            role=ChatRole.assistant,
            content=reply,
        )

    page.goto(server + "/")
    sign_in(page, world)
    page.get_by_role("button", name="Rendering check").click()

    message = page.locator(".ddc-message--assistant[data-id]").last
    table = message.locator("table.ddc-table").first
    expect(table.locator("th")).to_have_text(["Line", "Allocated", "Spent"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(
        ["Kitchen", "$8,000", "$8,400"]
    )
    links: list[Any] = message.locator("a").evaluate_all(
        "links => links.map(a => [a.textContent, a.getAttribute('href')])"
    )
    assert links == [
        [
            "https://dealdesk.example.com/api/v1/reports/abc?sig=1",
            "https://dealdesk.example.com/api/v1/reports/abc?sig=1",
        ],
        ["the deal", "/deals/1"],
    ]
    # The HTML is shown as text: no element was made from it and nothing of it ran.
    expect(message).to_contain_text('<img src=x onerror="window.__xss=1"><b>bold?</b>')
    expect(message).to_contain_text("[click me](javascript:window.__xss=2)")
    assert message.locator("img, b").count() == 0
    assert page.evaluate("window.__xss") is None
    screenshot(page, "03-rendering")


def test_the_widget_adds_a_chat_panel_to_another_page(
    page: Page, server: str, world: ChatWorld
) -> None:
    host = server + "/intranet/deals"
    page.route(
        host,
        lambda route: route.fulfill(
            content_type="text/html",
            body=(
                "<!doctype html><html><head><title>Intranet</title></head><body>"
                "<h1>Our deals</h1><p>The team's own page.</p>"
                '<script src="/widget.js"></script></body></html>'
            ),
        ),
    )
    page.goto(host)
    expect(page.get_by_role("heading", name="Our deals")).to_be_visible()
    page.get_by_role("button", name="Ask dealdesk").click()
    panel = page.get_by_role("dialog", name="dealdesk chat")
    expect(panel).to_be_visible()
    sign_in(page, world)
    page.get_by_label("Your question").fill("help")
    page.get_by_label("Your question").press("Enter")
    answer = panel.locator(".ddc-message--assistant[data-id]").last
    expect(answer).to_contain_text("I'm dealdesk")
    # The help text's bullets become a list (the host page declares no charset: the widget
    # must still read its own text right).
    expect(answer.locator(".ddc-list li").first).to_contain_text("a street address")
    assert answer.locator(".ddc-list li").count() >= 6
    expect(panel.get_by_label("Your question")).to_have_attribute(
        "placeholder", "Ask about a deal, a budget, a P&L or an address\u2026"
    )
    screenshot(page, "04-widget")

    # Signing out ends the token on the server, not just in the tab; the same user's other
    # sign-in (another browser, say) keeps working.
    token = page.evaluate("sessionStorage.getItem('dealdesk.chat.token')")
    assert isinstance(token, str) and token
    other = httpx.post(
        f"{server}/api/v1/auth/token",
        data={"username": world.analyst.email, "password": DEFAULT_PASSWORD},
    ).json()["access_token"]
    me = f"{server}/api/v1/users/me"
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/logout")) as logout:
        panel.get_by_role("button", name="Sign out").click()
    assert logout.value.status == 204
    expect(panel.get_by_role("button", name="Sign in")).to_be_visible()
    expect(panel.locator(".ddc-login .ddc-error")).to_have_text("")
    assert page.evaluate("sessionStorage.getItem('dealdesk.chat.token')") is None
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert httpx.get(me, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_the_api_docs_render_without_internet_access(page: Page, server: str) -> None:
    """Was: /docs loaded Swagger UI from cdn.jsdelivr.net, so offline it was a blank page."""
    outside: list[tuple[str, str]] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append((route.request.resource_type, route.request.url))
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(server + "/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=WAIT_MS)  # the schema is built on first use
    assert operations.count() > 100  # every operation of /api/v1 is listed
    expect(page.locator(".information-container .title")).to_contain_text("dealdesk")
    page.goto(server + "/redoc")
    expect(page.get_by_role("heading", name="dealdesk (0.1.0)")).to_be_visible(timeout=WAIT_MS)
    # Nothing the pages need comes from outside (ReDoc's footer logo is only an image).
    assert [url for kind, url in outside if kind != "image"] == []
