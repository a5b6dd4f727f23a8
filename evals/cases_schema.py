r"""The eval case format (YAML files in ``evals/cases/``), validated with pydantic.

A case is a conversation on one fresh thread: one or more user turns, each with the tool
calls it should make and checks on its reply::

    - id: max-offer
      tags: [offline, pricing]
      channel: whatsapp          # whatsapp | web | cli | eval
      role: investor             # admin | analyst | investor | other_investor | contractor
      setup: standard            # the scratch world (evals/world.py)
      turns:
        - text: "max offer on {subject_address}"   # {name}: EvalWorld.placeholders()
          repeat: 1              # the text this many times (long input)
          tools:                 # expected calls; `ordered: false` compares them as a set
            - name: max_offer
              args: {property_id: "{subject_id}"}   # key arguments only
              ok: true
          checks:
            contains: ["Max offer on"]
            not_contains: []
            regex: ['\\$[\\d,]+']
            numbers: [{pattern: 'remaining \\$([\\d,.]+)', value: 17500, tolerance: 0.01}]
            max_length: 1600     # the default
            figures_from_tools: true   # the default: no figure absent from the tool results

``tools: []`` means the turn must call no tool; leaving ``tools`` out means any calls pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evals.world import SETUPS

CASES_DIR = Path(__file__).resolve().parent / "cases"
WHATSAPP_LIMIT = 1600
RoleName = Literal["admin", "analyst", "investor", "other_investor", "contractor"]
Channel = Literal["whatsapp", "web", "cli", "eval"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedTool(_Strict):
    """One tool call a turn should make: its name, key arguments and outcome."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    ok: bool | None = None


class NumberCheck(_Strict):
    """A figure read from the reply by ``pattern``'s first group, within ``tolerance``."""

    pattern: str
    value: float
    tolerance: float = 0.0

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, pattern: str) -> str:
        if re.compile(pattern).groups < 1:
            raise ValueError(f"number pattern {pattern!r} needs a capturing group")
        return pattern


class ReplyChecks(_Strict):
    """Checks on one reply."""

    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    numbers: list[NumberCheck] = Field(default_factory=list)
    max_length: int = WHATSAPP_LIMIT
    figures_from_tools: bool = True

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            re.compile(pattern)
        return patterns


class Turn(_Strict):
    """One user message and what should come of it."""

    text: str
    repeat: int = Field(default=1, ge=1, le=1000)  # the text this many times (long input)
    tools: list[ExpectedTool] | None = None
    ordered: bool = True
    checks: ReplyChecks = Field(default_factory=ReplyChecks)


class Case(_Strict):
    """One eval case: a conversation on a fresh thread."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    tags: list[str] = Field(min_length=1)
    channel: Channel = "whatsapp"
    role: RoleName = "investor"
    setup: str = "standard"
    turns: list[Turn] = Field(min_length=1)

    @field_validator("setup")
    @classmethod
    def _known_setup(cls, setup: str) -> str:
        if setup not in SETUPS:
            raise ValueError(f"unknown setup {setup!r}; expected one of {SETUPS}")
        return setup


def load_cases(directory: Path = CASES_DIR, tag: str | None = None) -> list[Case]:
    """Every case in ``directory``'s YAML files (ids unique), optionally only those tagged."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except yaml.YAMLError as exc:
            raise ValueError(f"{path.name}: not valid YAML: {exc}") from exc
        if not isinstance(raw, list):
            raise ValueError(f"{path.name}: expected a list of cases")
        for item in raw:
            try:
                cases.append(Case.model_validate(item))
            except ValueError as exc:
                raise ValueError(f"{path.name}: {exc}") from exc
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ValueError(f"duplicate case id {case.id!r}")
        seen.add(case.id)
    return [c for c in cases if tag is None or tag in c.tags]
