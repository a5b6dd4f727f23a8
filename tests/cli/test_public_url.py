"""`dealdesk run --port N` without PUBLIC_BASE_URL links to (and checks signatures against) port N.

Before, links in WhatsApp replies (report PDFs) and call webhooks named the default port 8000
whatever port the server listened on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cli import main as cli_main
from core.config import Settings, get_settings, local_base_url, signing_base_url


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = os.environ.pop("PUBLIC_BASE_URL", None)
    monkeypatch.chdir("/")  # no .env file
    get_settings.cache_clear()
    yield
    os.environ.pop("PUBLIC_BASE_URL", None)
    if before is not None:
        os.environ["PUBLIC_BASE_URL"] = before
    get_settings.cache_clear()


def test_serving_on_another_port_uses_it_for_links(clean_settings: None) -> None:
    assert get_settings().public_base_url == "http://127.0.0.1:8000"
    cli_main._public_url_for("0.0.0.0", 8129)
    assert get_settings().public_base_url == "http://127.0.0.1:8129"
    assert os.environ["PUBLIC_BASE_URL"] == "http://127.0.0.1:8129"  # the workers inherit it


def test_an_explicit_public_url_is_kept(
    clean_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://deals.example.com")
    get_settings.cache_clear()
    cli_main._public_url_for("127.0.0.1", 8129)
    assert get_settings().public_base_url == "https://deals.example.com"


def test_simulated_posts_are_signed_as_the_server_checks_them(clean_settings: None) -> None:
    settings = Settings()
    assert signing_base_url(settings, "http://localhost:8129") == "http://127.0.0.1:8129"
    assert signing_base_url(settings, None) == "http://127.0.0.1:8000"
    assert signing_base_url(settings, "http://10.0.0.5:9000") == "http://10.0.0.5:9000"
    explicit = Settings(PUBLIC_BASE_URL="https://deals.example.com")
    assert signing_base_url(explicit, "http://127.0.0.1:8129") == "https://deals.example.com"
    assert local_base_url("deals.internal", 80) == "http://deals.internal:80"
