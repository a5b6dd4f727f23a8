"""A new analyst's first day with the team chat page, in a real browser (QA pass).

Each test drives ``dealdesk serve`` (the fixtures of ``test_web_browser``: a server process on
this test session's database and Redis, Debian's Chromium) the way a person would, and pins a
defect that was found and fixed in ``channels/static``: a wrong password announced as an expired
session, a question lost when the server refused it or could not be reached, a same-site link
that led to another site, Enter sending mid-composition in an input method, and a header that
pushed "Sign out" off a phone's screen. Nothing of ours is mocked; the network drop is the
browser's own offline mode.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect
from redis import Redis

from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import ConversationCreate
from tests.channels import test_web_browser as browser_tests
from tests.channels.web_chat_world import ChatWorld

# The browser tests' fixtures and helpers (their own server process, on this module's world).
world = browser_tests.world
server = browser_tests.server
browser = browser_tests.browser
page = browser_tests.page
screenshot = browser_tests.screenshot
sign_in = browser_tests.sign_in

TOKEN_KEY = "dealdesk.chat.token"
# Every text the sign-in form's alert shows, in order (a screen reader announces each one).
RECORD_ALERTS = """() => {
  window.__alerts = [];
  const alert = document.querySelector(".ddc-login .ddc-error");
  new MutationObserver(() => window.__alerts.push(alert.textContent))
    .observe(alert, { childList: true, characterData: true, subtree: true });
}"""


def ask_and_wait(page: Page, text: str, expected: str) -> None:
    """Send a question with Enter and wait for the answer that contains ``expected``."""
    box = page.get_by_label("Your question")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".ddc-message--assistant[data-id]").last).to_contain_text(expected)


def stored_token(page: Page) -> Any:
    """The bearer token the page keeps in this tab's sessionStorage (None when signed out)."""
    return page.evaluate("key => sessionStorage.getItem(key)", TOKEN_KEY)


def add_conversation(world: ChatWorld, title: str, reply: str) -> None:
    """Commit a conversation of the analyst's with one assistant message (the server reads it)."""
    from store.db import session_scope

    with session_scope() as session:
        conversation = chat_service.create_conversation(
            session=session,
            org_id=world.org.id,
            user_id=world.analyst.id,
            conversation_in=ConversationCreate(title=title),
        )
        chat_service.add_message(
            session=session,
            org_id=world.org.id,
            conversation=conversation,
            role=ChatRole.assistant,
            content=reply,
        )


def error_notice(page: Page) -> Any:
    """The latest error line in the conversation."""
    return page.locator(".ddc-log .ddc-notice--error").last


def test_a_wrong_password_and_a_lockout_are_not_called_an_expired_session(
    page: Page, server: str, world: ChatWorld, redis: Redis
) -> None:
    page.goto(server + "/")
    page.evaluate(RECORD_ALERTS)
    password = page.get_by_label("Password")
    page.get_by_label("Email").fill(world.analyst.email)
    password.fill("not-the-password")
    password.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Incorrect email or password")
    # Only the refusal is announced, and the keyboard stays where the retyping happens.
    assert (
        page.evaluate("window.__alerts").count("Your session has expired: please sign in again.")
        == 0
    )
    expect(password).to_be_focused()

    # Ten wrong passwords for one account lock it out here: the page says so, and for how long.
    page.get_by_label("Email").fill("nobody-at-all@example.com")
    for _ in range(10):
        with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/token")) as refused:
            password.fill("wrong")
            password.press("Enter")
        assert refused.value.status == 401
        expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/token")) as locked:
        password.fill("wrong")
        password.press("Enter")
    assert locked.value.status == 429
    expect(alert).to_contain_text("Too many failed sign-ins: try again in")
    assert not any("expired" in text for text in page.evaluate("window.__alerts"))
    assert stored_token(page) is None


def test_a_session_that_expires_mid_conversation_keeps_the_question_for_after_sign_in(
    page: Page, server: str, world: ChatWorld
) -> None:
    page.goto(server + "/")
    sign_in(page, world)
    ask_and_wait(page, "help", "I'm dealdesk")

    # The token ends on the server (as it would on expiry or a sign-out elsewhere).
    token = stored_token(page)
    ended = httpx.post(f"{server}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 204

    question = f"what's the P&L for deal {world.deal_id}"
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "Your session has expired: please sign in again."
    )
    assert stored_token(page) is None

    # Signing in again finds the question still typed, ready to send.
    sign_in(page, world)
    box = page.get_by_label("Your question")
    expect(box).to_have_value(question)
    expect(box).to_be_focused()
    box.press("Enter")
    expect(page.locator(".ddc-message--assistant[data-id]").last).to_contain_text("P&L for deal")
    # The token lives only in this tab's sessionStorage: never localStorage, never the URL.
    token = stored_token(page)
    assert page.evaluate("localStorage.length") == 0
    assert token not in page.url and "token" not in page.url


def test_a_question_the_server_refuses_or_never_receives_stays_in_the_box(
    page: Page, server: str, world: ChatWorld
) -> None:
    page.goto(server + "/")
    sign_in(page, world)
    box = page.get_by_label("Your question")

    # A 5,000-character paste is over the limit: the server refuses it and nothing is lost.
    pasted = ("Seller notes: roof 2009, HVAC 2015, needs kitchen. " * 100)[:5000]
    box.focus()
    page.keyboard.insert_text(pasted)
    box.press("Enter")
    expect(error_notice(page)).to_contain_text(f"at most {chat_service.MAX_MESSAGE_CHARS}")
    expect(box).to_have_value(pasted)
    expect(page.locator(".ddc-message--user")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    # The network drops: the page says what happened and keeps the question to resend.
    page.context.set_offline(True)
    box.fill("help")
    box.press("Enter")
    expect(error_notice(page)).to_have_text(
        "Could not reach dealdesk: check your connection and send again."
    )
    expect(box).to_have_value("help")
    expect(box).to_be_focused()
    page.context.set_offline(False)
    box.press("Enter")
    expect(page.locator(".ddc-message--assistant[data-id]").last).to_contain_text("I'm dealdesk")
    expect(page.locator(".ddc-message--user .ddc-bubble")).to_have_text(["help"])
    expect(box).to_have_value("")


def test_a_same_site_looking_link_never_leads_to_another_site(
    page: Page, server: str, world: ChatWorld
) -> None:
    # Browsers read "/\host" as "//host": a link written like a path must stay on this site.
    reply = "See [the deal](/\\evil.example/deals/1) or [the budget](/deals/2/budget)."
    add_conversation(world, "Link check", reply)
    page.goto(server + "/")
    sign_in(page, world)
    page.get_by_role("button", name="Link check").click()
    message = page.locator(".ddc-message--assistant[data-id]").last
    expect(message).to_contain_text("[the deal](/\\evil.example/deals/1)")
    hrefs = message.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == [f"{server}/deals/2/budget"]

    # A typed message with markup is shown as typed, and none of it runs.
    typed = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    ask_and_wait(page, typed, "")
    bubble = page.locator(".ddc-message--user .ddc-bubble").last
    expect(bubble).to_have_text(typed)
    assert bubble.locator("img, script").count() == 0
    assert page.evaluate("window.__xss") is None


def test_enter_sends_but_not_while_an_input_method_is_composing(
    page: Page, server: str, world: ChatWorld
) -> None:
    page.goto(server + "/")
    sign_in(page, world)
    box = page.get_by_label("Your question")
    box.fill("予算")
    # The Enter that picks a candidate in a Japanese or Chinese input method.
    value = box.evaluate(
        """box => {
          box.dispatchEvent(new KeyboardEvent("keydown", {
            key: "Enter", keyCode: 229, isComposing: true, bubbles: true, cancelable: true }));
          return box.value;
        }"""
    )
    assert value == "予算"
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    # Shift+Enter starts a new line; Enter sends the whole question.
    box.press("Shift+Enter")
    box.press_sequentially("for deal " + str(world.deal_id))
    expect(box).to_have_value(f"予算\nfor deal {world.deal_id}")
    box.press("Enter")
    expect(page.locator(".ddc-message--user .ddc-bubble")).to_have_text(
        f"予算\nfor deal {world.deal_id}"
    )
    expect(page.locator(".ddc-message--assistant[data-id]")).to_have_count(1)


def test_a_phone_width_window_keeps_the_header_on_screen(
    page: Page, server: str, world: ChatWorld
) -> None:
    page.set_viewport_size({"width": 375, "height": 700})
    page.goto(server + "/")
    sign_in(page, world)
    ask_and_wait(page, "help", "I'm dealdesk")
    sign_out = page.get_by_role("button", name="Sign out")
    box = sign_out.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 375
    screenshot(page, "qa-phone-chat")
    expect(page.locator(".ddc-who")).to_have_text(world.analyst.email)
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_a_phone_user_can_go_back_to_an_earlier_conversation(
    page: Page, server: str, world: ChatWorld
) -> None:
    add_conversation(world, "Elm St walkthrough", "Roof is 2009; budget $12,000 for it.")
    page.set_viewport_size({"width": 375, "height": 700})
    page.goto(server + "/")
    sign_in(page, world)
    ask_and_wait(page, "help", "I'm dealdesk")

    # No room for the list beside the chat: a History button opens it over the chat.
    history = page.get_by_role("button", name="History")
    expect(history).to_have_attribute("aria-expanded", "false")
    earlier = page.get_by_role("button", name="Elm St walkthrough")
    expect(earlier).to_be_hidden()
    history.click()
    expect(history).to_have_attribute("aria-expanded", "true")
    expect(earlier).to_be_visible()
    # The open conversation is the current one, for a screen reader too.
    current = page.locator(".ddc-conversation[aria-current=true]")
    expect(current).to_have_count(1)
    expect(current).to_have_class("ddc-conversation is-active")
    expect(current).to_be_focused()
    screenshot(page, "qa-phone-history")
    # Escape closes it and gives the keyboard back to the button that opened it.
    page.keyboard.press("Escape")
    expect(earlier).to_be_hidden()
    expect(history).to_be_focused()

    # A tap on the chat beside the list closes it too.
    history.click()
    expect(earlier).to_be_visible()
    page.mouse.click(365, 350)
    expect(earlier).to_be_hidden()
    expect(history).to_have_attribute("aria-expanded", "false")

    history.press("Enter")
    earlier.click()
    expect(earlier).to_be_hidden()
    expect(page.get_by_label("Your question")).to_be_focused()
    expect(page.locator(".ddc-message--user")).to_have_count(0)
    expect(page.locator(".ddc-message--assistant[data-id] .ddc-bubble")).to_have_text(
        ["Roof is 2009; budget $12,000 for it."]
    )
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_the_widget_takes_the_keyboard_in_and_escape_gives_it_back(
    page: Page, server: str, world: ChatWorld
) -> None:
    host = server + "/intranet/pipeline"
    page.route(
        host,
        lambda route: route.fulfill(
            content_type="text/html",
            body=(
                '<!doctype html><html lang="en"><head><title>Pipeline</title></head><body>'
                '<h1>Pipeline</h1><script src="/widget.js"></script></body></html>'
            ),
        ),
    )
    page.goto(host)
    launcher = page.get_by_role("button", name="Ask dealdesk")
    launcher.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name="dealdesk chat")
    expect(panel.get_by_label("Email")).to_be_focused()
    sign_in(page, world)
    expect(panel.get_by_label("Your question")).to_be_focused()

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    launcher = page.get_by_role("button", name="Ask dealdesk")
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    # Opened again from the keyboard, the panel (before the launcher in the page) has it.
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(panel.get_by_label("Your question")).to_be_focused()
    page.keyboard.type("help")
    page.keyboard.press("Enter")
    expect(panel.locator(".ddc-message--assistant[data-id]").last).to_contain_text("I'm dealdesk")


def test_keyboard_screen_reader_and_double_click_basics(
    page: Page, server: str, world: ChatWorld
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    response = page.goto(server + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_label("Email")).to_be_focused()
    sign_in(page, world)
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")

    # A double-click on Send asks once.
    posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.url) if r.method == "POST" and r.url.endswith("/messages") else None
        ),
    )
    page.get_by_label("Your question").fill("help")
    page.get_by_role("button", name="Send").dblclick()
    expect(page.locator(".ddc-message--assistant[data-id]").last).to_contain_text("I'm dealdesk")
    expect(page.locator(".ddc-message--user")).to_have_count(1)
    assert len(posts) == 1
    # The keyboard is back in the box for the next question, and Tab reaches Send next.
    box = page.get_by_label("Your question")
    expect(box).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()

    # Signing out drops an unsent draft: the next person to sign in here does not see it.
    box.fill("offer $180,000 on the Elm St deal")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/logout")):
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, world)
    expect(page.get_by_label("Your question")).to_have_value("")
    # Nothing the page did was refused by its own Content-Security-Policy.
    assert not [line for line in console if "Content Security Policy" in line]
