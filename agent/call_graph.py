"""The call graph: one contractor (or seller lead) turn in, the voice agent's next turn out.

``greet`` opens a call; ``next_turn`` answers one thing the contractor said. Both run a small
LangGraph ``StateGraph``:

    START → greet → END                                  (no utterance yet)
    START → understand → decide → speak → END            (each answer)

- ``understand`` reads the answer with the rule-based extractor (``domain.voice.extraction``);
  with an LLM configured (``OPENAI_API_KEY`` or ``LLM_BASE_URL``, as for the main agent) the
  model also reads it (prompt ``prompts/voice_call.md``), and what it found, checked against
  the scope lines and the calendar, is merged in. An opt-out the rules hear always counts; in
  an answer the rules read as a callback request the dates are the rules' alone (the day of
  "call me back Tuesday at 3" is never a start date or a site visit, on any kind of call).
- ``decide`` is the dialogue policy, deterministic: opted out, declined, asked to be called
  back or a price to come another way ("I'll text you a quote", "call my office") ends the
  call (a callback with a start date or site visit said in the same answer too, the date kept
  and said back in the goodbye; one with a price goes on); otherwise the next thing not yet
  known and not yet asked (a price per line or a total, exclusions, start date, duration,
  insurance; a site visit for scheduling), then one confirmation of what was heard, then
  goodbye. A unit rate that does not fit the line's unit ("$4 a square foot" for a roof
  scoped in squares) gets one question for the line's total (``line_total:<line>``); one that
  fits is multiplied out and read back as "roof 20 squares at $1,500 = $30,000". Two answers
  in a row with nothing in them end the call politely.
- ``speak`` words the turn. Questions may be phrased by the model; the confirmation and the
  goodbyes are always written from the recorded facts, so no figure comes from the model.

A ``lead_qualification`` call (a seller lead who consented to automated calls) runs the same
nodes with its own reader and policy (``domain.voice.lead``): the greeting says who is calling
and why ("calling about {address}, which you asked us about selling"), that it is an automated
assistant, and that the call may be recorded when it is; then, one at a time, still interested
in selling (a no ends the call politely), the timeline, the asking price, the condition, the
occupancy and a time for a walkthrough; then the confirmation, written from the recorded
facts; then goodbye. An opt-out ends the call at once. With a model configured the model also
reads the seller's answers (the ``lead`` keys of the prompt's JSON); its figures are checked in
code (a price between $1,000 and $50M, dates from the call date on, a known occupancy).

The graph keeps no checkpoint: the dialogue state travels in and out (it is stored on the call
row by ``domain.voice.service``), so a replayed webhook is answered from the database.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from agent.prompts import load_prompt
from core.config import Settings, get_settings
from domain.voice import lead as lead_facts
from domain.voice.enums import CallPurpose
from domain.voice.extraction import (
    Answer,
    CallbackTime,
    CallFacts,
    LinePrice,
    ScopeLine,
    UnitRate,
    callback_promise,
    dollars,
    extract,
    loose_start,
    spoken_clock,
    spoken_date,
)
from domain.voice.hours import CallWindow
from domain.voice.service import AgentTurn, CallContext
from store.base import utcnow

log = logging.getLogger(__name__)

PROMPT_NAME = "voice_call"
# Contractor answers after which the agent wraps up whatever is still unknown.
MAX_CONTRACTOR_TURNS = 10
# Answers in a row with nothing understood before the agent gives up politely.
MAX_MISSES = 2
# The longest turn the agent speaks (a model's phrasing beyond this is replaced).
MAX_SAY_CHARS = 400
LLM_TIMEOUT_S = 6.0

# What each purpose asks about, in order ("lines" expands to the unpriced scope lines).
PURPOSE_ITEMS: dict[CallPurpose, tuple[str, ...]] = {
    CallPurpose.bid_request: (
        "prices",
        "lines",
        "exclusions",
        "start_date",
        "duration",
        "insurance",
    ),
    CallPurpose.follow_up: ("prices", "start_date"),
    CallPurpose.scheduling: ("site_visit", "start_date"),
    CallPurpose.availability: ("start_date", "duration"),
    CallPurpose.start_date: ("start_date",),
    CallPurpose.lead_qualification: lead_facts.LEAD_ITEMS,
}


class CallState(TypedDict, total=False):
    """What one turn of the call graph reads and writes."""

    context: dict[str, Any]
    """The call's company, contractor, project, scope lines and date (``CallContext``)."""
    facts: dict[str, Any]
    """What the call has established so far (``CallFacts`` as JSON)."""
    dialogue: dict[str, Any]
    """asked (items asked), confirms, misses, turns."""
    expect: str | None
    """What the agent asked last (the question this utterance answers)."""
    utterance: str | None
    """The contractor's words this turn; None to open the call."""
    answer: dict[str, Any]
    """What ``understand`` read in the utterance (for ``decide``)."""
    facts_before: dict[str, Any]
    """The facts before this utterance (``decide`` sees whether it changed anything)."""
    plan: dict[str, Any]
    """What ``decide`` chose: kind (ask, confirm, goodbye ...), item, done."""
    reply: str
    """The words the agent says next."""


# --- reading the context -----------------------------------------------------------------


def _scope(context: dict[str, Any]) -> list[ScopeLine]:
    return [
        ScopeLine(
            id=str(item["id"]),
            component=str(item["component"]),
            description=item.get("description"),
            quantity=item.get("quantity"),
            unit=item.get("unit"),
        )
        for item in context.get("scope") or []
    ]


