"""Media downloads: only Twilio's hosts, with the account's credentials, within the size limit."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx
from pydantic import SecretStr

from channels import twilio_client as twilio
from tests.factories import override_settings

SID = "AC" + "a" * 32
MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(
        monkeypatch, twilio_account_sid=SID, twilio_auth_token=SecretStr("media-token-123")
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example.com/photo.jpg",
        "http://api.twilio.com/insecure.jpg",
        "https://api.twilio.com.evil.example/photo.jpg",
        "https://user:pw@api.twilio.com/photo.jpg",
        "https://api.twilio.com:8443/photo.jpg",
        "file:///etc/passwd",
    ],
)
def test_a_url_off_twilios_media_hosts_is_never_requested(url: str, credentials: None) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        with pytest.raises(twilio.MediaRefused):
            twilio.fetch_media(url, max_bytes=1000)
        assert not route.called
        assert mock.calls.call_count == 0


def test_media_is_fetched_with_basic_auth_and_redirect_goes_without_it(credentials: None) -> None:
    cdn = "https://media.twiliocdn.com/AC/abc"
    with respx.mock:
        first = respx.get(MEDIA).mock(return_value=httpx.Response(307, headers={"location": cdn}))
        second = respx.get(cdn).mock(
            return_value=httpx.Response(
                200, content=b"OggS123", headers={"content-type": "audio/ogg"}
            )
        )
        fetched = twilio.fetch_media(MEDIA, max_bytes=1000)
    assert fetched.data == b"OggS123"
    assert fetched.content_type == "audio/ogg"
    expected = "Basic " + base64.b64encode(f"{SID}:media-token-123".encode()).decode()
    assert first.calls.last.request.headers["authorization"] == expected
    assert "authorization" not in second.calls.last.request.headers


def test_a_redirect_off_twilio_is_refused(credentials: None) -> None:
    with respx.mock:
        respx.get(MEDIA).mock(
            return_value=httpx.Response(302, headers={"location": "https://evil.example.com/x"})
        )
        evil = respx.get("https://evil.example.com/x")
        with pytest.raises(twilio.MediaRefused):
            twilio.fetch_media(MEDIA, max_bytes=1000)
        assert not evil.called


def test_oversize_media_stops_at_the_limit(credentials: None) -> None:
    with respx.mock:
        respx.get(MEDIA).mock(return_value=httpx.Response(200, content=b"x" * 5000))
        with pytest.raises(twilio.MediaTooLarge) as raised:
            twilio.fetch_media(MEDIA, max_bytes=4096)
    assert raised.value.limit_bytes == 4096


def test_a_twilio_error_is_a_fetch_error(credentials: None) -> None:
    with respx.mock:
        respx.get(MEDIA).mock(return_value=httpx.Response(404))
        with pytest.raises(twilio.MediaFetchError, match="404"):
            twilio.fetch_media(MEDIA, max_bytes=4096)


def test_the_rest_client_sends_through_httpx_with_a_timeout(credentials: None) -> None:
    client = twilio.build_rest_client()
    assert client is not None
    http = client.http_client
    assert isinstance(http, twilio.HttpxTwilioHttpClient)
    assert http.timeout == 10.0
    with respx.mock:
        route = respx.post(f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json").mock(
            return_value=httpx.Response(201, json={"sid": "SM123", "status": "queued"})
        )
        sent = twilio.send_whatsapp(
            client, to="+13135550100", from_="+14155238886", body="hi", media_urls=["https://x/r"]
        )
    assert sent.sid == "SM123"
    body = route.calls.last.request.content.decode()
    assert "To=whatsapp%3A%2B13135550100" in body
    assert "From=whatsapp%3A%2B14155238886" in body
    assert "MediaUrl=https%3A%2F%2Fx%2Fr" in body
