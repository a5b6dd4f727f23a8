"""Unknown or repeated input is refused (422) instead of being silently ignored.

``GET /deals?statuss=closed`` used to answer every deal: the misspelt filter was dropped. The
app-wide dependency ``reject_unknown_query`` compares the request's query parameters with the
ones its route declares (its own and its dependencies', a query model's fields included) and
answers 422 naming each unknown one (FastAPI's validation error shape, type
``extra_forbidden``, as an unknown body field gets). It does the same for the fields of a form
body (``multipart/form-data`` or urlencoded) on an operation that declares ``Form``/``File``
parameters (``captoin=`` on a photo upload used to lose the caption), and refuses a scalar
query parameter or form field given more than once (``?limit=1&limit=2`` used one of them;
``username=a&username=b`` on ``POST /auth/token`` signed in as the second; one declared as a
list, such as an upload's ``files``, may repeat). Only operations under the API prefix are
checked; Twilio's webhooks (``/api/v1/webhook/``) are exempt, since Twilio chooses what it
sends.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import UploadFile

API_PREFIX = "/api/v1"
EXEMPT_PREFIXES = (f"{API_PREFIX}/webhook/",)
# A repeated form field whose name has one of these is refused without its values echoed.
_SECRET_WORDS = ("password", "secret", "token")


@dataclass(frozen=True)
class _Declared:
    """What one operation accepts: query names and form fields (or None), and which repeat."""

    query: frozenset[str]
    repeatable: frozenset[str]
    form: frozenset[str] | None
    form_repeatable: frozenset[str] = frozenset()


# By ``id(route)``, with a weak reference to tell a route from a later one at the same address.
_DECLARED: dict[int, tuple[weakref.ref[APIRoute], _Declared]] = {}


def _takes_list(annotation: Any) -> bool:
    """Whether a query parameter typed ``annotation`` takes several values (``list[str]``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_list(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_takes_list(arg) for arg in get_args(annotation))
    kind = origin or annotation
    return (
        isinstance(kind, type)
        and issubclass(kind, (Sequence, set, frozenset))
        and not issubclass(kind, (str, bytes))
    )


def _model_fields(annotation: Any) -> dict[str, Any] | None:
    """``{name: annotation}`` of a pydantic model's fields (by alias), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            field.alias or name: field.annotation for name, field in annotation.model_fields.items()
        }
    return None


def _collect(
    dependant: Dependant, query: dict[str, bool], form: dict[str, bool], has_form: list[bool]
) -> None:
    """Gather the query names and form fields ``dependant`` declares (each: may it repeat?)."""
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        fields = _model_fields(annotation) or {param.alias: annotation}
        for name, field_annotation in fields.items():
            # A name declared twice may repeat only if every declaration takes a list.
            repeatable = _takes_list(field_annotation)
            query[name] = query.get(name, True) and repeatable
    for param in dependant.body_params:
        if isinstance(param.field_info, Form):  # File() is a Form() too
            has_form[0] = True
            annotation = param.field_info.annotation
            fields = _model_fields(annotation) or {param.alias: annotation}
            for name, field_annotation in fields.items():
                form[name] = form.get(name, True) and _takes_list(field_annotation)
    for sub in dependant.dependencies:
        _collect(sub, query, form, has_form)


def _declared(route: APIRoute) -> _Declared:
    """What ``route`` accepts (computed once per route)."""
    cached = _DECLARED.get(id(route))
    if cached is not None and cached[0]() is route:
        return cached[1]
    query: dict[str, bool] = {}
    form: dict[str, bool] = {}
    has_form = [False]
    _collect(route.dependant, query, form, has_form)
    declared = _Declared(
        query=frozenset(query),
        repeatable=frozenset(name for name, repeats in query.items() if repeats),
        form=frozenset(form) if has_form[0] else None,
        form_repeatable=frozenset(name for name, repeats in form.items() if repeats),
    )
    _DECLARED[id(route)] = (weakref.ref(route), declared)
    return declared


def declared_query_params(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` accepts (computed once per route)."""
    return _declared(route).query


def declared_form_fields(route: APIRoute) -> frozenset[str] | None:
    """The form field names ``route`` accepts; None when it takes no form body."""
    return _declared(route).form


def _accepts(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) if names else "none"


def _shown(value: str | UploadFile) -> str | None:
    """A form value as an error may echo it: the text, or an upload's file name."""
    return value if isinstance(value, str) else value.filename


async def reject_unknown_query(request: Request) -> None:
    """A dependency: 422 naming an undeclared query parameter or form field, or a repeat."""
    path = request.url.path
    if not path.startswith(API_PREFIX) or path.startswith(EXEMPT_PREFIXES):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _declared(route)
    # The shape of FastAPI's own 422 (``HTTPValidationError``), as an unknown body field gets.
    errors: list[dict[str, Any]] = []
    if request.query_params:
        accepted = _accepts(declared.query)
        for name in dict.fromkeys(request.query_params.keys()):
            values = request.query_params.getlist(name)
            if name not in declared.query:
                errors.append(
                    {
                        "type": "extra_forbidden",
                        "loc": ("query", name),
                        "msg": f"Unknown query parameter {name!r} "
                        f"(this operation accepts: {accepted})",
                        "input": values[0],
                    }
                )
            elif len(values) > 1 and name not in declared.repeatable:
                errors.append(
                    {
                        "type": "value_error",
                        "loc": ("query", name),
                        "msg": f"Query parameter {name!r} was given {len(values)} times; "
                        "it takes one value",
                        "input": values,
                    }
                )
    if declared.form is not None:
        # FastAPI has already read (and cached) the form for this operation's parameters.
        form = await request.form()
        accepted = _accepts(declared.form)
        for name in dict.fromkeys(form.keys()):
            if name not in declared.form:
                errors.append(
                    {
                        "type": "extra_forbidden",
                        "loc": ("body", name),
                        "msg": f"Unknown form field {name!r} (this operation accepts: {accepted})",
                        "input": _shown(form[name]),
                    }
                )
                continue
            given = form.getlist(name)
            if len(given) > 1 and name not in declared.form_repeatable:
                # The last one used to win silently (a second username signed in as that user).
                errors.append(
                    {
                        "type": "value_error",
                        "loc": ("body", name),
                        "msg": f"Form field {name!r} was given {len(given)} times; "
                        "it takes one value",
                        "input": [_shown(value) for value in given]
                        if not any(word in name.lower() for word in _SECRET_WORDS)
                        else "(not echoed)",
                    }
                )
    if errors:
        raise RequestValidationError(errors)
