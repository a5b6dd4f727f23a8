"""The dealdesk FastAPI application: every domain router under ``/api/v1``, plus operations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi

from channels.voice import router as voice_channel_router
from channels.web import router as web_router
from channels.whatsapp import router as whatsapp_router
from core.body_limit import BodySizeLimitMiddleware
from core.config import get_settings
from core.docs import mount_docs
from core.idempotency import IdempotencyMiddleware
from core.nul_guard import NulTextMiddleware
from core.observability import RequestContextMiddleware, setup_logging
from core.openapi import document_middleware, document_role_refusals
from core.ops import router as ops_router
from core.outage import add_outage_handlers
from core.query_guard import API_PREFIX, EXEMPT_PREFIXES, reject_unknown_query
from core.ratelimit import RateLimitMiddleware
from core.validation import request_validation_handler
from domain.analysis.api import router as analysis_router
from domain.audio.api import router as audio_router
from domain.auth.api import router as auth_router
from domain.construction.api import router as construction_router
from domain.deal.api import router as deal_router
from domain.documents.api import router as documents_router
from domain.eventlog.api import router as eventlog_router
from domain.finance.api import router as finance_router
from domain.inbox.api import router as inbox_router
from domain.market.api import router as market_router
from domain.pricing.api import router as pricing_router
from domain.property.api import router as property_router
from domain.section8.api import router as section8_router
from domain.valuation.api import router as valuation_router
from domain.vision.api import router as vision_router
from domain.voice.api import router as voice_router


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Configure logging; the database and Redis connect lazily on first use."""
    setup_logging(get_settings().log_level)
    yield


def create_app() -> FastAPI:
    """Build the application with every router mounted."""
    application = FastAPI(
        title="dealdesk",
        version="0.1.0",
        description="Deal analysis, bookkeeping and contractor chasing for a real-estate investor.",
        lifespan=lifespan,
        # /docs and /redoc are served with local assets (core.docs), not from a CDN.
        docs_url=None,
        redoc_url=None,
        # Every /api/v1 operation refuses (422) a query parameter it does not declare.
        dependencies=[Depends(reject_unknown_query)],
    )
    # A 422 that echoes any input (a lone surrogate too) without failing to encode it.
    application.add_exception_handler(RequestValidationError, request_validation_handler)
    # A JSON 503 with Retry-After (not a text/plain 500) while PostgreSQL or Redis is down.
    add_outage_handlers(application)
    # Innermost: a repeated write with the same Idempotency-Key is answered from storage.
    application.add_middleware(IdempotencyMiddleware, prefix=API_PREFIX)
    # Text with NUL characters is refused (422) before any route or stored replay sees it.
    application.add_middleware(NulTextMiddleware, exempt_prefix=EXEMPT_PREFIXES[0])
    # Outside idempotency (which reads the body): an oversized body is refused, not held.
    application.add_middleware(BodySizeLimitMiddleware)
    # Added first, so it runs inside the request context (429s are logged and counted).
    application.add_middleware(RateLimitMiddleware, prefix=API_PREFIX)
    application.add_middleware(RequestContextMiddleware)
    application.include_router(ops_router)
    mount_docs(application)
    application.include_router(web_router)  # the chat page at / and /widget.js
    # Order matters where paths overlap: literal paths (/reports/pnl) before parameters.
    for router in (
        auth_router,
        documents_router,
        property_router,
        valuation_router,
        analysis_router,
        pricing_router,
        section8_router,
        deal_router,
        finance_router,
        market_router,
        construction_router,
        inbox_router,
        eventlog_router,
        audio_router,
        vision_router,
        voice_router,
        voice_channel_router,
        # After finance: GET /reports/{reportId} must not capture /reports/pnl.
        whatsapp_router,
    ):
        application.include_router(router, prefix=API_PREFIX)

    def openapi() -> dict[str, Any]:
        """The schema, with the answers the middleware adds to every operation."""
        if application.openapi_schema is None:
            schema = get_openapi(
                title=application.title,
                version=application.version,
                description=application.description,
                routes=application.routes,
            )
            schema = document_role_refusals(schema, application.routes, prefix=API_PREFIX)
            application.openapi_schema = document_middleware(schema, prefix=API_PREFIX)
        return application.openapi_schema

    application.openapi = openapi  # type: ignore[method-assign]
    return application


app = create_app()


if __name__ == "__main__":
    import uvicorn

    from cli.main import forwarded_header_options

    # Forwarded headers only from DEALDESK_TRUSTED_PROXIES, as ``dealdesk serve`` does.
    uvicorn.run("app:app", host="127.0.0.1", port=8000, **forwarded_header_options())
