"""The API documentation pages (``/docs``, ``/redoc``) served with their own assets.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on a machine without internet
access ``/docs`` is blank. The assets come from the ``fastapi-offline`` package (Swagger UI 5,
which reads OpenAPI 3.1, and ReDoc) and are served from ``/docs/assets``.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def mount_docs(application: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from local assets (create the app with docs_url=None)."""
    openapi_url = application.openapi_url or "/openapi.json"
    redirect_url = application.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    title = application.title
    application.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @application.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @application.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @application.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - API reference",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
