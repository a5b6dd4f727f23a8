"""A long conversation in a real browser: the latest page first, "Load earlier messages" above.

Same set-up as ``test_web_browser`` (its fixtures: ``dealdesk serve`` in a subprocess on this
session's database and Redis, Debian's Chromium through Playwright, committed rows truncated
after the module). The chat loads 50 messages at a time.
"""

from __future__ import annotations

import datetime as dt

from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import ConversationCreate, Message
from tests.channels import test_web_browser as shared
from tests.channels.test_web_browser import screenshot, sign_in
from tests.channels.web_chat_world import ChatWorld

# The browser test's fixtures (its server, browser, page and committed world), used here too.
browser = shared.browser
page = shared.page
server = shared.server
world = shared.world

# Imported after test_web_browser, which skips (in CI: fails) the module without a browser.
from playwright.sync_api import Page, expect  # noqa: E402

MESSAGES = 120  # three pages of 50, 50 and 20
PAGE = 50
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def long_conversation(world: ChatWorld, title: str) -> list[str]:
    """Committed: ``MESSAGES`` messages; pairs share a timestamp. Their texts, in order."""
    from store.db import session_scope

    rows: list[Message] = []
    with session_scope() as session:
        conversation = chat_service.create_conversation(
            session=session,
            org_id=world.org.id,
            user_id=world.analyst.id,
            conversation_in=ConversationCreate(title=title),
        )
        for number in range(MESSAGES):
            rows.append(
                Message(
                    org_id=world.org.id,
                    conversation_id=conversation.id,
                    role=(ChatRole.user if number % 2 == 0 else ChatRole.assistant).value,
                    content=f"message {number}",
                    created_at=T0 + dt.timedelta(minutes=number // 2),
                )
            )
        session.add_all(rows)
        conversation.message_count = MESSAGES
        session.add(conversation)
    # The chat's order: by time, then by id among messages sharing one.
    return [m.content for m in sorted(rows, key=lambda m: (m.created_at, m.id))]


def short_conversation(world: ChatWorld, title: str) -> None:
    """Committed: a question and its answer."""
    from store.db import session_scope

    with session_scope() as session:
        conversation = chat_service.create_conversation(
            session=session,
            org_id=world.org.id,
            user_id=world.analyst.id,
            conversation_in=ConversationCreate(title=title),
        )
        for role, text in ((ChatRole.user, "first question"), (ChatRole.assistant, "an answer")):
            chat_service.add_message(
                session=session,
                org_id=world.org.id,
                conversation=conversation,
                role=role,
                content=text,
            )


def shown(page: Page) -> list[str]:
    texts: list[str] = page.locator(".ddc-message[data-id] .ddc-bubble").all_inner_texts()
    return [text.strip() for text in texts]


def test_a_long_conversation_loads_its_latest_page_then_earlier_ones_on_request(
    page: Page, server: str, world: ChatWorld
) -> None:
    order = long_conversation(world, "Long history")
    page.goto(server + "/")
    sign_in(page, world)
    page.get_by_role("button", name="Long history").click()

    messages = page.locator(".ddc-message[data-id]")
    expect(messages).to_have_count(PAGE)
    assert shown(page) == order[-PAGE:]
    earlier = page.get_by_role("button", name="Load earlier messages")
    expect(earlier).to_be_visible()
    expect(earlier).to_have_attribute(
        "aria-controls", page.locator(".ddc-log").get_attribute("id") or ""
    )
    # The button sits at the top of the log, above the oldest message shown.
    assert page.locator(".ddc-log > :first-child button").inner_text() == "Load earlier messages"
    log = page.locator(".ddc-log")
    assert log.evaluate("l => l.scrollHeight - l.scrollTop - l.clientHeight") < 5  # at the bottom

    # Scrolled to the top to reach it: the message on screen stays on screen after the load.
    log.evaluate("l => { l.scrollTop = 0; }")
    anchor = page.locator(".ddc-message[data-id]").first
    anchor_id = anchor.get_attribute("data-id")
    top_before = anchor.evaluate("n => n.getBoundingClientRect().top")
    screenshot(page, "05-load-earlier-button")
    earlier.click()
    expect(messages).to_have_count(2 * PAGE)
    assert shown(page) == order[-2 * PAGE :]
    same = page.locator(f'.ddc-message[data-id="{anchor_id}"]')
    assert abs(same.evaluate("n => n.getBoundingClientRect().top") - top_before) < 2
    assert log.evaluate("l => l.scrollTop") > 0
    expect(page.get_by_role("status")).to_have_text(f"Loaded {PAGE} earlier messages")
    screenshot(page, "06-earlier-messages-loaded")

    # The last click reaches the first message; nothing repeats and the button goes away.
    earlier.focus()
    page.keyboard.press("Enter")
    expect(messages).to_have_count(MESSAGES)
    expect(earlier).to_have_count(0)
    assert shown(page) == order
    assert sorted(order) == sorted(f"message {n}" for n in range(MESSAGES))
    assert page.evaluate("document.activeElement.classList.contains('ddc-log')")

    # A reload starts again from the latest page.
    page.reload()
    expect(messages).to_have_count(PAGE)
    expect(page.get_by_role("button", name="Load earlier messages")).to_be_visible()

    # A short conversation opened next shows all of itself and no button.
    short_conversation(world, "Short history")
    page.reload()
    page.get_by_role("button", name="Short history").click()
    expect(messages).to_have_count(2)
    expect(page.get_by_role("button", name="Load earlier messages")).to_have_count(0)
