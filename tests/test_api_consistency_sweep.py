"""The REST API behaves the same way everywhere, as an integrator building on it relies on.

``test_api_bad_input_sweep`` proves that bad input never gets a 5xx; this sweep walks the same
OpenAPI document for the conventions a client codes against once and then expects of every
endpoint:

- every operation has a written summary, describes each success answer (a JSON schema or a
  media type) and documents 404 and 422 when it takes an id in its path;
- ids in paths are UUIDs, and a malformed one is a 422 naming the parameter, an unknown one
  a 404 whose ``detail`` is a message;
- ``limit`` is 1..500 everywhere, ``offset`` only comes with it, and a limit/offset list says
  how many rows match (an ``items``/``total``/``limit``/``offset`` page, or ``X-Total-Count``);
- every GET answering a JSON array pages with ``limit``/``offset`` and sends ``X-Total-Count``,
  but for the few lists in ``FIXED_LISTS`` that are small and fixed by the code;
- an unknown enum value in a filter is a 422 that lists the allowed values;
- money is a decimal string in every response, and money and dates round-trip exactly;
- every error body is ``{"detail": ...}`` (a message, or FastAPI's list for a 422) for 401,
  404, 409, 413, 422 and 429;
- ``PUT``/``PATCH`` change only the fields sent, and an explicit ``null`` clears a field.

Gaps that sit in modules outside this sweep's fixes are listed in ``KNOWN_GAPS`` dicts; each
is checked to still be a gap, so a fix makes the test fail until the entry is removed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app import API_PREFIX
from core.paging import MAX_OFFSET
from domain.auth.enums import Role
from tests.factories import (
    auth_headers,
    make_account,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
    override_settings,
)
from tests.test_api_bad_input_sweep import (
    COMPONENTS,
    OPERATIONS,
    UNKNOWN_UUID,
    Operation,
)

API_OPS = [o for o in OPERATIONS if not o.path.startswith(f"{API_PREFIX}/webhook/")]
SECURED_OPS = [o for o in API_OPS if not o.public]
ID_PARAM = re.compile(r"^(id|.+Id|.+_id)$")
MAX_LIMIT = 500
MONEY_FIELD = re.compile(
    r"(amount|price|cost|balance|fee|profit|budget|spent|income|expense|_value$|^value$|^arv$"
    r"|rent$|_monthly$|payment|allowance|cash_flow|loan)"
)
PERCENT_FIELD = re.compile(r"(_pct|percent)")  # ratios, not money
TOTAL_HEADER = "X-Total-Count"
# Secured operations that document another answer than 401 to a request without a token.
# Without a token, the report operation (a signed link, or a token) is a 401 as every other.
SIGNED_LINK_OPS: dict[str, int] = {}

# Known gaps in modules this sweep does not change (reported, not fixed here): (check, op id).
KNOWN_GAPS: dict[tuple[str, str], str] = {}
# Array lists that are not paged because the code fixes their size: (op id) -> why.
FIXED_LISTS = {
    f"GET {API_PREFIX}/auth/roles": "one row per role of the Role enum",
    f"GET {API_PREFIX}/component-costs": "the default cost catalogue; rows are never added",
}


def _check(problems: dict[tuple[str, str], str], check: str) -> None:
    """Fail on problems that are not known gaps, and on known gaps of ``check`` now fixed."""
    unexpected = {k: v for k, v in problems.items() if k not in KNOWN_GAPS}
    fixed = [k for k in KNOWN_GAPS if k[0] == check and k not in problems]
    assert not unexpected, "\n".join(f"{op}: {why}" for (_, op), why in unexpected.items())
    assert not fixed, f"fixed, remove from KNOWN_GAPS: {fixed}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [v for option in schema[key] for v in _variants(option)]
    return [schema]


def _success_schema(operation: Operation) -> dict[str, Any]:
    """The JSON schema of the operation's first documented 2xx answer ({} when none)."""
    for code, answer in sorted(operation.spec["responses"].items()):
        if code.startswith("2"):
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            return _resolve(schema)
    return {}


# --- what the OpenAPI document says ----------------------------------------------------------


