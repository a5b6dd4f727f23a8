"""Import every module that defines tables, so ``SQLModel.metadata`` knows the whole schema."""

from __future__ import annotations

import importlib

from sqlmodel import SQLModel

# Every module with SQLModel tables, in dependency order. Add new ones here.
MODEL_MODULES = [
    "domain.auth.models",
]

# Database schemas the migrations create (the seed's names plus the ones dealdesk adds).
SCHEMAS = [
    "auth",
    "events",
]


# Reference data that migrations seed; tests that truncate leave these alone.
REFERENCE_TABLES = {
    "public.alembic_version",
}


def load_models() -> type[SQLModel]:
    """Import all model modules and return ``SQLModel`` (whose metadata is now complete)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel
