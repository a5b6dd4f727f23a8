"""QA 12 re-check (F11): REST hardening.

Market-data money follows the API's money rule (a 422, never a 500), an idempotent replay
needs a token that is still valid, uploads can be retried with an ``Idempotency-Key``, trusted
proxies are read as configured by every way of serving, a huge photo for component condition
is the same 422 as every other upload, market events give money with two places, and a CSV
cell with a formula behind blanks is escaped.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.documents.models import Document
from domain.finance.reports import csv_text_cell
from domain.property.models import MarketData
from domain.vision.models import PropertyAnalysis
from store.base import utcnow
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_property,
    make_sold_market,
    make_user,
    override_settings,
    run_market_scan,
)

API = "/api/v1"


# --- 1. market-data money and recorded_at -----------------------------------------------------


def _market_data_setup(db: Session) -> tuple[str, dict[str, str]]:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    prop = make_property(db, org)
    return f"{API}/properties/{prop.id}/market-data", headers


def _market_rows(db: Session, path: str) -> list[MarketData]:
    property_id = path.split("/")[-2]
    return list(db.exec(select(MarketData).where(MarketData.property_id == property_id)).all())


def test_huge_market_money_is_a_422_not_a_server_error(db: Session, client: TestClient) -> None:
    path, headers = _market_data_setup(db)
    too_large = [
        {"data_type": "rent_estimate", "value": {"rent_monthly": "1e400"}},
        {"data_type": "valuation", "value": {"value": "1e25"}},
        {"data_type": "rent_estimate", "value": {"rent_monthly": 1450, "rent_high": 10**10}},
    ]
    for body in too_large:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert "too large" in answer.text and "12 digits" in answer.text, answer.text
    # The JSON number 1e30 (a float once parsed) reset the connection.
    raw = b'{"data_type": "comparable_sale", "value": {"price": 1e30}}'
    answer = client.post(path, content=raw, headers=headers | {"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert "value.price" in answer.text and "too large" in answer.text
    # The largest amount the rule allows is kept as given.
    largest = client.post(
        path,
        json={"data_type": "valuation", "value": {"value": "9999999999.99"}},
        headers=headers,
    )
    assert largest.status_code == 201, largest.text
    assert largest.json()["value"]["value"] == "9999999999.99"
    assert len(_market_rows(db, path)) == 1


def test_a_rent_of_minus_zero_is_named_as_the_problem(db: Session, client: TestClient) -> None:
    path, headers = _market_data_setup(db)
    for rent in ("-0", 0, "0.00"):
        answer = client.post(
            path,
            json={"data_type": "rent_estimate", "value": {"rent_monthly": rent}},
            headers=headers,
        )
        assert answer.status_code == 422, answer.text
        detail = answer.text
        assert "value.rent_monthly must be more than 0" in detail, detail
        assert "got keys" not in detail
    missing = client.post(
        path, json={"data_type": "rent_estimate", "value": {"rent": 1400}}, headers=headers
    )
    assert missing.status_code == 422 and "got keys rent" in missing.text, missing.text


def test_a_recorded_at_in_the_future_is_refused(db: Session, client: TestClient) -> None:
    path, headers = _market_data_setup(db)
    body: dict[str, Any] = {"data_type": "valuation", "value": {"value": 137943}}
    ahead = (utcnow() + dt.timedelta(days=365 * 100)).isoformat()
    refused = client.post(path, json=body | {"recorded_at": ahead}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "recorded_at" in refused.text and "in the future" in refused.text
    # A clock a little ahead (as for photos) and a past moment are fine.
    for moment in (utcnow() + dt.timedelta(minutes=2), utcnow() - dt.timedelta(days=3)):
        kept = client.post(path, json=body | {"recorded_at": moment.isoformat()}, headers=headers)
        assert kept.status_code == 201, kept.text


# --- 2. a replay needs a token that is still valid ----------------------------------------------


def test_a_signed_out_token_gets_no_replay(db: Session, client: TestClient) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    token = auth_headers(db, user)
    keyed = token | {"Idempotency-Key": "contractor-1"}
    body = {"name": "Ace Roofing"}
    first = client.post(f"{API}/contractors", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    assert client.post(f"{API}/auth/logout", headers=token).status_code in (200, 204)

    replay = client.post(f"{API}/contractors", json=body, headers=keyed)
    assert replay.status_code == 401, replay.text
    assert "Idempotent-Replayed" not in replay.headers
    assert first.json()["id"] not in replay.text
    # A valid sign-in of the same user still gets the stored answer.
    fresh = client.post(
        f"{API}/contractors",
        json=body,
        headers=auth_headers(db, user) | {"Idempotency-Key": "contractor-1"},
    )
    assert fresh.status_code == 201 and fresh.headers.get("Idempotent-Replayed") == "true"
    assert fresh.json()["id"] == first.json()["id"]


def test_a_deactivated_users_token_gets_no_replay(db: Session, client: TestClient) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    keyed = auth_headers(db, user) | {"Idempotency-Key": "contractor-2"}
    first = client.post(f"{API}/contractors", json={"name": "Ace Roofing"}, headers=keyed)
    assert first.status_code == 201, first.text
    user.is_active = False
    db.add(user)
    db.flush()

    replay = client.post(f"{API}/contractors", json={"name": "Ace Roofing"}, headers=keyed)
    assert replay.status_code == 401, replay.text
    assert "Idempotent-Replayed" not in replay.headers


# --- 3. uploads retried with an Idempotency-Key -------------------------------------------------


def _small_png(colour: tuple[int, int, int] = (90, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_upload_retried_with_a_new_boundary_is_replayed(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst)) | {"Idempotency-Key": "up-1"}
    photo = ("porch.png", _small_png(), "image/png")

    def upload(file: tuple[str, bytes, str], boundary: str) -> Any:
        # Each client (and each retry) picks its own boundary.
        return client.post(
            f"{API}/documents",
            files={"file": file},
            data={"kind": "photo"},
            headers=headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    first = upload(photo, "first-boundary-1b2c")
    assert first.status_code == 201, first.text
    again = upload(photo, "retry-boundary-9z8y")
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(db.exec(select(Document).where(Document.org_id == org.id)).all()) == 1
    # Other bytes, or another file name, under the same key are another request.
    for other in (
        ("porch.png", _small_png((200, 10, 10)), "image/png"),
        ("garage.png", _small_png(), "image/png"),
    ):
        refused = upload(other, "third-boundary-5x")
        assert refused.status_code == 422, refused.text
        assert "different request" in refused.json()["detail"]


def test_the_media_type_is_part_of_the_request(db: Session, client: TestClient) -> None:
    """A body sent without its Content-Type is not replayed to the corrected retry."""
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst)) | {"Idempotency-Key": "ct-1"}
    raw = json.dumps({"name": "Ace Roofing"}, separators=(",", ":")).encode()  # canonical
    plain = client.post(
        f"{API}/contractors", content=raw, headers=headers | {"Content-Type": "text/plain"}
    )
    assert plain.status_code == 422, plain.text
    retry = client.post(
        f"{API}/contractors", content=raw, headers=headers | {"Content-Type": "application/json"}
    )
    assert "Idempotent-Replayed" not in retry.headers
    assert retry.status_code == 422 and "different request" in retry.json()["detail"]


# --- 4. trusted proxies as configured, however the API is served -------------------------------


def test_a_trusted_network_with_host_bits_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    from cli.main import _uvicorn_config
    from core.config import Settings

    assert Settings(  # type: ignore[call-arg]
        DEALDESK_TRUSTED_PROXIES="10.0.0.5/24, 10.0.0.9, 2001:DB8::1/64"
    ).trusted_proxy_list == ["10.0.0.0/24", "10.0.0.9", "2001:db8::/64"]
    override_settings(monkeypatch, trusted_proxies="10.0.0.5/24")
    config = _uvicorn_config("127.0.0.1", 8000)
    assert config.proxy_headers is True
    trusted = _TrustedHosts(config.forwarded_allow_ips)
    assert "10.0.0.77" in trusted
    assert "10.0.1.1" not in trusted and "127.0.0.1" not in trusted


def _run_app_main(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run app.py's ``__main__`` block with ``uvicorn.run`` recording its arguments."""
    import uvicorn

    called: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: called.update(kwargs))
    tree = ast.parse(Path(__file__).parents[1].joinpath("app.py").read_text())
    (main,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    ]
    code = compile(ast.Module(body=main.body, type_ignores=[]), "app.py", "exec")
    exec(code, {"__name__": "app_main_block"})  # noqa: S102 - the project's own file
    return called