def test_every_operation_has_a_written_summary() -> None:
    """No summary is FastAPI's fallback (the function name in title case)."""
    problems = {}
    for op in API_OPS:
        summary = op.spec.get("summary", "")
        fallback = summary == summary.title() and op.spec["operationId"].startswith(
            summary.lower().replace(" ", "_")
        )
        if not summary or fallback:
            problems[("summary", op.id)] = f"summary {summary!r} is the function's name"
    _check(problems, "summary")


def test_every_success_answer_is_described() -> None:
    """Each 2xx but 204 has a JSON schema, or names the media type it sends (PDF, XML ...)."""
    problems = {}
    for op in API_OPS:
        for code, answer in op.spec["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            content = answer.get("content") or {}
            json_schema = content.get("application/json", {}).get("schema")
            other_media = [t for t in content if t != "application/json"]
            if not (json_schema or other_media):
                problems[("success described", f"{op.id} {code}")] = "no schema or media type"
    _check(problems, "success described")


def test_path_ids_are_uuids_and_their_errors_are_documented() -> None:
    """An id in a path is a UUID; an operation with a path parameter documents 404 and 422."""
    problems = {}
    for op in API_OPS:
        params = op.parameters("path")
        for param in params:
            if ID_PARAM.match(param["name"]) and param["schema"].get("format") != "uuid":
                problems[("uuid", op.id)] = f"{param['name']} is not a UUID"
        responses = op.spec["responses"]
        if params and "404" not in responses:
            problems[("404 documented", op.id)] = "404 is not documented"
        if (params or op.body) and "422" not in responses:
            problems[("422 documented", op.id)] = "422 is not documented"
    _check(problems, "uuid")
    _check(problems, "404 documented")


def test_lists_page_the_same_way() -> None:
    """``limit`` is 1..500 with a default; ``offset`` comes with it; the total is given."""
    problems: dict[tuple[str, str], str] = {}
    paged = 0
    for op in API_OPS:
        query = {p["name"]: p["schema"] for p in op.parameters("query")}
        limit, offset = query.get("limit"), query.get("offset")
        if limit is not None:
            bad = (
                limit.get("type") != "integer"
                or limit.get("minimum") != 1
                or not 1 <= limit.get("maximum", MAX_LIMIT + 1) <= MAX_LIMIT
                or not 1 <= limit.get("default", 0) <= limit.get("maximum", 0)
            )
            if bad:
                problems[("limit", op.id)] = f"limit should be 1..{MAX_LIMIT}: {limit}"
        if offset is None:
            continue
        paged += 1
        if limit is None or offset.get("minimum") != 0 or offset.get("default") != 0:
            problems[("offset", op.id)] = f"offset without limit or not from 0: {offset}"
        elif offset.get("maximum") != MAX_OFFSET:
            # Past PostgreSQL's bigint an offset was a 500 (core.paging.MAX_OFFSET bounds it).
            problems[("offset", op.id)] = f"offset not bounded by {MAX_OFFSET}: {offset}"
        answer = op.spec["responses"]["200"]
        schema = _success_schema(op)
        page_fields = {"items", "total", "limit", "offset"}
        enveloped = page_fields <= set(schema.get("properties", {}))
        header = answer.get("headers", {}).get(TOTAL_HEADER)
        if not (enveloped or (schema.get("type") == "array" and header)):
            problems[("total given", op.id)] = "neither a page with a total nor X-Total-Count"
    assert paged >= 6, "the sweep found suspiciously few limit/offset lists"
    _check(problems, "limit")
    _check(problems, "offset")
    _check(problems, "total given")


def _array_lists() -> list[Operation]:
    """Every GET whose 200 answer is a JSON array (a list of rows)."""
    return [
        op for op in API_OPS if op.method == "get" and _success_schema(op).get("type") == "array"
    ]


def test_every_array_list_is_paged_and_sends_its_total() -> None:
    """A list answering a bare array takes ``limit``/``offset`` and documents the total."""
    lists = _array_lists()
    assert len(lists) >= 25, "the sweep found suspiciously few array lists"
    problems: dict[tuple[str, str], str] = {}
    for op in lists:
        if op.id in FIXED_LISTS:
            continue
        query = {p["name"] for p in op.parameters("query")}
        header = op.spec["responses"]["200"].get("headers", {}).get(TOTAL_HEADER)
        if not ({"limit", "offset"} <= query and header):
            problems[("paged list", op.id)] = f"query {sorted(query)}, X-Total-Count {header}"
    assert set(FIXED_LISTS) <= {op.id for op in lists}, "a FIXED_LISTS entry is no array list"
    assert not set(FIXED_LISTS) & {k[1] for k in KNOWN_GAPS if k[0] == "paged list"}
    _check(problems, "paged list")


def _output_schema_names() -> set[str]:
    """Names of the component schemas reachable from a success answer (what clients read)."""
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    walk(COMPONENTS[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for op in OPERATIONS:
        for code, answer in op.spec["responses"].items():
            if code.startswith("2"):
                walk(answer.get("content", {}))
    return seen


def test_money_is_a_decimal_string_in_every_response() -> None:
    """A money field of a response is never a JSON number (floats lose cents)."""
    names = _output_schema_names()
    assert len(names) >= 50
    problems = {}
    money_fields = 0
    for name in sorted(names):
        for field_name, prop in COMPONENTS[name].get("properties", {}).items():
            if not MONEY_FIELD.search(field_name) or PERCENT_FIELD.search(field_name):
                continue
            types = {v.get("type") for v in _variants(prop)} - {"null"}
            if types & {"number"}:
                problems[("money", f"{name}.{field_name}")] = f"a JSON number: {prop}"
            if types == {"string"}:
                money_fields += 1
    assert money_fields >= 100, "the money pattern no longer matches the schemas"
    _check(problems, "money")


# --- what the API answers --------------------------------------------------------------------


@pytest.fixture
def admin_headers(db: Session) -> dict[str, str]:
    """Bearer headers of an admin of a fresh organisation."""
    org = make_org(db, name="Consistency Holdings")
    return auth_headers(db, make_user(db, org, role=Role.admin))


def _path_with(op: Operation, value: str) -> str:
    """The operation's path with every parameter filled with ``value`` (months and phones kept)."""
    fixed = {"month": "2024-01", "phoneNumber": "+13135550123"}
    return re.sub(r"\{([^}]+)\}", lambda m: fixed.get(m.group(1), value), op.path)


def _error_shape(status: int, body: Any) -> str | None:
    """What is wrong with an error body, or None: ``{"detail": message}`` or a 422's list."""
    if not isinstance(body, dict) or "detail" not in body:
        return f"{status} without a detail: {body!r}"
    detail = body["detail"]
    if isinstance(detail, str) and detail.strip():
        return None
    if status == 422 and isinstance(detail, list) and detail:
        if all(isinstance(d, dict) and {"loc", "msg", "type"} <= d.keys() for d in detail):
            return None
    return f"{status} detail is neither a message nor a validation list: {detail!r}"


def _validation_errors(body: dict[str, Any], where: str, name: str) -> list[dict[str, Any]]:
    """The entries of a FastAPI 422 that are about parameter ``name`` in ``where``."""
    detail = body.get("detail")
    if not isinstance(detail, list):
        return []
    return [d for d in detail if list(d.get("loc", []))[:2] == [where, name]]


def test_a_missing_or_bad_token_is_a_401_challenge_everywhere(client: TestClient) -> None:
    """Every secured operation answers 401 with a detail and ``WWW-Authenticate: Bearer``."""
    assert len(SECURED_OPS) >= 100
    problems = []
    for op in SECURED_OPS:
        path = _path_with(op, UNKNOWN_UUID)
        for label, headers in (
            ("no token", {}),
            ("a forged token", {"Authorization": "Bearer not.a.token"}),
        ):
            response = client.request(op.method.upper(), path, headers=headers)
            shape = _error_shape(response.status_code, response.json())
            if op.id in SIGNED_LINK_OPS:
                documented = SIGNED_LINK_OPS[op.id]
                if response.status_code != documented or shape:
                    problems.append(f"{op.id} with {label} -> {response.status_code}")
                assert str(documented) in op.spec["responses"]
                continue
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code != 401 or shape or not challenge.startswith("Bearer"):
                problems.append(f"{op.id} with {label} -> {response.status_code} {response.text}")
    assert not problems, "\n".join(problems)


def test_malformed_ids_are_422_and_unknown_ids_404(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """A path id that is not a UUID is a 422 naming it; an unknown one on a read is a 404."""
    checked = 0
    problems = []
    for op in API_OPS:
        uuid_params = [p["name"] for p in op.parameters("path") if p["schema"].get("format")]
        if not uuid_params:
            continue
        checked += 1
        response = client.request(
            op.method.upper(), _path_with(op, "not-a-uuid"), headers=admin_headers
        )
        named = [n for n in uuid_params if _validation_errors(response.json(), "path", n)]
        if response.status_code != 422 or named != uuid_params:
            problems.append(f"{op.id} not-a-uuid -> {response.status_code} {response.text[:200]}")
        if op.method in ("get", "delete") and not op.parameters("query"):
            response = client.request(
                op.method.upper(), _path_with(op, UNKNOWN_UUID), headers=admin_headers
            )
            shape = _error_shape(response.status_code, response.json())
            if response.status_code != 404 or shape:
                problems.append(f"{op.id} unknown id -> {response.status_code} {response.text}")
    assert checked >= 40
    assert not problems, "\n".join(problems)


def test_unknown_enum_filters_are_422_listing_the_allowed_values(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """``?status=nonsense`` is a 422 on the parameter whose message names every choice."""
    checked = 0
    problems = []
    for op in API_OPS:
        for param in op.parameters("query"):
            choices = [v for s in _variants(param["schema"]) for v in s.get("enum", [])]
            if not choices:
                continue
            checked += 1
            response = client.request(
                op.method.upper(),
                _path_with(op, UNKNOWN_UUID),
                params={param["name"]: "no-such-choice"},
                headers=admin_headers,
            )
            errors = _validation_errors(response.json(), "query", param["name"])
            message = " ".join(str(e.get("msg")) for e in errors)
            missing = [str(c) for c in choices if f"'{c}'" not in message]
            if response.status_code != 422 or not errors or missing:
                problems.append(f"{op.id} {param['name']} -> {response.status_code}: {message}")
    assert checked >= 15
    assert not problems, "\n".join(problems)


def test_a_limit_over_the_maximum_is_422_naming_the_maximum(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """``limit`` one past its maximum is refused (not clamped) with the maximum in the message."""
    checked = 0
    problems = []
    for op in API_OPS:
        limit = next((p for p in op.parameters("query") if p["name"] == "limit"), None)
        if limit is None:
            continue
        checked += 1
        maximum = limit["schema"]["maximum"]
        response = client.request(
            op.method.upper(),
            _path_with(op, UNKNOWN_UUID),
            params={"limit": str(maximum + 1)},
            headers=admin_headers,
        )
        errors = _validation_errors(response.json(), "query", "limit")
        if response.status_code != 422 or not any(str(maximum) in e["msg"] for e in errors):
            problems.append(f"{op.id} limit={maximum + 1} -> {response.status_code}")
    assert checked >= 10
    assert not problems, "\n".join(problems)


def test_lists_with_x_total_count_send_it(client: TestClient, db: Session) -> None:
    """Where OpenAPI promises ``X-Total-Count`` the answer carries the number of matches."""
    org = make_org(db, name="Counting Co")
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    account = make_account(db, org)
    for day in (1, 2, 3):
        body = {
            "type": "expense",
            "category": "repairs",
            "amount": "10.00",
            "date": f"2024-03-0{day}",
            "account_id": str(account.id),
        }
        assert client.post(
            f"{API_PREFIX}/transactions", json=body, headers=headers
        ).status_code == (201)
    promised = [
        op
        for op in API_OPS
        if TOTAL_HEADER in op.spec["responses"].get("200", {}).get("headers", {})
    ]
    gaps = {op for check, op in KNOWN_GAPS if check == "paged list"}
    assert sorted(op.id for op in promised) == sorted(
        op.id for op in _array_lists() if op.id not in FIXED_LISTS and op.id not in gaps
    )
    # Lists under one parent (``/deals/{id}/offers`` ...) are read with real rows in
    # tests/test_list_totals_2.py; here every top-level list answers with its header.
    top_level = [op for op in promised if not op.parameters("path")]
    assert len(top_level) >= 14
    for op in top_level:
        response = client.get(op.path, params={"limit": 2}, headers=headers)
        assert response.status_code == 200, op.id
        assert int(response.headers[TOTAL_HEADER]) >= len(response.json()), op.id
    response = client.get(f"{API_PREFIX}/transactions", params={"limit": 2}, headers=headers)
    assert len(response.json()) == 2
    assert response.headers[TOTAL_HEADER] == "3"


def test_envelope_pages_echo_their_window(client: TestClient, db: Session) -> None:
    """Page objects carry ``items``, the ``total`` over all pages and the ``limit``/``offset``."""
    org = make_org(db, name="Paging Co")
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    for number in range(3):
        make_property(db, org, address_line=f"{100 + number} Page St", zip_code="48201")
    db.flush()
    page = client.get(
        f"{API_PREFIX}/properties", params={"limit": 2, "offset": 1}, headers=headers
    ).json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (2, 3, 2, 1)
    fmr = client.get(f"{API_PREFIX}/section8/fmr", params={"limit": 1}, headers=headers)
    assert fmr.status_code == 200
    body = fmr.json()
    assert body["total"] >= 1
    assert (len(body["items"]), body["limit"], body["offset"]) == (1, 1, 0)


# --- money, dates and partial updates --------------------------------------------------------


def test_money_and_dates_round_trip_exactly(client: TestClient, db: Session) -> None:
    """What a client sends (a string or a number) comes back as the same two-decimal string."""
    org = make_org(db, name="Exact Money LLC")
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    prop = make_property(db, org, address_line="12 Cents Ave", zip_code="48201")
    account = make_account(db, org)
    db.flush()

    created = client.post(
        f"{API_PREFIX}/deals",
        json={
            "property_id": str(prop.id),
            "purchase_price": "123456.78",
            "expected_profit": 25000.5,
            "estimated_repairs": "0.10",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    read = client.get(f"{API_PREFIX}/deals/{created.json()['id']}", headers=headers).json()
    for body in (created.json(), read):
        assert body["purchase_price"] == "123456.78"
        assert body["expected_profit"] == "25000.50"
        assert body["estimated_repairs"] == "0.10"
    house = client.post(
        f"{API_PREFIX}/properties",
        json={
            "address_line": "14 Round Trip Ln",
            "city": "Detroit",
            "state": "MI",
            "zip_code": "48201",
            "list_price": 150000,
        },
        headers=headers,
    )
    assert house.status_code == 201, house.text
    assert house.json()["list_price"] == "150000.00"
    house_url = f"{API_PREFIX}/properties/{house.json()['id']}"
    rented = client.put(house_url, json={"target_rent": 1250.5}, headers=headers)
    assert rented.json()["target_rent"] == "1250.50"
    assert client.get(house_url, headers=headers).json()["target_rent"] == "1250.50"

    deal_url = f"{API_PREFIX}/deals/{created.json()['id']}"
    changed = client.put(deal_url, json={"expected_profit": 7.5}, headers=headers)
    assert changed.json()["expected_profit"] == "7.50"
    offer = client.post(f"{deal_url}/offers", json={"offer_amount": 99000}, headers=headers)
    assert offer.status_code == 201, offer.text
    offers = client.get(f"{deal_url}/offers", headers=headers).json()
    assert offer.json()["offer_amount"] == offers[0]["offer_amount"] == "99000.00"

    project = client.post(
        f"{API_PREFIX}/projects",
        json={"deal_id": created.json()["id"], "name": "Rehab", "budget": 40000},
        headers=headers,
    )
    assert project.status_code == 201, project.text
    project_url = f"{API_PREFIX}/projects/{project.json()['id']}"
    assert project.json()["budget"] == "40000.00"
    patched = client.patch(project_url, json={"budget": 40000.5}, headers=headers)
    assert patched.json()["budget"] == "40000.50"
    assert client.get(project_url, headers=headers).json()["budget"] == "40000.50"

    booked = client.post(
        f"{API_PREFIX}/transactions",
        json={
            "type": "income",
            "category": "rents_received",
            "amount": "1234.5",
            "date": "2024-02-29",
            "account_id": str(account.id),
        },
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    listed = client.get(
        f"{API_PREFIX}/transactions",
        params={"start": "2024-02-29", "end": "2024-02-29"},
        headers=headers,
    ).json()
    assert [(t["id"], t["date"]) for t in listed] == [(booked.json()["id"], "2024-02-29")]
    assert {booked.json()["amount"], listed[0]["amount"]} == {"1234.50"}


@pytest.fixture
def world(db: Session) -> Iterator[dict[str, Any]]:
    """An organisation's admin headers with a property, a deal and a project."""
    org = make_org(db, name="Partial Updates Inc")
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    prop = make_property(
        db, org, address_line="7 Patch Rd", city="Detroit", zip_code="48201", mls_number="M1"
    )
    deal = make_deal(db, org, property_id=prop.id, purchase_price=Decimal("90000.00"))
    project = make_project(db, org, deal_id=deal.id, property_id=prop.id)
    db.flush()
    yield {"headers": headers, "property": prop.id, "deal": deal.id, "project": project.id}


@pytest.mark.parametrize(
    ("method", "resource", "path", "kept", "cleared", "value"),
    [
        ("PUT", "deal", "/deals/{}", "purchase_price", "expected_profit", "5000.00"),
        ("PUT", "property", "/properties/{}", "city", "mls_number", "MLS-77"),
        ("PATCH", "project", "/projects/{}", "name", "budget", "40000.00"),
    ],
)
def test_updates_change_only_what_is_sent_and_null_clears(
    client: TestClient,
    world: dict[str, Any],
    method: str,
    resource: str,
    path: str,
    kept: str,
    cleared: str,
    value: str,
) -> None:
    """Unset fields stay as they were; a field sent as ``null`` is cleared."""
    url = API_PREFIX + path.format(world[resource])
    headers = world["headers"]
    before = client.get(url, headers=headers).json()
    assert before[kept] not in (None, ""), f"{kept} should start set"

    set_answer = client.request(method, url, json={cleared: value}, headers=headers)
    assert set_answer.status_code == 200, set_answer.text
    assert set_answer.json()[cleared] == value
    assert set_answer.json()[kept] == before[kept]

    cleared_answer = client.request(method, url, json={cleared: None}, headers=headers)
    assert cleared_answer.status_code == 200, cleared_answer.text
    assert cleared_answer.json()[cleared] is None
    after = client.get(url, headers=headers).json()
    assert after[cleared] is None
    assert after[kept] == before[kept]


# --- the shape of every error ----------------------------------------------------------------


def test_conflicts_and_service_errors_have_the_detail_shape(
    client: TestClient, world: dict[str, Any]
) -> None:
    """A 409 (with its extras) and a service's own 422 still carry a message in ``detail``."""
    headers = world["headers"]
    illegal = client.put(
        f"{API_PREFIX}/deals/{world['deal']}/status", json={"status": "closed"}, headers=headers
    )
    assert illegal.status_code == 409
    assert _error_shape(409, illegal.json()) is None
    assert illegal.json()["allowed_next_statuses"]
    duplicate = client.post(
        f"{API_PREFIX}/projects",
        json={"deal_id": str(world["deal"]), "name": "A second project"},
        headers=headers,
    )
    assert duplicate.status_code == 409, duplicate.text
    assert _error_shape(409, duplicate.json()) is None
    service_422 = client.get(f"{API_PREFIX}/market/analysis", headers=headers)
    assert service_422.status_code == 422
    assert _error_shape(422, service_422.json()) is None


def test_oversized_bodies_are_413_with_a_detail(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """A JSON body over the limit is refused before it is read, in the common shape."""
    response = client.post(
        f"{API_PREFIX}/deals",
        content=b'{"notes": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert _error_shape(413, response.json()) is None


def test_rate_limited_requests_are_429_with_a_detail_and_retry_after(
    client: TestClient,
    admin_headers: dict[str, str],
    redis: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the per-token limit: 429, ``{"detail": ...}`` and ``Retry-After`` in seconds."""
    override_settings(monkeypatch, rate_limit_per_minute=2, rate_limit_ip_per_minute=0)
    answers = [client.get(f"{API_PREFIX}/deals", headers=admin_headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert _error_shape(429, answers[-1].json()) is None
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_error_shape_check_rejects_other_shapes() -> None:
    """The shape check itself refuses bodies an integrator could not parse the usual way."""
    assert _error_shape(404, {"detail": "Deal not found"}) is None
    assert _error_shape(404, {"error": "Deal not found"})
    assert _error_shape(404, {"detail": ""})
    assert _error_shape(404, {"detail": [{"loc": ["x"], "msg": "m", "type": "t"}]})
    assert _error_shape(422, {"detail": [{"loc": ["x"], "msg": "m", "type": "t"}]}) is None
    assert _error_shape(422, {"detail": [{"message": "m"}]})
    assert uuid.UUID(UNKNOWN_UUID)
