"""Pure parts of the WhatsApp service: parsing, splitting, the agent's input, the window."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.whatsapp import service
from domain.whatsapp.models import Conversation
from store.base import utcnow


def test_long_text_splits_at_sentence_boundaries_under_1600() -> None:
    sentence = "The roof needs replacing and the furnace is twenty years old. "
    text = sentence * 60  # 3,720 characters
    parts = service.split_message(text)
    assert len(parts) == 3
    assert all(len(p) <= 1600 for p in parts)
    assert all(p.endswith("old.") for p in parts)
    assert " ".join(parts) == text.strip()


def test_line_breaks_survive_and_short_replies_are_untouched() -> None:
    reply = "123 Main St\nVerdict: Buy\n\nValue $100,000 · ARV $150,000"
    assert service.split_message(reply) == [reply]
    lines = [f"Line {n}: the numbers for this property are fine." for n in range(60)]
    parts = service.split_message("\n".join(lines))
    assert len(parts) == 2 and all(len(p) <= 1600 for p in parts)
    assert "\n".join(parts).split("\n") == lines


def test_a_sentence_longer_than_the_limit_is_cut_at_a_space() -> None:
    parts = service.split_message("word " * 500, limit=100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == ["word"] * 500
    assert service.split_message("   ") == []
    assert service.split_message("x" * 250, limit=100) == ["x" * 100, "x" * 100, "x" * 50]


def test_parse_inbound_reads_twilio_fields() -> None:
    parsed = service.parse_inbound(
        {
            "MessageSid": "SM" + "1" * 32,
            "From": "whatsapp:+1 (313) 555-0100",
            "Body": "hi",
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/a",
            "MediaContentType0": "audio/ogg",
            "MediaUrl1": "https://api.twilio.com/b",
            "MediaContentType1": "image/jpeg",
        }
    )
    assert parsed.phone_number == "+13135550100"
    assert [m.content_type for m in parsed.media] == ["audio/ogg", "image/jpeg"]
    assert service.message_type_of(parsed.media) == "voice"


@pytest.mark.parametrize(
    "params",
    [{"MessageSid": "SM" + "1" * 32}, {"From": "whatsapp:+13135550100"}, {"MessageSid": "x"}],
)
def test_parse_inbound_refuses_posts_that_are_not_messages(params: dict[str, str]) -> None:
    with pytest.raises(service.InvalidInbound):
        service.parse_inbound(params)


def test_a_10000_character_message_is_cut_for_the_agent_with_a_note() -> None:
    cut = service.agent_input("a" * 10_000)
    assert len(cut.text) == 2000
    assert cut.note == "Your message was 10,000 characters long; I read the first 2,000."
    assert service.agent_input("  hi  ") == service.AgentInput("hi", None)


def test_the_session_window_is_24_hours_from_the_last_inbound() -> None:
    now = utcnow()
    conversation = Conversation(
        org_id=uuid.uuid4(), last_inbound_at=now - timedelta(hours=23, minutes=59)
    )
    assert service.window_open(conversation, now=now)
    conversation.last_inbound_at = now - timedelta(hours=24, seconds=1)
    assert not service.window_open(conversation, now=now)
    assert not service.window_open(Conversation(org_id=uuid.uuid4()), now=now)
