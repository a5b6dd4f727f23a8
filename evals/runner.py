"""Run the eval cases against the configured backend (or a given chat model) and score them.

``run_evals`` builds a scratch world (``evals.world``), runs each case on a fresh thread
through ``agent.runner.run_turn`` on the ``eval`` channel (or the case's channel), checks the
tool calls and replies, deletes the scratch organisations and the threads, and returns the
scorecard. ``main`` is ``dealdesk eval``: it prints a line per case, writes the scorecard,
compares it with a baseline and prints the pass rate on its last line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlmodel import Session

from agent.figures import unsupported_figures
from agent.graph import get_checkpointer
from agent.llm import chat_model, model_name
from agent.runner import ToolCallRecord, TurnRequest, last_turn_tool_results, run_turn
from domain.auth.enums import Role
from evals.cases_schema import CASES_DIR, Case, ExpectedTool, ReplyChecks, load_cases
from evals.scorecard import CaseResult, Scorecard, load_baseline, regressions
from evals.world import EvalWorld, build_world, delete_world
from store.db import get_engine

logger = logging.getLogger(__name__)
_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def fill(value: Any, placeholders: dict[str, str]) -> Any:
    """``value`` with each ``{name}`` replaced by its placeholder (in strings and lists)."""
    if isinstance(value, str):
        for name, replacement in placeholders.items():
            value = value.replace("{" + name + "}", replacement)
        return value
    if isinstance(value, list):
        return [fill(v, placeholders) for v in value]
    return value


def _args_match(actual: dict[str, Any], expected: dict[str, Any], ph: dict[str, str]) -> bool:
    for key, want in expected.items():
        want = fill(want, ph)
        got = actual.get(key)
        if got != want and str(got) != str(want):
            return False
    return True


def _tool_matches(call: ToolCallRecord, want: ExpectedTool, ph: dict[str, str]) -> bool:
    if call.name != want.name or (want.ok is not None and call.ok != want.ok):
        return False
    return _args_match(call.args, want.args, ph)


def _describe(calls: list[ToolCallRecord]) -> str:
    return ", ".join(f"{c.name}({c.args}){'' if c.ok else ' failed'}" for c in calls) or "none"


def check_tools(
    calls: list[ToolCallRecord], expected: list[ExpectedTool], ordered: bool, ph: dict[str, str]
) -> list[str]:
    """Why the calls made differ from those expected (empty when they match)."""
    if len(calls) != len(expected):
        return [f"expected tools {[e.name for e in expected]}, got {_describe(calls)}"]
    if ordered:
        pairs = zip(calls, expected, strict=True)
        if all(_tool_matches(c, e, ph) for c, e in pairs):
            return []
        return [f"expected tools {[e.model_dump() for e in expected]}, got {_describe(calls)}"]
    left = list(calls)
    for want in expected:
        match = next((c for c in left if _tool_matches(c, want, ph)), None)
        if match is None:
            return [f"no call matching {want.model_dump()}; got {_describe(calls)}"]
        left.remove(match)
    return []


def _number(text: str) -> float | None:
    match = _NUMBER.search(text.replace("$", ""))
    return float(match.group().replace(",", "")) if match else None


def check_reply(
    reply: str, checks: ReplyChecks, sources: list[str], ph: dict[str, str]
) -> list[str]:
    """Why ``reply`` fails ``checks`` (empty when it passes)."""
    failures = []
    if len(reply) > checks.max_length:
        failures.append(f"reply is {len(reply)} characters (limit {checks.max_length})")
    for text in fill(checks.contains, ph):
        if text not in reply:
            failures.append(f"reply lacks {text!r}")
    for text in fill(checks.not_contains, ph):
        if text in reply:
            failures.append(f"reply contains {text!r}")
    for pattern in fill(checks.regex, ph):
        if not re.search(pattern, reply):
            failures.append(f"reply does not match /{pattern}/")
    for number in checks.numbers:
        match = re.search(fill(number.pattern, ph), reply)
        value = _number(match.group(1)) if match else None
        if value is None:
            failures.append(f"no figure for /{number.pattern}/")
        elif abs(value - number.value) > number.tolerance:
            failures.append(f"/{number.pattern}/ read {value}, expected {number.value}")
    if checks.figures_from_tools:
        unsupported = unsupported_figures(reply, sources)
        if unsupported:
            failures.append(f"figures not in any tool result: {sorted(unsupported)}")
    return failures


def run_case(case: Case, world: EvalWorld, model: BaseChatModel) -> CaseResult:
    """Run one case on a fresh thread and score it."""
    ph = world.placeholders()
    user = world.users[case.role]
    thread_id = f"eval:{case.id}:{uuid.uuid4().hex[:12]}"
    failures: list[str] = []
    replies: list[str] = []
    tokens = 0
    started = time.monotonic()
    try:
        for index, turn in enumerate(case.turns, start=1):
            result = run_turn(
                TurnRequest(
                    org_id=world.org.id,
                    user_id=user.id,
                    role=Role(user.role),
                    channel=case.channel,
                    thread_id=thread_id,
                    text=fill(turn.text, ph) * turn.repeat,
                ),
                model=model,
            )
            replies.append(result.reply)
            tokens += (result.tokens or {}).get("total_tokens", 0)
            found: list[str] = []
            if result.error:
                found.append(f"run error: {result.error}")
            if turn.tools is not None:
                found += check_tools(result.tool_calls, turn.tools, turn.ordered, ph)
            sources = last_turn_tool_results(thread_id) if result.tool_calls else []
            found += check_reply(result.reply, turn.checks, sources, ph)
            failures += [f"turn {index}: {f}" for f in found]
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the run
        logger.exception("eval case %s crashed", case.id)
        failures.append(f"crashed: {type(exc).__name__}: {exc}")
    finally:
        _forget_thread(thread_id)
    return CaseResult(
        id=case.id,
        tags=list(case.tags),
        passed=not failures,
        failures=failures,
        latency_ms=int((time.monotonic() - started) * 1000),
        tokens=tokens,
        replies=replies,
    )


def _forget_thread(thread_id: str) -> None:
    try:
        get_checkpointer().delete_thread(thread_id)
    except Exception:  # noqa: BLE001 - cleanup only
        logger.debug("could not delete eval thread %s", thread_id, exc_info=True)


def run_evals(
    cases: list[Case],
    *,
    model: BaseChatModel | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> Scorecard:
    """Run ``cases`` in a scratch world (deleted afterwards) and return the scorecard."""
    chat = model or chat_model()
    with Session(get_engine(), expire_on_commit=False) as session:
        world = build_world(session)
    results = []
    try:
        for case in cases:
            result = run_case(case, world, chat)
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        with Session(get_engine()) as session:
            delete_world(session, world)
    return Scorecard(model=model_name(chat), cases=results)


def main(
    *,
    tag: str | None = None,
    baseline: Path | None = None,
    out: Path = Path("evals/out"),
    cases_dir: Path = CASES_DIR,
    model: BaseChatModel | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """``dealdesk eval``: run, print, write the scorecard; 1 on any regression or no cases."""
    cases = load_cases(cases_dir, tag=tag)
    if not cases:
        echo(f"no eval cases{f' tagged {tag!r}' if tag else ''}")
        echo("pass rate: 0.0%")
        return 1
    base = load_baseline(baseline) if baseline is not None else None

    def show(result: CaseResult) -> None:
        mark = "PASS" if result.passed else "FAIL"
        echo(f"{mark} {result.id} ({result.latency_ms} ms)")
        for failure in result.failures:
            echo(f"     {failure}")

    scorecard = run_evals(cases, model=model, on_result=show)
    json_path, md_path = scorecard.write(out)
    echo(f"scorecard: {json_path} and {md_path}")
    code = 0
    if base is not None:
        found = regressions(scorecard, base)
        for line in found:
            echo(f"REGRESSION {line}")
        echo(f"{len(found)} regression(s) against {baseline}")
        code = 1 if found else 0
    passed = sum(c.passed for c in scorecard.cases)
    echo(f"pass rate: {scorecard.pass_rate:.1f}% ({passed}/{len(scorecard.cases)})")
    return code
