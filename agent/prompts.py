"""Prompts as files in ``prompts/``, loaded by name and hashed into every run record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from domain.auth.enums import Role

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"

# Which system prompt each role gets.
ROLE_PROMPTS: dict[Role, str] = {
    Role.investor: "investor",
    Role.analyst: "team",
    Role.admin: "team",
    Role.contractor: "contractor",
}


@dataclass(frozen=True)
class Prompt:
    """A prompt file's name, text and the sha256 of its bytes."""

    name: str
    text: str
    sha256: str

    @property
    def file_name(self) -> str:
        """The file it was read from, e.g. ``investor.md``."""
        return f"{self.name}.md"


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int) -> Prompt:
    data = path.read_bytes()
    return Prompt(
        name=path.stem, text=data.decode("utf-8"), sha256=hashlib.sha256(data).hexdigest()
    )


def load_prompt(name: str) -> Prompt:
    """The prompt ``prompts/<name>.md`` (re-read when the file changes)."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"invalid prompt name {name!r}")
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {name!r} in {PROMPTS_DIR}")
    return _load(path, path.stat().st_mtime_ns)


def prompt_for_role(role: Role) -> Prompt:
    """The system prompt for a caller's role."""
    return load_prompt(ROLE_PROMPTS[Role(role)])