def test_python_app_py_trusts_only_the_configured_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override_settings(monkeypatch, trusted_proxies="")
    assert _run_app_main(monkeypatch)["proxy_headers"] is False
    override_settings(monkeypatch, trusted_proxies="10.0.0.5/24")
    called = _run_app_main(monkeypatch)
    assert called["proxy_headers"] is True
    assert called["forwarded_allow_ips"] == ["10.0.0.0/24"]


# --- 5. a huge photo for component condition ----------------------------------------------------


def _huge_png(width: int, height: int) -> bytes:
    """A one-colour PNG of width x height pixels: small on disk, huge once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_huge_photo_for_component_condition_is_refused_before_anything_is_stored(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    prop = make_property(db, org)
    for wait in ("true", "false"):
        answer = client.post(
            f"{API}/analyze/component-condition",
            params={"wait": wait},
            files={"file": ("huge.png", _huge_png(8000, 7000), "image/png")},
            data={"property_id": str(prop.id)},
            headers=headers,
        )
        assert answer.status_code == 422, answer.text
        assert "too large (56 megapixels; at most 50)" in answer.json()["detail"]
    assert db.exec(select(PropertyAnalysis).where(PropertyAnalysis.org_id == org.id)).all() == []
    assert db.exec(select(Document).where(Document.org_id == org.id)).all() == []


# --- 6. market events give money with two places ------------------------------------------------


def test_market_events_give_money_with_two_places(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500, ListPrice=138000), listing_row(1502)])
    events = db.exec(select(OutboxEvent).where(OutboxEvent.org_id == org.id)).all()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_name.setdefault(event.name, []).append(event.payload)

    found = {p["external_id"]: p["list_price"] for p in by_name["listing.found"]}
    assert found == {"L-1500": "138000.00", "L-1502": "45000.00"}
    (update,) = by_name["market.update"]
    assert [area["median_list_price"] for area in update["areas"]] == ["91500.00"]
    (opportunity,) = by_name["opportunity.identified"]
    assert opportunity["list_price"] == "45000.00"
    rehab = opportunity["rehab_estimate"]
    assert rehab is None or (isinstance(rehab, str) and Decimal(rehab).as_tuple().exponent == -2)


# --- 7. CSV cells with a formula behind blanks ---------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [" =1+1", "\u00a0=1+1", "\n=HYPERLINK(1)", "\ufeff=1+1", "\u200b+1", "  @SUM(A1)", "\t -1"],
)
def test_a_formula_behind_blanks_is_escaped(cell: str) -> None:
    assert csv_text_cell(cell) == "'" + cell


def test_plain_text_cells_are_left_alone() -> None:
    for cell in ("Ace Roofing", "  Ace Roofing", " 12 Main St", "\u00a0", ""):
        assert csv_text_cell(cell) == cell
    assert csv_text_cell("=1+1") == "'=1+1"
