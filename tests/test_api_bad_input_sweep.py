"""Bad input never gets a 5xx: a sweep over every ``/api/v1`` operation of the OpenAPI document.

For each operation, authenticated as an organisation admin, the sweep sends malformed path
parameters (not a UUID, an unknown UUID), malformed query parameters (``limit=abc``,
``limit=-1``, ``limit=100000000``, ``2026-13-45`` ...), and for a JSON body: text that is not
JSON, an array, an empty object, and bodies built from the request schema with one field at a
time given the wrong type, ``null``, a negative number, ``1e12`` or a 10,000-character string.
Upload endpoints get an empty upload and a plain field where the file belongs; Twilio webhooks
get unsigned and forged requests. Bodies are built deterministically from the schema, with
real rows (a property, a deal, a project ...) behind the ids, so out-of-range values reach the
services and the database rather than stopping at "not found".

Structurally invalid input must get a 4xx whose JSON ``detail`` says something; other odd but
well-formed input may also succeed (a negative latitude is a latitude); nothing may get a 5xx.
The app is served with ``raise_server_exceptions=False`` so an unhandled error is a 500 the
test can name, together with the case that caused it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session

from app import API_PREFIX, app
from domain.auth.enums import Role
from store.db import get_session
from store.redis_client import get_redis
from tests.factories import (
    auth_headers,
    make_account,
    make_api_token,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
    override_settings,
)

OPENAPI: dict[str, Any] = app.openapi()
COMPONENTS: dict[str, Any] = OPENAPI.get("components", {}).get("schemas", {})
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
WEBHOOK_PREFIX = f"{API_PREFIX}/webhook/"

# What a client error may be: never 401 for an authenticated admin (the sweep would test
# nothing), never 429 (rate limiting is switched off for the sweep).
CLIENT_ERRORS = {400, 403, 404, 405, 409, 413, 415, 422}
PATH_ERRORS = {400, 403, 404, 405, 409, 422}
LONG_STRING = "x" * 10_000
UNKNOWN_UUID = "3f0c9a52-8a7e-4c61-9d3b-5b1e2f7a9c10"


@dataclass(frozen=True)
class Operation:
    """One method on one path of the OpenAPI document."""

    method: str
    path: str
    spec: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def id(self) -> str:
        """``METHOD path``, the test id."""
        return f"{self.method.upper()} {self.path}"

    def parameters(self, where: str) -> list[dict[str, Any]]:
        """The operation's parameters ``in`` path or query."""
        return [p for p in self.spec.get("parameters", []) if p.get("in") == where]

    @property
    def body(self) -> tuple[str, dict[str, Any]] | None:
        """``(content type, schema)`` of the request body, if it takes one."""
        content = self.spec.get("requestBody", {}).get("content", {})
        for content_type, media in content.items():
            return content_type, media.get("schema", {})
        return None

    @property
    def public(self) -> bool:
        """True when the operation needs no bearer token (so 401 is a fair answer)."""
        return not self.spec.get("security")

    @property
    def is_webhook(self) -> bool:
        """Twilio webhooks: signed requests only."""
        return self.path.startswith(WEBHOOK_PREFIX)


def _operations() -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in OPENAPI["paths"].items()
        if path.startswith(API_PREFIX + "/")
        for method, spec in item.items()
        if method in HTTP_METHODS
    ]


OPERATIONS = _operations()


# --- schemas -------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve({**schema["allOf"][0]})
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a value may take (``anyOf``/``oneOf`` flattened, refs resolved)."""
    schema = _resolve(schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [v for option in schema[key] for v in _variants(option)]
    return [schema]


def _json_type(schema: dict[str, Any]) -> set[str]:
    if "type" in schema:
        types = schema["type"]
        return set(types) if isinstance(types, list) else {types}
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if values is not None:
        names = {str: "string", bool: "boolean", int: "integer", float: "number"}
        return {names.get(type(v), "null") for v in values}
    return {"string", "number", "integer", "boolean", "array", "object", "null"}


def _accepts(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema accepts (``integer`` implies nothing about ``number``)."""
    return set().union(*(_json_type(v) for v in _variants(schema)))