def _today(context: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(str(context["today"]))


def _purpose(context: dict[str, Any]) -> CallPurpose:
    try:
        return CallPurpose(context.get("purpose") or CallPurpose.bid_request.value)
    except ValueError:
        return CallPurpose.bid_request


def scope_sentence(scope: list[ScopeLine]) -> str:
    """The scope read aloud: ``roof (22 squares) and furnace (1 each)``."""
    spoken = [line.spoken() for line in scope]
    if not spoken:
        return "the work on the property"
    if len(spoken) == 1:
        return spoken[0]
    return ", ".join(spoken[:-1]) + " and " + spoken[-1]


# --- the model ---------------------------------------------------------------------------


def call_model(settings: Settings | None = None) -> BaseChatModel | None:
    """The chat model for calls (short timeout: Twilio waits 15 s), or None offline."""
    settings = settings or get_settings()
    if not settings.llm_configured:
        return None
    from langchain_openai import ChatOpenAI

    from agent.llm import PLACEHOLDER_API_KEY

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=key or PLACEHOLDER_API_KEY,  # type: ignore[arg-type]
        base_url=settings.llm_base_url,
        temperature=0,
        timeout=LLM_TIMEOUT_S,
        max_retries=0,
    )


def _model_text(model: BaseChatModel, system: str, user: str) -> str:
    response = model.invoke([SystemMessage(content=system), HumanMessage(content=user)])
    content = response.content
    if isinstance(content, str):
        return content.strip()
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    ).strip()


def _json_object(text: str) -> dict[str, Any] | None:
    text = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.M).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).replace("$", "").replace(",", "").strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > Decimal("10000000"):
        return None
    return amount.quantize(Decimal("0.01"))


def _date(value: Any, today: dt.date) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    if day is None or day < today or day > today + dt.timedelta(days=730):
        return None
    return day


def merge_model_answer(
    rules: Answer, data: dict[str, Any], scope: list[ScopeLine], today: dt.date
) -> Answer:
    """The rules' reading with the model's checked additions (ids in scope, sane amounts, dates)."""
    by_id = {line.id: line for line in scope}
    prices = {p.scope_item_id: p for p in rules.line_prices}
    # A unit rate the rules read ("1,500 per square") is never replaced by the model's figure.
    rated = {p.scope_item_id for p in rules.line_prices if p.rate is not None}
    rated |= {rate.key for rate in rules.unit_rates}
    for item_id, raw in (data.get("line_prices") or {}).items():
        amount = _money(raw)
        if amount is not None and str(item_id) in by_id and str(item_id) not in rated:
            line = by_id[str(item_id)]
            prices[line.id] = LinePrice(line.id, line.component, amount, f"{raw} (model)")
    duration = data.get("duration_days")
    duration_days = (
        int(duration) if isinstance(duration, int | float) and 0 < duration <= 365 else None
    )
    exclusions = tuple(
        str(x).strip()[:120] for x in (data.get("exclusions") or []) if str(x).strip()
    )
    insured = data.get("insured")
    start = _date(data.get("start_date"), today)
    visit = _date(data.get("site_visit"), today)
    if rules.callback:
        # "Call me back Tuesday at 3": the rules blank the callback phrase before reading
        # dates; the model may take its day for a start or a visit, so the rules' dates stand.
        start = visit = None
    return Answer(
        text=rules.text,
        line_prices=tuple(prices.values()),
        total=(None if rated else _money(data.get("total"))) or rules.total,
        start_date=start or rules.start_date,
        start_heard=(rules.start_heard if start is None else f"{start.isoformat()} (model)"),
        site_visit=visit or rules.site_visit,
        # The clock the rules heard ("Monday at 10am") stays with the day it was said with.
        site_visit_time=(
            rules.site_visit_time if visit is None or visit == rules.site_visit else None
        ),
        duration_days=duration_days or rules.duration_days,
        exclusions=exclusions or rules.exclusions,
        no_exclusions=bool(data.get("no_exclusions")) or rules.no_exclusions,
        insured=insured if isinstance(insured, bool) else rules.insured,
        opted_out=rules.opted_out or data.get("opted_out") is True,
        declined=rules.declined or data.get("declined") is True,
        callback=rules.callback or data.get("callback") is True,
        callback_when=rules.callback_when,
        yes=rules.yes or data.get("yes") is True,
        no=rules.no or data.get("no") is True,
        skipped_lines=rules.skipped_lines,
        unit_rates=rules.unit_rates,
        price_ranges=rules.price_ranges,
        wrong_number=rules.wrong_number,
        follow_up=rules.follow_up,
    )


def _callback_promise(when: CallbackTime | None, context: dict[str, Any]) -> str:
    """The callback promised now, inside the callee's calling hours (from the context)."""
    windows = [w for raw in context.get("call_windows") or [] if (w := CallWindow.from_json(raw))]
    return callback_promise(when, windows=windows, now=utcnow())


# --- the policy --------------------------------------------------------------------------


def _known(item: str, facts: CallFacts) -> bool:
    if item == "prices":
        return facts.priced
    if item.startswith("line:"):
        return item[5:] in facts.line_prices or item[5:] in facts.skipped_lines
    if item.startswith("line_total:"):
        return item.split(":", 1)[1] not in facts.unit_rates
    return {
        "exclusions": facts.exclusions_answered,
        "start_date": facts.start_date is not None,
        "duration": facts.duration_days is not None,
        "insurance": facts.insured is not None,
        "site_visit": facts.site_visit is not None,
    }.get(item, False)


def next_item(
    purpose: CallPurpose, facts: CallFacts, asked: list[str], scope: list[ScopeLine]
) -> str | None:
    """The next thing to ask: not yet known and not yet asked (None: nothing left)."""
    if purpose == CallPurpose.bid_request and facts.site_visit and not facts.priced:
        return None  # they price it after the visit: nothing more to ask on this call
    for item in PURPOSE_ITEMS.get(purpose, ()):
        candidates = [item]
        if item == "exclusions" and not facts.priced:
            continue  # "anything your price doesn't include?" needs a price
        if item == "lines":
            # Only once some line has a price and no total was given.
            if not facts.line_prices or facts.total is not None:
                continue
            candidates = [f"line:{line.id}" for line in scope]
        for candidate in candidates:
            if candidate not in asked and not _known(candidate, facts):
                return candidate
    return None


def _heard_anything(facts: CallFacts) -> bool:
    return bool(
        facts.priced
        or facts.start_date
        or facts.site_visit
        or facts.duration_days
        or facts.exclusions_answered
    )


@dataclass
class _Dialogue:
    """One answer's view of the dialogue state (stored on the call), and the plan chosen."""

    asked: list[str]
    confirms: int
    misses: int
    turns: int
    state: dict[str, Any]

    @classmethod
    def read(cls, dialogue: dict[str, Any]) -> _Dialogue:
        asked = list(dialogue.get("asked") or [])
        confirms = int(dialogue.get("confirms") or 0)
        misses = int(dialogue.get("misses") or 0)
        turns = int(dialogue.get("turns") or 0) + 1
        state = {"asked": asked, "confirms": confirms, "misses": misses, "turns": turns}
        if dialogue.get("reasked"):
            state["reasked"] = [str(x) for x in dialogue["reasked"]]
        if dialogue.get("introduced"):
            state["introduced"] = int(dialogue["introduced"])
        if dialogue.get("acknowledged"):
            state["acknowledged"] = int(dialogue["acknowledged"])
        return cls(asked, confirms, misses, turns, state)

    def after_read_back(self, expect: str, *, yes: bool, no: bool, changed: bool) -> dict[str, Any]:
        """The plan after the read-back ("confirm") or the caller's correction of it."""
        if expect == "confirm":
            if yes and not changed:
                return self.plan("goodbye_thanks", done=True)
            if changed and self.confirms < 2:
                return self.plan("confirm", "confirm")
            if no and self.confirms < 2:
                return self.plan("ask", "correction")
            return self.plan("goodbye_thanks", done=True)
        if self.confirms < 2:
            return self.plan("confirm", "confirm")
        return self.plan("goodbye_thanks", done=True)

    def plan(self, kind: str, item: str | None = None, done: bool = False) -> dict[str, Any]:
        """The turn's plan; an item asked is remembered, a confirmation counted."""
        if item and item not in ("confirm", "correction") and item not in self.asked:
            self.asked.append(item)
        if kind == "confirm":
            self.state["confirms"] = self.confirms + 1
        return {"kind": kind, "item": item, "done": done}


_WHO_IS_THIS = re.compile(
    r"\bwho(?: is|'s| are) (?:this|that|you|calling)\b|\bwhat(?: is|'s) this (?:about|regarding)\b"
    r"|\bwhat company\b|\bwho do you (?:work for|represent)\b|^\W*(?:uh\s+|um\s+)?hello\W*$"
)


# "Yes, this is Ray." / "Speaking." / "Hey, how are you?": the contractor picked up and said who
# they are (or greeted us) instead of answering. Not a miss: thank them and ask again.
_PICKED_UP = re.compile(
    r"\bthis is (?:him|her|he|she|me|[a-z]+)\b|^\W*(?:yes|yeah|yep|hi|hey|hello)?\W*speaking\b"
    r"|\b(?:that's|that is|it's|it is) me\b|\byou(?:'ve)? got (?:him|her|me)\b"
    r"|\bhow (?:are|r) (?:you|ya)\b|\bhow's it going\b|^\W*(?:hi|hey|hello)\W+there\W*$"
)


_WANTS_VISIT = re.compile(
    r"\b(?:need|have|got|want|i'd have|i would have|gotta)\s+to\s+(?:see|look at|check out|come "
    r"(?:out|by|look)|walk)\b|\bcan't (?:price|quote|say) (?:it |that )?without (?:seeing|looking)"
    r"|\bsight unseen\b"
)


