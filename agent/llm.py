"""The chat model for the configured backend: OpenAI (or compatible), or the offline planner."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from agent.planner import OFFLINE_MODEL_NAME, OfflinePlanner
from core.config import Settings, get_settings

# A local OpenAI-compatible server needs no key, but the client insists on one.
PLACEHOLDER_API_KEY = "not-needed"


def chat_model(settings: Settings | None = None) -> BaseChatModel:
    """``ChatOpenAI`` when a key or base URL is set, else the deterministic offline planner."""
    settings = settings or get_settings()
    if not settings.llm_configured:
        return OfflinePlanner()
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=key or PLACEHOLDER_API_KEY,  # type: ignore[arg-type]
        base_url=settings.llm_base_url,
        temperature=0,
        timeout=60,
        max_retries=1,
    )


def model_name(model: BaseChatModel) -> str:
    """The name recorded with a run: the model's name, or ``offline-planner``."""
    if isinstance(model, OfflinePlanner):
        return OFFLINE_MODEL_NAME
    for attribute in ("model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
