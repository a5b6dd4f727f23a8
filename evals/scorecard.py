"""The eval scorecard: per case and per tag, as JSON and Markdown, and its regressions.

Pass rate per case and per tag, latency and tokens; ``regressions`` compares it with an
earlier scorecard's JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CaseResult:
    """How one case went."""

    id: str
    tags: list[str]
    passed: bool
    failures: list[str] = field(default_factory=list)
    latency_ms: int = 0
    tokens: int = 0
    replies: list[str] = field(default_factory=list)


@dataclass
class Scorecard:
    """Every case's result and the totals."""

    model: str
    cases: list[CaseResult]
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    @property
    def pass_rate(self) -> float:
        """The share of cases that passed, as a percentage (0 with no cases)."""
        if not self.cases:
            return 0.0
        return 100.0 * sum(c.passed for c in self.cases) / len(self.cases)

    def tags(self) -> dict[str, dict[str, Any]]:
        """Per tag: cases, passed, pass rate (%) and mean latency (ms)."""
        out: dict[str, dict[str, Any]] = {}
        for tag in sorted({t for c in self.cases for t in c.tags}):
            tagged = [c for c in self.cases if tag in c.tags]
            passed = sum(c.passed for c in tagged)
            out[tag] = {
                "cases": len(tagged),
                "passed": passed,
                "pass_rate": round(100.0 * passed / len(tagged), 1),
                "mean_latency_ms": round(sum(c.latency_ms for c in tagged) / len(tagged)),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        """The scorecard as a JSON-ready dict (what ``--baseline`` reads back)."""
        return {
            "created_at": self.created_at,
            "model": self.model,
            "pass_rate": round(self.pass_rate, 1),
            "total": len(self.cases),
            "passed": sum(c.passed for c in self.cases),
            "tags": self.tags(),
            "cases": [asdict(c) for c in self.cases],
        }

    def to_markdown(self) -> str:
        """The scorecard as a Markdown report."""
        lines = [
            f"# Eval scorecard ({self.created_at})",
            "",
            f"Model: `{self.model}`. Pass rate: **{self.pass_rate:.1f}%** "
            f"({sum(c.passed for c in self.cases)}/{len(self.cases)}).",
            "",
            "## Per tag",
            "",
            "| tag | cases | passed | pass rate | mean latency |",
            "|---|---:|---:|---:|---:|",
        ]
        for tag, row in self.tags().items():
            lines.append(
                f"| {tag} | {row['cases']} | {row['passed']} | {row['pass_rate']}% "
                f"| {row['mean_latency_ms']} ms |"
            )
        lines += [
            "",
            "## Per case",
            "",
            "| case | result | latency | tokens | failures |",
            "|---|---|---:|---:|---|",
        ]
        for c in self.cases:
            failures = "; ".join(f.replace("|", "\\|").replace("\n", " ") for f in c.failures)
            result = "pass" if c.passed else "FAIL"
            lines.append(
                f"| {c.id} | {result} | {c.latency_ms} ms | {c.tokens} | {failures[:300]} |"
            )
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``scorecard.json`` and ``scorecard.md`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        json_path, md_path = directory / "scorecard.json", directory / "scorecard.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        md_path.write_text(self.to_markdown(), encoding="utf-8")
        return json_path, md_path


def regressions(current: Scorecard, baseline: dict[str, Any]) -> list[str]:
    """Cases that passed in ``baseline`` (a scorecard's JSON) and fail (or are gone) now."""
    now = {c.id: c for c in current.cases}
    found = []
    for case in baseline.get("cases", []):
        if not case.get("passed"):
            continue
        result = now.get(str(case.get("id")))
        if result is None:
            continue  # not run this time (another --tag); not a regression
        if not result.passed:
            found.append(f"{result.id}: passed in the baseline, fails now")
    return found


def load_baseline(path: Path) -> dict[str, Any]:
    """An earlier scorecard's JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f"{path} is not a scorecard (no 'cases' list)")
    return data
