"""Paged lists: how many rows match over all pages, counted and sent as ``X-Total-Count``.

A list endpoint that pages with ``limit``/``offset`` and returns a JSON array sends the number
of rows matching its filters in the ``X-Total-Count`` header (the body stays a plain array),
and documents the header with ``TOTAL_COUNT``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import Select, SelectOfScalar

TOTAL_HEADER = "X-Total-Count"


def count_rows(session: Session, statement: SelectOfScalar[Any] | Select[*tuple[Any, ...]]) -> int:
    """How many rows ``statement`` (filters only; its order and paging are dropped) matches."""
    inner = statement.order_by(None).limit(None).offset(None).subquery()
    return int(session.exec(select(func.count()).select_from(inner)).one())


def total_count(what: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry documenting ``X-Total-Count`` on a list's 200 answer."""
    return {
        200: {
            "headers": {
                TOTAL_HEADER: {
                    "description": f"How many {what} match the filters, over all pages",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        }
    }


def send_total(response: Response, total: int) -> None:
    """Put the number of matching rows in the answer's ``X-Total-Count`` header."""
    response.headers[TOTAL_HEADER] = str(total)


# The deepest page a list serves: beyond it PostgreSQL's bigint OFFSET overflows (a 500).
MAX_OFFSET = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (0 to 1,000,000,000)")]