def decide_turn(
    *,
    purpose: CallPurpose,
    before: CallFacts,
    after: CallFacts,
    answer: Answer,
    dialogue: dict[str, Any],
    expect: str | None,
    scope: list[ScopeLine],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Choose the next turn: (plan, new dialogue state). Pure and deterministic."""
    turn = _Dialogue.read(dialogue)
    asked, confirms, misses, turns = turn.asked, turn.confirms, turn.misses, turn.turns
    state, plan = turn.state, turn.plan

    if after.opted_out:
        return plan("goodbye_opted_out", done=True), state
    if after.declined and not after.priced:
        return plan("goodbye_declined", done=True), state
    if answer.wrong_number and not after.priced:
        return plan("goodbye_wrong_number", done=True), state
    if answer.follow_up and not after.priced:
        # "I'll text you a quote" / "call my office": no price now, so nothing more to ask.
        return {"kind": "goodbye_follow_up", "item": answer.follow_up, "done": True}, state
    if answer.callback and not (answer.line_prices or answer.total):
        # "Call me back at 9": the call ends with the callback promised. A start date or site
        # visit said in the same breath ("I can start the 10th, but call me back at 9 to
        # confirm") is kept and said back in the goodbye; only a price goes on with the call.
        noted = "noted" if answer.start_date or answer.site_visit else None
        return plan("goodbye_callback", noted, done=True), state
    changed = after.to_json() != before.to_json()
    introduced = int(dialogue.get("introduced") or 0)
    if not changed and introduced < 2 and _WHO_IS_THIS.search(answer.text.lower()):
        # "Who is this?" is answered (who we are and why we call), then the question again.
        state["introduced"] = introduced + 1
        return {"kind": "introduce", "item": expect, "done": False}, state
    acknowledged = int(dialogue.get("acknowledged") or 0)
    if not changed and acknowledged < 1 and _PICKED_UP.search(answer.text.lower()):
        # "Yes, this is Ray.": thanks, then the question again (once; not counted as a miss).
        state["acknowledged"] = acknowledged + 1
        return {"kind": "acknowledge", "item": expect, "done": False}, state
    if (
        _WANTS_VISIT.search(answer.text.lower())
        and not after.priced
        and "site_visit" not in asked
        and after.site_visit is None
    ):
        # "I need to see it first": no price on the phone, so when could they come and look?
        state["misses"] = 0
        return plan("ask", "site_visit"), state
    # "OK, what do you need?" to the price question gave no price: it is asked again.
    bare_yes = expect == "prices" and not changed and answer.yes
    if not answer.text.strip() or not (answer.heard_anything or changed) or bare_yes:
        state["misses"] = misses + 1
        if misses + 1 >= MAX_MISSES:
            return plan("goodbye_unclear", done=True), state
        return {"kind": "repeat", "item": expect, "done": False}, state
    state["misses"] = 0
    # A unit rate that could not be multiplied out: ask once for that line's total.
    pending = [key for key in after.unit_rates if f"line_total:{key}" not in asked]
    if pending:
        return plan("ask", f"line_total:{pending[0]}"), state
    if expect in ("confirm", "correction"):
        return turn.after_read_back(expect, yes=answer.yes, no=answer.no, changed=changed), state
    item = None if turns >= MAX_CONTRACTOR_TURNS else next_item(purpose, after, asked, scope)
    if item is not None:
        return plan("ask", item), state
    if confirms == 0 and _heard_anything(after):
        return plan("confirm", "confirm"), state
    return plan("goodbye_thanks", done=True), state


# --- the words ---------------------------------------------------------------------------


def _line_name(scope: list[ScopeLine], item_id: str) -> str:
    return next((line.said for line in scope if line.id == item_id), "that line")


def question(item: str | None, context: dict[str, Any]) -> str:
    """The template question for an item."""
    scope = _scope(context)
    if item and item.startswith("line:"):
        name = _line_name(scope, item[5:])
        return f"And the {name}? What would you charge for that, or should I leave it out?"
    return {
        "prices": "Could you give me a price for each line, or a total for the job?",
        "exclusions": "Is there anything your price doesn't include?",
        "start_date": "When is the earliest you could start?",
        "duration": "How many days would the work take?",
        "insurance": "Do you carry general liability insurance?",
        "site_visit": "When could you come out to look at the property?",
        "correction": "Sorry about that. What should I correct?",
    }.get(item or "", "Could you say that again?")


def line_total_question(key: str, facts: CallFacts, context: dict[str, Any]) -> str:
    """Ask for a line's total after a unit rate that does not fit the line's unit."""
    rate = facts.unit_rates.get(key, "a price per unit")
    if key == "total":
        return f"You said {rate}. What would the whole job come to in total?"
    line = next((s for s in _scope(context) if s.id == key), None)
    if line is None:
        return f"You said {rate}. What would that come to in total?"
    have = (
        f" I have the {line.said} as {line.quantity} {line.unit or ''}".rstrip() + "."
        if line.quantity
        else ""
    )
    return (
        f"You said {rate} for the {line.said}.{have} What would the {line.said} come to in total?"
    )


def _line_read_back(line: ScopeLine, facts: CallFacts) -> str:
    """``roof $11,500``, or ``roof 20 squares at $1,500 = $30,000`` for a unit rate."""
    price = dollars(facts.line_prices[line.id])
    if line.id in facts.price_ranges:
        low = dollars(facts.price_ranges[line.id])
        return f"{line.said} {low} to {price} (we'll note the top, {price})"
    rate = facts.line_rates.get(line.id)
    try:
        quantity = Decimal(str(line.quantity)) if line.quantity else None
    except InvalidOperation:
        quantity = None
    if rate is None or quantity is None or quantity == 1:
        return f"{line.said} {price}"
    counted = f"{line.quantity} {line.unit or ''}".strip()
    return f"{line.said} {counted} at {dollars(rate)} = {price}"


def confirmation(facts: CallFacts, context: dict[str, Any]) -> str:
    """What was heard, read back from the recorded facts (never from a model)."""
    scope = _scope(context)
    parts: list[str] = []
    for line in scope:
        if line.id in facts.line_prices:
            parts.append(_line_read_back(line, facts))
        elif line.id in facts.unit_rates:
            parts.append(f"{line.said} at {facts.unit_rates[line.id]}, no total yet")
    if facts.total is not None and "total" in facts.price_ranges:
        top = dollars(facts.total)
        parts.append(
            f"{dollars(facts.price_ranges['total'])} to {top} in total (we'll note the top, {top})"
        )
    elif facts.total is not None:
        parts.append(f"{dollars(facts.total)} in total")
    elif "total" in facts.unit_rates:
        parts.append(f"{facts.unit_rates['total']}, no total yet")
    if facts.skipped_lines:
        skipped = ", ".join(_line_name(scope, s) for s in facts.skipped_lines)
        parts.append(f"no price for the {skipped}")
    if facts.exclusions:
        parts.append("not including " + ", ".join(facts.exclusions))
    loose = loose_start(facts.heard.get("start_date"))
    if facts.start_date and loose:
        # "Not till after the holidays": the words and the date taken for them.
        parts.append(f"starting {loose}, so about {spoken_date(facts.start_date)}")
    elif facts.start_date:
        parts.append(f"starting {spoken_date(facts.start_date)}")
    if facts.duration_days:
        unit = "day" if facts.duration_days == 1 else "days"
        parts.append(f"about {facts.duration_days} {unit} of work")
    if facts.site_visit:
        parts.append(f"a site visit on {spoken_date(facts.site_visit)}{_at_clock(facts)}")
    if facts.insured is True:
        parts.append("and you carry liability insurance")
    heard = "; ".join(parts) if parts else "nothing definite yet"
    return f"Let me confirm what I heard: {heard}. Is that right?"


def greeting_text(context: dict[str, Any]) -> str:
    """The agent's first words on a call."""
    purpose = _purpose(context)
    scope = _scope(context)
    intro = (
        f"Hello {context.get('contractor_name') or 'there'}, this is the automated assistant of "
        f"{context.get('company') or 'our company'}, calling about a rehab project at "
        f"{context.get('project_label') or 'one of our properties'}."
    )
    if context.get("recording"):
        intro += " This call is recorded."
    opt_out = " If you'd rather not get these calls, just say so."
    if purpose == CallPurpose.bid_request:
        trade = context.get("trade")
        if trade and context.get("scope_note"):
            # No line is the trade's: the whole scope is read, and the contractor told why.
            ask = (
                f" We're collecting {trade} bids; none of the listed work is marked {trade}, so "
                f"here is the whole job: {scope_sentence(scope)}. {question('prices', context)}"
            )
        else:
            what = f"{trade} bids" if trade else "bids"
            ask = f" We're collecting {what} for {scope_sentence(scope)}. "
            ask += question("prices", context)
    elif purpose == CallPurpose.follow_up:
        ask = (
            f" I'm following up on the bid for {scope_sentence(scope)}. "
            "Is your price still good, and what is it?"
        )
    elif purpose == CallPurpose.scheduling:
        ask = f" We'd like to schedule the work on {scope_sentence(scope)}. " + question(
            "site_visit", context
        )
    else:
        # With no scope on file, no "The work is the work on the property."
        work = f" The work is {scope_sentence(scope)}. " if scope else " "
        ask = work + question("start_date", context)
    return intro + ask + opt_out


def _at_clock(facts: CallFacts) -> str:
    """`` at 10 AM`` for a site visit with a clock said, else nothing."""
    if not facts.site_visit_time:
        return ""
    hour, minute = (int(x) for x in facts.site_visit_time.split(":"))
    return f" at {spoken_clock(hour, minute)}"


def _noted(facts: CallFacts) -> str:
    """The dates kept from a turn that also asked for a callback (" I have you starting ...")."""
    parts: list[str] = []
    if facts.start_date:
        loose = loose_start(facts.heard.get("start_date"))
        parts.append(
            f"starting {loose}, so about {spoken_date(facts.start_date)}"
            if loose
            else f"starting {spoken_date(facts.start_date)}"
        )
    if facts.site_visit:
        parts.append(f"for a site visit on {spoken_date(facts.site_visit)}{_at_clock(facts)}")
    return f" I have you down {' and '.join(parts)}." if parts else ""


def template_reply(plan: dict[str, Any], facts: CallFacts, context: dict[str, Any]) -> str:
    """The deterministic words for a plan."""
    kind, item = plan["kind"], plan.get("item")
    name = context.get("contractor_name") or "there"
    if item and item.startswith("line_total:") and kind in ("ask", "repeat"):
        asked = line_total_question(item.split(":", 1)[1], facts, context)
        return asked if kind == "ask" else "Sorry, I didn't catch that. " + asked
    if kind == "ask":
        return question(item, context)
    if kind == "repeat":
        return "Sorry, I didn't catch that. " + (
            confirmation(facts, context) if item == "confirm" else question(item, context)
        )
    if kind == "confirm":
        return confirmation(facts, context)
    if kind == "acknowledge":
        return "Thanks. " + (
            confirmation(facts, context) if item == "confirm" else question(item, context)
        )
    if kind == "introduce":
        return (
            f"This is the automated assistant of {context.get('company') or 'our company'}, "
            "calling contractors for bids on a rehab project at "
            f"{context.get('project_label') or 'one of our properties'}. "
            + (confirmation(facts, context) if item == "confirm" else question(item, context))
        )
    if kind == "goodbye_opted_out":
        return "Understood. We won't call you again. Sorry for the trouble, goodbye."
    if kind == "goodbye_wrong_number":
        return "Sorry to have bothered you. Have a good day, goodbye."
    if kind == "goodbye_follow_up":
        if item == "office":
            return f"Thanks, {name}, we'll call your office. Goodbye."
        if item == "details":
            return (
                f"Thanks, {name}, we'll send you the details and look out for your quote. Goodbye."
            )
        return f"Thanks, {name}, we'll look out for your quote. Goodbye."
    if kind == "goodbye_declined":
        return f"No problem, thanks for your time, {name}. Goodbye."
    if kind == "goodbye_callback":
        return f"Of course.{_noted(facts) if item == 'noted' else ''} " + (
            f"{_callback_promise(facts.callback_when, context)} Goodbye."
        )
    if kind == "goodbye_unclear":
        return "I'm having trouble hearing you. We'll follow up another way. Goodbye."
    if facts.priced:
        return f"Thank you, {name}. We'll review your bid and get back to you. Goodbye."
    return f"Thank you, {name}. We'll be in touch. Goodbye."


# --- seller leads ------------------------------------------------------------------------

LEAD_QUESTIONS = {
    "interested": "Are you still interested in selling?",
    "timeline": "When would you like to have it sold?",
    "asking_price": "What price are you hoping to get for it?",
    "condition": "What condition is the house in? Does it need any repairs?",
    "occupancy": "Does anyone live there now: you, a tenant, or is it vacant?",
    "walkthrough": "When would be a good time for us to come walk through the house?",
    "correction": "Sorry about that. What should I correct?",
}


def lead_greeting(context: dict[str, Any]) -> str:
    """The first words to a seller lead: who is calling, why, automated, maybe recorded."""
    intro = (
        f"Hello {context.get('contractor_name') or 'there'}, this is the automated assistant "
        f"of {context.get('company') or 'our company'}, calling about "
        f"{context.get('project_label') or 'your property'}, which you asked us about selling."
    )
    if context.get("recording"):
        intro += " This call may be recorded."
    return (
        intro + " If you'd rather not get these calls, just say so. " + LEAD_QUESTIONS["interested"]
    )


def merge_model_lead_answer(
    rules: lead_facts.LeadAnswer, data: dict[str, Any], today: dt.date
) -> lead_facts.LeadAnswer:
    """The rules' reading of a seller's answer with the model's checked additions."""
    price = _money(data.get("asking_price"))
    if price is not None and not (
        lead_facts.MIN_HOUSE_PRICE <= price <= lead_facts.MAX_HOUSE_PRICE
    ):
        price = None
    sell_by = _date(data.get("sell_by"), today)
    walkthrough = _date(data.get("walkthrough_date"), today)
    occupancy = data.get("occupancy")
    condition = data.get("condition")
    interested = data.get("interested")
    clock = data.get("walkthrough_time")
    clock_ok = isinstance(clock, str) and re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", clock)
    return replace(
        rules,
        interested=(
            rules.interested
            if rules.interested is not None or not isinstance(interested, bool)
            else interested
        ),
        sell_by=rules.sell_by or sell_by,
        timeline_heard=rules.timeline_heard
        or (f"{sell_by.isoformat()} (model)" if sell_by else None),
        asking_price=rules.asking_price or price,
        price_heard=rules.price_heard or (f"{price} (model)" if price else None),
        condition=rules.condition
        or (
            lead_facts.condition_text(condition)
            if isinstance(condition, str) and condition.strip()
            else None
        ),
        occupancy=rules.occupancy or (occupancy if occupancy in lead_facts.OCCUPANCIES else None),
        walkthrough_date=rules.walkthrough_date or walkthrough,
        walkthrough_time=rules.walkthrough_time or (clock if walkthrough and clock_ok else None),
        opted_out=rules.opted_out or data.get("opted_out") is True,
        callback=rules.callback or data.get("callback") is True,
        callback_when=rules.callback_when,
        yes=rules.yes or data.get("yes") is True,
        no=rules.no or data.get("no") is True,
    )


def decide_lead_turn(
    *,
    before: lead_facts.LeadFacts,
    after: lead_facts.LeadFacts,
    answer: lead_facts.LeadAnswer,
    dialogue: dict[str, Any],
    expect: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next turn of a lead-qualification call: (plan, new dialogue state). Pure."""
    turn = _Dialogue.read(dialogue)
    asked, confirms, misses, turns = turn.asked, turn.confirms, turn.misses, turn.turns
    state, plan = turn.state, turn.plan

    if after.opted_out:
        return plan("goodbye_opted_out", done=True), state
    if after.interested is False:
        return plan("goodbye_not_selling", done=True), state
    said_facts = (
        answer.asking_price is not None
        or answer.sell_by
        or answer.walkthrough_date
        or answer.occupancy
        or answer.condition
    )
    if answer.callback and not said_facts:
        return plan("goodbye_callback", done=True), state
    changed = after.to_json() != before.to_json()
    if not answer.text.strip() or not (answer.heard_anything or changed):
        state["misses"] = misses + 1
        if misses + 1 >= MAX_MISSES:
            return plan("goodbye_unclear", done=True), state
        return {"kind": "repeat", "item": expect, "done": False}, state
    state["misses"] = 0
    if expect in ("confirm", "correction"):
        return turn.after_read_back(expect, yes=answer.yes, no=answer.no, changed=changed), state
    reasked = list(state.get("reasked") or [])
    if (
        expect in lead_facts.LEAD_ITEMS
        and not after.known(expect)
        and changed
        and not answer.no
        and expect not in reasked
        and turns < MAX_CONTRACTOR_TURNS
    ):
        # They answered something else ("We want 120." to the timeline question): ask the
        # question again, once.
        state["reasked"] = [*reasked, expect]
        return {"kind": "ask", "item": expect, "done": False}, state
    if turns < MAX_CONTRACTOR_TURNS:
        for item in lead_facts.LEAD_ITEMS:
            if item not in asked and not after.known(item):
                return plan("ask", item), state
    if confirms == 0 and after.answered_anything:
        return plan("confirm", "confirm"), state
    return plan("goodbye_thanks", done=True), state


def lead_reply(plan: dict[str, Any], facts: lead_facts.LeadFacts, context: dict[str, Any]) -> str:
    """The deterministic words for a lead-call plan (confirmation from the recorded facts)."""
    kind, item = plan["kind"], plan.get("item")
    name = context.get("contractor_name") or "there"
    if kind == "ask":
        return LEAD_QUESTIONS.get(item or "", "Could you say that again?")
    if kind == "repeat":
        again = (
            lead_facts.confirmation(facts)
            if item == "confirm"
            else LEAD_QUESTIONS.get(item or "", "Could you say that again?")
        )
        return "Sorry, I didn't catch that. " + again
    if kind == "confirm":
        return lead_facts.confirmation(facts)
    if kind == "goodbye_opted_out":
        return "Understood. We won't call you again. Sorry for the trouble, goodbye."
    if kind == "goodbye_not_selling":
        return f"No problem, thanks for letting us know, {name}. Have a good day. Goodbye."
    if kind == "goodbye_callback":
        return f"Of course. {_callback_promise(facts.callback_when, context)} Goodbye."
    if kind == "goodbye_unclear":
        return "I'm having trouble hearing you. Someone from our team will follow up. Goodbye."
    return f"Thank you, {name}. Someone from our team will be in touch. Goodbye."


# --- the graph ---------------------------------------------------------------------------


def build_call_graph(model: BaseChatModel | None) -> Any:
    """Compile the call graph for one chat model (None: the offline, rule-based path)."""
    prompt = load_prompt(PROMPT_NAME)

    def route_start(state: CallState) -> str:
        return "greet" if state.get("utterance") is None else "understand"

    def greet(state: CallState) -> dict[str, Any]:
        context = state["context"]
        purpose = _purpose(context)
        if purpose == CallPurpose.lead_qualification:
            return {
                "reply": lead_greeting(context),
                "expect": "interested",
                "facts": lead_facts.LeadFacts().to_json(),
                "dialogue": {"asked": ["interested"], "confirms": 0, "misses": 0, "turns": 0},
                "plan": {"kind": "ask", "item": "interested", "done": False},
            }
        first = {
            CallPurpose.bid_request: "prices",
            CallPurpose.follow_up: "prices",
            CallPurpose.scheduling: "site_visit",
        }.get(purpose, "start_date")
        return {
            "reply": greeting_text(context),
            "expect": first,
            "facts": CallFacts().to_json(),
            "dialogue": {"asked": [first], "confirms": 0, "misses": 0, "turns": 0},
            "plan": {"kind": "ask", "item": first, "done": False},
        }

    def understand_lead(state: CallState) -> dict[str, Any]:
        context = state["context"]
        today = _today(context)
        text = state.get("utterance") or ""
        expect = state.get("expect")
        answer = lead_facts.extract_lead(text, today=today, expect=expect)
        if model is not None and text.strip():
            try:
                request = json.dumps(
                    {
                        "task": "READ_LEAD",
                        "call_date": today.isoformat(),
                        "question_asked": expect,
                        "seller_said": text,
                    }
                )
                data = _json_object(_model_text(model, prompt.text, request))
                if data is not None:
                    answer = merge_model_lead_answer(answer, data, today)
            except Exception:  # noqa: BLE001 - the rules' reading stands when the model fails
                log.warning("the call model could not read a seller's answer; using the rules")
        before = lead_facts.LeadFacts.from_json(state.get("facts"))
        return {
            "answer": lead_answer_json(answer),
            "facts_before": before.to_json(),
            "facts": before.merge(answer).to_json(),
        }

    def understand(state: CallState) -> dict[str, Any]:
        context = state["context"]
        if _purpose(context) == CallPurpose.lead_qualification:
            return understand_lead(state)
        scope, today = _scope(context), _today(context)
        text = state.get("utterance") or ""
        answer = extract(text, scope=scope, today=today, expect=state.get("expect"))
        if model is not None and text.strip():
            try:
                request = json.dumps(
                    {
                        "task": "READ",
                        "call_date": today.isoformat(),
                        "question_asked": state.get("expect"),
                        "scope_lines": [{"id": s.id, "component": s.component} for s in scope],
                        "contractor_said": text,
                    }
                )
                data = _json_object(_model_text(model, prompt.text, request))
                if data is not None:
                    answer = merge_model_answer(answer, data, scope, today)
            except Exception:  # noqa: BLE001 - the rules' reading stands when the model fails
                log.warning("the call model could not read an answer; using the rules")
        before = CallFacts.from_json(state.get("facts"))
        return {
            "answer": _answer_json(answer),
            "facts_before": before.to_json(),
            "facts": before.merge(answer).to_json(),
        }

    def decide(state: CallState) -> dict[str, Any]:
        context = state["context"]
        if _purpose(context) == CallPurpose.lead_qualification:
            plan, dialogue = decide_lead_turn(
                before=lead_facts.LeadFacts.from_json(state.get("facts_before")),
                after=lead_facts.LeadFacts.from_json(state.get("facts")),
                answer=lead_answer_from_json(state["answer"]),
                dialogue=dict(state.get("dialogue") or {}),
                expect=state.get("expect"),
            )
            return {"plan": plan, "dialogue": dialogue}
        answer = _answer_from_json(state["answer"])
        plan, dialogue = decide_turn(
            purpose=_purpose(context),
            before=CallFacts.from_json(state.get("facts_before")),
            after=CallFacts.from_json(state.get("facts")),
            answer=answer,
            dialogue=dict(state.get("dialogue") or {}),
            expect=state.get("expect"),
            scope=_scope(context),
        )
        return {"plan": plan, "dialogue": dialogue}

    def speak(state: CallState) -> dict[str, Any]:
        context = state["context"]
        plan = state["plan"]
        if _purpose(context) == CallPurpose.lead_qualification:
            text = lead_reply(plan, lead_facts.LeadFacts.from_json(state.get("facts")), context)
        else:
            text = template_reply(plan, CallFacts.from_json(state.get("facts")), context)
        rate_question = str(plan.get("item") or "").startswith("line_total:")
        if model is not None and plan["kind"] in ("ask", "repeat") and not rate_question:
            try:
                request = json.dumps(
                    {
                        "task": "SAY",
                        "contractor_said": state.get("utterance"),
                        "next_question": text,
                        "instruction": "Briefly acknowledge what they said if it helps, then "
                        "ask the next question in your own words. No figures.",
                    }
                )
                phrased = _model_text(model, prompt.text, request)
                if phrased and len(phrased) <= MAX_SAY_CHARS and not re.search(r"\d", phrased):
                    text = phrased
            except Exception:  # noqa: BLE001 - the template stands when the model fails
                log.warning("the call model could not phrase a turn; using the template")
        asking = ("ask", "repeat", "confirm", "introduce", "acknowledge")
        expect = plan.get("item") if plan["kind"] in asking else None
        return {"reply": text, "expect": expect}

    builder = StateGraph(CallState)
    builder.add_node("greet", greet)
    builder.add_node("understand", understand)
    builder.add_node("decide", decide)
    builder.add_node("speak", speak)
    builder.add_conditional_edges(START, route_start, ["greet", "understand"])
    builder.add_edge("greet", END)
    builder.add_edge("understand", "decide")
    builder.add_edge("decide", "speak")
    builder.add_edge("speak", END)
    return builder.compile(name="dealdesk-call")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "text": answer.text,
        "line_prices": [
            [p.scope_item_id, p.component, str(p.amount), p.heard, _text(p.rate)]
            for p in answer.line_prices
        ],
        "unit_rates": [[r.key, r.spoken] for r in answer.unit_rates],
        "total": str(answer.total) if answer.total is not None else None,
        "start_date": answer.start_date.isoformat() if answer.start_date else None,
        "start_heard": answer.start_heard,
        "site_visit": answer.site_visit.isoformat() if answer.site_visit else None,
        "site_visit_time": answer.site_visit_time,
        "duration_days": answer.duration_days,
        "exclusions": list(answer.exclusions),
        "no_exclusions": answer.no_exclusions,
        "insured": answer.insured,
        "opted_out": answer.opted_out,
        "declined": answer.declined,
        "callback": answer.callback,
        "callback_when": answer.callback_when.to_json() if answer.callback_when else None,
        "yes": answer.yes,
        "no": answer.no,
        "skipped_lines": list(answer.skipped_lines),
        "price_ranges": [list(pair) for pair in answer.price_ranges],
        "wrong_number": answer.wrong_number,
        "follow_up": answer.follow_up,
    }


def _answer_from_json(data: dict[str, Any]) -> Answer:
    return Answer(
        text=data.get("text") or "",
        line_prices=tuple(
            LinePrice(
                str(row[0]),
                str(row[1]),
                Decimal(row[2]),
                str(row[3]),
                Decimal(row[4]) if len(row) > 4 and row[4] else None,
            )
            for row in data["line_prices"]
        ),
        unit_rates=tuple(UnitRate(str(k), str(v)) for k, v in data.get("unit_rates") or []),
        total=Decimal(data["total"]) if data.get("total") else None,
        start_date=dt.date.fromisoformat(data["start_date"]) if data.get("start_date") else None,
        start_heard=data.get("start_heard"),
        site_visit=dt.date.fromisoformat(data["site_visit"]) if data.get("site_visit") else None,
        site_visit_time=data.get("site_visit_time"),
        duration_days=data.get("duration_days"),
        exclusions=tuple(data.get("exclusions") or ()),
        no_exclusions=bool(data.get("no_exclusions")),
        insured=data.get("insured"),
        opted_out=bool(data.get("opted_out")),
        declined=bool(data.get("declined")),
        callback=bool(data.get("callback")),
        callback_when=CallbackTime.from_json(data.get("callback_when")),
        yes=bool(data.get("yes")),
        no=bool(data.get("no")),
        skipped_lines=tuple(data.get("skipped_lines") or ()),
        price_ranges=tuple((str(k), str(v)) for k, v in data.get("price_ranges") or []),
        wrong_number=bool(data.get("wrong_number")),
        follow_up=data.get("follow_up"),
    )


def lead_answer_json(answer: lead_facts.LeadAnswer) -> dict[str, Any]:
    """A seller's answer as JSON values (the graph's state)."""
    return {
        "lead": True,
        "text": answer.text,
        "interested": answer.interested,
        "sell_by": answer.sell_by.isoformat() if answer.sell_by else None,
        "timeline_heard": answer.timeline_heard,
        "asking_price": _text(answer.asking_price),
        "price_heard": answer.price_heard,
        "condition": answer.condition,
        "occupancy": answer.occupancy,
        "walkthrough_date": (
            answer.walkthrough_date.isoformat() if answer.walkthrough_date else None
        ),
        "walkthrough_time": answer.walkthrough_time,
        "opted_out": answer.opted_out,
        "callback": answer.callback,
        "callback_when": answer.callback_when.to_json() if answer.callback_when else None,
        "yes": answer.yes,
        "no": answer.no,
    }


def lead_answer_from_json(data: dict[str, Any]) -> lead_facts.LeadAnswer:
    """``lead_answer_json`` read back."""
    day = dt.date.fromisoformat
    return lead_facts.LeadAnswer(
        text=data.get("text") or "",
        interested=data.get("interested"),
        sell_by=day(data["sell_by"]) if data.get("sell_by") else None,
        timeline_heard=data.get("timeline_heard"),
        asking_price=Decimal(data["asking_price"]) if data.get("asking_price") else None,
        price_heard=data.get("price_heard"),
        condition=data.get("condition"),
        occupancy=data.get("occupancy"),
        walkthrough_date=day(data["walkthrough_date"]) if data.get("walkthrough_date") else None,
        walkthrough_time=data.get("walkthrough_time"),
        opted_out=bool(data.get("opted_out")),
        callback=bool(data.get("callback")),
        callback_when=CallbackTime.from_json(data.get("callback_when")),
        yes=bool(data.get("yes")),
        no=bool(data.get("no")),
    )


@lru_cache(maxsize=1)
def _offline_graph() -> Any:
    return build_call_graph(None)


def _graph() -> Any:
    model = call_model()
    return _offline_graph() if model is None else build_call_graph(model)


def greet(context: CallContext) -> AgentTurn:
    """The agent's opening turn for a call."""
    out = _graph().invoke({"context": context.to_json(), "utterance": None})
    return AgentTurn(
        text=out["reply"],
        expect=out.get("expect"),
        done=False,
        facts=out["facts"],
        dialogue=out["dialogue"],
    )


def next_turn(
    context: CallContext,
    *,
    utterance: str,
    facts: dict[str, Any] | None,
    dialogue: dict[str, Any] | None,
    expect: str | None,
) -> AgentTurn:
    """The agent's reply to what the contractor just said, and the updated facts."""
    out = _graph().invoke(
        {
            "context": context.to_json(),
            "utterance": utterance,
            "facts": facts or CallFacts().to_json(),
            "dialogue": dialogue or {},
            "expect": expect,
        }
    )
    return AgentTurn(
        text=out["reply"],
        expect=out.get("expect"),
        done=bool(out["plan"].get("done")),
        facts=out["facts"],
        dialogue=out["dialogue"],
    )