def _value_variant(schema: dict[str, Any]) -> dict[str, Any] | None:
    options = [v for v in _variants(schema) if _json_type(v) != {"null"}]
    return options[0] if options else None


def _is_file(schema: dict[str, Any]) -> bool:
    variant = _value_variant(schema) or {}
    if variant.get("type") == "array":
        return _is_file(variant.get("items", {}))
    return variant.get("format") == "binary" or "contentMediaType" in variant


def _is_free_text(schema: dict[str, Any]) -> bool:
    variant = _value_variant(schema) or {}
    return variant.get("type") == "string" and "enum" not in variant and "format" not in variant


PATTERN_CANDIDATES = ["2024-01", "2024-01-15", "48201", "+13135550123", "MI", "12345", "abc"]


class World:
    """Rows of one organisation, made on first use, whose ids fill paths and bodies."""

    def __init__(self, db: Session) -> None:
        """Create the organisation and its admin."""
        self.db = db
        self.org = make_org(db, name="Sweep Holdings")
        self.admin = make_user(db, self.org, role=Role.admin)
        self.headers = auth_headers(db, self.admin)

    @cached_property
    def property_id(self) -> uuid.UUID:
        """A Detroit house."""
        prop = make_property(
            self.db,
            self.org,
            address_line="500 Sweep St",
            city="Detroit",
            state="MI",
            zip_code="48201",
            latitude=42.33,
            longitude=-83.04,
            bedrooms=3,
            square_feet=1400,
        )
        return prop.id  # type: ignore[no-any-return]

    @cached_property
    def deal_id(self) -> uuid.UUID:
        """A deal on :attr:`property_id`."""
        return make_deal(self.db, self.org, property_id=self.property_id).id  # type: ignore[no-any-return]

    @cached_property
    def project_id(self) -> uuid.UUID:
        """A rehab project of :attr:`deal_id` with a roof and a furnace in scope."""
        project = make_project(
            self.db, self.org, deal_id=self.deal_id, property_id=self.property_id
        )
        return project.id  # type: ignore[no-any-return]

    @cached_property
    def contractor_id(self) -> uuid.UUID:
        """A roofer."""
        return make_contractor(self.db, self.org).id  # type: ignore[no-any-return]

    @cached_property
    def account_id(self) -> uuid.UUID:
        """An operating account."""
        return make_account(self.db, self.org).id  # type: ignore[no-any-return]

    @cached_property
    def token_id(self) -> uuid.UUID:
        """An API token of the admin."""
        return make_api_token(self.db, self.admin)[0].id

    @cached_property
    def offer_id(self) -> uuid.UUID:
        """A submitted offer on :attr:`deal_id`."""
        from decimal import Decimal

        from domain.deal import service as deal_service
        from domain.deal.models import OfferCreate

        offer = deal_service.make_offer(
            session=self.db,
            org_id=self.org.id,
            deal_id=self.deal_id,
            offer_in=OfferCreate(offer_amount=Decimal("50000")),
        )
        return offer.id

    @cached_property
    def bid_id(self) -> uuid.UUID:
        """A bid by :attr:`contractor_id` on :attr:`project_id`."""
        from decimal import Decimal

        from domain.construction import service as construction_service
        from domain.construction.models import BidCreate

        bid = construction_service.create_bid(
            session=self.db,
            org_id=self.org.id,
            project_id=self.project_id,
            bid_in=BidCreate(contractor_id=self.contractor_id, total_amount=Decimal("12000")),
        )
        return bid.id

    @cached_property
    def task_id(self) -> uuid.UUID:
        """A task of :attr:`project_id`."""
        from domain.construction import service as construction_service
        from domain.construction.models import TaskCreate

        task = construction_service.create_task(
            session=self.db,
            org_id=self.org.id,
            project_id=self.project_id,
            task_in=TaskCreate(title="Tear off the old roof"),
        )
        return task.id

    @cached_property
    def milestone_id(self) -> uuid.UUID:
        """A milestone of :attr:`project_id`."""
        from domain.construction import service as construction_service
        from domain.construction.models import MilestoneCreate

        milestone = construction_service.create_milestone(
            session=self.db,
            org_id=self.org.id,
            project_id=self.project_id,
            milestone_in=MilestoneCreate(name="Roof inspection"),
        )
        return milestone.id

    @cached_property
    def conversation_id(self) -> uuid.UUID:
        """A chat conversation of the admin."""
        from domain.chat import service as chat_service

        conversation = chat_service.create_conversation(
            session=self.db, org_id=self.org.id, user_id=self.admin.id
        )
        return conversation.id

    def id_for(self, name: str) -> str:
        """A real id for a field or path parameter called ``name`` (else an unknown one)."""
        key = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().removesuffix("_id")
        key = {"owner_user": "user", "user": "admin", "assignee_contractor": "contractor"}.get(
            key, key
        )
        if key == "admin":
            return str(self.admin.id)
        attribute = f"{key}_id"
        if attribute in type(self).__dict__:
            value = getattr(self, attribute)
            self.db.flush()
            return str(value)
        return UNKNOWN_UUID

    def path_value(self, path: str, name: str) -> str:
        """A valid value for path parameter ``name`` of ``path``."""
        if name == "id":
            resource = path.removeprefix(API_PREFIX + "/").split("/", 1)[0]
            singular = {
                "properties": "property",
                "deals": "deal",
                "projects": "project",
                "contractors": "contractor",
            }.get(resource)
            return self.id_for(f"{singular}_id") if singular else UNKNOWN_UUID
        if name == "month":
            return "2024-01"
        if name == "phoneNumber":
            return "+13135550123"
        return self.id_for(name)

    def sample(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        """A plausible valid value for ``schema`` (required object fields only)."""
        variant = _value_variant(schema)
        if variant is None:
            return None
        for source in (variant, _resolve(schema)):
            if source.get("examples"):
                return source["examples"][0]
        if "enum" in variant:
            return variant["enum"][0]
        if "const" in variant:
            return variant["const"]
        kind = variant.get("type")
        if kind == "object" or "properties" in variant:
            if depth > 4:
                return {}
            props = variant.get("properties", {})
            return {
                key: self.sample(props[key], key, depth + 1)
                for key in variant.get("required", [])
                if key in props
            }
        if kind == "array":
            count = max(1, variant.get("minItems", 1))
            return [self.sample(variant.get("items", {}), name, depth + 1) for _ in range(count)]
        if kind == "boolean":
            return True
        if kind in ("integer", "number"):
            low = variant.get("minimum", variant.get("exclusiveMinimum", 0) + 1)
            high = variant.get("maximum", variant.get("exclusiveMaximum", 10**9) - 1)
            wanted = 2024 if "year" in name else 3
            return max(min(wanted, high), low)
        return self._sample_string(variant, name)

    def _sample_string(self, variant: dict[str, Any], name: str) -> str:
        fmt = variant.get("format")
        lowered = name.lower()
        by_format = {
            "date": "2024-01-15",
            "date-time": "2024-01-15T12:00:00Z",
            "time": "09:00:00",
            "email": "sweep@example.com",
            "uri": "https://example.com/photo.jpg",
        }
        if fmt == "uuid":
            return self.id_for(name)
        if fmt in by_format:
            return by_format[fmt]
        if "phone" in lowered:
            value = "+13135550123"
        elif lowered.endswith("url"):
            value = "https://example.com/photo.jpg"
        elif "email" in lowered:
            value = "sweep@example.com"
        elif "zip" in lowered:
            value = "48201"
        elif lowered == "state":
            value = "MI"
        elif "month" in lowered or lowered in ("start", "end"):
            value = "2024-01"
        elif "timezone" in lowered:
            value = "America/Detroit"
        elif "password" in lowered:
            value = "correct-horse-battery-staple"
        else:
            value = "Sweep value"
        pattern = variant.get("pattern")
        if pattern and not re.search(pattern, value):
            value = next((c for c in PATTERN_CANDIDATES if re.search(pattern, c)), value)
        return value.ljust(variant.get("minLength", 0), "x")[: variant.get("maxLength", 10**6)]


# Operations whose valid body (or query) depends on one field's value or on a combination of
# fields the schema cannot say: what to add to the generated one so that it is valid and the
# sweep's bad values reach the service rather than stopping at "give property_id or ...".
def _property(world: World) -> dict[str, Any]:
    return {"property_id": world.id_for("property_id")}


BODY_BASES: dict[str, Callable[[World], dict[str, Any]]] = {
    "POST /api/v1/properties": lambda w: {"address_line": "501 Sweep St", "zip_code": "48201"},
    "POST /api/v1/comparables/analyze": _property,
    "POST /api/v1/valuations/calculate": _property,
    "POST /api/v1/valuations/arv": _property,
    "POST /api/v1/reports/generate": _property,
    "POST /api/v1/section8/rent-analysis": lambda w: {"bedrooms": 3},
    "PUT /api/v1/deals/{id}/status": lambda w: {"status": "analyzing"},
    "PUT /api/v1/deals/{id}/offers/{offer_id}/status": lambda w: {"status": "rejected"},
    "POST /api/v1/transactions": lambda w: {"type": "expense", "category": "repairs"},
    "POST /api/v1/expenses": lambda w: {"category": "repairs"},
    "POST /api/v1/projects/{id}/bids": lambda w: {"total_amount": "12000"},
    "POST /api/v1/extract/conditions": lambda w: {"text": "The roof is worn; the furnace is old."},
    "POST /api/v1/calls/initiate": lambda w: {"project_id": w.id_for("project_id")},
    "POST /api/v1/calls/schedule": lambda w: {
        "project_id": w.id_for("project_id"),
        "scheduled_for": "2036-01-15T15:00:00Z",
    },
}
QUERY_BASES: dict[str, dict[str, str]] = {
    "GET /api/v1/projections/{dealId}": {
        "strategy": "flip",
        "purchase_price": "60000",
        "arv": "90000",
    },
    "GET /api/v1/market/analysis": {"zip": "48201"},
}


# --- cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request to send and what it may be answered with."""

    label: str
    kwargs: dict[str, Any]
    path: str
    strict: bool  # must be a client error with a detail (else: anything but a 5xx)
    allowed: frozenset[int] = frozenset(CLIENT_ERRORS)


def _field_cases(schema: dict[str, Any], required: bool) -> Iterator[tuple[str, Any, bool]]:
    """``(label, value, strict)`` for one field: wrong types, null, out of range, too long."""
    accepts = _accepts(schema)
    numeric = bool(accepts & {"number", "integer"})
    if numeric:
        yield "string for number", "not-a-number", "string" not in accepts
    if "string" in accepts and not numeric:
        # pydantic reads a number as a Unix time for dates and times: not always an error.
        timed = bool({v.get("format") for v in _variants(schema)} & {"date", "date-time", "time"})
        yield "number for string", 12345, not timed
    if "array" in accepts and "object" not in accepts:
        yield "object for array", {"not": "a list"}, True
    if "object" in accepts and "array" not in accepts:
        yield "array for object", ["not", "an object"], True
    if accepts == {"boolean"} or accepts == {"boolean", "null"}:
        yield "string for boolean", "maybe", True
    if required and "null" not in accepts:
        yield "null for required", None, True
    if numeric:
        big = 10**12 if "number" not in accepts else 1e12
        yield "negative", -1, False
        yield "1e12", big, False
    if _is_free_text(schema):
        yield "10,000 characters", LONG_STRING, False


def _body_mutations(
    world: World, schema: dict[str, Any], base: dict[str, Any], depth: int = 0
) -> Iterator[tuple[str, Any, bool]]:
    """Copies of ``base`` with one field (at any nesting level up to 3) made bad."""
    variant = _value_variant(schema) or {}
    props: dict[str, Any] = variant.get("properties", {})
    required = set(variant.get("required", []))
    for key, prop in props.items():
        for label, value, strict in _field_cases(prop, key in required):
            yield f"{key}: {label}", {**base, key: value}, strict
        if depth >= 2:
            continue
        inner = _value_variant(prop) or {}
        if inner.get("properties"):
            present = base.get(key)
            child = present if isinstance(present, dict) else world.sample(inner)
            for label, value, strict in _body_mutations(world, inner, child, depth + 1):
                yield f"{key}.{label}", {**base, key: value}, strict
        items = _value_variant(inner.get("items", {})) or {}
        if inner.get("type") == "array" and items.get("properties"):
            child = world.sample(items)
            for label, value, strict in _body_mutations(world, items, child, depth + 1):
                yield f"{key}[0].{label}", {**base, key: [value]}, strict


def _query_cases(param: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """``(label, value, strict)`` for one query parameter."""
    schema = param.get("schema", {})
    accepts = _accepts(schema)
    variant = _value_variant(schema) or {}
    formats = {v.get("format") for v in _variants(schema)}
    if accepts & {"integer", "number"}:
        yield "abc", "abc", "string" not in accepts
        yield "-1", "-1", False
        yield "100000000", "100000000", False
        if "number" in accepts:
            yield "1e12", "1e12", False
    if formats & {"date", "date-time"}:
        yield "2026-13-45", "2026-13-45", True
    if "uuid" in formats:
        yield "not-a-uuid", "not-a-uuid", True
    if accepts - {"null"} == {"boolean"}:
        yield "maybe", "maybe", True
    if "enum" in variant:
        yield "unknown choice", "no-such-choice", True
    if _is_free_text(schema) or (formats & {"date", "date-time"}):
        yield "10,000 characters", LONG_STRING, False


def _path(operation: Operation, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], operation.path)


def _cases(operation: Operation, world: World) -> list[Case]:
    """Every request the sweep sends to ``operation``."""
    path_params = {
        p["name"]: world.path_value(operation.path, p["name"]) for p in operation.parameters("path")
    }
    base_path = _path(operation, path_params)
    base_query = {
        p["name"]: str(world.sample(p["schema"], p["name"]))
        for p in operation.parameters("query")
        if p.get("required")
    } | QUERY_BASES.get(operation.id, {})
    body = operation.body
    base_kwargs: dict[str, Any] = {"params": base_query}
    content_type, body_schema = body if body else ("", {})
    if content_type == "application/json":
        base_kwargs["json"] = world.sample(body_schema)
        if operation.id in BODY_BASES:
            base_kwargs["json"] |= BODY_BASES[operation.id](world)
    elif body:
        form, _ = _form(world, body_schema)
        base_kwargs["data"] = form

    allowed = frozenset(CLIENT_ERRORS | ({401} if operation.public else set()))
    cases = [Case("the plain request", base_kwargs, base_path, False, allowed)]

    for name in path_params:
        for label, bad in (("not a UUID", "not-a-uuid"), ("an unknown UUID", UNKNOWN_UUID)):
            if name in ("month", "phoneNumber"):
                bad = {"month": "2026-13", "phoneNumber": "not-a-phone"}[name]
                if label == "an unknown UUID":
                    continue
            bad_path = _path(operation, {**path_params, name: bad})
            cases.append(
                Case(f"path {name}: {label}", base_kwargs, bad_path, True, frozenset(PATH_ERRORS))
            )

    for param in operation.parameters("query"):
        for label, value, strict in _query_cases(param):
            query = {**base_query, param["name"]: value}
            label = f"query {param['name']}={label}"
            cases.append(Case(label, {**base_kwargs, "params": query}, base_path, strict, allowed))

    if content_type == "application/json":
        base = base_kwargs["json"]
        plain = {"params": base_query}
        cases += [
            Case(
                "body: not JSON",
                {**plain, "content": b"{not json", "headers": {"Content-Type": "application/json"}},
                base_path,
                True,
                allowed,
            ),
            Case("body: an array", {**plain, "json": [base]}, base_path, True, allowed),
        ]
        resolved = _value_variant(body_schema) or {}
        cases.append(
            Case(
                "body: {}",
                {**plain, "json": {}},
                base_path,
                bool(resolved.get("required")),
                allowed,
            )
        )
        if isinstance(base, dict):
            for label, value, strict in _body_mutations(world, body_schema, base):
                cases.append(
                    Case(f"body {label}", {**plain, "json": value}, base_path, strict, allowed)
                )
    elif body:
        cases += _form_cases(world, operation, body_schema, base_path, base_query, allowed)
    return cases


def _form(world: World, schema: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Plain form fields with valid values, and the names of the file fields."""
    variant = _resolve(schema)
    props: dict[str, Any] = variant.get("properties", {})
    files = [key for key, prop in props.items() if _is_file(prop)]
    form = {
        key: str(world.sample(props[key], key))
        for key in variant.get("required", [])
        if key in props and key not in files
    }
    return form, files


def _form_cases(
    world: World,
    operation: Operation,
    schema: dict[str, Any],
    path: str,
    query: dict[str, str],
    allowed: frozenset[int],
) -> list[Case]:
    """Uploads and forms: nothing, an empty file, text where the file goes, bad fields."""
    form, files = _form(world, schema)
    variant = _resolve(schema)
    props: dict[str, Any] = variant.get("properties", {})
    cases = [
        Case(
            "form: nothing at all", {"params": query}, path, bool(variant.get("required")), allowed
        )
    ]
    for name in files:
        empty = {name: ("empty.jpg", b"", "image/jpeg")}
        cases.append(
            Case(
                f"form {name}: an empty upload",
                {"params": query, "data": form, "files": empty},
                path,
                True,
                allowed,
            )
        )
        text = {**form, name: "not a file"}
        cases.append(
            Case(
                f"form {name}: text, not a file",
                {"params": query, "data": text},
                path,
                True,
                allowed,
            )
        )
    for key, prop in props.items():
        if key in files:
            continue
        for label, value, strict in _field_cases(prop, key in variant.get("required", [])):
            if value is None or isinstance(value, (dict, list)):
                continue  # a form field is text: null, objects and arrays cannot be sent
            data = {**form, key: str(value)}
            cases.append(
                Case(f"form {key}: {label}", {"params": query, "data": data}, path, strict, allowed)
            )
    return cases


# --- checking ------------------------------------------------------------------------------


class Answer(Protocol):
    """What the sweep reads of a response (the test client's, whichever httpx it uses)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def text(self) -> str:
        """The body as text."""

    def json(self) -> Any:
        """The body as JSON."""


def _detail(response: Answer) -> Any:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return None


def _says_something(detail: Any) -> bool:
    if isinstance(detail, str):
        return bool(detail.strip())
    if isinstance(detail, list):
        return bool(detail) and all(isinstance(d, dict) and d.get("msg") for d in detail)
    return bool(detail)


def _problem(case: Case, response: Answer) -> str | None:
    """What is wrong with ``response`` to ``case``, or None."""
    status = response.status_code
    where = f"{case.label} -> {status}"
    if status >= 500:
        return f"{where}: {response.text[:300]}"
    if status in (401, 429) and status not in case.allowed:
        return f"{where}: the sweep itself is broken ({response.text[:200]})"
    if case.strict and status not in case.allowed:
        return f"{where}: expected one of {sorted(case.allowed)}"
    if 400 <= status < 500 and not _says_something(_detail(response)):
        return f"{where}: the error has no detail ({response.text[:200]})"
    return None


def _refused_photo_is_recorded(case: Case, response: Answer) -> bool:
    """Vision keeps an outcome per photo: an empty one is a ``failed`` analysis saying why."""
    if "an empty upload" not in case.label or response.status_code not in (200, 202):
        return False
    body = response.json()
    analyses = body.get("analyses") or [body.get("analysis")]
    return bool(analyses) and all(
        a and a["status"] == "failed" and "empty" in (a.get("error") or "").lower()
        for a in analyses
    )


# Answers other than a 4xx that the endpoint documents for a case (its docstring says so).
DOCUMENTED_ANSWERS: dict[str, Callable[[Case, Answer], bool]] = {
    "POST /api/v1/analyze/property-photos": _refused_photo_is_recorded,
    "POST /api/v1/analyze/component-condition": _refused_photo_is_recorded,
}


# --- fixtures and tests --------------------------------------------------------------------


@pytest.fixture
def sweep_client(db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """Like ``client``, but a server error is a 500 response rather than an exception.

    A request that fails rolls the shared session back to its last savepoint, as a fresh
    session per request would in production; rate limits are off (the sweep is one caller
    sending hundreds of requests) and webhooks check signatures with a known token.
    """
    override_settings(
        monkeypatch,
        rate_limit_per_minute=0,
        rate_limit_ip_per_minute=0,
        twilio_auth_token=SecretStr("sweep-twilio-token"),
    )

    def _session() -> Iterator[Session]:
        try:
            yield db
        except Exception:
            db.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    get_redis().flushdb()
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.dependency_overrides.clear()
    get_redis().flushdb()


def test_the_sweep_covers_the_whole_api() -> None:
    """The sweep is collected from the live OpenAPI document and is not suspiciously small."""
    served = sum(
        1
        for path, item in OPENAPI["paths"].items()
        if path.startswith(API_PREFIX)
        for method in item
        if method in HTTP_METHODS
    )
    assert len(OPERATIONS) == served
    assert served >= 100, f"only {served} operations under {API_PREFIX}: is a router missing?"
    json_bodies = [o for o in OPERATIONS if o.body and o.body[0] == "application/json"]
    uploads = [o for o in OPERATIONS if o.body and o.body[0] == "multipart/form-data"]
    with_path = [o for o in OPERATIONS if o.parameters("path")]
    with_query = [o for o in OPERATIONS if o.parameters("query")]
    webhooks = [o for o in OPERATIONS if o.is_webhook]
    assert len(json_bodies) >= 40
    assert len(uploads) >= 4
    assert len(with_path) >= 40
    assert len(with_query) >= 20
    assert len(webhooks) >= 4


API_OPERATIONS = [o for o in OPERATIONS if not o.is_webhook]
WEBHOOKS = [o for o in OPERATIONS if o.is_webhook]


@pytest.mark.parametrize("operation", API_OPERATIONS, ids=lambda o: o.id)
def test_bad_input_never_gets_a_server_error(
    operation: Operation, db: Session, sweep_client: TestClient
) -> None:
    """Every malformed request to the operation gets a 4xx with a detail (or a 2xx), no 5xx."""
    world = World(db)
    cases = _cases(operation, world)
    assert len(cases) >= 1 + len(operation.parameters("path")) + len(operation.parameters("query"))
    problems = []
    documented = DOCUMENTED_ANSWERS.get(operation.id)
    for case in cases:
        kwargs = {**case.kwargs, "headers": {**world.headers, **case.kwargs.get("headers", {})}}
        response = sweep_client.request(operation.method.upper(), case.path, **kwargs)
        problem = _problem(case, response)
        if problem and documented and documented(case, response):
            problem = None
        if problem:
            problems.append(problem)
    assert not problems, f"{operation.id}: {len(problems)} of {len(cases)} cases\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("operation", WEBHOOKS, ids=lambda o: o.id)
def test_webhooks_refuse_unsigned_requests_with_403(
    operation: Operation, db: Session, sweep_client: TestClient
) -> None:
    """Twilio webhooks answer 403 to unsigned or forged requests, whatever they carry."""
    world = World(db)
    path_params = {
        p["name"]: world.path_value(operation.path, p["name"]) for p in operation.parameters("path")
    }
    path = _path(operation, path_params)
    form = {"CallSid": "CA" + "0" * 32, "MessageSid": "SM" + "0" * 32, "Body": LONG_STRING}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("unsigned", path, {"data": form}),
        ("unsigned, no form", path, {}),
        ("forged signature", path, {"data": form, "headers": {"X-Twilio-Signature": "AAAA"}}),
        ("unsigned JSON", path, {"json": {"Body": "hi"}}),
    ]
    for name in path_params:
        requests.append(
            (
                f"unsigned, {name} not a UUID",
                _path(operation, {**path_params, name: "x"}),
                {"data": form},
            )
        )
    for param in operation.parameters("query"):
        requests.append(
            (
                f"unsigned, {param['name']}=abc",
                path,
                {"data": form, "params": {param["name"]: "abc"}},
            )
        )
    problems = []
    for label, url, kwargs in requests:
        response = sweep_client.post(url, **kwargs)
        expected = {403} if "not a UUID" not in label and "=abc" not in label else {403, 404, 422}
        if response.status_code not in expected or not _says_something(_detail(response)):
            problems.append(f"{label} -> {response.status_code}: {response.text[:200]}")
    assert not problems, "\n".join(problems)
