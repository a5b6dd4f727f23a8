"""Import every module that defines tables, so ``SQLModel.metadata`` knows the whole schema."""

from __future__ import annotations

import importlib

from sqlmodel import SQLModel

# Every module with SQLModel tables, in dependency order. Add new ones here.
MODEL_MODULES = [
    "domain.auth.models",
    "store.outbox",
    "domain.documents.models",
    "domain.property.models",
    "domain.deal.models",
    "domain.finance.models",
    "domain.construction.models",
    "domain.voice.models",
    "domain.inbox.models",
    "domain.vision.models",
    "domain.whatsapp.models",
    "domain.market.models",
    "domain.audio.models",
    "domain.pricing.models",
    "domain.valuation.models",
    "agent.models",
    "domain.chat.models",
]

# Database schemas the migrations create (the seed's names plus the ones dealdesk adds).
SCHEMAS = [
    "auth",
    "events",
    "documents",
    "property_service",
    "deal_service",
    "financial_service",
    "construction_service",
    "voice_service",
    "inbox",
    "cv_service",
    "whatsapp_service",
    "market_monitor",
    "audio_service",
    "pricing_service",
    "valuation_service",
    "agent",
    "chat",
]


# Reference data that migrations seed; tests that truncate leave these alone.
REFERENCE_TABLES = {
    "public.alembic_version",
    "auth.roles",
    "property_service.section8_fmr",
}


def load_models() -> type[SQLModel]:
    """Import all model modules and return ``SQLModel`` (whose metadata is now complete)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel
