"""The PDF that follows a WhatsApp what-if shows the figures the reply gave.

Before, "what if I pay 30k?" (or a rehab budget or a size the investor gave) was answered with
those figures, but the PDF sent after it was rendered from the list price and the estimate, so
the two disagreed; and every strategy follow-up ("and as a rental?") sent the same PDF again.
Real path: signed webhook, RQ job in-process, outbox rows, real PostgreSQL, reportlab read back.
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from pypdf import PdfReader
from redis import Redis
from sqlmodel import Session

from domain.analysis.models import WhatIf
from domain.auth.models import Organisation
from domain.documents import service as documents_service
from tests.factories import make_sold_market, make_subject_property
from tests.workers.test_whatsapp_jobs import (  # noqa: F401 (fixtures)
    investor,
    live,
    post,
    replies,
    work,
)


def _report_ids(db: Session, sid: str) -> list[uuid.UUID]:
    return [
        uuid.UUID(item["report_id"])
        for message in replies(db, sid)
        for item in message.media or []
        if item.get("report_id")
    ]


def _pdf_text(db: Session, org_id: uuid.UUID, document_id: uuid.UUID) -> str:
    data = documents_service.read_document_bytes(session=db, org_id=org_id, document_id=document_id)
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_what_if_pdf_has_the_what_if_and_a_follow_up_sends_none(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
) -> None:
    org = committed_db.get(Organisation, investor)
    assert org is not None
    make_sold_market(committed_db, org)
    make_subject_property(committed_db, org)  # listed at $45,000
    committed_db.commit()

    first = post(live, "1234 Subject Ave")
    work(redis)
    [list_price_pdf] = _report_ids(committed_db, first)
    assert "$30,000" not in _pdf_text(committed_db, org.id, list_price_pdf)

    what_if = post(live, "what if I pay 30k?")
    work(redis)
    texts = [m.content or "" for m in replies(committed_db, what_if)]
    assert any("Price $30,000" in t for t in texts), texts
    [priced_pdf] = _report_ids(committed_db, what_if)
    assert priced_pdf != list_price_pdf
    text = _pdf_text(committed_db, org.id, priced_pdf)
    assert "price $30,000 as given, instead of the list price $45,000" in text, text

    follow_up = post(live, "and as a rental?")
    work(redis)
    assert replies(committed_db, follow_up), "the follow-up is answered"
    assert _report_ids(committed_db, follow_up) == []  # not the same PDF again


def test_what_ifs_are_read_from_a_tool_calls_arguments() -> None:
    assert WhatIf.from_args({"purchase_price": "30000.00", "square_feet": 1500}) == WhatIf(
        purchase_price=Decimal("30000.00"), square_feet=1500
    )
    assert WhatIf.from_args({"rehab_cost": "40000", "square_feet": "1,5"}) == WhatIf(
        rehab_cost=Decimal("40000")
    )
    assert not WhatIf.from_args({"focus": "rental", "rehab_cost": "lots"})
