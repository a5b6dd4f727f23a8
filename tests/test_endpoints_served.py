"""Every endpoint of the original architecture is served, module by module as modules land."""

from __future__ import annotations

import re

import pytest

from app import API_PREFIX, app
from tests.seed import seed_file

# Modules whose issues have landed; add a module here when its endpoints are built.
LANDED_MODULES = {
    "property",
    "deal",
    "finance",
    "valuation",
    "vision",
    "whatsapp",
    "audio",
    "construction",
    "voice",
    "market",
}


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _seed_endpoints() -> list[tuple[str, str, str]]:
    """(module, METHOD, /api/v1 path template) for every line of endpoints.txt."""
    rows = []
    for raw in seed_file("endpoints.txt").read_text().splitlines():
        line, _, module = raw.partition("#")
        if not line.strip():
            continue
        method, path = line.split()
        rows.append((module.strip(), method, _template(API_PREFIX + path)))
    return rows


def _served() -> set[tuple[str, str]]:
    return {
        (method.upper(), _template(path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def test_landed_modules_are_modules_of_the_seed() -> None:
    assert LANDED_MODULES <= {module for module, _, _ in _seed_endpoints()}


@pytest.mark.parametrize("module", sorted(LANDED_MODULES))
def test_every_endpoint_of_a_landed_module_is_served(module: str) -> None:
    expected = [(m, p) for mod, m, p in _seed_endpoints() if mod == module]
    assert expected, f"endpoints.txt lists nothing for {module}"
    served = _served()
    assert [f"{m} {p}" for m, p in expected if (m, p) not in served] == []
