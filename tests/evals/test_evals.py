"""Evals: the YAML cases validate, the offline planner passes >= 95% of the ``offline`` cases
against the real database, and a baseline that passed a case now failing is a regression."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agent.planner import OfflinePlanner
from domain.auth.models import Organisation
from evals.cases_schema import load_cases
from evals.runner import main
from evals.scorecard import CaseResult, Scorecard, load_baseline, regressions
from store.db import get_engine
from tools import TOOLS_BY_NAME

REPO = Path(__file__).resolve().parents[2]

FAILING_CASE = """
- id: always-fails
  tags: [offline, canary]
  turns:
    - text: help
      tools: []
      checks:
        contains: ["a sentence the help text does not have"]
"""


@pytest.fixture(scope="module", autouse=True)
def _close_checkpointer() -> Iterator[None]:
    """Close the agent's checkpointer pool before the test session stops PostgreSQL."""
    yield
    from agent.graph import close_checkpointer

    close_checkpointer()


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str], Path]:
    """``dealdesk eval --tag offline`` in-process with the offline planner: code, lines, out."""
    out = tmp_path_factory.mktemp("scorecard")
    lines: list[str] = []
    code = main(tag="offline", out=out, model=OfflinePlanner(), echo=lines.append)
    return code, lines, out


def _eval_orgs() -> list[str]:
    with Session(get_engine()) as session:
        names = session.exec(select(Organisation.name)).all()
    return [n for n in names if n.startswith(("Eval Capital", "Eval Rival"))]


def test_the_cases_load_validate_and_cover_every_tool() -> None:
    cases = load_cases()
    assert len(cases) >= 40
    assert all("offline" in c.tags for c in cases)
    called = {t.name for c in cases for turn in c.turns for t in turn.tools or []}
    # Every tool the agent has is exercised by at least one case.
    assert set(TOOLS_BY_NAME) - called == set()
    tags = {t for c in cases for t in c.tags}
    assert {"guardrails", "bad-input", "help", "finance", "comps", "writes"} <= tags
    assert [c.id for c in load_cases(tag="guardrails")] == [
        c.id for c in cases if "guardrails" in c.tags
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("- id: x\n  tags: [a]\n  setup: mars\n  turns: [{text: hi}]\n", "unknown setup"),
        ("- id: x\n  tags: [a]\n  turns: []\n", "at least 1"),
        ("- id: x\n  tags: [a]\n  role: ceo\n  turns: [{text: hi}]\n", "role"),
        (
            "- id: x\n  tags: [a]\n  turns:\n    - text: hi\n      checks:\n"
            "        numbers: [{pattern: 'no group', value: 1}]\n",
            "capturing group",
        ),
        ("- id: x\n  tags: [a]\n  turns: [{text: hi, colour: red}]\n", "colour"),
        (
            "- id: x\n  tags: [a]\n  turns: [{text: a}]\n"
            "- id: x\n  tags: [b]\n  turns: [{text: b}]\n",
            "duplicate case id",
        ),
    ],
)
def test_an_invalid_case_file_is_refused_with_what_is_wrong(
    tmp_path: Path, body: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_cases(tmp_path)


def test_the_offline_planner_passes_at_least_95_percent_of_offline_cases(
    offline_run: tuple[int, list[str], Path],
) -> None:
    code, lines, out = offline_run
    failures = [line for line in lines if line.startswith(("FAIL", "     "))]
    assert code == 0, "\n".join(lines)
    assert lines[-1].startswith("pass rate: ")
    rate = float(lines[-1].removeprefix("pass rate: ").split("%")[0])
    assert rate >= 95.0, "\n".join(failures)
    scorecard = json.loads((out / "scorecard.json").read_text())
    total = len(load_cases(tag="offline"))
    assert scorecard["total"] == total and scorecard["model"] == "offline-planner"
    assert scorecard["pass_rate"] == round(rate, 1)
    assert scorecard["tags"]["offline"]["cases"] == total
    assert all(c["latency_ms"] > 0 for c in scorecard["cases"])
    # No case that passed in the committed baseline fails now.
    baseline = load_baseline(REPO / "evals" / "baseline-offline.json")
    current = Scorecard(
        model=scorecard["model"],
        cases=[
            CaseResult(id=c["id"], tags=c["tags"], passed=c["passed"]) for c in scorecard["cases"]
        ],
    )
    assert regressions(current, baseline) == []
    assert {c["id"] for c in baseline["cases"]} <= {c["id"] for c in scorecard["cases"]}
    markdown = (out / "scorecard.md").read_text()
    assert "| guardrails |" in markdown and "| contractor-no-tools | pass |" in markdown


def test_the_scratch_organisations_are_deleted_afterwards(
    offline_run: tuple[int, list[str], Path],
) -> None:
    assert _eval_orgs() == []


def test_a_case_that_passed_in_the_baseline_and_fails_now_is_a_regression(
    tmp_path: Path,
) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "canary.yaml").write_text(FAILING_CASE, encoding="utf-8")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"cases": [{"id": "always-fails", "passed": True}]}))
    lines: list[str] = []
    code = main(
        baseline=baseline,
        out=tmp_path / "out",
        cases_dir=cases,
        model=OfflinePlanner(),
        echo=lines.append,
    )
    assert code == 1
    assert "REGRESSION always-fails: passed in the baseline, fails now" in lines
    assert lines[-1] == "pass rate: 0.0% (0/1)"
    # Against a baseline where it failed too, nothing regressed.
    baseline.write_text(json.dumps({"cases": [{"id": "always-fails", "passed": False}]}))
    assert (
        main(
            baseline=baseline,
            out=tmp_path / "out",
            cases_dir=cases,
            model=OfflinePlanner(),
            echo=lines.append,
        )
        == 0
    )


def test_dealdesk_eval_prints_the_pass_rate_last_and_writes_the_scorecard(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "LLM_BASE_URL"}}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "eval", "--tag", "help", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    helped = len(load_cases(tag="help"))
    assert done.stdout.strip().splitlines()[-1] == f"pass rate: 100.0% ({helped}/{helped})"
    assert (tmp_path / "scorecard.json").is_file() and (tmp_path / "scorecard.md").is_file()
