"""Twilio over httpx: the REST client for outbound WhatsApp messages, and media downloads.

The Twilio SDK speaks HTTP through its ``HttpClient``; ``HttpxTwilioHttpClient`` is one built
on httpx, so timeouts are ours and tests mock Twilio's REST API with respx.

Media (voice notes, photos) are fetched only from Twilio's own hosts, over https, with the
account's credentials (HTTP Basic), and at most ``max_bytes`` are read: a URL on any other
host is never requested (SSRF), and a redirect is followed only to Twilio's media storage,
without the credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from core.config import Settings, get_settings

log = logging.getLogger(__name__)

# Hosts a webhook's MediaUrl may name (exactly these; https only).
TWILIO_MEDIA_HOSTS = frozenset({"api.twilio.com", "media.twiliocdn.com"})
# Twilio answers a media URL with a redirect to its media bucket, sometimes addressed
# path-style on S3 (https://s3-external-1.amazonaws.com/media.twiliocdn.com/...).
_MEDIA_BUCKET_PATH = "/media.twiliocdn.com/"
MAX_REDIRECTS = 3


class MediaRefused(ValueError):
    """A media URL that is not Twilio's (or not https): never fetched."""


class MediaTooLarge(ValueError):
    """The media is larger than the limit for its type."""

    def __init__(self, limit_bytes: int) -> None:
        """Record the limit that was passed."""
        super().__init__(f"larger than {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class MediaFetchError(RuntimeError):
    """Twilio did not hand over the media (an HTTP error or a network failure)."""


class HttpxTwilioHttpClient(HttpClient):
    """The Twilio SDK's ``HttpClient`` on httpx, with a timeout on every request."""

    def __init__(self, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        """Use ``client`` (or a new httpx client) with ``timeout_s`` per request."""
        super().__init__(logging.getLogger("twilio.http_client"), False, timeout_s)
        self._client = client or httpx.Client(timeout=timeout_s)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request to Twilio and return the SDK's response type."""
        response = self._client.request(
            method.upper(),
            uri,
            params=params,  # type: ignore[arg-type]
            data=data,  # type: ignore[arg-type]
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        return Response(response.status_code, response.text, response.headers)

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()


def build_rest_client(settings: Settings | None = None) -> Client | None:
    """The Twilio REST client for the configured account, or None without credentials."""
    settings = settings or get_settings()
    if not settings.twilio_configured or settings.twilio_auth_token is None:
        return None
    return Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=HttpxTwilioHttpClient(timeout_s=settings.twilio_timeout_s),
    )


def whatsapp_address(phone_number: str) -> str:
    """``+13135550100`` → ``whatsapp:+13135550100`` (unchanged when already prefixed)."""
    return phone_number if phone_number.startswith("whatsapp:") else f"whatsapp:{phone_number}"


@dataclass(frozen=True)
class SentMessage:
    """What Twilio answered for one message."""

    sid: str
    status: str


def send_whatsapp(
    client: Client,
    *,
    to: str,
    from_: str,
    body: str | None = None,
    media_urls: list[str] | None = None,
    content_sid: str | None = None,
    content_variables: str | None = None,
) -> SentMessage:
    """Send one WhatsApp message (text, media or a template) through Twilio's REST API."""
    kwargs: dict[str, Any] = {"to": whatsapp_address(to), "from_": whatsapp_address(from_)}
    if content_sid:
        kwargs["content_sid"] = content_sid
        if content_variables:
            kwargs["content_variables"] = content_variables
    else:
        if body:
            kwargs["body"] = body
        if media_urls:
            kwargs["media_url"] = media_urls
    message = client.messages.create(**kwargs)
    return SentMessage(sid=str(message.sid), status=str(message.status))


# --- media -------------------------------------------------------------------------------


def check_media_url(url: str) -> str:
    """Return ``url`` when it is an https URL on one of Twilio's media hosts; else refuse."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or host not in TWILIO_MEDIA_HOSTS or parts.username:
        raise MediaRefused(f"media URL is not on Twilio's media hosts: {parts.scheme}://{host}")
    if parts.port not in (None, 443):
        raise MediaRefused("media URL names a port other than 443")
    return url


def _redirect_allowed(url: str) -> bool:
    """A redirect may lead to Twilio's media hosts or its media bucket on S3 (https only)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.port not in (None, 443):
        return False
    if host in TWILIO_MEDIA_HOSTS:
        return True
    return host.endswith(".amazonaws.com") and parts.path.startswith(_MEDIA_BUCKET_PATH)


@dataclass(frozen=True)
class FetchedMedia:
    """Downloaded media bytes and the content type Twilio declared."""

    data: bytes
    content_type: str | None


def fetch_media(
    url: str,
    *,
    max_bytes: int,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
) -> FetchedMedia:
    """Download Twilio media with the account's credentials, reading at most ``max_bytes``.

    Raises ``MediaRefused`` before any request for a URL that is not Twilio's,
    ``MediaTooLarge`` as soon as the size passes the limit, ``MediaFetchError`` otherwise.
    """
    check_media_url(url)
    settings = settings or get_settings()
    auth: tuple[str, str] | None = None
    if settings.twilio_configured and settings.twilio_auth_token is not None:
        auth = (settings.twilio_account_sid or "", settings.twilio_auth_token.get_secret_value())
    owned = client is None
    http = client or httpx.Client(timeout=settings.twilio_timeout_s)
    try:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            # Credentials go to Twilio's API host only, never along a redirect.
            request_auth = auth if urlsplit(current).hostname == "api.twilio.com" else None
            with http.stream("GET", current, auth=request_auth, follow_redirects=False) as resp:
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("location", ""))
                    if not _redirect_allowed(target):
                        raise MediaRefused("Twilio redirected the media to a host we do not trust")
                    current = target
                    continue
                if resp.status_code >= 400:
                    raise MediaFetchError(f"Twilio answered {resp.status_code} for the media")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise MediaTooLarge(max_bytes)
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(max_bytes)
                    chunks.append(chunk)
                return FetchedMedia(b"".join(chunks), resp.headers.get("content-type"))
        raise MediaFetchError("too many redirects fetching the media")
    except httpx.HTTPError as exc:
        raise MediaFetchError(f"could not download the media: {type(exc).__name__}") from exc
    finally:
        if owned:
            http.close()
