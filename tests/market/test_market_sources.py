"""Feed sources: files and JSON pages, URL feeds only from allowed public hosts, adapters."""

from __future__ import annotations

import json
import re
from typing import Any

import httpcore
import httpx
import pytest
import respx

from domain.market import sources
from domain.market.sources import (
    FeedRefusedError,
    FileFeed,
    PinnedBackend,
    PortalFeed,
    ResoWebApiFeed,
    SourceError,
    SourceNotConfiguredError,
    UrlFeed,
    allowed_hosts,
    parse_feed,
)

HOST = "feeds.example-mls.com"
URL = f"https://{HOST}/export/listings.csv"
CSV = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice\n"
    "A1,1500 Subject Ave,Detroit,MI,48201,45000\n"
)


def _public(_host: str) -> list[str]:
    return ["93.184.216.34"]


def _feed(url: str = URL, resolver: Any = _public, max_bytes: int = 50_000_000) -> UrlFeed:
    return UrlFeed(
        url=url,
        allowed=allowed_hosts(f"{HOST}, other.example.com"),
        resolver=resolver,
        max_bytes=max_bytes,
    )


@respx.mock
def test_a_url_feed_from_an_allowed_public_host_is_fetched_and_parsed() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, text=CSV))
    rows = _feed().fetch()
    assert route.called
    assert rows.columns[:2] == ["ListingKey", "UnparsedAddress"]
    assert rows.rows == [
        {
            "ListingKey": "A1",
            "UnparsedAddress": "1500 Subject Ave",
            "City": "Detroit",
            "StateOrProvince": "MI",
            "PostalCode": "48201",
            "ListPrice": "45000",
        }
    ]


@pytest.mark.parametrize(
    ("url", "resolver", "message"),
    [
        (f"http://{HOST}/x.csv", _public, "must use https"),
        ("https://evil.example.net/x.csv", _public, "not an allowed feed host"),
        (f"https://user:pw@{HOST}/x.csv", _public, "must not carry credentials"),
        (f"https://{HOST}:8443/x.csv", _public, "default https port"),
        (URL, lambda _h: ["10.1.2.3"], "non-public address (10.1.2.3)"),
        (URL, lambda _h: ["127.0.0.1"], "non-public address (127.0.0.1)"),
        (URL, lambda _h: ["93.184.216.34", "169.254.169.254"], "169.254.169.254"),
        (URL, lambda _h: ["::1"], "non-public address (::1)"),
    ],
)
def test_urls_we_did_not_expect_are_refused_before_any_request(
    url: str, resolver: object, message: str
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().mock(return_value=httpx.Response(200, text=CSV))
        with pytest.raises(FeedRefusedError, match=re.escape(message)):
            _feed(url, resolver=resolver).fetch()
    assert not route.called


def test_no_allowed_hosts_means_no_url_feeds() -> None:
    feed = UrlFeed(url=URL, allowed=allowed_hosts(""), resolver=_public)
    with pytest.raises(FeedRefusedError, match="MONITOR_FEED_ALLOWED_HOSTS"):
        feed.fetch()


@respx.mock
def test_redirects_errors_and_oversized_feeds_are_refused() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(302, headers={"Location": "http://169.254.169.254/"})
    )
    with pytest.raises(FeedRefusedError, match="redirects are not followed"):
        _feed().fetch()
    respx.get(URL).mock(return_value=httpx.Response(500))
    with pytest.raises(SourceError, match="HTTP 500"):
        _feed().fetch()
    respx.get(URL).mock(return_value=httpx.Response(200, text=CSV * 100))
    with pytest.raises(SourceError, match="larger than 1000 bytes"):
        _feed(max_bytes=1000).fetch()
    respx.get(URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(SourceError, match="could not be fetched \\(ConnectTimeout\\)"):
        _feed().fetch()


def test_json_feeds_are_a_list_or_a_reso_web_api_page() -> None:
    records = [{"ListingKey": "A1", "ListPrice": 45000}, {"ListingKey": "A2", "City": "Ames"}]
    for data in (records, {"@odata.context": "Property", "value": records}):
        parsed = parse_feed(json.dumps(data).encode(), label="t")
        assert parsed.rows == records
        assert parsed.columns == ["ListingKey", "ListPrice", "City"]
        assert parsed.first_line == 1
    with pytest.raises(SourceError, match="a list of listing objects"):
        parse_feed(b'{"listings": 3}', label="t")
    with pytest.raises(SourceError, match="not valid JSON"):
        parse_feed(b"[{", label="t")
    with pytest.raises(SourceError, match="empty"):
        FileFeed(data=b"  \n", label="t").fetch()
    with pytest.raises(SourceError, match="not UTF-8"):
        FileFeed(data=b"\xff\xfe\x00", label="t").fetch()


def test_mls_and_portal_adapters_say_they_are_not_configured() -> None:
    with pytest.raises(SourceNotConfiguredError, match="RESO Web API\\) source is not configured"):
        ResoWebApiFeed(location="mls").fetch()
    with pytest.raises(SourceNotConfiguredError, match="zillow portal source is not configured"):
        PortalFeed(location="portal").fetch()


class _RecordingBackend(httpcore.NetworkBackend):
    """Records where connections go and refuses them (no network in tests)."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connected.append((host, port))
        raise httpcore.ConnectError("test backend: no network")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not used")

    def sleep(self, seconds: float) -> None:
        del seconds


def test_the_connection_goes_to_the_checked_address_not_a_later_dns_answer() -> None:
    """DNS rebinding: the name is resolved once; the TCP connection uses that address."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a second lookup would say loopback
    inner = _RecordingBackend()
    pinned = PinnedBackend(HOST, "93.184.216.34", inner=inner)
    with pytest.raises(httpcore.ConnectError):
        pinned.connect_tcp(HOST, 443)
    assert inner.connected == [("93.184.216.34", 443)]
    with pytest.raises(httpcore.ConnectError, match="only feeds.example-mls.com is pinned"):
        pinned.connect_tcp("169.254.169.254", 443)
    assert inner.connected == [("93.184.216.34", 443)]

    # The feed resolves once (the first answer) and pins the client to it.
    made: list[tuple[str, str]] = []

    def client(host: str, address: str, timeout_s: float) -> httpx.Client:
        made.append((host, address))
        return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text=CSV)))

    feed = _feed(resolver=lambda _host: next(answers))
    original = sources.pinned_client
    sources.pinned_client = client  # type: ignore[assignment]
    try:
        rows = feed.fetch()
    finally:
        sources.pinned_client = original  # type: ignore[assignment]
    assert made == [(HOST, "93.184.216.34")]
    assert len(rows.rows) == 1
