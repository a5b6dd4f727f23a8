"""Unknown query parameters are refused (422) instead of being silently ignored.

``GET /deals?statuss=closed`` used to answer every deal: the misspelt filter was dropped. The
app-wide dependency ``reject_unknown_query`` compares the request's query parameters with the
ones its route declares (its own and its dependencies', a query model's fields included) and
answers 422 naming each unknown one (FastAPI's validation error shape, type
``extra_forbidden``, as an unknown body field gets). Only operations under the API prefix are
checked; Twilio's webhooks (``/api/v1/webhook/``) are exempt, since Twilio chooses what it sends.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

API_PREFIX = "/api/v1"
EXEMPT_PREFIXES = (f"{API_PREFIX}/webhook/",)

_KNOWN: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant, names: set[str]) -> None:
    """Add the query parameter names ``dependant`` and its sub-dependencies declare."""
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query model (``Annotated[Model, Query()]``): each field is a parameter.
            for name, field in annotation.model_fields.items():
                names.add(field.alias or name)
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        _query_names(sub, names)


def declared_query_params(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` accepts (computed once per route)."""
    known = _KNOWN.get(id(route))
    if known is None:
        names: set[str] = set()
        _query_names(route.dependant, names)
        known = _KNOWN[id(route)] = frozenset(names)
    return known


def reject_unknown_query(request: Request) -> None:
    """A dependency: 422 naming a query parameter the matched operation does not declare."""
    path = request.url.path
    if not path.startswith(API_PREFIX) or path.startswith(EXEMPT_PREFIXES):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = declared_query_params(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if not unknown:
        return
    accepted = ", ".join(sorted(known)) if known else "none"
    # The shape of FastAPI's own 422 (``HTTPValidationError``), as an unknown body field gets.
    raise RequestValidationError(
        [
            {
                "type": "extra_forbidden",
                "loc": ("query", name),
                "msg": f"Unknown query parameter {name!r} (this operation accepts: {accepted})",
                "input": request.query_params.get(name),
            }
            for name in unknown
        ]
    )
