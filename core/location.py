"""``Location`` on a ``201 Created``: where the new resource can be read (``GET``).

A route that creates a resource with its own ``GET {collection}/{id}`` takes the
``CreatedLocation`` dependency and calls ``location.created(new.id)`` once the row exists; the
header is the collection path the request was posted to plus the id (a relative reference,
as RFC 9110 allows, so a proxy's scheme and host never make it wrong). ``LOCATION_201`` goes
in the route's ``responses`` so the OpenAPI document says so. An idempotent replay answers
with the header kept from the first answer (core.idempotency).

Creates with no ``GET`` of their own (an offer, a transaction, a bid ...) send no ``Location``:
tests/test_location_qa12_api.py sweeps the schema for that rule.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response

LOCATION_HEADER = "Location"

LOCATION_201: dict[int | str, dict[str, Any]] = {
    201: {
        "headers": {
            LOCATION_HEADER: {
                "description": "The path of the created resource (GET it there)",
                "schema": {"type": "string", "format": "uri-reference"},
            }
        }
    }
}
"""The ``responses`` entry documenting ``Location`` on a create's 201 answer."""


class Location:
    """Sets the answer's ``Location`` to the created resource, under the path posted to."""

    def __init__(self, request: Request, response: Response) -> None:
        """Keep the request (its path) and the answer the header goes on."""
        self._path = request.url.path
        self._response = response

    def created(self, resource_id: uuid.UUID | str) -> str:
        """Point ``Location`` at ``{posted path}/{resource_id}``; returns the path."""
        path = f"{self._path.rstrip('/')}/{quote(str(resource_id), safe='')}"
        self._response.headers[LOCATION_HEADER] = path
        return path


CreatedLocation = Annotated[Location, Depends(Location)]
"""A create route's handle on its answer's ``Location`` header."""
