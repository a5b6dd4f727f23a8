"""Where listings come from: every source is one interface, ``ListingFeed.fetch() -> FeedRows``.

- ``FileFeed``: the bytes of a CSV or JSON file in RESO Data Dictionary names (an upload, a
  file on disk, the shipped demo feed). Works offline.
- ``UrlFeed``: the same formats fetched over HTTPS from a host on the allow-list setting
  ``MONITOR_FEED_ALLOWED_HOSTS``. A URL we did not expect is never fetched (SSRF): only
  ``https``, no credentials in the URL, the default port, an allowed host name, and every
  address the name resolves to must be public (no private, loopback, link-local, reserved or
  multicast address); redirects are refused, the body is capped and the request times out.
- ``ResoWebApiFeed`` and ``PortalFeed``: the places for an MLS (RESO Web API, OAuth2) and
  listing portals (Zillow, Redfin). They are not configured in this installation and raise
  ``SourceNotConfiguredError`` saying what to do instead.

JSON feeds are a list of records, or a RESO Web API (OData) page ``{"value": [...]}``. A page
that links to a next one (``@odata.nextLink``) is not the whole feed: ``FeedRows.complete`` is
False, so a scan of it never takes a missing listing for one that left the market.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpcore
import httpx

from domain.market.enums import ListingSource
from domain.property import importer

DEMO_LOCATION = "demo"

# Resolves a host name to its IP addresses (injectable: tests give a fixed answer).
Resolver = Callable[[str], list[str]]


class SourceError(Exception):
    """A feed could not be read; the message says why (HTTP 422 where a person asked)."""


class SourceNotConfiguredError(SourceError):
    """The source exists as an adapter but this installation has not configured it."""


class FeedRefusedError(SourceError):
    """The feed URL is not one we may fetch (scheme, host, port or address)."""


@dataclass
class FeedRows:
    """A feed's rows (dicts keyed by column name) and its header, in file order."""

    label: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    first_line: int = 2  # a CSV's first data row is line 2; a JSON list's first record is 1
    # Each row's line in the file, when it is not ``first_line`` + index (a CSV with blank
    # lines, or quoted cells that span lines).
    lines: list[int] | None = None
    # False when the rows are one page of a longer feed (an OData page with a next link).
    complete: bool = True


class ListingFeed(Protocol):
    """Anything that yields listing rows in RESO names."""

    @property
    def label(self) -> str:
        """How scans and messages name the feed."""
        ...

    @property
    def source(self) -> ListingSource:
        """The source its listings are recorded under."""
        ...

    def fetch(self) -> FeedRows:
        """Read the feed (raises ``SourceError`` saying why it cannot)."""
        ...


def parse_feed(data: bytes, *, label: str) -> FeedRows:
    """CSV or JSON bytes as rows; JSON is a list of records or an OData ``{"value": [...]}``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{label}: the feed is not UTF-8 text ({exc.reason})") from None
    stripped = text.lstrip()
    if not stripped:
        raise SourceError(f"{label}: the feed is empty")
    if stripped[0] in "[{":
        try:
            payload = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        records = payload.get("value") if isinstance(payload, dict) else payload
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SourceError(
                f"{label}: a JSON feed must be a list of listing objects or "
                '{"value": [...]} (a RESO Web API page)'
            )
        columns: list[str] = []
        for record in records:
            columns.extend(key for key in record if key not in columns)
        more = isinstance(payload, dict) and any(
            payload.get(link) for link in ("@odata.nextLink", "odata.nextLink")
        )
        return FeedRows(
            label=label, columns=columns, rows=list(records), first_line=1, complete=not more
        )
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    if not columns:
        raise SourceError(f"{label}: the CSV has no header row")
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for row in reader:
        rows.append(row)
        lines.append(importer.record_line(reader, row))
    return FeedRows(label=label, columns=columns, rows=rows, first_line=2, lines=lines)


@dataclass
class FileFeed:
    """A CSV or JSON file's bytes (an upload, a local file, the demo feed)."""

    data: bytes
    label: str
    source: ListingSource = ListingSource.mls

    def fetch(self) -> FeedRows:
        """Parse the bytes."""
        return parse_feed(self.data, label=self.label)


def system_resolver(host: str) -> list[str]:
    """The addresses ``host`` resolves to (all families)."""
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise FeedRefusedError(f"the feed host {host!r} does not resolve ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def allowed_hosts(setting: str | Iterable[str]) -> frozenset[str]:
    """The allow-list setting (comma-separated host names) as a set of lower-case names."""
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    return frozenset(item.strip().lower().rstrip(".") for item in items if item.strip())


def check_feed_url(
    url: str, *, allowed: frozenset[str], resolver: Resolver, resolve: bool = True
) -> str:
    """Return the URL's host when we may fetch it; raise ``FeedRefusedError`` saying why not.

    ``resolve=False`` checks the URL alone (scheme, credentials, port, allow-list, a literal
    address); the fetch always resolves the name and checks every address.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https":
        raise FeedRefusedError("feed URLs must use https")
    if parts.username is not None or parts.password is not None:
        raise FeedRefusedError("feed URLs must not carry credentials")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise FeedRefusedError("the feed URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise FeedRefusedError("the feed URL's port is not a number") from None
    if port not in (None, 443):
        raise FeedRefusedError("feed URLs must use the default https port (443)")
    if not allowed:
        raise FeedRefusedError(
            "no feed hosts are allowed: list the feed's host in MONITOR_FEED_ALLOWED_HOSTS"
        )
    if host not in allowed:
        raise FeedRefusedError(
            f"{host} is not an allowed feed host (MONITOR_FEED_ALLOWED_HOSTS: "
            f"{', '.join(sorted(allowed))})"
        )
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is None and not resolve:
        return host
    return check_addresses(host, [str(literal)] if literal is not None else resolver(host))[0]


def check_addresses(host: str, addresses: list[str]) -> tuple[str, str]:
    """``(host, first address)`` when every address of ``host`` is public; else refused."""
    if not addresses:
        raise FeedRefusedError(f"the feed host {host} resolves to no address")
    private = [a for a in addresses if not _public(a)]
    if private:
        raise FeedRefusedError(
            f"the feed host {host} resolves to a non-public address ({', '.join(private)}): refused"
        )
    return host, addresses[0]


class PinnedBackend(httpcore.NetworkBackend):
    """Connect to the address that was checked, never to what the name resolves to later.

    ``check_feed_url`` resolves the host and refuses non-public addresses; a DNS answer that
    changes between that check and the connection (DNS rebinding) must not redirect the
    fetch to an internal address, so the TCP connection goes to the checked address while
    TLS still verifies the certificate for the host name (httpcore sends it as SNI).
    """

    def __init__(
        self, host: str, address: str, inner: httpcore.NetworkBackend | None = None
    ) -> None:
        """Pin ``host`` to ``address`` (a checked, public IP)."""
        self.host = host
        self.address = address
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Open the connection to the pinned address (only for the pinned host)."""
        if host.lower().rstrip(".") != self.host:
            raise httpcore.ConnectError(f"connection to {host} refused: only {self.host} is pinned")
        return self.inner.connect_tcp(
            self.address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Never: a feed is fetched over TCP."""
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        self.inner.sleep(seconds)


def pinned_client(host: str, address: str, timeout_s: float) -> httpx.Client:
    """An httpx client whose connections to ``host`` go to ``address`` (TLS verified)."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - httpx has no backend option
        ssl_context=httpx.create_ssl_context(), network_backend=PinnedBackend(host, address)
    )
    return httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=False)


@dataclass
class UrlFeed:
    """A CSV or JSON feed fetched over HTTPS from an allowed host."""

    url: str
    allowed: frozenset[str]
    timeout_s: float = 15.0
    max_bytes: int = 50 * 1024 * 1024
    source: ListingSource = ListingSource.mls
    resolver: Resolver = system_resolver
    client: httpx.Client | None = None

    @property
    def label(self) -> str:
        """The URL without its query string (which may carry a token)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"[:500]

    def fetch(self) -> FeedRows:
        """Check the URL, download at most ``max_bytes`` without following redirects, parse."""
        host = check_feed_url(self.url, allowed=self.allowed, resolver=self.resolver, resolve=False)
        try:
            literal: str | None = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            literal = None
        # Resolve once, check every address, then connect to the checked one (DNS rebinding).
        _, address = check_addresses(host, [literal] if literal else self.resolver(host))
        client = self.client or pinned_client(host, address, self.timeout_s)
        try:
            with client.stream(
                "GET", self.url, headers={"Accept": "text/csv, application/json"}
            ) as r:
                if r.is_redirect:
                    raise FeedRefusedError(
                        f"the feed answered with a redirect ({r.status_code}); redirects are "
                        "not followed: configure the final URL"
                    )
                if r.status_code != 200:
                    raise SourceError(f"the feed answered HTTP {r.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise SourceError(f"the feed is larger than {self.max_bytes} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise SourceError(f"the feed could not be fetched ({type(exc).__name__})") from None
        finally:
            if self.client is None:
                client.close()
        return parse_feed(b"".join(chunks), label=self.label)


@dataclass
class ResoWebApiFeed:
    """An MLS through the RESO Web API (OAuth2 client credentials, OData ``Property`` pages)."""

    location: str
    source: ListingSource = ListingSource.mls
    label: str = "MLS (RESO Web API)"

    def fetch(self) -> FeedRows:
        """Not configured here: say how to get the same listings in."""
        raise SourceNotConfiguredError(
            "the MLS (RESO Web API) source is not configured in this installation: no MLS "
            "credentials are set up. Export the MLS search as a RESO CSV/JSON file (POST "
            "/monitor/start with source=file) or publish it at an https URL on an allowed host "
            "(source=url)"
        )


@dataclass
class PortalFeed:
    """A listing portal (Zillow, Redfin): their terms allow access only through a partner API."""

    location: str
    source: ListingSource = ListingSource.zillow
    label: str = "listing portal"

    def fetch(self) -> FeedRows:
        """Not configured here: say how to get the same listings in."""
        raise SourceNotConfiguredError(
            f"the {self.source} portal source is not configured in this installation "
            "(portals need a partner API agreement; scraping is not done). Export the listings "
            "as a RESO CSV/JSON file (source=file) or an https URL on an allowed host (source=url)"
        )
