"""Masking: phone numbers, WhatsApp addresses, tokens and secrets never reach a log line."""

from __future__ import annotations

import json
import logging
import random
import secrets
from typing import Any

import pytest

from core.observability import mask, mask_value, register_secret

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI2ZjFkIiwib3JnIjoiYWNtZSIsImV4cCI6MTcwMDAwMDAwMH0."
    "Nq3Zp0n8lKc0w3vH0YgJb2pQm1xYQ3sWc5y8t9r-_aA"
)
DD_TOKEN = "dd_" + "Zk3_pQ9-xY7wVb2NcR5tLm8sHd4jFg6aKe1oUi0T"  # dd_ + 40 url-safe characters
ACCOUNT_SID = "AC" + "0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "f00dfacecafe0123456789abcdef0123"

# (text containing a secret, the secret that must disappear, what the masked text shows)
MASKED_CASES = [
    ("call me on +12025551234", "2025551234", "+1******1234"),
    ("uk number +447911123456 please", "7911123456", "+4*******3456"),
    ("From=whatsapp:+14155550123&Body=hi", "4155550123", "whatsapp:+1******0123"),
    ("From=whatsapp%3A%2B14155550123&To=x", "4155550123", "whatsapp%3A%2B1******0123"),
    ("office (202) 555-0142 ext", "555-0142", "(***) ***-0142"),
    ("cell 202-555-0142.", "202-555", "***-***-0142"),
    ("dotted 202.555.0142", "202.555", "***.***.0142"),
    ("intl +1 202 555 0142", "202 555", "+1 *** *** 0142"),
    ("bare 2025550142", "2025550142", "******0142"),
    (f"Authorization: Bearer {JWT}", JWT[40:60], "Authorization: ***"),
    (f"header bearer {DD_TOKEN[3:]}", DD_TOKEN[3:], "bearer ***"),
    (f"jwt {JWT} in text", JWT.split(".")[1], "eyJ***"),
    (f"api token {DD_TOKEN} used", DD_TOKEN[3:], "dd_***"),
    (f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", ACCOUNT_SID[2:], "Accounts/AC***/"),
    (f"https://{ACCOUNT_SID}:{TWILIO_TOKEN}@api.twilio.com/", TWILIO_TOKEN, ":***@api.twilio"),
    (f"AuthToken={TWILIO_TOKEN}&x=1", TWILIO_TOKEN, "AuthToken=***&x=1"),
    ("GET /login?email=a@b.co&password=hunter2&next=/", "hunter2", "password=***&next=/"),
    ("token=s3cr3tvalue&page=2", "s3cr3tvalue", "token=***&page=2"),
    ("client_secret=shh-its-secret", "shh-its-secret", "client_secret=***"),
    ("{'password': 'hunter2', 'user': 'bob'}", "hunter2", "'password': '***'"),
    ('{"refresh_token": "rt-123456", "user": "bob"}', "rt-123456", '"refresh_token": "***"'),
    ("Authorization: Basic QUM6c2VjcmV0dG9rZW4=", "QUM6c2VjcmV0dG9rZW4", "Authorization: ***"),
]

# Text that looks a little like a secret but must survive untouched.
KEPT_CASES = [
    "correlation 3f2a1234567890b4c5d6e7f809123456",
    # A request id whose hex starts with ten digits that read like a NANP number (was masked
    # "******9131ca4b...", so the request id in the log line no longer matched).
    "request_id 6502959131ca4b9299e947e0db6e5379",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "at 2024-01-15T10:30:00.123Z, epoch 1700000000",
    "price $250,000.00 for 1,850 sqft, 3 bed 2 bath",
    "tokens_used=512 prompt_tokens=400",
    "message sid SM0123456789abcdef0123456789abcdef",
    "zip 50010, parcel 0907-12-345",
    "odd_numbered_items_for_the_report_builder",
]


@pytest.mark.parametrize(("raw", "secret", "shown"), MASKED_CASES)
def test_secrets_are_masked_in_free_text(raw: str, secret: str, shown: str) -> None:
    masked = mask(raw)
    assert secret not in masked
    assert shown in masked
    assert mask(masked) == masked  # masking twice (extras, then the line) changes nothing


@pytest.mark.parametrize("raw", KEPT_CASES)
def test_ordinary_text_is_left_alone(raw: str) -> None:
    assert mask(raw) == raw


def test_random_phone_numbers_keep_only_their_last_four_digits() -> None:
    rng = random.Random(20240115)
    for _ in range(500):
        country = rng.choice(["1", "44", "52", "351", "91"])
        national = "".join(
            rng.choice("0123456789") for _ in range(rng.randint(7, 15 - len(country)))
        )
        number = f"+{country}{national}"
        wrappers = [f"{number}", f"whatsapp:{number}", f"to={number}&x", f"[{number}]"]
        for text in wrappers:
            masked = mask(text)
            digits = number[1:]
            assert digits not in masked, text
            assert masked.count("*") == len(digits) - 5, (text, masked)
            assert digits[-4:] in masked


def test_registered_secret_values_are_masked_wherever_they_appear() -> None:
    value = secrets.token_hex(16)
    register_secret(value)
    assert mask(f"signing with {value}!") == "signing with ***!"


@pytest.mark.parametrize(("raw", "secret", "shown"), MASKED_CASES)
def test_secrets_are_masked_in_messages_and_extras_of_rendered_lines(
    json_logs: Any, raw: str, secret: str, shown: str
) -> None:
    logger = logging.getLogger("tests.core.masking")
    logger.info("inbound %s", raw, extra={"detail": raw, "nested": {"items": [raw]}})

    line = json_logs.raw()[-1]
    record = json.loads(line)
    assert secret not in line
    assert shown in record["message"]
    assert shown in record["detail"]
    assert shown in record["nested"]["items"][0]


def test_sensitive_extra_keys_are_masked_whole_and_counters_are_not() -> None:
    masked = mask_value(
        {
            "password": "hunter2",
            "Authorization": "anything at all",
            "api_key": 12345,
            "auth_token": TWILIO_TOKEN,
            "prompt_tokens": 812,
            "phone": "+12025551234",
            "user": "bob",
        }
    )
    assert masked == {
        "password": "***",
        "Authorization": "***",
        "api_key": "***",
        "auth_token": "***",
        "prompt_tokens": 812,
        "phone": "+1******1234",
        "user": "bob",
    }
