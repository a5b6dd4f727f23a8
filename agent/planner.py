"""The offline planner: a deterministic stand-in for the chat model when no LLM is configured.

It drives the same graph and the same tools as a model would. Given the conversation it
either emits tool calls for the latest user message (parsed by intent: an address, "comps
for ...", "drop comp N", "max offer on ...", "budget / P&L / cash flow for deal ...",
"send me the report", "my deals") or, once the tools have answered, writes the reply from
their results only: every figure in a reply is copied from a tool result. What it cannot do
(construction projects, market opportunities, anything it does not understand) it says
plainly, without calling a tool.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from core.clock import local_today
from domain.property.address import parse_address
from domain.property.errors import AddressParseError
from domain.voice import extraction

OFFLINE_MODEL_NAME = "offline-planner"
# The tools whose results name one property ("it", "and as a rental?" mean the latest of them).
PROPERTY_TOOLS = (
    "analyze_property",
    "save_valuation",
    "max_offer",
    "get_comps",
    "section8_rent",
    "generate_report",
    "walkthrough_notes",
    "estimate_rehab",  # "rehab estimate for 2718 Duff Ave: roof poor", then "max offer?"
)
# The tools whose results name one project (a follow-up without a project means that one).
PROJECT_TOOLS = (
    "project_status",
    "list_bids",
    "bids_received",
    "award_bid",
    "call_status",
    "request_bids",
    "record_expense",
    "project_tasks",
    "add_task",
    "complete_task",
)
# The tools whose results name one deal ("move it to closed" means the latest of them).
DEAL_TOOLS = (
    "change_deal_status",
    "update_deal",
    "make_offer",
    "create_deal",
    "deal_offers",
    "what_we_paid",
    "budget_status",
    "pnl",
    "cashflow",
)
WHATSAPP_LIMIT = 1600
# The longest reply a channel shows: a WhatsApp/SMS message (1,600), or a page (web, CLI).
PAGE_LIMIT = 12000
REPLY_LIMIT: ContextVar[int] = ContextVar("reply_limit", default=WHATSAPP_LIMIT)


def reply_limit_for(channel: str) -> int:
    """The reply length ``channel`` shows: a text message's on WhatsApp and voice, else a page's."""
    return WHATSAPP_LIMIT if channel in {"whatsapp", "sms", "voice"} else PAGE_LIMIT


REPORT_HINT = "Reply 'report' for the PDF."
REPORT_FOLLOWS = "The PDF report follows."

HELP_TEXT = (
    "I'm dealdesk. Send me:\n"
    "• a street address, for a deal analysis (value, ARV, rehab, max offer, rent vs FMR, "
    "cash flow)\n"
    "• 'comps for <address>', then 'drop comp N' to recompute without one\n"
    "• 'max offer on <address>' (add 'if rehab is 40k' to use your own rehab budget)\n"
    "• after an address: 'and as a rental?', 'what if I pay 150k?', 'what's it worth?'\n"
    "• 'voucher rent for <address>' or 'FMR for a three bed in Detroit' (Section Eight: FMR, "
    "payment standard, utility allowance; add a rent to check it)\n"
    "• 'budget', 'P&L' or 'cash flow for deal <id or address>'\n"
    "• 'my deals', 'which deals closed last month?', 'what did we pay for <address>?'\n"
    "• 'rehab estimate for <address>: roof poor, furnace fair'\n"
    "• 'how is the rehab on <address> going?', 'what bids came in for <address>?', "
    "'projects over budget?', 'any rehabs behind schedule?', 'when does the plumber start?'\n"
    "• 'latest opportunities', 'alert me to flips in <ZIP> under $<price>', "
    "'market trends for <ZIP>'\n"
    "• the team also: 'create a flip deal on <address>', 'offer $<amount> on deal <id>', "
    "'move deal <id> to under contract', 'get three roofing bids for <address>', "
    "'award bid <id> on project <id>', 'qualify the seller at <phone> about <address>, "
    "consent: <where>', 'what did the seller say?', 'show me the leads', "
    "'who's our electrician?'\n"
    "• the team's books: 'paid DTE 92.10 for utilities on kellogg on 10/28', 'got 1,100 rent "
    "from the tenant at <address>', 'void the 92.10 DTE charge on kellogg', 'are the october "
    "books closed?', 'close october'\n"
    "• 'report' for the PDF of the property analysed last"
)
# An investor's help: the team's commands are not theirs to use.
INVESTOR_HELP_TEXT = "\n".join(
    line
    for line in HELP_TEXT.split("\n")
    if not line.startswith(("• the team also:", "• the team's books:"))
)
NOT_UNDERSTOOD = (
    "Sorry, I didn't understand that. Send a street address for an analysis, or 'help' to "
    "see what I can do."
)
EMPTY_MESSAGE = "I got an empty message. Send a street address, or 'help'."
NOT_YOUR_ROLE = (
    "Sorry, that is not something I can do for you here (your role does not include it). "
    "Send 'help' to see what I can do."
)
MEDIA_ONLY = "Got your attachment. Send a street address or a question to go with it, or 'help'."
# The runner notes attached media on the user's message with this prefix; it is not text to
# parse (the ids in it are documents, not properties).
MEDIA_NOTE_PREFIX = "(attached media documents:"


# --- reading the conversation ---------------------------------------------------------------


def message_text(message: BaseMessage) -> str:
    """A message's text content (string content, or the text parts of a content list)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = [
        part.get("text", "") if isinstance(part, dict) else str(part)
        for part in content
        if not isinstance(part, dict) or part.get("type") in (None, "text")
    ]
    return "".join(parts)


def tool_result(message: ToolMessage) -> dict[str, Any]:
    """A tool message's JSON result (a non-JSON error string becomes ``{"error": ...}``)."""
    text = message_text(message)
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"error": text.removeprefix("Error: ").strip()}
    if isinstance(value, dict):
        if message.status == "error" and "error" not in value:
            value["error"] = text
        return value
    return {"result": value}


def _tool_calls_by_id(messages: Sequence[BaseMessage]) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id"):
                    calls[str(call["id"])] = dict(call)
    return calls


@dataclass
class Conversation:
    """The parts of a thread the planner reads."""

    text: str
    history: list[BaseMessage]
    this_turn: list[BaseMessage]

    @classmethod
    def read(cls, messages: Sequence[BaseMessage]) -> Conversation:
        """Split the messages at the latest user message."""
        last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        if last < 0:
            return cls(text="", history=list(messages), this_turn=[])
        return cls(
            text=message_text(messages[last]),
            history=list(messages[:last]),
            this_turn=list(messages[last + 1 :]),
        )

    def results(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """The tool results of this turn: (tool name, arguments, result)."""
        calls = _tool_calls_by_id(self.this_turn)
        found = []
        for message in self.this_turn:
            if isinstance(message, ToolMessage):
                call = calls.get(str(message.tool_call_id), {})
                name = message.name or str(call.get("name", ""))
                found.append((name, dict(call.get("args", {})), tool_result(message)))
        return found

    def last_property(self, tools: tuple[str, ...]) -> tuple[str | None, dict[str, Any]]:
        """The property id of the latest successful result of ``tools`` earlier in the thread."""
        calls = _tool_calls_by_id(self.history)
        for message in reversed(self.history):
            if isinstance(message, ToolMessage) and message.name in tools:
                result = tool_result(message)
                if "error" not in result and result.get("property_id"):
                    call = calls.get(str(message.tool_call_id), {})
                    return str(result["property_id"]), dict(call.get("args", {}))
        return None, {}

    def latest_subject(self) -> tuple[str, str] | None:
        """What the thread's latest answer was about: ("deal" | "project" | "property", id)."""
        kinds = (("deal", DEAL_TOOLS), ("project", PROJECT_TOOLS), ("property", PROPERTY_TOOLS))
        for message in reversed(self.history):
            if not isinstance(message, ToolMessage):
                continue
            result = tool_result(message)
            if "error" in result:
                continue
            for kind, tools in kinds:
                if message.name in tools and result.get(f"{kind}_id"):
                    return kind, str(result[f"{kind}_id"])
        return None

    def last_estimate(self, property_id: str) -> str | None:
        """The rehab estimate for ``property_id`` just given, in dollars ("7920.00"), or None.

        Only when it is the thread's latest answer about a property.

        "rehab estimate for 2718 Duff Ave: roof poor", then "max offer?": that rehab.
        """
        for message in reversed(self.history):
            if isinstance(message, ToolMessage) and message.name in PROPERTY_TOOLS:
                result = tool_result(message)
                if "error" in result or not result.get("property_id"):
                    continue
                if message.name != "estimate_rehab" or str(result["property_id"]) != property_id:
                    return None
                total = result.get("total")
                return _dollars_said(str(total)) if total else None
        return None

    def discussed(self) -> dict[str, str] | None:
        """The property just discussed ("max offer on it"), as tool arguments, or None."""
        property_id, _ = self.last_property(PROPERTY_TOOLS)
        return {"property_id": property_id} if property_id else None

    def last_project(self) -> tuple[str, str] | None:
        """The latest project answered about earlier in the thread: (its id, name and address)."""
        for message in reversed(self.history):
            if isinstance(message, ToolMessage) and message.name in PROJECT_TOOLS:
                result = tool_result(message)
                if "error" not in result and result.get("project_id"):
                    label = f"{result.get('name') or ''} {result.get('address') or ''}"
                    return str(result["project_id"]), label
        return None


# --- intents -------------------------------------------------------------------------------


@dataclass
class Plan:
    """What to do with a message: call a tool, or answer directly."""

    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    reply: str | None = None
    needs: str | None = None
    """The tool a clarifying ``reply`` leads to: a role without it is refused instead."""


_HELP = re.compile(
    r"^\s*(help|menu|commands|start|hi|hello|hey|what can you do"
    r"|(?:good\s+)?(?:morning|afternoon|evening)|hi there|hey there|yo|howdy)"
    r"(?:\s+(?:team|all|guys|there|dealdesk|bot))?\s*[.!?]*\s*$|^\s*\?+\s*$",
    re.I,
)
_REPORT = re.compile(r"\b(report|pdf)\b", re.I)
# WhatsApp's opt-out and opt-in words, as a whole message ("STOP", "stop texting me").
_OPT_OUT = re.compile(
    r"^\s*(?:stop|stop\s*all|unsubscribe|opt[\s-]*out|stop\s+(?:texting|messaging|sending)"
    r"(?:\s+me)?(?:\s+(?:anything|messages|texts))?)\s*[.!]*\s*$",
    re.I,
)
_OPT_IN = re.compile(r"^\s*(?:start|unstop|opt[\s-]*in|resume)\s*[.!]*\s*$", re.I)
_YES = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|y|correct|right|that one|that's it|thats it|yes please)"
    r"\s*[.!]*\s*$",
    re.I,
)
_DID_YOU_MEAN = re.compile(r"Did you mean ([^?]+?)\?")
# "no I meant 1215 not 1251", "sorry, meant 1215 Kellogg Ave".
_MEANT = re.compile(
    r"^\s*(?:no+|nope|sorry|oops)?[\s,.!]*(?:i\s+)?meant\s+(.+?)(?:[,\s]+not\s+.*)?[.!]*\s*$",
    re.I,
)


# "the second one", "tell me about #2", "analyse the third listing" after a list of houses.
_ORDINALS_SAID = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_ORDINALS_SAID |= {"fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "last": -1}
_ORDINAL_PICK = re.compile(
    r"^\s*(?:(?:and|ok|so)\s+)?(?:(?:tell\s+me\s+about|what\s+about|how\s+about|analy[sz]e|run"
    r"|show\s+me|look\s+at)\s+)?(?:the\s+)?"
    r"(?:(?P<word>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)"
    r"(?:\s+(?:one|listing|house|property|opportunity|deal))?|(?:#|number\s+|no\.?\s*)(?P<n>\d{1,2}))"
    r"\s*[?.!]*\s*$",
    re.I,
)
# The lists of houses a pick refers to, in the tools' results.
_LISTED = ("opportunities", "properties", "analyses", "matches")


def _picked(picked: re.Match[str], conversation: Conversation) -> Plan | None:
    """The analysis of the house at the position picked in the latest list of houses.

    None when the thread has no such list.
    """
    word = picked.group("word")
    position = _ORDINALS_SAID[word.lower()] if word else int(picked.group("n"))
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        result = tool_result(message)
        rows = next((result[k] for k in _LISTED if isinstance(result.get(k), list)), None)
        if not rows:
            continue
        index = position - 1 if position > 0 else len(rows) - 1
        row = rows[index] if 0 <= index < len(rows) else None
        address = row.get("address") if isinstance(row, dict) else None
        if not address:
            return Plan(reply="That list is shorter: say which of its houses, or its address.")
        return Plan("analyze_property", {"address": str(address)})
    return None


def _count_word(count: int) -> str:
    """A small count in words ("two"), so a reply carries no figure of its own."""
    words = ("no", "one", "two", "three", "four", "five", "six")
    return words[count] if 0 <= count < len(words) else "several"


def _which_compared(compared: list[str]) -> Plan:
    """A follow-up right after a comparison ("and as a rental?"): which house is meant."""
    return Plan(
        reply=f"Which of the {_count_word(len(compared))} houses? Say 'the first one' (or 'the "
        "second one' ...), or its address, then ask again."
    )


def _just_compared(conversation: Conversation) -> list[str]:
    """The houses of a comparison when it is the thread's latest property answer, else []."""
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        if message.name == "compare_properties":
            rows = tool_result(message).get("properties")
            if isinstance(rows, list):
                return [str(r["address"]) for r in rows if isinstance(r, dict) and r.get("address")]
            return []
        if message.name in PROPERTY_TOOLS:
            return []
    return []


def _opted_out_before(conversation: Conversation) -> bool:
    """Whether the user's latest earlier opt-out or opt-in word was an opt-out."""
    for message in reversed(conversation.history):
        if isinstance(message, HumanMessage):
            said = message_text(message)
            if _OPT_OUT.match(said):
                return True
            if _OPT_IN.match(said):
                return False
    return False


def _last_reply(conversation: Conversation) -> str:
    """The assistant's latest reply earlier in the thread ("" when none)."""
    for message in reversed(conversation.history):
        if isinstance(message, HumanMessage):
            return ""
        if isinstance(message, AIMessage) and not message.tool_calls:
            return message_text(message)
    return ""


def _suggested_address(conversation: Conversation) -> str | None:
    """The one address the latest reply offered ("Did you mean 1215 Kellogg Ave?"), or None."""
    offered = _DID_YOU_MEAN.search(_last_reply(conversation))
    if offered is None or " or " in offered.group(1):
        return None
    return offered.group(1).strip()


def _meant_address(said: str, conversation: Conversation) -> str | None:
    """The address a correction names: a full one, or a house number for the last address."""
    said = said.strip().rstrip(".!")
    if extract_address(said):
        return extract_address(said)
    if not re.fullmatch(r"\d{1,6}", said):
        return None
    for message in reversed(conversation.history):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                address = call.get("args", {}).get("address")
                if call.get("name") in PROPERTY_TOOLS and isinstance(address, str):
                    number = re.match(r"\s*\d+", address)
                    if number:
                        return said + address[number.end() :]
    return None


_DROP = re.compile(r"\b(drop|remove|exclude|without|leave out)\b", re.I)
_COMP_WORD = re.compile(r"\bcomps?\b|\bcomparables?\b", re.I)
_RECOMPUTE = re.compile(r"^\s*(recompute|recalculate|redo)\b", re.I)
_MARKET = re.compile(
    r"\b(opportunit(?:y|ies)|new listings?|market monitor|alerts?|deals? (?:near|around))\b"
    # "any good flips in 48214?": what the monitor found there (a ZIP is no house number).
    r"|\b(?:flips?|rentals?|brrrrs?|deals|listings|houses|properties)\b[^.?!]{0,20}\bin \d{5}\b",
    re.I,
)
# "how much have we spent on <address>" is the deal's budget: spent against allocated.
_BUDGET = re.compile(
    r"\bbudget\b|\bhow much\b[^.?!]*\bspen[dt]\b|\bwhat (?:did|have|do) we spen[dt]\b", re.I
)
_PNL = re.compile(
    r"\bp\s*(?:&|and|/)\s*l\b|\bpnl\b|\bprofit\s*(?:and|&)\s*loss\b|\bincome statement\b",
    re.I,
)
_LEDGER_WORDS = re.compile(r"\b(?:expenses?|spending|income|revenue|costs|profits?)\b", re.I)
# What the ledger says we made, with or without a period: the P&L ("how much did we make last
# month?", "our total profit on <address>", "how much rent did we collect?", "how are we doing?").
# Not "what's the profit on <address> as a flip?": a projection, the analysis answers it.
_EARNED = re.compile(
    r"\b(?:how much|what) (?:money |profit |rent )?(?:did|have|do) we (?:make|made|earn(?:ed)?"
    r"|net(?:ted)?|clear(?:ed)?|bring in|brought in|collect(?:ed)?)\b"
    r"|\bhow much (?:has|did) [^.?!]{1,60}? (?:make|made|earn(?:ed)?|net(?:ted)?|bring in"
    r"|brought in)\b"
    r"|\b(?:our|total|net|actual|realized)\s+(?:\w+\s+)?(?:profits?|earnings)\b"
    r"|\brent (?:we )?(?:collected|received)\b"
    r"|\bhow (?:are|is) (?:we|the (?:business|company|portfolio))\s+doing\b|\bhow did we do\b"
    r"|\bour net\b",
    re.I,
)
# Cash on hand is the cash flow's closing balance (as of the period's end: today by default).
_CASH_ON_HAND = re.compile(
    r"\bcash on hand\b|\bhow much cash\b|\b(?:bank|cash) balance\b|\bcash position\b"
    r"|\bhow much (?:money )?(?:do|have) we (?:got |have )?in the bank\b",
    re.I,
)
_CASHFLOW = re.compile(r"\bcash\s*-?\s*flows?\b", re.I)
_MAX_OFFER = re.compile(
    r"\bmax(?:imum)?\.?\s+(?:allowable\s+)?offer\b|\bmao\b|\bhow much (?:should|can|do) i offer\b",
    re.I,
)
_SECTION8 = re.compile(
    r"\bsection\s*-?\s*(?:8|eight)\b|\bfmrs?\b|\bfair market rents?\b|\bvouchers?\b"
    r"|\bpayment\s+standards?\b|\butility\s+allowances?\b|\bhousing\s+choice\b|\bhcv\b",
    re.I,
)
_DEALS = re.compile(r"\bdeals\b|\bpipeline\b", re.I)
_DEAL_REF = re.compile(r"\bdeal\b\s*(?:#|no\.?|number|id)?\s*[:#]?\s*(.+)$", re.I)
# Never the cents or thousands of an amount ("refunded 45.20 on kercheval", "$1,200 on mack").
# Nor an amount in thousands ("30k of repairs on 1234 Main St").
_HOUSE_NUMBER = re.compile(
    r"(?<![\w.,$-])(?!\d+(?:\.\d+)?k\b)\d+[a-z]?(?:-\d+)?\s+(?=[a-z0-9])", re.I
)
_LEAD_IN = re.compile(r"^(?:for|on|at|of|about|regarding|re:?)\s+", re.I)
# A street's type after its name ("mack ave", "lincoln way"): part of a bare street's name.
_STREET_TYPE = (
    r"(?:ave|avenue|st|street|rd|road|dr|drive|blvd|boulevard|ln|lane|ct|court|way|pl|place"
    r"|ter|terrace|cir|circle|pkwy|parkway|hwy|highway)"
)
# A deal id (or its 6+ digit prefix) first: hex with a letter a-f (never a house number) and
# a digit (never a word such as "facade").
_ID_FIRST = re.compile(
    r"^((?=[0-9a-f-]*[a-f])(?=[0-9a-f-]*\d)[0-9a-f]{6,}(?:-[0-9a-f]{1,12}){0,4})(?=\s|$)", re.I
)


# Changing deals (admins and analysts; the role policy refuses others before any tool runs).
_CREATE_DEAL = re.compile(
    r"\b(?:create|open|start|add|new)\b[^.?!]{0,40}?\bdeal\b"
    r"|\badd\b.{0,120}\bas an? (?:lead|deal)\b",
    re.I,
)
# "make it a deal", "track this one", "add it to the pipeline": a deal on the house just analysed.
_TRACK_IT = re.compile(
    r"^\s*(?:ok(?:ay)?,?\s+|great,?\s+|yes,?\s+|let'?s\s+)?"
    r"(?:(?:make|turn)\s+(?:it|this|that|this one|that one)\s+(?:into\s+)?an?\s+(?:deal|lead)"
    r"|(?:track|pursue|go after)\s+(?:it|this|that|this one|that one|this house|that house)"
    r"|(?:add|put)\s+(?:it|this|that|this one|that one|this house|that house)\s+"
    r"(?:to|in|into|on)\s+(?:the\s+|our\s+)?(?:pipeline|deals)"
    r")\b",
    re.I,
)
_STATUS_VERB = re.compile(r"\b(?:move|mark|set|change|put|update)\b", re.I)
_STATUS_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bunder\s*-?\s*contract\b", re.I), "under_contract"),
    (re.compile(r"\boffer\s*-?\s*made\b", re.I), "offer_made"),
    (re.compile(r"\banaly(?:[sz](?:ing|ed|e)|sis)\b", re.I), "analyzing"),
    (re.compile(r"\bclosed\b", re.I), "closed"),
    (re.compile(r"\bdead\b", re.I), "dead"),
    (re.compile(r"\bpass(?:ed)?\b", re.I), "passed"),
    (re.compile(r"\blead\b", re.I), "lead"),
)
_STRATEGY_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsection\s*-?\s*(?:8|eight)\b", re.I), "section8_rental"),
    (re.compile(r"\bbrrrr\b", re.I), "brrrr"),
    (re.compile(r"\bflips?\b", re.I), "flip"),
    (re.compile(r"\bwholesale\b", re.I), "wholesale"),
    (re.compile(r"\brentals?\b|\bbuy\s*(?:and|&)\s*hold\b", re.I), "rental"),
)
_MONEY = re.compile(
    r"\$\s*(\d[\d,]*(?:\.\d+)?)\s*([km])?\b|\b(\d[\d,]*(?:\.\d+)?)\s*([km])\b", re.I
)
# "$5,000 less than asking", "10% under list": a difference, not the offer itself.
_RELATIVE_AMOUNT = re.compile(
    r"(?:\d\s*[km]?|%|\bpercent)\s*(?:less|more|lower|higher|under|over|below|above|off)\b",
    re.I,
)
RELATIVE_OFFER_REPLY = (
    "What amount exactly? I record an offer as the dollar figure itself, not as a difference "
    "from the asking price: say 'offer', the amount in dollars, then 'on' and the deal's "
    "address or id."
)
_OFFER_WORD = re.compile(r"\boffer(?:ed|ing)?\b", re.I)
_DEAL_NAMED = re.compile(r"\bdeal\s*(?:#|no\.?|number|id)?\s*[:#]?\s*([0-9a-f-]{6,36})\b", re.I)
_FIND = re.compile(
    r"^\s*(?:find|look\s*up|lookup|search(?:\s+for)?)\b|\b(?:is|do we have)\b.*\bon file\b",
    re.I,
)
_REHAB = re.compile(r"\brehab\b|\brepairs?\s+(?:estimate|cost)|\bprice (?:the|a) scope\b", re.I)
_CONDITION_WORDS = re.compile(
    r"\b(excellent|good|fair|poor|new|like new|great|ok|okay|average|worn|dated|needs repair|"
    r"repair|bad|broken|failed|missing|damaged|needs replacement|replace|shot)\b",
    re.I,
)


# Periods for the P&L and cash flow: "last month", "Q3", "Q1 2025", "this year", "in 2025",
# "january to march", "in october". Months and quarters without a year are the latest ones
# that have begun (in November, "Q4" is this year's, "December" last year's).
_MONTH_NAMES = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_PERIODS = re.compile(
    r"(?:\b(?:in|for|during|from|over|of)\s+)?(?:\bthe\s+)?(?:"
    r"\b(?P<rel>last|this|previous|past|current)\s+(?P<unit>week|month|quarter|year)\b"
    r"|\b(?P<ytd>ytd|year[\s-]to[\s-]date)\b"
    r"|\b(?P<day>today|yesterday)\b"
    r"|\bq(?P<q>[1-4])\b(?:,?\s*(?:of\s+)?(?P<qy>20\d\d)\b)?"
    r"|(?<!\d\s)\b(?P<m1>"
    + _MONTH
    + r")\b(?!\s+(?:st|street|ave|avenue|rd|road|dr|ln|ct|blvd)\b)(?:,?\s*(?P<m1y>20\d\d)\b)?"
    r"(?:\s*(?:to|through|thru|until|-|–)\s*(?P<m2>" + _MONTH + r")\b"
    r"(?:,?\s*(?P<m2y>20\d\d)\b)?)?"
    r"|\b(?:in|for|during)\s+(?P<year>20\d\d)\b(?!\s*[a-z0-9])"
    # "gross revenue 2025": a year ending the message (not "2025 Main St", not "$2025").
    r"|(?<![\d#$,.])\b(?P<yend>20\d\d)(?=\s*[?.!]*\s*$)"
    r")",
    re.I,
)


def _month_start(year: int, month: int) -> dt.date:
    return dt.date(year, month, 1)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def period_in(text: str, today: dt.date | None = None) -> tuple[dt.date, dt.date, str] | None:
    """The period ``text`` names (first day, last day, the words naming it), or None."""
    today = today or local_today()
    # "may" alone is a verb ("may I see ..."); as a month it follows "in", "for" ...
    found = (
        m
        for m in _PERIODS.finditer(text)
        if not ((m.group("m1") or "").lower() == "may" and m.group(0).lower() == "may")
    )
    match = next(found, None)
    if match is None:
        return None
    g = match.groupdict()
    if g["day"]:
        day = today - dt.timedelta(days=1 if g["day"].lower() == "yesterday" else 0)
        start, end = day, day
    elif g["rel"]:
        back = g["rel"].lower() in ("last", "previous", "past")
        unit = g["unit"].lower()
        if unit == "week":  # Monday to Sunday (this week: to today)
            monday = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=int(back))
            start, end = monday, monday + dt.timedelta(days=6)
        elif unit == "month":
            year, month = today.year, today.month
            if back:
                year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            start, end = _month_start(year, month), _month_end(year, month)
        elif unit == "quarter":
            first = 3 * ((today.month - 1) // 3) + 1
            year = today.year
            if back:
                year, first = (year - 1, 10) if first == 1 else (year, first - 3)
            start, end = _month_start(year, first), _month_end(year, first + 2)
        else:
            year = today.year - 1 if back else today.year
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    elif g["ytd"]:
        start, end = dt.date(today.year, 1, 1), today
    elif g["q"]:
        first = 3 * (int(g["q"]) - 1) + 1
        year = int(g["qy"]) if g["qy"] else today.year
        if not g["qy"] and _month_start(year, first) > today:
            year -= 1
        start, end = _month_start(year, first), _month_end(year, first + 2)
    elif g["m1"]:
        m1 = _MONTH_NAMES[g["m1"].lower()[:3]]
        m2 = _MONTH_NAMES[g["m2"].lower()[:3]] if g["m2"] else m1
        year2 = int(g["m2y"]) if g["m2y"] else None
        year1 = int(g["m1y"]) if g["m1y"] else None
        if year1 is None and year2 is not None:
            year1 = year2 if m1 <= m2 else year2 - 1
        if year1 is None:
            year1 = today.year if _month_start(today.year, m1) <= today else today.year - 1
        if year2 is None:
            year2 = year1 if m2 >= m1 else year1 + 1
        start, end = _month_start(year1, m1), _month_end(year2, m2)
    else:
        year = int(g["year"] or g["yend"])
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    return start, min(end, today) if start <= today else end, match.group(0)


# Key words typed one slip off ("budgte", "max ofer", "projcet") are read as meant.
_KEY_WORDS = ("budget", "offer", "project", "rehab")
_REAL_WORDS = frozenset({"protect", "budge", "coffer", "proffer"})
_WORD = re.compile(r"\b[a-z]{4,}\b", re.I)


def _one_slip(word: str, target: str) -> bool:
    """Whether ``word`` is ``target`` with one letter added, dropped, changed or swapped."""
    if word == target or abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and word[diff[0]] == target[diff[1]]
            and word[diff[1]] == target[diff[0]]
        )
    short, long_ = sorted((word, target), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# An amount said in words with its scale: "eighty five thousand", "twelve hundred", "a
# thousand", "two hundred and fifty" (not "two fifty": a price or a sum? it is asked).
_NUMBER_WORD = (
    r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|thousand|a)"
)
_SPOKEN_AMOUNT = re.compile(
    rf"\b{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*[\s-]+(?:hundred|thousand|grand)"
    rf"(?:[\s-]+(?:and\s+)?{_NUMBER_WORD}(?![\s-]+(?:hundred|thousand)))*\b",
    re.I,
)


# What makes a number said in words a count, not dollars: "two thousand sqft".
_COUNTED_AFTER = re.compile(
    r"\s*(?:sq\.?\s*ft|sqft|square|feet|ft|units?|homes?|houses?|propert(?:y|ies)|people|days?"
    r"|weeks?|months?|years?|miles?|pieces?|sheets?|bundles?|gallons?|boxes?)\b",
    re.I,
)


def _amounts_in_digits(text: str) -> str:
    """``text`` with amounts said in words with their scale written in digits.

    "what if I pay eighty five thousand" is "what if I pay 85000" (it was read as no price
    at all, and the analysis ran at the asking price).
    """

    def digits(found: re.Match[str]) -> str:
        said = re.sub(r"\bgrand\b", "thousand", found.group(0), flags=re.I)
        written = extraction.normalise(said).strip()
        if not written.isdigit() or int(written) < 100:
            return found.group(0)
        if _COUNTED_AFTER.match(text, found.end()):
            return found.group(0)  # "order two thousand sqft of flooring": a count, kept
        return f"${int(written):,}"  # an amount, written as the money parsers read one

    text = re.sub(r"\b(\d{1,3}(?:\.\d+)?)\s*grand\b", r"\1k", text, flags=re.I)  # "85 grand"
    return _SPOKEN_AMOUNT.sub(digits, text)


def _corrected(text: str) -> str:
    """``text`` with the key words it misspells by one slip spelled right.

    Not in the address ("Offen St" is a street), nor "offers" or "budgets" (words).
    """
    address = extract_address(text)
    at = text.find(address) if address else -1
    head, tail = (text[:at], text[at:]) if at >= 0 else (text, "")

    def fix(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word in _REAL_WORDS or any(word.startswith(t) for t in _KEY_WORDS):
            return match.group(0)
        return next((t for t in _KEY_WORDS if _one_slip(word, t)), match.group(0))

    return _WORD.sub(fix, head) + tail


def _amount(text: str) -> Decimal | None:
    """The first dollar amount in ``text`` ("$120,000", "120k", "1.2m"), or None."""
    match = _MONEY.search(text)
    if match is None:
        return None
    digits, suffix = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
    value = Decimal(digits.replace(",", ""))
    scale = {"k": Decimal(1000), "m": Decimal(1_000_000)}.get((suffix or "").lower(), Decimal(1))
    return value * scale


def _without_money(text: str) -> str:
    """``text`` with its dollar amounts blanked (so "120k" is not read as a house number)."""
    return _MONEY.sub(" ", text)


def _deal_target(text: str) -> str | None:
    """The deal a write names: "deal 1a2b3c4d" (an id or prefix), else an address."""
    found = _DEAL_NAMED.search(text)
    if found:
        return found.group(1)
    # "move the 9000 Mack Ave deal to ...": the word "deal" is not part of the address.
    found_address = extract_address(re.sub(r"\bdeals?\b", " ", _without_money(text), flags=re.I))
    return found_address or _street_deal(text)


def _street_deal(text: str) -> str | None:
    """A deal named by its street without a house number ("the mack ave deal"), or None."""
    street = _STREET_DEAL.search(text)
    if street and street.group(1).split()[0].lower() not in _NOT_STREETS:
        return street.group(1)
    return None


def _status_in(text: str) -> str | None:
    """The pipeline status a message moves a deal to (the words after "to"/"as")."""
    tail = re.split(r"\b(?:to|as|into)\b", text, maxsplit=1, flags=re.I)
    where = tail[1] if len(tail) > 1 else text
    for pattern, status in _STATUS_WORDS:
        if pattern.search(where):
            return status
    return None


def _strategy_in(text: str) -> str | None:
    for pattern, strategy in _STRATEGY_WORDS:
        if pattern.search(text):
            return strategy
    return None


def _components(text: str) -> list[dict[str, Any]]:
    """Components and conditions listed in a rehab request ("roof poor, 12 windows fair")."""
    scope = text.split(":", 1)[1] if ":" in text else text
    items: list[dict[str, Any]] = []
    for chunk in re.split(r"[,;\n]|\band\b", scope, flags=re.I):
        condition = _CONDITION_WORDS.search(chunk)
        if condition is None:
            continue
        word = condition.group(1).lower()
        quantity = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])", chunk)
        name = _CONDITION_WORDS.sub(" ", chunk)
        name = re.sub(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", " ", name)
        name = re.sub(r"\b(?:is|are|in|the|condition|needs?|a|an)\b", " ", name, flags=re.I)
        name = " ".join(name.split()).strip(" .-")
        if not name:
            continue
        item: dict[str, Any] = {
            "component": name.lower(),
            "condition": "poor" if word == "shot" else word,
        }
        if quantity:
            item["quantity"] = quantity.group(1)
        items.append(item)
    return items


# Rehab projects, bids and contractor calls.
_PROJECT_NAMED = re.compile(r"\bproject\s*(?:#|no\.?|id)?\s*[:#]?\s*([0-9a-f-]{6,36})\b", re.I)
_BID_NAMED = re.compile(r"\bbid\s*(?:#|no\.?|id)?\s*[:#]?\s*([0-9a-f-]{6,36})\b", re.I)
_AWARD = re.compile(r"\b(?:award|accept|go with)\b", re.I)
# "award sue's bid on kellogg", "accept the roofing bid from hank ortiz on ridgewood".
_AWARD_WHO = re.compile(
    r"\b(?:award|accept|go with)\s+(?:the\s+)?(?!the\b|this\b|that\b|lowest\b|cheapest\b)"
    r"([a-z][\w.&-]*(?:\s+[a-z][\w.&-]*)?)'s?\s+(?:[a-z]+\s+)?bid\b"
    r"|\b(?:award|accept|go with)\s+(?:the\s+)?(?:[a-z]+\s+)?bid\s+from\s+"
    r"([a-z][\w.&-]*(?:\s+(?!on\b|at\b|for\b)[a-z][\w.&-]*)?)",
    re.I,
)
_REQUEST_BIDS = re.compile(
    r"\b(?:get|request|collect|find|line up)\b[^.?!]{0,40}?\bbids?\b"
    r"|\bcall\b[^.?!]{0,40}?\b(?:contractors?|roofers?|plumbers?|electricians?)\b",
    re.I,
)
_CALLS = re.compile(r"\bcall(?:s|ed)?\b|\bphoned?\b|\bvoicemail\b", re.I)
_BIDS_IN = re.compile(
    r"\bbids?\b[^.?!]{0,30}\b(?:came in|come in|received|got|in so far)\b"
    r"|\bwhat bids\b|\bany bids\b",
    re.I,
)
_BIDS = re.compile(r"\bbids?\b|\bbidd(?:ing|ers?)\b|\bbid level(?:l)?ing\b|\bquotes?\b", re.I)
_PROJECT_WORDS = re.compile(
    r"\b(?:projects?|rehabs?|construction|reno(?:vation)?s?|build|make[\s-]?ready|jobs?|tasks?"
    r"|far along)\b",
    re.I,
)
# Every project at once ("show me all projects", "projects over budget?"): ``list_projects``.
_ALL_PROJECTS = re.compile(
    r"\b(?:projects|rehabs|jobs|renovations|tasks)\b"
    r"|\ball (?:the |our |my )?(?:project|rehab|job)s?\b",
    re.I,
)
_OVER_BUDGET = re.compile(r"\bover(?:[\s-]?budget|spent|[\s-]?running)\b|\bover the budget\b", re.I)
_BEHIND = re.compile(
    r"\b(?:behind|late|delayed|slipp(?:ed|ing)|past due|overdue)\b|\bbehind schedule\b", re.I
)
# A question about every project's money or schedule with no project word: "what is over
# budget?", "how are the budgets?", "anything running behind?".
_PORTFOLIO = re.compile(
    r"\bbudgets\b|\bover[\s-]?budget\b|\bover the budget\b|\bbehind schedule\b"
    r"|\brunning (?:late|behind)\b|^\s*(?:what|anything|which|who)(?:'s| is| are)?\s+"
    r"(?:late|behind)\b",
    re.I,
)
# A project's budget asked about ("budget for the kercheval rehab"), not advice on one.
_BUDGET_WORD = re.compile(r"\bbudget\b(?![^.?!]*\b(?:should|would|need)\b)", re.I)


def _projects_args(text: str) -> dict[str, bool]:
    """The filters of a question about all projects: over budget, behind, closed ones too."""
    args: dict[str, bool] = {}
    if _OVER_BUDGET.search(text):
        args["over_budget"] = True
    if _BEHIND.search(text):
        args["behind_schedule"] = True
    if re.search(r"\b(?:completed|finished|closed|cancell?ed|past)\b", text, re.I) or (
        not args and re.search(r"\b(?:every|all)\b", text, re.I)
    ):
        args["include_closed"] = True
    return args


# What names a project without a house number: "the kercheval rehab", "the mack ave job".
_PROJECT_QUALIFIER = re.compile(
    r"\b([a-z][a-z'-]+)\s+(?:(?:st|street|ave|avenue|rd|road|dr|drive|blvd|ln|lane|ct|way)"
    r"\.?\s+)?(?:projects?|rehabs?|reno(?:vation)?|make[\s-]?ready|jobs?)\b",
    re.I,
)
_NOT_QUALIFIERS = frozenset(
    {
        "the",
        "this",
        "that",
        "my",
        "our",
        "its",
        "their",
        "a",
        "an",
        "on",
        "of",
        "for",
        "is",
        "how",
        "which",
        "what",
        "far",
        "behind",
        "cheapest",
        "lowest",
        "latest",
    }
)
_PROGRESS = re.compile(
    r"\b(?:status|progress|how(?:'s| is| are)|update|behind|on schedule|percent|done"
    r"|late|overdue|spen[dt]|due|finish(?:ed)?|completion|far along|(?:on|over|under) budget)\b",
    re.I,
)
_COUNT_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
}
_TRADES = (
    ("roof", "roofing"),
    ("plumb", "plumbing"),
    ("electric", "electrical"),
    ("hvac", "hvac"),
    ("furnace", "hvac"),
    ("paint", "painting"),
    ("floor", "flooring"),
    ("drywall", "drywall"),
    ("window", "windows"),
    ("concrete", "concrete"),
    ("demo", "demolition"),
    ("landscap", "landscaping"),
    ("carpent", "carpentry"),
    ("general", "general"),
)


def _project_ref(text: str) -> str | None:
    """The project a message names: "project 1a2b3c4d", else an address in it."""
    found = _PROJECT_NAMED.search(text)
    if found:
        return found.group(1)
    return extract_address(_without_money(text))


_COUNTED = re.compile(
    r"\b(\d{1,2})\s+(?:\w+\s+)?(?:bids?|quotes?|contractors?|roofers?|plumbers?|electricians?"
    r"|painters?|people)\b",
    re.I,
)


def _bid_count(text: str) -> int | None:
    found = _COUNTED.search(text)
    if found:
        return int(found.group(1))
    lowered = text.lower()
    for words, count in _COUNT_WORDS.items():
        if re.search(rf"\b{words}\b", lowered):
            return count
    return None


def _trade(text: str) -> str | None:
    lowered = text.lower()
    for stem, trade in _TRADES:
        if stem in lowered:
            return trade
    return None


_MY_BIDS = re.compile(
    r"\bmy (?:bids?|quotes?|prices?)\b|\bdid you (?:get|receive) my (?:bid|quote|price)\b", re.I
)


# "qualify the seller Pat Seller at (313) 555-0142 about 123 Main St, consent: web form 11/20"
# "qualify" alone is no lead call: "does 123 Main St qualify for section 8?" is a question.
_LEAD_CALL = re.compile(
    r"\b(?:qualify|call|phone|ring)\b[^.?!]*\b(?:seller|lead|homeowner)\b", re.I
)
_LEAD_PHONE = re.compile(r"(?<![\w-])(\+?\(?\d[\d ().-]{8,}\d)(?![\w-])")
_LEAD_NAME = re.compile(
    r"\b(?:seller|lead|homeowner|owner)\s+(?:named\s+)?([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)\s+"
    r"(?:at|on)\b"
)
_LEAD_ABOUT = re.compile(
    r"\b(?:about|for|re:?)\s+(.+?)(?=[,;.]?\s*(?:(?:with |who |they )?consent|"
    r"(?:no|without|never|(?:they |who )?(?:did not|didn't|has not|hasn't|have not|haven't)) "
    r"consent|$))",
    re.I,
)
_LEAD_CONSENT = re.compile(
    r"(?<!no )\bconsent(?:ed)?\b\s*(?:was given\s+)?(?:via|by|from|on|through|in|:|-)?\s*"
    r"(.+?)\s*[.!]?\s*$",
    re.I,
)


# "what did the seller say?", "any lead calls scheduled?", "when do we call Kim Seller back?"
_LEAD_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:what|when|who|which|did|does|do|has|have|any|show|list|how|tell|give)\b",
    re.I,
)
_LEAD_WORD = r"\b(?:sellers?|homeowners?|leads?)\b"
_LEAD_ASKED = (
    r"\b(?:call(?:s|ed|ing)?|say|said|answers?|scheduled|qualif\w*|back|hear|heard|told)\b"
)
_LEAD_TOPIC = re.compile(
    _LEAD_WORD + r"[^.?!]*" + _LEAD_ASKED + "|" + _LEAD_ASKED + r"[^.?!]*" + _LEAD_WORD, re.I
)
_LEAD_WHO = re.compile(
    r"\b(?:call|called|calling|did|does|from|with|about|to)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)
_LEAD_STREET = re.compile(r"\b(\d{1,6}\s+[A-Za-z][A-Za-z'-]+)")


def _lead_calls_plan(text: str) -> Plan:
    """Read the lead calls, narrowed to the lead the question names (a name or an address)."""
    args: dict[str, Any] = {}
    if street := _LEAD_STREET.search(text):
        args["lead"] = street.group(1)
    elif (who := _LEAD_WHO.search(text)) and who.group(1).split()[0] not in ("I", "We", "You"):
        args["lead"] = who.group(1)
    return Plan("lead_calls", args)


def _lead_plan(text: str) -> Plan | None:
    """A plan to have a seller lead phoned, or to read the lead calls; None if neither."""
    if re.search(r"\bcontractors?\b|\bbids?\b", text, re.I):
        return None
    phone = _LEAD_PHONE.search(text)
    if phone is None and _LEAD_QUESTION.search(text) and _LEAD_TOPIC.search(text):
        return _lead_calls_plan(text)
    if not _LEAD_CALL.search(text):
        return None
    about = _LEAD_ABOUT.search(_LEAD_PHONE.sub(" ", text))
    address = extract_address(about.group(1)) if about else None
    if phone is None or address is None:
        return Plan(
            reply="Say the lead's phone number and the property, e.g. 'qualify the seller at "
            "(313) 555-0142 about 123 Main St, Detroit, consent: web form 11/20'.",
            needs="qualify_lead",
        )
    args: dict[str, Any] = {"phone": phone.group(1).strip(), "address": address}
    if name := _LEAD_NAME.search(text):
        args["name"] = name.group(1)
    if (consent := _LEAD_CONSENT.search(text)) and consent.group(1).strip():
        args["consent_source"] = consent.group(1).strip()
    return Plan("qualify_lead", args)


def _project_from_history(text: str, conversation: Conversation | None) -> str | None:
    """The project of the thread's latest project answer, for a follow-up that names none.

    Not when the message names another one ("the mack ave job" after the Kercheval rehab):
    a word that qualifies the project must be in that project's name or address.
    """
    if conversation is None:
        return None
    found = conversation.last_project()
    if found is None:
        return None
    project_id, label = found
    named = {
        m.group(1).lower()
        for m in _PROJECT_QUALIFIER.finditer(text)
        if m.group(1).lower() not in _NOT_QUALIFIERS
    }
    # "how is the rehab on ridgewood going", "any calls to contractors on ridgewood?"
    for street in (_project_on_street(text), _bids_on_street(text)):
        if street:
            named.add(street.split()[0])
    if named and not any(re.search(rf"\b{re.escape(w)}\b", label, re.I) for w in named):
        return None
    return project_id


# Words before "rehab"/"project"/"job" that name what is done, not a street.
_NOT_STREET_WORDS = frozenset(
    {"kitchen", "bath", "bathroom", "roof", "roofing", "gut", "full", "big", "small", "latest",
     "last", "first", "current", "next", "new", "old", "flip", "rental", "other", "whole",
     "basement", "interior", "exterior", "cosmetic", "light", "heavy", "open", "active", "every",
     "all", "each", "any", "which", "plumbing", "electrical", "hvac", "paint", "painting"}
)  # fmt: skip


def _street_project(text: str) -> str | None:
    """The street a project is named by, without a house number, or None.

    "the kercheval rehab", "the mack ave job" → "kercheval", "mack".
    """
    return _first_street(_PROJECT_QUALIFIER, text, _NOT_STREET_WORDS)


def _first_street(pattern: re.Pattern[str], text: str, not_streets: frozenset[str]) -> str | None:
    """The first word ``pattern`` captures that names a street (not a qualifier), or None."""
    for found in pattern.finditer(text):
        word = found.group(1).lower()
        if word not in _NOT_QUALIFIERS and word not in not_streets:
            return word
    return None


# "the rehab on ridgewood", "the job at kercheval": a project named by its street after it.
_PROJECT_ON_STREET = re.compile(
    r"\b(?:projects?|rehabs?|reno(?:vation)?s?|jobs?)\s+(?:on|at)\s+(?:the\s+)?([a-z][a-z'-]+)\b",
    re.I,
)
# Words after "the rehab on ..." that say how it goes, not where it is.
_NOT_STREETS_AFTER = frozenset(
    {"it", "schedule", "budget", "track", "time", "hold", "target", "pace", "site", "there",
     "here", "this", "that", "which", "what", "going", "now", "today", "my", "our", "your"}
)  # fmt: skip


def _project_on_street(text: str) -> str | None:
    """The street a project is named by after the word: "the rehab on ridgewood" → "ridgewood"."""
    return _first_street(_PROJECT_ON_STREET, text, _NOT_STREETS_AFTER)


# What a project tool gets when no project was named ("what bids came in?"): the caller's one
# open project (``tools.construction.resolve_project``), else the tool names the open ones.
ONLY_OPEN_PROJECT = "the open project"
# The team's inbox: "what needs my attention?", "any action items?", "what did the
# contractors say on the ridgewood rehab?"; "done with the first one" after such a list.
_ACTION_ITEMS = re.compile(
    r"\baction[\s-]?items?\b|\binbox\b|\bto-?dos\b|\bto[\s-]?do list\b|\bmy to-?dos?\b"
    r"|\b(?:needs?|requires?|waiting (?:on|for))\s+(?:my|our|the team's|your)?\s*attention\b"
    r"|\bwhat (?:do|should) (?:i|we) (?:need to )?(?:act on|follow up on|deal with)\b"
    r"|\b(?:what|anything)\b[^.?!]{0,30}\bcontractors?\b[^.?!]{0,20}"
    r"\b(?:say|said|tell|told|ask|asked|text(?:ed)?|want(?:ed)?)\b",
    re.I,
)
_ITEM_DONE = re.compile(
    r"\b(?:done with|finished with|handled|dealt with|took care of|close|dismiss(?:ed)?|mark)\b"
    r"[^.?!]{0,30}?\b(?:the\s+)?(first|second|third|fourth|fifth|last|\d{1,2}(?:st|nd|rd|th)?)"
    r"(?:\s+(?:one|item|action item))?\b",
    re.I,
)
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_ACTION_ITEM_ID = re.compile(r"\b(?:action\s+)?item\s*#?\s*([0-9a-f]{8}[0-9a-f-]{0,28})\b", re.I)
_THIS_PROJECT = re.compile(r"\b(?:this|that|the same) (?:project|rehab|job)\b|\bon it\b", re.I)


def _last_action_items(conversation: Conversation) -> list[dict[str, Any]]:
    """The items of the thread's latest ``action_items`` answer (numbered as it showed them)."""
    for message in reversed(conversation.history):
        if isinstance(message, ToolMessage) and message.name == "action_items":
            result = tool_result(message)
            if "error" not in result:
                return [i for i in result.get("items") or [] if isinstance(i, dict)]
    return []


def _action_items_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to read the team's open action items, or to close one; None if not asked."""
    dismiss = bool(re.search(r"\bdismiss", text, re.I))
    closing = {"status": "dismissed"} if dismiss else {}
    named = _ACTION_ITEM_ID.search(text)
    if named and re.search(r"\b(?:done|close|dismiss|resolved?|handled)\b", text, re.I):
        return Plan("action_items", {"resolve": named.group(1), **closing})
    done = _ITEM_DONE.search(text)
    listed = _last_action_items(conversation) if done else []
    if done and listed:
        word = done.group(1).lower()
        number = len(listed) if word == "last" else _ORDINAL_WORDS.get(word)
        if number is None:
            number = int(re.sub(r"\D", "", word))
        hit = next((i for i in listed if i.get("number") == number), None)
        if hit is None:
            return Plan(reply=f"The list had {len(listed)} items; say which one.")
        return Plan("action_items", {"resolve": str(hit["id"]), **closing})
    if not _ACTION_ITEMS.search(text):
        return None
    ref = _project_ref(text) or _street_project(text) or _project_on_street(text)
    if ref is None and not _THIS_PROJECT.search(text):
        ref = _bare_street(text)  # "action items for ridgewood"
    if ref is None and _THIS_PROJECT.search(text):
        last = conversation.last_project()
        ref = last[0] if last else None
    return Plan("action_items", {"project": ref} if ref else {})


# "what bids came in on lincoln way?": a street named with no house number at the end.
_BIDS_ON_STREET = re.compile(
    r"\b(?:on|at|for)\s+(?:the\s+)?([a-z][a-z'-]{2,}(?:\s+" + _STREET_TYPE + r"\b)?)\.?"
    r"(?:\s+(?:rehab|project|job|house))?\s*[?.!]*\s*$",
    re.I,
)


def _bids_on_street(text: str) -> str | None:
    """The street a bids question ends on with no house number ("bids on lincoln way")."""
    found = _BIDS_ON_STREET.search(text)
    if found is None:
        return None
    street = found.group(1).lower()
    return None if _not_a_street(street.split()[0]) else street


def _not_a_street(word: str) -> bool:
    """Whether a word where a bare street could stand is something else ("it", "plumbing")."""
    return word in _NOT_BARE_STREETS or word in _NOT_STREETS or word in _NOT_STREETS_AFTER


# The team accepting an awarded contractor's new start: "ray says he cant start till the
# 10th on kellogg, can you update it", "move ray's start on kellogg to Dec 10", "push hank to
# monday on kercheval", "ray starts on the 14th now".
_RESCHEDULE = re.compile(
    r"^\s*(?:(?P<a>[a-z][a-z'-]+)\s+(?:says|said|texted|called|told\s+(?:me|us))\s+(?:that\s+)?"
    r"(?:he|she|they)\s*(?:'s|is|are)?\s*(?:(?:can'?t|cannot|won'?t|can\s+not|will\s+not"
    r"|not\s+able\s+to)\s+(?:start|make\s+it)\b|can\s+(?:now\s+)?start\b[^.?!]*\binstead\b)"
    r"|(?P<e>[a-z][a-z'-]+)\s+(?:can'?t|cannot|won'?t)\s+(?:start|make\s+it)\s+(?:till|until|before)\b"
    r"|(?:move|push|change|update|set)\s+(?P<b>[a-z][a-z'-]+?)(?:'s)?\s+start(?:\s+date)?\s+"
    r"(?:(?:on|at|for)\s+[a-z0-9][\w .'-]*?\s+)?(?:to|till|until|back\s+to)\b"
    r"|push\s+(?P<d>[a-z][a-z'-]+?)\s+(?:back\s+)?(?:to|till|until)\b"
    r"|(?P<c>[a-z][a-z'-]+)\s+(?:now\s+)?starts\s+(?:on\s+)?[^.?!]*?\bnow\b)",
    re.I,
)
_NOT_A_CONTRACTOR = frozenset(
    {"he", "she", "they", "it", "the", "project", "deal", "task", "roof", "job", "rehab", "we",
     "i", "start", "date"}
)  # fmt: skip


def _reschedule_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to accept an awarded contractor's new start; None when not asked."""
    found = _RESCHEDULE.search(text)
    if found is None:
        return None
    said = next((found.group(g) for g in "abcde" if found.group(g)), "")
    who = said.lower().removesuffix("'s")
    if not who or who in _NOT_A_CONTRACTOR or _status_in(who) is not None:
        return None
    day = extraction.parse_start_date(extraction.normalise(text), after=local_today())
    if day is None:
        return Plan(
            reply=f"From which day? Say e.g. 'move {who}'s start on kellogg to Dec 10'.",
            needs="reschedule_contractor",
        )
    # The project is named after the contractor ("ray says he cant start till the 10th on
    # kellogg", "sue says she can start on the 9th at duff instead").
    named = "a" if found.group("a") else "e" if found.group("e") else None
    rest = text[found.end(named) :] if named else text
    project = (
        _project_ref(rest)
        or _street_project(rest)
        or _project_on_street(rest)
        or _first_street(_ON_STREET_WORD, rest, _NOT_STREETS_AFTER)
        or _project_from_history(text, conversation)
        or ONLY_OPEN_PROJECT
    )
    return Plan(
        "reschedule_contractor",
        {
            "project": project,
            "contractor": who,
            "start_date": day.isoformat(),
            "reason": text[:500],
        },
    )


# "on kellogg", "at duff": a bare street after on/at (the reschedule's project).
_ON_STREET_WORD = re.compile(r"\b(?:on|at|for)\s+(?:the\s+)?([a-z][a-z'-]{2,})\b", re.I)


# "what's left on the roof line?", "how much is left in the hvac budget on kellogg": one scope
# line of a rehab project (the one named, else the one just discussed).
_SCOPE_LINE_LEFT = re.compile(
    r"^\s*(?:so\s+|and\s+|ok\s+)?(?:what'?s|whats|what is|how much(?:'s| is| do we have)?"
    r"|anything)\s+(?:still\s+)?(?:left|remaining)\s+(?:on|in|for)\s+(?:the\s+)?"
    r"(?P<line>[a-z][a-z &/-]{1,40}?)\s+(?:line|budget)"
    r"(?:\s+(?:on|for|at|of)\s+(?P<where>.+?))?\s*[?.!]*\s*$",
    re.I,
)


def _scope_line_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan for one scope line's budget left; None when not asked."""
    found = _SCOPE_LINE_LEFT.match(text)
    if found is None:
        return None
    where = found.group("where")
    project = None
    if where:
        project = (
            _project_ref(where)
            or _street_project(where)
            or _project_on_street(f"the rehab on {where}")
            or (None if _not_a_street(where.lower().split()[-1]) else where.lower().split()[-1])
        )
    if project is None:
        last = conversation.last_project()
        project = last[0] if last is not None else ONLY_OPEN_PROJECT
    return Plan("project_status", {"project": project, "line": found.group("line").strip()})


def _construction_plan(text: str, conversation: Conversation | None = None) -> Plan | None:
    """A plan for projects, bids and contractor calls; None if the message is about neither."""
    if _MY_BIDS.search(text):
        return Plan("my_bids", {})
    bid_named = _BID_NAMED.search(text)
    if bid_named and _AWARD.search(text):
        ref = _project_ref(_BID_NAMED.sub(" ", text))
        if ref is None:  # "award bid <id> on the ridgewood rehab": the project on that street
            ref = _street_project(text) or _project_on_street(text) or _bids_on_street(text)
        if ref is None:  # "award bid <id>" right after the bids were leveled in this thread
            ref = _project_from_history(_BID_NAMED.sub(" ", text), conversation)
        if ref is None:
            return Plan(
                reply="Which project? Say 'award bid <id> on project' and its id or address.",
                needs="award_bid",
            )
        return Plan("award_bid", {"project": ref, "bid_id": bid_named.group(1)})
    if award_who := _AWARD_WHO.search(text):
        name = (award_who.group(1) or award_who.group(2)).strip()
        rest = text[: award_who.start()] + " " + text[award_who.end() :]
        ref = (
            _project_ref(rest)
            or _street_project(rest)
            or _project_on_street(rest)
            or _bids_on_street(rest)
            or _project_from_history(rest, conversation)
        )
        if ref is None:
            return Plan(
                reply=f"Which project? Say 'award {name}'s bid on' and the street.",
                needs="award_bid",
            )
        return Plan("award_bid", {"project": ref, "contractor": name})
    if _REQUEST_BIDS.search(text):
        ref = _project_ref(_COUNTED.sub(" ", text))
        if ref is None:  # "get two plumbing bids for ridgewood": the project on that street
            ref = _street_project(text) or _project_on_street(text) or _bids_on_street(text)
        trade = _trade(text)
        if ref is None or trade is None:
            return Plan(
                reply="Say the trade and the project, e.g. 'get three roofing bids for' and the "
                "property's address.",
                needs="request_bids",
            )
        args: dict[str, Any] = {"project": ref, "trade": trade}
        count = _bid_count(text)
        if count is not None:
            args["count"] = count
        return Plan("request_bids", args)
    about_calls = _CALLS.search(text) and re.search(
        r"\b(?:contractors?|project|roofers?|plumbers?|electricians?|painters?|subs)\b", text, re.I
    )
    about_bids = _BIDS.search(text)
    about_project = _PROJECT_WORDS.search(text)
    if not (about_calls or about_bids or about_project):
        latest = conversation.latest_subject() if conversation is not None else None
        if latest and latest[0] == "project" and _IT.search(text) and _PROGRESS.search(text):
            return Plan("project_status", {"project": latest[1]})  # "when is it due to finish?"
        if (
            _OVER_BUDGET.search(text)
            and re.search(r"\bdeals\b", text, re.I)
            and not (_IT.search(text) or _DEAL_PRONOUN.search(text) or _deal_reference(text))
        ):
            return Plan("budget_status", {})  # "which deals are over budget?": deal budgets
        if _PORTFOLIO.search(text) and not (
            _IT.search(text) or _DEAL_PRONOUN.search(text) or _deal_reference(text)
        ):
            # "what is over budget?", "how are the budgets?", "anything running behind?":
            # every project with those filters, not "Which deal?".
            return Plan("list_projects", _projects_args(text))
        return None
    if (
        about_project
        and not (about_calls or about_bids)
        and _ALL_PROJECTS.search(text)
        and _project_ref(text) is None
    ):
        return Plan("list_projects", _projects_args(text))
    if not (about_calls or about_bids) and not (
        _PROJECT_NAMED.search(text)
        or (_BUDGET_WORD.search(text) and _rehab_given(text) is None)  # "budget for the X rehab"
        or (
            _PROGRESS.search(text)
            and not re.search(r"\b(?:estimate|cost|price|scope)\b", text, re.I)
        )
    ):
        return None  # "rehab estimate for ...", "renovation costs": not a project question
    ref = _project_ref(text)
    if ref is None:
        ref = _project_from_history(text, conversation)
    if ref is None:
        ref = _street_project(text)  # "how is the kercheval rehab going?"
    if ref is None:
        ref = _project_on_street(text)  # "how is the rehab on ridgewood going?"
    if ref is None and (about_bids or about_calls):
        ref = _bids_on_street(text)  # "what bids came in on lincoln way?", "calls on ridgewood?"
    if ref is None and re.search(r"\bproject\s*#?\s*\d", text, re.I):
        # "status of project 14": a project named by something that is not its id or address.
        return Plan(reply="Which project? Give its id ('project 1a2b3c4d') or its address.")
    if ref is None:
        # "what bids came in?", "how is the rehab going?": the one open project, else the tool
        # names the open ones to choose from.
        ref = ONLY_OPEN_PROJECT
    if about_calls:
        return Plan("call_status", {"project": ref})
    if about_bids:
        if _BIDS_IN.search(text):
            return Plan("bids_received", {"project": ref})
        return Plan("list_bids", {"project": ref})
    if _PROGRESS.search(text) or _PROJECT_NAMED.search(text) or _BUDGET_WORD.search(text):
        return Plan("project_status", {"project": ref})
    return None


# The market monitor: opportunities, alerts and trends.
_ALERT_SET = re.compile(
    r"\balerts?\b|\bnotify me\b|\blet me know\b|\btext me (?:when|about|if)\b", re.I
)
# Reading one's alerts, not setting them: "what alerts did I get?", "show my alert settings".
_ALERTS_READ = re.compile(
    r"\b(?:show|list|see|view|check|which|what|any|did i|have i|why)\b[^.?!]*\balerts?\b"
    r"|\b(?:my|your) alerts?(?: settings| criteria)?\s*[?.!]*\s*$"
    r"|\balerts?\b[^.?!]*\b(?:did i|have i|i got|i get|settings|criteria)\b",
    re.I,
)
# "I got an alert about ...", "we received your alert": about an alert sent, never a setting.
_ALERT_RECEIVED = re.compile(
    r"\b(?:i|we)\s+(?:just\s+)?(?:got|get|received|saw|have)\s+(?:an?|the|this|that|your|one)?"
    r"\s*(?:new\s+)?alerts?\b",
    re.I,
)
_ALERTS_OFF = re.compile(
    r"\b(?:stop|turn off|switch off|disable|pause|no more|cancel|unsubscribe|mute|silence)\b"
    r"|\b(?:turn|switch|mark|set|put|shut)\s+(?:\w+\s+){0,2}?off\b|\balerts?\s+off\b"
    r"|\b(?:don'?t|do not)\s+(?:want|need|send)\b",
    re.I,
)
# "turn my alerts back on", "resume alerts": the criteria saved before, switched on again.
_ALERTS_ON = re.compile(
    r"\b(?:resume|re-?enable|restart|unpause|turn\s+(?:\w+\s+){0,2}?(?:back\s+)?on|back\s+on)\b",
    re.I,
)
_TRENDS = re.compile(
    r"\btrends?\b|\bmedian (?:sale )?price\b|\bhow(?:'s| is) the market\b"
    r"|\bmarket (?:stats|statistics)\b|\bmarket (?:like|doing|looking)\b"
    r"|\bhow(?:'s| is) the [a-z]+ market\b",
    re.I,
)
_ZIP = re.compile(r"\b(\d{5})\b")
_UNDER = re.compile(
    r"\b(?:under|below|less than|up to|max(?:imum)?|at most)\s+(\$?\s*[\d,.]+\s*[km]?)", re.I
)
_OVER = re.compile(
    r"\b(?:over|above|more than|at least|min(?:imum)?|from)\s+(\$?\s*[\d,.]+\s*[km]?)", re.I
)
_SCORE = re.compile(
    r"\b(?:scor(?:e|es|ing)\s*(?:of\s+)?(?:at least|above|over|>=?|of|min(?:imum)?)?"
    r"|min(?:imum)?\s+score\s*(?:of\s+)?)\s*(\d{1,3})\b",
    re.I,
)
# "ROI over 20%", "at least 15% return": the lowest return (flip ROI or cash-on-cash).
_ROI = re.compile(
    r"\b(?:roi|return|cash[\s-]on[\s-]cash|coc)\s*(?:of\s+)?(?:over|above|at least|>=?|of)?\s*"
    r"(-?\d{1,3}(?:\.\d)?)\s*%"
    r"|\b(?:at least|over|above)\s+(-?\d{1,3}(?:\.\d)?)\s*%\s*(?:roi|return|cash[\s-]on[\s-]cash)",
    re.I,
)
# "between 80k and 120k": both ends of the price range.
_BETWEEN = re.compile(
    r"\bbetween\s+(\$?\s*[\d,.]+\s*[km]?)\s*(?:and|to|-)\s*(\$?\s*[\d,.]+\s*[km]?)", re.I
)
_CLOCK = r"(\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?)"
_QUIET = re.compile(
    r"\b(?:quiet hours?|don'?t (?:text|message|alert|bother|ping) me|no (?:texts|alerts|messages)"
    r"|not)\s*(?:is\s+|are\s+|:\s*)?(?:from|between)?\s*"
    + _CLOCK
    + r"\s*(?:-|to|and|until|till)\s*"
    + _CLOCK,
    re.I,
)
# "Pacific time", "I'm on central time", "America/Los_Angeles": the user's time zone.
_US_ZONES = {
    "eastern": "America/New_York",
    "central": "America/Chicago",
    "mountain": "America/Denver",
    "pacific": "America/Los_Angeles",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
}
_ZONE_SAID = re.compile(
    r"\b(eastern|central|mountain|pacific|alaska|hawaii)(?:\s+(?:standard\s+|daylight\s+)?time"
    r"|\s+tz|\s+zone)\b|\b((?:America|Pacific)/[A-Za-z_]+)\b"
    # "10pm to 7am central", "7am PT"
    r"|(?<=[ap]m\s)(eastern|central|mountain|pacific)\b|\b(?-i:([PCME])[SD]?T)\b",
    re.I,
)
_ZONE_LETTERS = {"P": "pacific", "C": "central", "M": "mountain", "E": "eastern"}


def _zone_named(zone: re.Match[str]) -> str:
    """The IANA zone a _ZONE_SAID match names."""
    if zone.group(2):
        return zone.group(2)
    word = zone.group(1) or zone.group(3) or _ZONE_LETTERS[zone.group(4)]
    return _US_ZONES[word.lower()]


# "alert me to flips in 50014, no quiet hours": saved with none.
_NO_QUIET = re.compile(r"\bno\s+quiet\s+hours?\b|\b(?:at\s+)?any\s*time\b", re.I)
# "alerts in Ames", "in Des Moines": a city named with capitals (ZIPs are read apart).
_ALERT_CITY = re.compile(r"\bin\s+((?-i:[A-Z][a-z]+)(?:\s+(?-i:[A-Z][a-z]+))?)\b")
_MONTHS = re.compile(r"\b(\d{1,3})\s*months?\b|\b(\d{1,2})\s*years?\b", re.I)
_AREA_WORDS = re.compile(
    r"\b(?:in|for|around|of)\s+([A-Z][A-Za-z .'-]{1,40}?)(?:[?.!,]|\s+over|\s+for|\s+from|$)"
)


def _clock(text: str) -> str:
    """A clock time as HH:MM: 9pm is 21:00, 7:30 am is 07:30, 21 is 21:00."""
    match = re.match(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text.strip(), re.I)
    if match is None:
        return text.strip()
    hour, minute, half = (
        int(match.group(1)),
        int(match.group(2) or 0),
        (match.group(3) or "").lower(),
    )
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}"


def _strategies_in(text: str) -> list[str]:
    found = []
    for pattern, strategy in _STRATEGY_WORDS:
        if pattern.search(text) and strategy in {"flip", "rental", "brrrr", "wholesale"}:
            found.append(strategy)
    return found


def _full_street_address(text: str) -> bool:
    """Whether ``text`` names a full street address, not a ZIP followed by words.

    "2718 Duff Ave" has its street type (or a city or ZIP); "50014 under $150k" has none.
    """
    found = extract_address(text)
    if found is None:
        return False
    parsed = parse_address(found)
    return bool(parsed.street_suffix or parsed.city or parsed.zip_code)


# "why is it scored 79?", "why is 2213 Duff Ave scored so high", "score breakdown for 79":
# one opportunity's score, part by part.
_WHY_SCORE = re.compile(
    r"\bwhy\b[^?]{0,80}?\b(?:scored?|rated|rank(?:ed)?)\b|\bscore\s+breakdown\b"
    r"|\b(?:what(?:'s| is)?|whats)\s+(?:behind|in)\s+(?:the|its|that)\s+score\b"
    r"|\bbreak\s+down\s+(?:the|its|that)\s+score\b",
    re.I,
)
_SCORE_SAID = re.compile(
    r"\b(?:scored?|rated|of|at|a|an|for)\s+(\d{1,3}(?:\.\d{1,2})?)\b|\b(\d{1,3}(?:\.\d{1,2})?)\s*(?:points|/\s*100)\b",
    re.I,
)


def _why_score_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to explain one opportunity's score; None when not asked."""
    if not _WHY_SCORE.search(text):
        return None
    args: dict[str, Any] = {}
    listed: list[dict[str, Any]] = []
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if isinstance(message, ToolMessage) and message.name == "latest_opportunities":
            result = tool_result(message)
            if "error" not in result:
                listed = list(result.get("opportunities") or [])
                call = calls.get(str(message.tool_call_id), {})
                args = {k: v for k, v in dict(call.get("args", {})).items() if k != "explain"}
            break
    said = _SCORE_SAID.search(text)
    address = extract_address(re.split(r"\s+(?:scored?|rated|ranked|so)\b", text, flags=re.I)[0])
    if said is not None:
        args["explain"] = said.group(1) or said.group(2)
    elif address is not None:
        args["explain"] = address
    elif len(listed) == 1:
        args["explain"] = str(listed[0]["address"])  # "why is it scored so high?": the one
    else:
        return Plan(
            reply="Which opportunity? Say its score or its address, e.g. 'why is it scored "
            "79?' or 'why is 2213 Duff Ave scored 79?'.",
            needs="latest_opportunities",
        )
    return Plan("latest_opportunities", args)


# "no quiet hours", "remove my quiet hours", "text me any time": alerts at any hour.
_QUIET_OFF = re.compile(
    r"^\s*(?:please\s+)?(?:(?:remove|delete|clear|drop|cancel|turn\s+off|get\s+rid\s+of|no(?:\s+more)?)"
    r"\s+(?:my\s+|the\s+|all\s+)?quiet\s+hours?(?:\s+on\s+my\s+alerts)?"
    r"|(?:you\s+can\s+)?(?:text|message|alert)\s+me\s+(?:at\s+)?any\s*time)\s*[.!]*\s*$",
    re.I,
)


_QUIET_ONLY = re.compile(
    r"^\s*(?:please\s+)?(?:(?:set|add|change|make|update)\s+)?(?:my\s+|the\s+)?quiet\s+hours?"
    r"\s*(?:to|:|are|is)?\s*(?:from|between)?\s*"
    + _CLOCK
    + r"\s*(?:-|to|and|until|till)\s*"
    + _CLOCK
    + r"\s*[.!]*\s*$",
    re.I,
)


def _market_plan(text: str) -> Plan | None:
    """A plan for opportunities, alert settings or market trends; None if none is asked."""
    if _QUIET_OFF.search(text):
        return Plan("configure_alerts", {"quiet_hours_off": True})
    if (only := _QUIET_ONLY.match(text)) is not None:
        # "quiet hours 10pm to 6am" alone: the saved alerts' quiet hours (the tool keeps the rest).
        start, end = _clock(only.group(1)), _clock(only.group(2))
        if start and end:
            return Plan("configure_alerts", {"quiet_hours_start": start, "quiet_hours_end": end})
    if _ALERT_SET.search(text) and not _full_street_address(
        _QUIET.sub(" ", _ZONE_SAID.sub(" ", text))
    ):
        # A street address makes it a question about that house ("I got an alert about 2718
        # Duff Ave, Ames, IA 50010 - what's it worth?"): its ZIP is not an alert setting.
        if _ALERT_RECEIVED.search(text):
            return Plan("my_alerts", {})
        names_criteria = (
            _ZIP.search(text)
            or _UNDER.search(text)
            or _OVER.search(text)
            or _QUIET.search(text)
            or _SCORE.search(text)
            or _ROI.search(text)
            or _BETWEEN.search(text)
            or _strategies_in(text)
        )
        if _ALERTS_ON.search(text) and not _ALERTS_OFF.search(text) and not names_criteria:
            return Plan("configure_alerts", {"active": True})
        if _ALERTS_OFF.search(text):
            return Plan("configure_alerts", {"active": False})
        asks_to_set = names_criteria or re.search(
            r"\b(?:alert|notify|text) me\b|\blet me know\b|\bset\b", text, re.I
        )
        if _ALERTS_READ.search(text) and not asks_to_set:
            return Plan("my_alerts", {})
        args: dict[str, Any] = {}
        rest = text
        # Quiet hours first, so "from 10pm to 6am" is never read as a price from 10.
        if quiet := _QUIET.search(rest):
            args["quiet_hours_start"] = _clock(quiet.group(1))
            args["quiet_hours_end"] = _clock(quiet.group(2))
            rest = rest[: quiet.start()] + " " + rest[quiet.end() :]
        if zone := _ZONE_SAID.search(text):  # before quiet hours are cut: "7am central"
            args["timezone"] = _zone_named(zone)
            rest = rest.replace(zone.group(0), " ", 1)
        if "quiet_hours_start" not in args and (no_quiet := _NO_QUIET.search(rest)):
            args["quiet_hours_off"] = True
            rest = rest[: no_quiet.start()] + " " + rest[no_quiet.end() :]
        if roi := _ROI.search(rest):
            args["min_roi_pct"] = roi.group(1) or roi.group(2)
            rest = rest[: roi.start()] + " " + rest[roi.end() :]
        if score := _SCORE.search(rest):
            args["min_score"] = score.group(1)
            rest = rest[: score.start()] + " " + rest[score.end() :]
        zips = _ZIP.findall(rest)
        if zips:
            args["zip_codes"] = zips
        without_zips = _ZIP.sub(" ", rest)
        if city := _ALERT_CITY.search(without_zips):
            if city.group(1).lower() not in {"quiet", "the", "my"}:
                args["cities"] = [city.group(1)]
        if between := _BETWEEN.search(without_zips):
            low, high = _amount(between.group(1) + " "), _amount(between.group(2) + " ")
            if low is not None and high is not None:
                args["min_price"], args["max_price"] = str(low), str(high)
            without_zips = without_zips[: between.start()] + " " + without_zips[between.end() :]
        if (under := _UNDER.search(without_zips)) and (amount := _amount(under.group(1) + " ")):
            args["max_price"] = str(amount)
        if (over := _OVER.search(without_zips)) and (amount := _amount(over.group(1) + " ")):
            args["min_price"] = str(amount)
        strategies = _strategies_in(text)
        if strategies:
            args["strategies"] = strategies
        if not args and not re.search(r"\b(?:all|every|any|everything)\b", text, re.I):
            # Saving no criteria would replace the user's with "every opportunity": only when
            # that is what they asked ("alert me to all new deals").
            return Plan(
                reply="What should I alert you to? Say e.g. 'alert me to flips in 48215 under "
                "$100k', 'stop my alerts' or 'show my alerts'."
            )
        return Plan("configure_alerts", args)
    if _TRENDS.search(text):
        zip_code = _ZIP.search(text)
        area = zip_code.group(1) if zip_code else None
        if area is None and (named := _AREA_WORDS.search(text)):
            area = named.group(1).strip()
        if area is None and (city := re.search(r"\bthe ([a-z]+) market\b", text, re.I)):
            area = city.group(1).title()  # "how's the detroit market?"
        if area is None:
            return Plan(reply="Which area? Say 'market trends for' and a ZIP code or city.")
        args = {"area": area}
        if re.search(r"\blistings?\b|\binventory\b", text, re.I):
            args["source"] = "listings"
        elif re.search(r"\btexas\b|\btx\b|\btxhousing\b", text, re.I):
            args["source"] = "txhousing"
        if months := _MONTHS.search(text):
            args["months"] = int(months.group(1)) if months.group(1) else 12 * int(months.group(2))
        return Plan("market_trends", args)
    # With a street address the word "alert" is about that house, not the monitor.
    if _MARKET.search(re.sub(r"\balerts?\b", " ", text) if _full_street_address(text) else text):
        args = {}
        strategies = _strategies_in(text)
        if strategies:
            args["strategy"] = strategies[0]
        if zip_code := _ZIP.search(text):
            args["zip_code"] = zip_code.group(1)
        # "any flips in 48214 under 80k?": a list-price bound (the ZIP is not a price).
        without_zips = _ZIP.sub(" ", text)
        if (under := _UNDER.search(without_zips)) and (amount := _amount(under.group(1) + " ")):
            args["max_price"] = str(amount)
        if (over := _OVER.search(without_zips)) and (amount := _amount(over.group(1) + " ")):
            args["min_price"] = str(amount)
        return Plan("latest_opportunities", args)
    return None


# Numbers that are part of what is asked, not a house number ("Section 8 rent for ...").
# Nor is a duration ("the 5 year projection", "after 10 years", "in 6 months").
_NOT_HOUSE_NUMBERS = re.compile(
    r"\bsection\s*-?\s*8\b|\bcomps?\s*#?\d+"
    r"|\b\d{1,3}[\s-]*(?:years?|yrs?|months?|mos|weeks?|days?)\b(?!\s+(?:rd|road|st|street|ave)\b)",
    re.I,
)
# A size is not a house number, nor part of the address it follows ("1234 Main St, 1100 sqft").
_SQFT_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d{3,6})"
_SQFT_UNIT = r"\s*(?:sq\.?\s*f(?:ee)?t\.?|sqft|sf|square\s+f(?:ee|oo)?t)(?![a-z])"
_SIZE_PHRASE = re.compile(r"[,;–-]?\s*(?:about\s+|around\s+|~)?\d[\d,]*" + _SQFT_UNIT, re.I)


# What follows an address in a request and is not part of it ("... as a lead", "... on file?").
_TRAILING_CLAUSE = re.compile(
    r"\s+(?:please|pls|thanks|thank you|as\s+an?|on\s+file|at\s+\$|for\s+\$|going|doing"
    r"|coming\s+along|looking|if|assuming|given|when|with|worth|what\s+if|at(?=\s+\d)"
    r"|(?:does|would|is)\s+it|purchase\s+price|buying|over\s+budget|behind\s+schedule"
    r"|budget(?=\s*$)|made|earned|needs?|is"
    r"|and\s+(?:what|how|is|as)|(?:and\s+)?(?:what|how)\s+about)\b",
    re.I,
)
_DANGLING_WORD = re.compile(r"(?:\s+(?:at|for|of|on|with|to|as))+\s*$", re.I)


# The investor's own rehab budget: "if rehab is 40k", "with a $40,000 rehab", "repairs of 35k".
_REHAB_GIVEN = re.compile(
    r"\b(?:rehab|repairs?|renovation|reno)\s*(?:budget\s*)?(?:is|of|at|=|:|costs?|would be|"
    r"comes to|runs|will be)?\s*(?:about|around|roughly|~)?\s*"
    r"(\$\s*\d[\d,]*(?:\.\d+)?\s*[km]?|\d[\d,]*(?:\.\d+)?\s*[km]\b|\d{1,3}(?:,\d{3})+)"
    r"|(\$\s*\d[\d,]*(?:\.\d+)?\s*[km]?|\d[\d,]*(?:\.\d+)?\s*[km]\b)\s+"
    r"(?:of\s+)?(?:rehab|repairs?|renovation|reno)\b"
    # "rehab budget for 1215 Kellogg Ave is 40k": the house between, the amount after.
    r"|\b(?:rehab|repairs?)\s+budget\b[^.?!]{0,80}?\b(?:is|=|at|of)\s*(?:about|around|~)?\s*"
    r"(\$\s*\d[\d,]*(?:\.\d+)?\s*[km]?|\d[\d,]*(?:\.\d+)?\s*[km]\b|\d{1,3}(?:,\d{3})+)",
    re.I,
)
# The investor's own figures an analysis ran with, carried into the PDF asked for next.
_WHAT_IF_ARGS = ("rehab_cost", "square_feet", "purchase_price")
# "what if I pay 150k?", "does it work at 80k?", "and at 75k?": the price to analyse at.
_PRICE_GIVEN = re.compile(
    r"(?:\b(?:if|when)\s+(?:i|we)\s+(?:pay|paid|offer|offered|buy(?:\s+it)?|bought(?:\s+it)?|got\s+it|"
    r"get\s+it|pick\s+it\s+up|purchase(?:\s+it)?)(?:\s+(?:at|for))?"
    r"|\b(?:purchase|buy(?:ing)?)\s+price\s*(?:is|of|at|=|:)?"
    r"|\b(?:what|how)\s+about\s+at|^\s*(?:and\s+|but\s+)?at"
    r"|\b(?:work|works|work\s+out|a\s+deal|pencils?(?:\s+out)?)\s+at"
    r"|\b(?:buying|bought)\s+(?:it\s+)?(?:at|for))"
    r"\s*(?:about|around|roughly|~)?\s*"
    r"(\$\s*\d[\d,]*(?:\.\d+)?\s*[km]?|\d[\d,]*(?:\.\d+)?\s*[km]\b|\d{1,3}(?:,\d{3})+|\d{4,})",
    re.I | re.M,
)
_PRICE_AT = re.compile(
    r"\bat\s*(?:about|around|~)?\s*(\$\s*\d[\d,]*(?:\.\d+)?\s*[km]?|\d[\d,]*(?:\.\d+)?\s*[km]\b"
    r"|\d{1,3}(?:,\d{3})+)",
    re.I,
)
# "and as a rental?" after an analysis: the same property, one strategy's figures.
_FOLLOW_UP = re.compile(
    r"^\s*(?:(?:and|so|ok|okay|what about|how about|and what about|and how about)\s+)?"
    r"(?:(?:it|this one|that one)\s+)?(?:as\s+)?(?:an?\s+)?"
    r"(rental|flip|brrrr|buy[- ]and[- ]hold|section\s*-?\s*8)\b(?:\s+instead)?[\s?.!]*$",
    re.I,
)
# "is it a good rental?", "would it work as a flip?", "the rental numbers?": the same.
_FOLLOW_UP_QUESTION = re.compile(
    r"^\s*(?:(?:is|would|does|will|could|how(?:'s|\s+is|\s+does|\s+would)?)\s+"
    r"(?:it|this one|that one|this (?:house|property|place)|that (?:house|property|place))\s+"
    r"(?:be\s+|make\s+|work\s+|do\s+|look\s+|pencil\s+|stack\s+up\s+)?(?:out\s+)?"
    r"(?:as\s+)?(?:an?\s+)?(?:good\s+|decent\s+|viable\s+|solid\s+)?"
    r"|(?:what\s+are\s+|show\s+me\s+|give\s+me\s+|and\s+)?(?:the\s+)?(?=\w+\s+numbers))"
    r"(rental|flip|brrrr|buy[- ]and[- ]hold)\b(?:\s+numbers)?[\s?.!]*$",
    re.I,
)
_FOCUS_WORDS = {"rental": "rental", "flip": "flip", "brrrr": "brrrr"}
# "show me the 5 year projection", "what's the IRR?", "where is it after 5 years?": the
# analysis's hold projection.
_PROJECTION = re.compile(
    r"\b(?:projections?|projected|irr|equity\s+multiple"
    r"|(?:\d{1,2}|five|ten)[\s-]*(?:year|yr)s?\s+(?:hold|outlook|plan|numbers)"
    r"|(?:after|in|over)\s+(?:\d{1,2}|five|ten)\s+years)\b",
    re.I,
)
_IT_WORDS = r"(?:it|this one|that one|the (?:house|property|place)|this (?:house|property|place))"
# One figure of the property just analysed: "what's it worth?", "the ARV?", "how much rehab
# does it need?", "what's the rent?" (a voucher question is Section 8's).
_ASPECTS = (
    (
        "value",
        re.compile(
            rf"\b(?:what(?:'s|\s+is)?|whats|how\s+much\s+is)\s+{_IT_WORDS}\s+worth\b"
            r"|^\s*(?:so\s+|and\s+)?(?:what(?:'s|\s+is|\s+are)?\s+|whats\s+)?(?:the\s+|its\s+)?"
            r"(?:arv|as[- ]is\s+value|after[- ]repair\s+value|value|values)\s*(?:again)?[\s?.!]*$",
            re.I,
        ),
    ),
    (
        "rehab",
        re.compile(
            rf"\bhow\s+much\s+(?:rehab|work|repairs?|fixing)\s+does\s+{_IT_WORDS}\s+need\b"
            rf"|\bhow\s+much\s+(?:to|will\s+it\s+cost\s+to)\s+(?:fix|rehab|renovate)\s+{_IT_WORDS}"
            r"|^\s*(?:so\s+|and\s+)?(?:what(?:'s|\s+is)?\s+|whats\s+)?(?:the\s+)?"
            r"rehab(?:\s+(?:estimate|budget|cost))?\s*(?:again)?[\s?.!]*$",
            re.I,
        ),
    ),
    (
        "rent",
        re.compile(
            rf"\b(?:what|how\s+much)\s+(?:would|will|could|can|does)\s+{_IT_WORDS}\s+rent\s+for\b"
            r"|^\s*(?:so\s+|and\s+)?(?:what(?:'s|\s+is)?\s+|whats\s+)?(?:the\s+)?"
            r"(?:market\s+)?rent\s*(?:again)?[\s?.!]*$",
            re.I,
        ),
    ),
)
# A pronoun for the property just discussed ("max offer on it", "on this one", "that house").
_IT = re.compile(
    r"\b(?:it|this one|that one|this (?:house|property|place)|that (?:house|property|place))\b",
    re.I,
)
# The house's size said by the user ("it's 1,100 sqft", "the house is about 1100 square
# feet", "1234 Main St, 1100 sqft"): it sizes the rehab when none is on file. A quantity in
# a rehab list ("flooring 900 sqft") is not the house's size (callers skip rehab messages).
_HOUSE_SQFT = re.compile(
    r"\b(?:house|home|it|property|place|living area|size)\s*(?:is|'s|’s|has|of)?\s*"
    r"(?:about|around|roughly|approx(?:imately)?|~)?\s*" + _SQFT_NUMBER + _SQFT_UNIT,
    re.I,
)
_ONLY_SQFT = re.compile(
    r"^\s*(?:(?:it'?s|its|it is|about|around|roughly|~)\s*)*"
    + _SQFT_NUMBER
    + _SQFT_UNIT
    + r"[\s.!?]*$",
    re.I,
)
_ADDRESS_SQFT = re.compile(
    r"(?<!\d)[,;–-]\s*(?:about\s+|around\s+|~)?" + _SQFT_NUMBER + _SQFT_UNIT + r"[\s.!?]*$",
    re.I,
)


_ANY_SQFT = re.compile(r"(?<![\d,.])" + _SQFT_NUMBER + _SQFT_UNIT, re.I)


def _house_sqft(text: str, *, with_address: bool = False) -> int | None:
    """The house's living area the user said, in sqft, or None.

    With an address in the message, any size in it is the house's ("14500 Kercheval Ave
    1500 sqft", "1500 sqft house at 88 Oak St").
    """
    patterns = (_HOUSE_SQFT, _ONLY_SQFT, _ADDRESS_SQFT) + ((_ANY_SQFT,) if with_address else ())
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            value = int(match.group(1).replace(",", ""))
            return value if 100 <= value <= 100_000 else None
    return None


_SEPARATORS = re.compile(r"\s+(?:and|&|or|vs\.?|versus|then)\s+|[;\n]|\s+/\s+", re.I)


def _rehab_given(text: str) -> str | None:
    """The rehab budget the user named, in dollars ("40000"), or None."""
    match = _REHAB_GIVEN.search(text)
    return None if match is None else _dollars_said(next(g for g in match.groups() if g))


# "what if I offer 45k?": a what-if on the price, not an offer to record.
_WHAT_IF_OFFER = re.compile(r"\b(?:what\s+)?if\s+(?:i|we)\s+(?:offer|offered)\b", re.I)
# "what if I pay 45": a price too small to be dollars, said without "k".
_SMALL_WHAT_IF = re.compile(
    r"\bif\s+(?:i|we)\s+(?:pay|paid|offer|offered|buy\s+it\s+for|get\s+it\s+for)\s+"
    r"(?:about\s+|around\s+)?\$?(\d{1,3})(?:\.\d+)?\s*[?.!]*\s*$",
    re.I,
)


def _price_given(text: str) -> str | None:
    """The purchase price the user asks about ("what if I pay 150k?"), in dollars, or None."""
    match = _PRICE_GIVEN.search(text)
    return None if match is None else _dollars_said(match.group(1))


def _aspect(text: str) -> str | None:
    """The one figure a follow-up asks about (value, rehab or rent), or None."""
    return next((name for name, pattern in _ASPECTS if pattern.search(text)), None)


def _what_if_of(conversation: Conversation, property_id: str) -> dict[str, Any]:
    """The what-ifs the thread's latest analysis ran with, when it was of ``property_id``.

    A max offer in between keeps the price said before it (max_offer takes no price): "what
    if I offer 90k?", "max offer?", "and as a rental?" is still at 90k.
    """
    calls = _tool_calls_by_id(conversation.history)
    kept: dict[str, Any] = {}
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage) or message.name not in (
            "analyze_property",
            "max_offer",
        ):
            continue
        result = tool_result(message)
        if "error" in result or not result.get("property_id"):
            continue
        if str(result["property_id"]) != property_id:
            break
        args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
        for key in _WHAT_IF_ARGS:
            if key not in kept and args.get(key) is not None:
                kept[key] = args[key]
        if message.name == "analyze_property":
            break  # an analysis ran with every what-if in force
    return kept


def _price_at(text: str) -> str | None:
    """A price after "at" ("1234 Main St at 150k?"), read only when the text names a house."""
    match = _PRICE_AT.search(text)
    return None if match is None else _dollars_said(match.group(1))


def _dollars_said(said: str) -> str | None:
    """An amount said after a money word, in dollars with cents ("40000.00"), or None."""
    said = said.replace(" ", "")
    # "40,000" alone is read as dollars here ("rehab is 40,000"); "$40k" and "40k" as written.
    amount = _amount(said if said.startswith("$") or said[-1:].lower() in "km" else f"${said}")
    return None if amount is None else f"{amount.quantize(Decimal('0.01'))}"


def _addresses(text: str) -> list[str]:
    """Every distinct street address in ``text``, in order (split at "and", ";", new lines)."""
    found: list[str] = []
    for part in _SEPARATORS.split(_without_money(text)):
        address = extract_address(part)
        if address and all(address.lower() != seen.lower() for seen in found):
            found.append(address)
    return found


def extract_address(text: str) -> str | None:
    """The street address in ``text`` (from the first house number on), or None."""
    text = _SIZE_PHRASE.sub(" ", text)
    text = _NOT_HOUSE_NUMBERS.sub(lambda m: "x" * len(m.group(0)), text)
    for match in _HOUSE_NUMBER.finditer(text):
        candidate = text[match.start() :].strip().rstrip("?!.;:'\"")
        candidate = _TRAILING_CLAUSE.split(candidate)[0].rstrip(" ,:;")
        candidate = re.split(r"\s+[-–—]+\s+", candidate)[0]
        candidate = _DANGLING_WORD.sub("", candidate).strip()
        if re.match(r"\d[\d,.]*\s+(?:for|on|at|in|to|of|from|by)\b", candidate, re.I):
            continue  # "85000 for 1215 Kellogg Ave", "620 for kellogg": an amount, not a house
        try:
            parse_address(candidate)
        except AddressParseError:
            continue
        return candidate
    return None


# "budget for kellogg", "p&l on kercheval?": a deal named by a bare street word at the end.
_BARE_STREET = re.compile(
    r"\b(?:for|on|of|at)\s+(?:the\s+)?([a-z][a-z'-]{2,}(?:\s+" + _STREET_TYPE + r"\b)?)\.?"
    r"\s*[?.!]*\s*$",
    re.I,
)
_NOT_BARE_STREETS = frozenset(
    {"everything", "all", "us", "company", "org", "organisation", "organization", "portfolio",
     "business", "deals", "deal", "rentals", "flips", "projects", "month", "year", "quarter",
     "ytd", "today", "now", "it", "this", "that", "them", "me", "materials", "labor", "labour",
     "rehab", "rehabs", "repairs", "utilities", "taxes", "insurance", "mortgage", "date",
     "period", "week", "total", "overall", "everyone", "team", "property", "properties",
     "house", "houses", "one", "these", "those", "here", "there", "so", "far", "yet",
     # what money is spent on or comes from ("how much have we spent on plumbing?")
     "plumbing", "roofing", "roof", "electrical", "hvac", "paint", "painting", "flooring",
     "permits", "cleanup", "cleaning", "supplies", "advertising", "marketing", "commissions",
     "legal", "fees", "interest", "travel", "rent", "rents", "income", "expenses", "costs",
     "purchases", "sales", "contractors", "maintenance", "depreciation", "other",
     "closing", "holding", "selling", "lumber", "appliances", "landscaping", "demo",
     # idioms ("cash on hand", "for now", "on record")
     "hand", "time", "course", "track", "average", "hold", "record", "file", "paper", "books",
     "sale", "market", "purpose", "instance", "example", "real", "sure", "please", "thanks"}
)  # fmt: skip


def _bare_street(text: str) -> str | None:
    """The street a money question ends on with no house number ("p&l for mack ave")."""
    found = _BARE_STREET.search(text)
    if found is None:
        return None
    street = found.group(1).lower()
    word = street.split()[0]
    if word in _NOT_BARE_STREETS or word in _NOT_STREETS or _status_in(word) is not None:
        return None
    return street


# "how's kellogg going", "what's going on with the kellogg house", "whats the status of lincoln":
# whatever is going on at a street named without a house number.
_STREET_STATUS = re.compile(
    r"^\s*(?:so\s+|and\s+|ok\s+)?(?:how'?s|hows|how is|how are things (?:at|on|with)"
    r"|what'?s going on (?:with|at)|whats going on (?:with|at)|what is going on (?:with|at)"
    r"|what'?s (?:the )?(?:status|latest|news|update) (?:of|on|with|at)"
    r"|whats (?:the )?(?:status|latest|news|update) (?:of|on|with|at)"
    r"|(?:any )?(?:status|news|update) (?:of|on|with)|where are we (?:on|with|at))\s+"
    r"(?:the\s+)?([a-z][a-z'-]{2,})(?:\s+" + _STREET_TYPE + r"\.?)?"
    r"(?:\s+(house|deal|property|place|rehab|project|job|reno))?"
    r"(?:\s+(?:going|doing|coming along|looking))?\s*[?.!]*\s*$",
    re.I,
)


# "is kellogg over budget?", "is duff behind schedule?": that street's rehab (was every
# project's list).
_STREET_OVER = re.compile(
    r"^\s*(?:so\s+|and\s+)?(?:is|are)\s+(?:the\s+)?([a-z][a-z'-]{2,})(?:\s+"
    + _STREET_TYPE
    + r"\.?)?"
    r"(?:\s+(house|rehab|project|job|reno))?\s+(?:running\s+)?(?:over[\s-]?budget|over\s+the\s+budget"
    r"|behind(?:\s+schedule)?|late|on\s+budget|on\s+track|on\s+schedule)\b",
    re.I,
)


def _street_status_plan(text: str) -> Plan | None:
    """Status of what is at a street: its rehab, else (``fallback_for``) its deal."""
    found = _STREET_STATUS.search(text) or _STREET_OVER.search(text)
    if found is None:
        return None
    street = found.group(1).lower()
    if _not_a_street(street):
        return None
    if street in _NOT_QUALIFIERS or street in {"things", "stuff", "market", "business"}:
        return None
    if (found.group(2) or "").lower() == "deal":
        return Plan("deal_offers", {"deal": street})
    return Plan("project_status", {"project": street})


# "save the ARV for 1215 Kellogg Ave", "store an as-is value for it", "save the arv": a stored
# valuation (deal projections run on the stored ARV).
_SAVE_VALUATION = re.compile(
    r"^\s*(?:please\s+)?(?:save|store|record|keep)\s+(?:the\s+|an?\s+|that\s+|this\s+)?"
    r"(?P<kind>arv|after[\s-]repair value|as[\s-]?is(?:\s+value)?|value|valuation)\b",
    re.I,
)


def _save_valuation_plan(
    text: str, subject: dict[str, Any] | None, conversation: Conversation
) -> Plan | None:
    """A plan to store a valuation; None when none is asked."""
    found = _SAVE_VALUATION.match(text)
    if found is None:
        return None
    kind = "as_is" if found.group("kind").lower().startswith("as") else "arv"
    target: dict[str, Any] | None = None
    if subject and (subject.get("address") or subject.get("property_id")):
        target = {k: subject[k] for k in ("address", "property_id") if subject.get(k)}
    if target is None:
        target = conversation.discussed()  # "save the ARV" right after an analysis
    if target is None:
        return Plan(
            reply="Which property? Say 'save the ARV for' and its street address.",
            needs="save_valuation",
        )
    return Plan("save_valuation", {**target, "kind": kind})


def _deal_reference(text: str) -> str | None:
    """What the user called the deal: after the word "deal", else the address in the text."""
    match = _DEAL_REF.search(text)
    if match:
        ref = _LEAD_IN.sub("", match.group(1).strip()).strip().rstrip("?!.")
        if id_first := _ID_FIRST.match(ref):
            return id_first.group(1)  # "is deal 1a2b3c4d over budget?": the id, not the rest
        if ref:
            return ref
    return extract_address(text) or _street_deal(text)


def _comp_numbers(text: str) -> list[int]:
    """The comp numbers named after "drop"/"remove" ("drop comps 2 and #5" → [2, 5])."""
    match = _DROP.search(text)
    tail = text[match.end() :] if match else text
    return sorted({int(n) for n in re.findall(r"(?<![\w.])#?(\d{1,2})(?![\w.])", tail)})


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


def _subject(text: str) -> dict[str, str] | None:
    """The property the message names: a property id, else a street address."""
    if not _DEAL_REF.search(text):
        found = _UUID.search(text)
        if found:
            return {"property_id": found.group(0).lower()}
    address = extract_address(text)
    return {"address": address} if address else None


# "it", "that one", "the deal": the deal the thread's latest answer was about.
_DEAL_PRONOUN = re.compile(
    r"\b(?:it|its|it's|this one|that one|this deal|that deal|the deal|same deal)\b", re.I
)
# "and the P&L?", "what about cash flow?": the same subject as the answer before.
_FOLLOW_ON = re.compile(r"^\s*(?:and|so|ok|okay|what about|how about|same for)\b", re.I)


def _deal_just_discussed(conversation: Conversation | None) -> str | None:
    """The deal the thread's latest answer was about (not when that was a project or house)."""
    latest = conversation.latest_subject() if conversation is not None else None
    return latest[1] if latest is not None and latest[0] == "deal" else None


# Changing a deal's figures: "set the price on deal 1a2b3c4d to $59,000", "change the strategy on
# duff to rental", "set the repairs on kellogg to 40k"; right after a deal's answer, "actually
# make it $92,500" (its price).
_DEAL_FIELD_SET = re.compile(
    r"^\s*(?:please\s+)?(?:set|change|update|make|put)\s+(?:the\s+)?(?P<field>"
    r"(?:purchase |contract |deal )?price|strategy|(?:estimated |rehab )?repairs|repair budget"
    r"|rehab (?:estimate|budget))\s+(?:on|of|for)\s+(?P<deal>.+?)\s+(?:back\s+)?(?:to|at)\s+"
    r"(?P<value>.+?)\s*[.!]*$",
    re.I,
)
_DEAL_MAKE_IT = re.compile(
    r"^\s*(?:(?:actually|no|oops|sorry|wait)[,!.]?\s+)?(?:make it|change it to|make that"
    r"|make the price|the price is|price is)\s+(?P<value>\$?\s*[\d,]+(?:\.\d+)?\s*k?)\s*[.!]*$",
    re.I,
)
_DEAL_FIELD_ARGS = {"price": "purchase_price", "strategy": "strategy"}


def _deal_update_plan(text: str, conversation: Conversation | None) -> Plan | None:
    """A plan to change a deal's price, strategy or estimated repairs; None if not asked."""
    set_field = _DEAL_FIELD_SET.match(text)
    if set_field is not None:
        said = set_field.group("field").lower()
        key = (
            "strategy"
            if said == "strategy"
            else "purchase_price"
            if said.endswith("price")
            else "estimated_repairs"
        )
        where = set_field.group("deal").strip()
        target = _deal_target(where) or _deal_target(f"deal {where}")
        if target is None and re.fullmatch(r"(?:the\s+)?[a-z][a-z'-]+", where, re.I):
            target = where.split()[-1]  # "set the price on kellogg to 92.5k": its street
        if target is None and _DEAL_PRONOUN.search(where):
            target = _deal_just_discussed(conversation)
        if target is None:
            return Plan(reply="Which deal? Say e.g. 'set the price on deal 1a2b3c4d to $59,000'.")
        value = set_field.group("value")
        if key == "strategy":
            strategy = _strategy_in(value)
            if strategy is None:
                return Plan(
                    reply="Which strategy? flip, rental, BRRRR, wholesale or Section 8 rental."
                )
            return Plan("update_deal", {"deal": target, "strategy": strategy})
        amount = _amount(value if re.search(r"\$|k\b", value, re.I) else f"${value}")
        if amount is None:
            return Plan(
                reply=f"I couldn't read the amount {value!r}: say e.g. '$59,000' or '92.5k'."
            )
        return Plan("update_deal", {"deal": target, key: str(amount)})
    make_it = _DEAL_MAKE_IT.match(text)
    if make_it is not None:
        deal = _deal_just_discussed(conversation)
        if deal is None:
            return None
        amount = _amount(
            make_it.group("value")
            if re.search(r"\$|k\b", make_it.group("value"), re.I)
            else f"${make_it.group('value')}"
        )
        if amount is None:
            return None
        return Plan("update_deal", {"deal": deal, "purchase_price": str(amount)})
    return None


# "offer 95000 on duff", "offer 95,000 on deal 706f59dd": an offer's amount with no "$" or k.
_OFFER_BARE = re.compile(r"\boffer(?:ed)?\s+(?:of\s+)?(\d{1,3}(?:,\d{3})+|\d{4,7})\b(?!\s*/)", re.I)


def _deal_write(text: str, conversation: Conversation | None = None) -> Plan | None:
    """A plan for creating a deal, moving one, or making an offer; None if none is asked."""
    if _MAX_OFFER.search(text):
        return None
    # "close deal 1a2b3c4d", "kill deal 1a2b3c4d": a move to closed or dead.
    if ended := _CLOSE_DEAL.match(text):
        target = _deal_just_discussed(conversation) if ended.group(2) else _deal_target(text)
        if target is None and ended.group(2):
            return Plan(
                reply="Which deal? Say 'close deal' and its id or address.",
                needs="change_deal_status",
            )
        if target is not None:
            moved_to = "closed" if ended.group(1).lower().startswith("close") else "dead"
            return Plan("change_deal_status", {"deal": target, "status": moved_to})
    if _CREATE_DEAL.search(text) or _TRACK_IT.search(text):
        address = extract_address(_without_money(text))
        args: dict[str, Any] = {"address": address} if address else {}
        latest = conversation.latest_subject() if conversation is not None else None
        if not args and latest is not None and latest[0] == "property":
            # "make it a deal" right after an analysis of a house: that house.
            args = {"property_id": latest[1]}
        if not args and latest is not None and latest[0] == "deal":
            # "track it" right after "make it a deal": it is one already.
            return Plan(
                reply=f"It is a deal already (deal {short_id(latest[1])}). Say 'offer $<amount> "
                "on it' or 'move it to offer made' to take it further."
            )
        if not args:
            return Plan(
                reply="Which property? Say 'create a deal on' and its street address.",
                needs="create_deal",
            )
        strategy = _strategy_in(text)
        price = _amount(text)
        if strategy:
            args["strategy"] = strategy
        if price is not None:
            args["purchase_price"] = str(price)
        return Plan("create_deal", args)
    # "put in an offer of 65k" is an offer; "move deal X to offer made" is a status change.
    if (
        _OFFER_WORD.search(text)
        and not (_STATUS_VERB.search(text) and _status_in(text))
        and not _WHAT_IF_OFFER.search(text)
    ):
        if _RELATIVE_AMOUNT.search(text):
            return Plan(reply=RELATIVE_OFFER_REPLY, needs="make_offer")
        amount = _amount(text)
        if amount is None and (bare := _OFFER_BARE.search(text)):
            amount = Decimal(bare.group(1).replace(",", ""))  # "offer 95000 on duff"
        if amount is None:
            return None
        target = _deal_target(text)
        if target is None and _DEAL_PRONOUN.search(text):
            target = _deal_just_discussed(conversation)  # "offer 60k on it"
        if target is None:
            target = _bids_on_street(_without_money(text))  # "offer $95,000 on kellogg"
        if target is None:
            return Plan(
                reply="Which deal? Say 'offer', the amount, then 'on deal' and its id or address.",
                needs="make_offer",
            )
        return Plan("make_offer", {"deal": target, "offer_amount": str(amount)})
    named_by = _MOVE_NAMED.match(text)
    if _STATUS_VERB.search(text) and (re.search(r"\bdeal\b", text, re.I) or named_by):
        status = _status_in(text)
        # The deal is named before "to"/"as" ("move the deal on 9000 Mack Ave to under contract").
        target = _deal_target(re.split(r"\b(?:to|as|into)\b", text, maxsplit=1, flags=re.I)[0])
        if target is None and named_by and named_by.group(1):
            # "move it to closed" right after a question about one deal: that deal.
            target = _deal_just_discussed(conversation)
        street = named_by.group(2).lower() if named_by and named_by.group(2) else None
        if target is None and street and street not in _NOT_STREETS | _NOT_BARE_STREETS:
            target = street  # "move kellogg to closed": the deal on that street
        if status is None or target is None:
            return Plan(
                reply="Say which deal and where it goes, e.g. 'move deal 1a2b3c4d to under "
                "contract'.",
                needs="change_deal_status",
            )
        return Plan("change_deal_status", {"deal": target, "status": status})
    return None


# "list contractors", "who's our electrician?", "any roofers?": the contractor directory.
_ROSTER_ASKED = re.compile(
    r"\b(?:list|show|all|our|which|any|who(?:'s| is| are)?)\b[^.?!]{0,30}"
    r"\b(?:contractors?|subs|subcontractors?|electricians?|plumbers?|roofers?|painters?"
    r"|hvac (?:guys?|techs?|contractors?)|carpenters?|landscapers?)\b",
    re.I,
)
# "when does the plumber start?", "when is the roofer starting on <address>?", "start dates?",
# "who starts next?": the start dates on the live bids (trade_schedule).
_START_ASKED = re.compile(
    r"\bwhen(?:'s|s| does| do| will| is| are| can) (?:the |our |my |a )?(?:\w+ ){1,2}?"
    r"(?:start(?:ing)?|begin(?:ning)?|show(?:ing)? up|be starting|get going"
    r"|com(?:e|ing) (?:out|by|over))\b"
    r"|\bstart(?:ing)? dates?\b|\bwho(?:'s| is)? (?:starts?|starting)\b",
    re.I,
)
# ... but not when the subject is the project itself ("when does the rehab start?").
_START_OF_PROJECT = re.compile(
    r"\bwhen(?:'s|s| does| do| will| is| can) (?:the |our |my |a )?"
    r"(?:[a-z][a-z'-]+ (?:(?:st|ave|rd|dr|blvd|ln|ct|way)\.? )?)?(?:rehab|project|renovation|job"
    r"|work|construction|reno)\b|\bwhen(?:'s|s| does| do| will| is| can) (?:it|that|this)\b",
    re.I,
)


def _starts_plan(text: str, conversation: Conversation) -> Plan | None:
    """When a trade starts (trade_schedule), or when a project starts (project_status)."""
    project_start = _START_OF_PROJECT.search(text) and re.search(r"\b(?:start|begin)", text, re.I)
    if not (_START_ASKED.search(text) or project_start):
        return None
    if _BIDS.search(text) or _CALLS.search(text):
        return None  # "what bids came in ... start dates?", "did the roofer call?"
    # "... 14500 kercheval ave start?": the verb is not part of the address.
    ref = _project_ref(re.sub(r"\b(?:start(?:ing)?|begin(?:ning)?)\b", " ", text, flags=re.I))
    if ref is None and (_IT.search(text) or project_start):
        ref = _project_from_history(text, conversation)
    if ref is None:
        ref = _street_project(text)  # "when does the kercheval rehab start?"
    if project_start:
        if ref is None:
            return Plan(
                reply="Which project? Give its address, e.g. 'when does the rehab on <address> "
                "start?', or ask 'start dates?' for every trade's start on the open projects.",
                needs="project_status",
            )
        return Plan("project_status", {"project": ref})
    trade = _trade(text)
    return Plan(
        "trade_schedule",
        {
            **({"trade": trade} if trade and trade != "general" else {}),
            **({"project": ref} if ref else {}),
        },
    )


# "close deal 1a2b3c4d", "kill the deal on 9000 Mack Ave": the verb is the new status.
_CLOSE_DEAL = re.compile(
    r"^\s*(close|kill)\s+(?:out\s+)?(?:(it|this one|that one)\b"
    r"|(?:the\s+)?(?:[a-z][a-z'-]+\s+(?:[a-z][a-z'-]+\s+)?)?deal\b)",
    re.I,
)
# "move 9000 Mack Ave to under contract", "mark it as dead": a move without the word "deal"
# (an address or a pronoun for the deal just discussed, then "to"/"as" and a status).
_MOVE_NAMED = re.compile(
    r"^\s*(?:please\s+)?(?:move|mark|set|change|put|update)\s+"
    r"(?:(it|that one|this one|that|this)(?:\s+(?:to|as|into))?|\d[^.?!]*?\s+(?:to|as|into)"
    # "move kellogg to closed", "mark the duff house as dead": a street without a house number
    r"|(?:the\s+)?([a-z][a-z'-]{2,})(?:\s+" + _STREET_TYPE + r"\.?)?"
    r"(?:\s+(?:deal|house|property|place))?\s+(?:to|as|into))"
    r"\s+(?:the\s+|an?\s+)?(?:under\s*-?\s*contract|offer\s*-?\s*made|analy[sz]|closed|dead"
    r"|pass(?:ed)?|lead)",
    re.I,
)
# "what's the status of deal 1a2b3c4d?": where the deal stands, with its offers.
_DEAL_STATUS_ASKED = re.compile(
    r"\bstatus\b|\bwhere (?:are we|do we stand|does it stand|is it|is that)\b|\bstanding\b"
    r"|\bhappening (?:with|on)\b|\bgoing on with\b",
    re.I,
)


# "what did we pay for <address>?": the deal's purchase price, not the listing's.
_PAID = re.compile(
    r"\bwhat (?:did|do|have) (?:we|i|you) (?:pay|paid)\b|\bhow much (?:did|do|have) (?:we|i) "
    r"(?:pay|paid)\b|\bwhat (?:we|i) paid\b|\bpurchase price\b|\bwhat(?:'s| is| was) (?:our|the) "
    r"(?:buy(?:ing)?|purchase|contract) price\b|\bpaid for\b"
    # ... and what it sold for: "what did we sell 1215 Kellogg for?", "sale price of ...".
    r"|\bwhat did (?:we|i|it|they) sell\b|\bhow much did\b[^?]{1,60}?\bsell for\b"
    r"|\bsold (?:it )?for\b|\bsale price\b",
    re.I,
)
# "any offers on <address>?", "what offers do we have on the mack ave deal?", "offer history".
_OFFERS_ASKED = re.compile(
    r"\b(?:any|what|which|how many|show(?: me)?|list|see)\b[^.?!]{0,30}\boffers?\b"
    r"|\boffers? (?:on|for|so far|received|history|made on)\b"
    r"|\bcounter(?:ed|s)?\b[^.?!]{0,30}\boffers?\b|\boffers?\b[^.?!]{0,30}\bcounter(?:ed|s)?\b",
    re.I,
)
# "what offer should I make?", "put in an offer on ...": advice or a write, not the list.
_OFFER_NOT_ASKED = re.compile(
    r"\b(?:should|could|would)\b|\bcan (?:i|we)\b|\b(?:make|put|submit|send|write|record)\b",
    re.I,
)
# "the mack ave deal": a deal named by its street, without a house number.
_STREET_DEAL = re.compile(
    r"\b(?:the|on|for|our)\s+(?:(?:the|our)\s+)?([a-z][a-z'-]+(?:\s+[a-z][a-z'-]+)?)\s+deal\b",
    re.I,
)
_NOT_STREETS = frozenset(
    {"this", "that", "my", "our", "the", "your", "their", "same", "new", "flip", "rental",
     "brrrr", "wholesale", "best", "worst", "latest", "last", "first", "next", "other", "current",
     "each", "every", "any", "which", "what", "whole", "a", "an", "closed", "dead", "open",
     "anything", "something", "everything", "nothing", "anyone", "we", "you", "they", "things"}
)  # fmt: skip
# "show me the leads", "new seller leads this week": the seller leads, not the lead calls.
_LEADS_LIST = re.compile(r"\b(?:sellers?|homeowners?)\s+leads?\b|\bleads\b", re.I)
_THIS_WEEK = re.compile(r"\bthis week\b", re.I)
_RECENT_DAYS = re.compile(
    r"\b(?:last|past)\s+(?:(\d{1,3})\s+days?|(week|fortnight))\b|\b(today|yesterday)\b", re.I
)


def _leads_period(text: str, today: dt.date | None = None) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of the period a leads question names (None: open-ended).

    "this week" is its Monday to now, "last 3 days" the three days to now, "yesterday" that
    day alone and "in October" that month alone (not October to now).
    """
    today = today or local_today()
    if _THIS_WEEK.search(text):
        return today - dt.timedelta(days=today.weekday()), None
    if recent := _RECENT_DAYS.search(text):
        days, span, day = recent.groups()
        if days:
            return today - dt.timedelta(days=int(days)), None
        if span:
            return today - dt.timedelta(days=14 if span.lower() == "fortnight" else 7), None
        if day.lower() == "today":
            return today, None
        yesterday = today - dt.timedelta(days=1)
        return yesterday, yesterday
    period = period_in(text, today)
    if period is None:
        return None, None
    return period[0], (period[1] if period[1] < today else None)


# "which deals closed in October?", "what closed last month?", "new deals this week": the
# deals that moved into a status in a period, or (new deals) were opened in it.
_NEW_DEALS = re.compile(r"\bnew\s+deals?\b", re.I)
_CLOSE_VERB = re.compile(r"\bclose\b", re.I)
_WENT_INTO = re.compile(
    r"^\W*(?:what|which|anything|any)\b[^?]*?"
    r"\b(?:closed|(?:went|got|gone)\s+under\s*-?\s*contract)\b",
    re.I,
)


def _deals_period(text: str, today: dt.date | None = None) -> tuple[dt.date, dt.date, str] | None:
    """The period a deals question names: "this week" (Monday to today) or ``period_in``'s."""
    today = today or local_today()
    if week := _THIS_WEEK.search(text):
        return today - dt.timedelta(days=today.weekday()), today, week.group(0)
    return period_in(text, today)


def _deals_in_period_plan(text: str, *, named_deals: bool) -> Plan | None:
    """``list_deals`` with a status and a period; None when no period is named.

    ``named_deals``: the message says "deals"; otherwise it must ask what closed or went
    under contract ("what closed last month?").
    """
    if not named_deals and not _WENT_INTO.search(text):
        return None
    period = _deals_period(text)
    if period is None:
        return None
    status = None
    if not _NEW_DEALS.search(text):
        status = next((v for p, v in _STATUS_WORDS if p.search(text)), None)
        if status is None and _CLOSE_VERB.search(text):
            status = "closed"  # "how many deals did we close last month?"
    args = {"status": status} if status else {}
    return Plan("list_deals", args | {"start": period[0].isoformat(), "end": period[1].isoformat()})


def _leads_plan(text: str) -> Plan | None:
    """A plan to list the seller leads; None when the message is about something else."""
    if not _LEADS_LIST.search(text) or re.search(r"\bdeals?\b", text, re.I):
        return None
    if _LEAD_PHONE.search(text) or _LEAD_CALL.search(text) or _LEAD_TOPIC.search(text):
        return None  # a lead to call, or what the calls brought: the lead-call tools
    since, until = _leads_period(text)
    args = {"since": since.isoformat()} if since else {}
    return Plan("seller_leads", args | ({"until": until.isoformat()} if until else {}))


def _offers_plan(text: str, conversation: Conversation | None = None) -> Plan | None:
    """A plan to list a deal's offers; None when no offers are asked about."""
    if (
        not _OFFERS_ASKED.search(text)
        or _OFFER_NOT_ASKED.search(text)
        or _MAX_OFFER.search(text)
        or _amount(text) is not None
        or _OFFER_BARE.search(text)  # "what if I offer 95000 for ...": a price, not a list
        or _RELATIVE_AMOUNT.search(text)
        or re.search(r"\boffers?\s*-?\s*made\b", text, re.I)  # the status, not the offers
    ):
        return None
    target = _deal_target(text)
    if target is None and _DEAL_PRONOUN.search(text):
        target = _deal_just_discussed(conversation)  # "any offers on it?"
    if target is None:
        target = _bids_on_street(text)  # "any offers on duff", "what offers do we have on duff"
    if target is None:
        return Plan(
            reply="Which deal? Say 'offers on' and the deal's address or id.", needs="deal_offers"
        )
    return Plan("deal_offers", {"deal": target})


def _deal_status_plan(text: str, conversation: Conversation | None = None) -> Plan | None:
    """A plan to say where a named deal stands (its status and offers); None if not asked."""
    asked = _DEAL_STATUS_ASKED.search(text)
    just_discussed = _deal_just_discussed(conversation) if _DEAL_PRONOUN.search(text) else None
    # "status on 9000 Mack Ave" (no project named): the deal's status, as "status of deal ...".
    if not asked or not (
        re.search(r"\bdeal\b", text, re.I)
        or (re.search(r"\bstatus\b", text, re.I) and (extract_address(text) or just_discussed))
    ):
        return None
    if (
        _PROJECT_WORDS.search(text)
        or _BIDS.search(text)
        or _CALLS.search(text)
        or re.search(_LEAD_WORD, text, re.I)
    ):
        return None  # a project, its bids, or a call: the construction and lead-call tools
    if _STATUS_VERB.search(text) and _status_in(text):
        return None  # "update the status of deal 1a2b3c4d to closed": a move
    target = _deal_target(text)
    target = target or just_discussed  # "what's its status?" after a deal's budget
    return Plan("deal_offers", {"deal": target}) if target else None


# "p&l by deal", "spending by vendor this year": the P&L split into groups.
_PNL_GROUP = re.compile(
    r"\b(?:by|per|for each)\s+(deal|property|house|month|quarter|vendor|payee|counterparty"
    r"|contractor|supplier)s?\b",
    re.I,
)
_PNL_GROUPS = {
    "property": "deal",
    "house": "deal",
    "vendor": "counterparty",
    "payee": "counterparty",
    "contractor": "counterparty",
    "supplier": "counterparty",
}
# Money to or from a payee: "spent at Home Depot", "spend with Ray's Roofing", "have we paid
# Ray Alvarez" (up to a period word or the end).
_PAYEE = re.compile(
    r"\b(?:spen[dt]|bought|purchased?)\s+(?:\w+\s+){0,3}?(?:at|with)\s+"
    r"((?!the\s+(?:whole|company)\b)[a-z0-9][\w'&.-]*(?:\s+(?!(?:this|last|in|since|so|for"
    r"|on|during|year|month|week|today)\b)[a-z0-9][\w'&.-]*){0,3})"
    r"|\b(?:have|did)\s+(?:we|i)\s+(?:paid|pay)\s+(?!for\b|the\b|a\b|an\b|in\b|on\b)"
    r"([a-z][\w'&.-]*(?:\s+(?!(?:this|last|in|since|so|for|on|during|year|month|week|today)"
    r"\b)[a-z][\w'&.-]*){0,2})\s*(?:this|last|in|since|so\s+far|for|during|[?.!]|$)",
    re.I,
)


def _counterparty(text: str) -> str | None:
    """The payee or payer a money question names ("home depot", "ray alvarez"), or None."""
    store = _STORES.search(text)
    if store:
        return store.group(1)
    found = _PAYEE.search(text)
    if found is None:
        return None
    name = (found.group(1) or found.group(2) or "").strip(" ?.!")
    words = name.lower().split()
    if not words or words[0] in _NOT_BARE_STREETS or words[0] in {"it", "this", "that"}:
        return None
    return name


# How a deal did against its projection: "actual vs projected for deal 1a2b3c4d", "how did
# kercheval do vs the projection?", "profit on 1215 Kellogg compared to the projection".
_PERFORMANCE = re.compile(
    r"\b(?:vs\.?|versus|against|compared?\s+(?:to|with)|relative\s+to)\s+(?:the\s+|its\s+|our\s+)?"
    r"(?:projections?|projected|pro\s*-?forma|forecast|underwriting)\b"
    r"|\bactuals?\s+(?:vs\.?|versus|against|and|compared\s+to)\s+(?:the\s+)?"
    r"(?:projected|projections?|forecast)\b"
    r"|\bprojected\s+(?:vs\.?|versus|and)\s+actuals?\b",
    re.I,
)
# "how did kercheval do", "how is the mack ave rental doing": the deal's street.
_HOW_DID_STREET = re.compile(
    r"\bhow\s+(?:did|is|was|has)\s+(?:the\s+|our\s+)?([a-z][a-z'-]+(?:\s+"
    + _STREET_TYPE
    + r")?)\s+(?:(?:rental|flip|deal|house|property)\s+)?(?:do|doing|done|go|going|perform)",
    re.I,
)


def _performance_plan(text: str, conversation: Conversation) -> Plan:
    """The deal a "vs the projection" question is about, or which deal to name."""
    asked = _PERFORMANCE.sub(" ", text)
    ref = _deal_reference(asked)
    if ref is None and (how := _HOW_DID_STREET.search(asked)):
        word = how.group(1).lower()
        if word.split()[0] not in _NOT_BARE_STREETS | _NOT_STREETS | {"it", "we", "our"}:
            ref = word
    if ref is None:
        ref = _bare_street(asked.rstrip(" ?.!") + "?")
    if ref is None:
        latest = conversation.latest_subject()
        if latest and latest[0] == "deal":
            ref = latest[1]  # "and against the projection?" after a deal's P&L
    if ref is None:
        return Plan(
            reply="Which deal? Say 'actual vs projected for deal' and its id or address.",
            needs="deal_performance",
        )
    return Plan("deal_performance", {"deal": ref})


# "what did we pay for kellogg?", "what did we sell the ridgewood house for": a street's deal.
_PAID_STREET = re.compile(
    r"\b(?:pay|paid)\s+for\s+(?:the\s+)?(?P<a>[a-z][a-z'-]{2,})"
    r"(?:\s+(?:house|place|property|deal|one|rental|flip))?\s*[?.!]*\s*$"
    r"|\bsell\s+(?:the\s+)?(?P<b>[a-z][a-z'-]{2,})(?:\s+(?:house|place|property|deal|one|rental|flip))?"
    r"\s+for\b",
    re.I,
)


def _paid_street(text: str) -> str | None:
    """The street a what-we-paid question names without a house number, or None."""
    found = _PAID_STREET.search(text)
    if found is None:
        return None
    word = (found.group("a") or found.group("b")).lower()
    return None if _not_a_street(word) or word in {"it", "that", "this", "them"} else word


def _paid_plan(text: str, subject: dict[str, str] | None) -> Plan | None:
    """A plan to answer what was paid for a property; None when that is not asked."""
    if not _PAID.search(text):
        return None
    if subject is None and (payee := _counterparty(text)):
        # "how much have we paid ray alvarez this year?": money to a payee, not a house.
        period = period_in(text)
        dates = {"start": period[0].isoformat(), "end": period[1].isoformat()} if period else {}
        return Plan("pnl", {"counterparty": payee, **dates})
    if subject is None:
        return Plan(
            reply="Which property? Say 'what did we pay for' and its street address.",
            needs="what_we_paid",
        )
    sale = bool(re.search(r"\bsell\b|\bsold\b|\bsale price\b", text, re.I))
    return Plan("what_we_paid", subject | ({"sale_asked": True} if sale else {}))


# Money spent on a project, to book (record_expense): "log a 300 dumpster expense on the mack
# ave job", "paid Ray 4,000 for the roof on the kercheval rehab", "spent $450 at Home Depot on
# plumbing for 14500 Kercheval Ave". Never a question ("how much have we spent?" is a budget).
_EXPENSE_BOOK = re.compile(
    r"^\s*(?:please\s+)?(?:can you\s+|could you\s+)?(?:log|book|record|add|enter|put in)\b"
    r"(?:[^?]{0,60}?\b(?:expenses?|receipts?|invoices?|bills?|payments?|purchases?|spend)\b"
    # "log 1200 lumber on ridgewood", "log $1.2k lumber on the ridgewood job": an amount first
    r"|\s+(?:an?\s+)?\$\s*\d|\s+(?:an?\s+)?\d[\d,]*(?:\.\d{1,2})?\s*k?\s+(?:of\s+|for\s+|in\s+)?"
    r"(?:lumber|materials?|supplies|labou?r|paint|tile|drywall|dumpster|permits?|cleanup|"
    r"hardware|fixtures|appliances|flooring|shingles|concrete|insulation)\b)",
    re.I,
)
# Money back from a vendor on a project: "Home Depot refunded 45.20 on kercheval", "got a
# refund of $45.20 from home depot for kercheval", "lowes credited us 80 for the tile".
_REFUND = re.compile(r"\brefund(?:ed|s)?\b|\bcredited\s+(?:us|back)\b", re.I)
_EXPENSE_SAID = re.compile(
    r"^\s*(?:(?:we|i)\s+)?(?:just\s+)?(?:paid|spent|bought|dropped)\b(?!\s+for\b)", re.I
)
# What the money paid for: a scope line in words (the tool matches it to the project's lines).
_EXPENSE_LINE = re.compile(
    r"\b(roof(?:ing|er)?|shingles|gutters?|siding|furnace|hvac|a/c|air conditioning"
    r"|water heater|plumb(?:ing|er)|electric(?:al|ian)?(?: panel)?|panel|wiring"
    r"|kitchen(?: cabinets)?|cabinets|counter ?tops?|appliances|bath(?:room)?|tile|vanity"
    r"|toilets?|windows?|doors?|flooring|floors|carpet|lvp|hardwood|paint(?:ing|er)?|drywall"
    r"|insulation|foundation|waterproofing|sump pump|drain tile|landscaping|fence|deck|porch"
    r"|concrete|driveway|demo(?:lition)?|dumpster|permits?)\b",
    re.I,
)
_EXPENSE_LINE_WORDS = {
    "roofer": "roof",
    "roofing": "roof",
    "plumber": "plumbing",
    "plumb": "plumbing",
    "electrician": "electrical",
    "electric": "electrical",
    "painter": "paint",
    "painting": "paint",
    "floors": "flooring",
    "demo": "demolition",
    "permit": "permits",
}
_EXPENSE_CATEGORIES = (
    (re.compile(r"\bpermits?\b", re.I), "permits"),
    (
        re.compile(r"\b(?:dumpsters?|trash|haul(?:ing|ed)?|clean[\s-]?up|cleaning)\b", re.I),
        "cleanup",
    ),
    (re.compile(r"\bsupplies\b", re.I), "supplies"),
    (re.compile(r"\b(?:materials?|lumber)\b", re.I), "materials"),
    (re.compile(r"\blabou?r\b", re.I), "labour"),
)
_STORES = re.compile(
    r"\b(home depot|lowe'?s|menards|ace hardware|sherwin[\s-]williams|floor (?:&|and) decor"
    r"|harbor freight)\b",
    re.I,
)
_VENDOR_AT = re.compile(
    r"\b(?:at|from)\s+((?:The\s+)?[A-Z][\w'&.-]*(?:\s+[A-Z][\w'&.-]*){0,3})"
    r"(?!\s+(?:rehab|project|job|house|reno|st|street|ave|avenue|rd|road)\b)"
)
# "paid Ray 4,000", "paid Ray Alvarez $4,000", "paid $4,000 to Ray's Roofing".
_PAID_WHO = re.compile(
    r"\bpaid\s+(?!(?:the|a|an|for|to|on|at|him|her|them|us|cash|out|off|back|up|it)\b)"
    # "paid hank miller 1,400": a name in lower case too, up to three words
    r"([A-Za-z][\w'&.-]*(?:\s+(?!(?:for|on|to|at|the|a|an|in|of|and|cash)\b)[A-Za-z][\w'&.-]*)"
    r"{0,2})\s+\$?\d"
    r"|\bpaid\s+\$?[\d,.]+\s*k?\s+to\s+((?-i:[A-Z])[\w'&.-]*(?:\s+(?-i:[A-Z])[\w'&.-]*){0,2})",
    re.I,
)
# The amount after the words that say it ("paid Ray 4,000", "spent $1,250.50", "log a 300
# dumpster expense", "paid 3 guys 600"): not a count ("3 guys") nor a house number.
_AMOUNT_SAID = re.compile(
    r"\b(?:paid|spent|dropped|bought|refunded|credited|refund\s+of"
    r"|(?:expense|receipt|invoice|bill|payment|purchase)s?\s+(?:of|for)"
    r"|(?:log|book|record|add|enter)(?:\s+(?:a|an))?)\s+(?:[\w'&.-]+\s+){0,3}?\$?\s*"
    r"(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<c>\d{1,2}))?\s*(?P<k>k\b)?(?![\w,/:-]|\.\d)"
    r"(?!\s+(?:of\s+)?(?!dollars|bucks)[a-z]+s\b)"
    r"(?!\s+[a-z]+\.?\s+(?:st|street|ave|avenue|rd|road|dr|drive|blvd|ln|lane|ct|way)\b)",
    re.I,
)
_EXPENSE_DAY = re.compile(
    r"\b(yesterday|today)\b|(?:\bon\s+|(?<![\d/$.,]))(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b(?!/)"
    r"|\b(\d{1,2}|a|one|two|three|four|five|six|seven)\s+days?\s+ago\b"
    r"|\b(?:last|on)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.I,
)
_DAYS_AGO_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_DAYS_AGO_WORDS["seven"] = 7
_WEEKDAY_NUMBER = {
    name: i
    for i, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}


def _expense_amount(text: str) -> tuple[Decimal | None, str]:
    """The amount spent and ``text`` without it (so it is not read as a house number)."""
    said = _AMOUNT_SAID.search(text)
    if said is not None:
        cents = f".{said.group('c')}" if said.group("c") else ""
        value = Decimal(said.group("n").replace(",", "") + cents)
        value = value * 1000 if said.group("k") else value
        rest = text[: said.start("n")] + " " + text[said.end() :]
        return (value if value > 0 else None), rest
    money = _MONEY.search(text)
    if money is None:
        return None, text
    return _amount(money.group(0)), text[: money.start()] + " " + text[money.end() :]


def _expense_day(text: str, today: dt.date | None = None) -> dt.date | None:
    """The day said ("yesterday", "on 11/20": its latest past date), or None for today."""
    today = today or local_today()
    found = _EXPENSE_DAY.search(text)
    if found is None:
        return None
    if found.group(1):
        return today - dt.timedelta(days=1 if found.group(1).lower() == "yesterday" else 0)
    if found.group(5):  # "3 days ago"
        count = found.group(5).lower()
        return today - dt.timedelta(days=int(count) if count.isdigit() else _DAYS_AGO_WORDS[count])
    if found.group(6):  # "last friday", "on monday": the latest such day before today
        back = (today.weekday() - _WEEKDAY_NUMBER[found.group(6).lower()]) % 7
        return today - dt.timedelta(days=back or 7)
    month, day = int(found.group(2)), int(found.group(3))
    year = int(found.group(4)) if found.group(4) else today.year
    year = year + 2000 if year < 100 else year
    try:
        when = dt.date(year, month, day)
    except ValueError:
        return None
    if not found.group(4) and when > today:
        with_year = when.replace(year=today.year - 1) if (month, day) != (2, 29) else None
        return with_year
    return when


# "on November 20th", "on nov 20, 2026": a day said with its month's name.
_NAMED_DAY = re.compile(
    r"\bon\s+(?:the\s+)?(" + _MONTH + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(20\d\d)\b)?",
    re.I,
)


def _numeric_days(text: str) -> str:
    """``text`` with each day said by its month's name written M/D ("on 11/20")."""

    def numeric(found: re.Match[str]) -> str:
        month = _MONTH_NAMES[found.group(1).lower()[:3]]
        year = f"/{found.group(3)}" if found.group(3) else ""
        return f"on {month}/{found.group(2)}{year}"

    return _NAMED_DAY.sub(numeric, text)


# The booking tool's question when a name fits several: "2 contractors are called 'hank' (Hank
# Miller, Hank Ortiz): say which", "'tile' fits 2 scope lines (bath tile, kitchen tile): ...".
_SAY_WHICH = re.compile(
    r"(?:contractors are called '[^']*'|fits \d+ scope lines) \(([^()]+)\): say which"
)


def _which_answered(text: str, conversation: Conversation) -> Plan | None:
    """The expense booking again, when ``text`` picks one of the names it just asked about.

    "paid hank 250 for the roof on kellogg" → "say which (Hank Miller, Hank Ortiz)" → "miller".
    """
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        if message.name != "record_expense":
            return None
        asked = _SAY_WHICH.search(str(tool_result(message).get("error") or ""))
        if asked is None:
            return None
        words = re.findall(r"[a-z0-9]+", text.lower())
        if not words or len(words) > 5:
            return None
        options = [o.strip() for o in asked.group(1).split(",") if o.strip()]
        picked = [
            o
            for o in options
            if all(
                any(w.startswith(word) for w in re.findall(r"[a-z0-9]+", o.lower()))
                for word in words
                if word not in {"the", "one", "it", "was", "i", "meant", "mean"}
            )
        ]
        if len(picked) != 1:
            return None
        args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
        key = "contractor" if "contractors are called" in asked.group(0) else "line"
        return Plan("record_expense", {**args, key: picked[0]})
    return None


# The task and bid tools' questions: "2 tasks fit 'door' ('order doors' (ea302c58, todo); 'hang
# doors' (1b2c3d4e, todo)): say which, by its id", "2 open bids fit 'hank' (bid a043b839 from
# Hank Ortiz ($9,900); bid 5e6f7a8b from Hank Miller ($9,100)): say which".
_TASK_OPTION = re.compile(r"'([^']+)' \(([0-9a-f]{8}),")
_BID_OPTION = re.compile(r"\bbid ([0-9a-f]{8}) from ([^(;]+?) \(")


def _option_picked(answer: str, options: list[tuple[str, str]]) -> str | None:
    """The id of the one option (id, name) ``answer`` names by id prefix or words, else None."""
    said = re.sub(r"^\s*(?:the|task|bid|one|it'?s|its)\b\s*", "", answer.strip(), flags=re.I)
    words = [w for w in re.findall(r"[a-z0-9']+", said.lower()) if w not in {"the", "one", "task"}]
    if not words or len(words) > 6:
        return None
    by_id = [i for i, _ in options if len(words) == 1 and i.startswith(words[0])]
    if len(by_id) == 1 and len(words[0]) >= 4:
        return by_id[0]
    named = [
        i
        for i, name in options
        if all(any(w.startswith(x) for w in re.findall(r"[a-z0-9']+", name.lower())) for x in words)
    ]
    return named[0] if len(named) == 1 else None


def _which_picked(text: str, conversation: Conversation) -> Plan | None:
    """The task or bid tool again, when ``text`` picks one of the ones it just asked about."""
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        if message.name not in ("complete_task", "award_bid"):
            return None
        error = str(tool_result(message).get("error") or "")
        if "say which" not in error:
            return None
        args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
        if message.name == "complete_task":
            options = [(i, title) for title, i in _TASK_OPTION.findall(error)]
            picked = _option_picked(text, options)
            return None if picked is None else Plan("complete_task", {**args, "task": picked})
        options = [(i, name.strip()) for i, name in _BID_OPTION.findall(error)]
        picked = _option_picked(text, options)
        if picked is None:
            return None
        return Plan("award_bid", {"project": args.get("project"), "bid_id": picked})
    return None


# A project's tasks: "add a task on the kercheval rehab: order cabinets, due friday",
# "tasks on kellogg?", "mark the order cabinets task done on the kercheval rehab".
_TASK_ADD = re.compile(
    r"^\s*(?:please\s+)?(?:add|create|make|put in|new)\s+(?:a\s+)?(?:new\s+)?(?:task|to-?do)\b"
    r"(?:(?P<where>[^:]{0,80}):\s*(?P<title>.+)|\s+to\s+(?P<title2>.+))$",
    re.I,
)
_TASK_DUE = re.compile(
    r"[,;]?\s*\b(?:due|by|before)\s+(?:on\s+)?(?P<day>[\w/, ]{1,24}?)\s*[.!]*$", re.I
)
_TASK_LIST = re.compile(
    r"^\s*(?:what(?:'s| are| is)?\s+(?:the\s+)?(?:open\s+)?tasks?|(?:any\s+|open\s+|the\s+)?tasks?"
    r"|what(?:'s|s| is)\s+left\s+to\s+do|(?:show|list)\s+(?:me\s+)?(?:the\s+)?(?:open\s+)?tasks?"
    r"|to-?do\s+list)\b",
    re.I,
)
_TASK_DONE = re.compile(
    r"^\s*(?:please\s+)?(?:mark|set|close)\s+(?:the\s+)?(?P<title>.{2,80}?)\s+(?:task|to-?do)\s+"
    r"(?:as\s+)?(?:done|complete[d]?|finished)\b(?P<rest>.*)$"
    r"|^\s*(?:the\s+)?(?P<title2>.{2,80}?)\s+(?:task|to-?do)\s+is\s+(?:done|complete[d]?|finished)"
    r"\b(?P<rest2>.*)$"
    # "mark task 169f31b0 done", "complete the rough plumbing task on kellogg", "check off
    # order cabinets on kellogg", "mark order cabinets done on kellogg"
    r"|^\s*(?:please\s+)?(?:mark|set)\s+task\s+(?P<title3>[0-9a-f]{6,36})\s+(?:as\s+)?"
    r"(?:done|complete[d]?|finished)\b(?P<rest3>.*)$"
    r"|^\s*(?:please\s+)?(?:complete|finish|close out|check off|tick off)\s+(?:the\s+)?"
    r"(?P<title4>.{2,80}?)(?:\s+(?:task|to-?do))(?P<rest4>\s+(?:on|for|at)\s+.+)?\s*[.!]*$"
    r"|^\s*(?:please\s+)?(?:check|tick)\s+off\s+(?:the\s+)?"
    r"(?P<title6>.{2,80}?)(?P<rest6>\s+(?:on|for|at)\s+.+)\s*[.!]*$"
    r"|^\s*(?:please\s+)?mark\s+(?:the\s+)?(?P<title5>.{2,80}?)\s+(?:as\s+)?"
    r"(?:done|complete[d]?|finished)(?P<rest5>\s+(?:on|for|at)\s+.+)\s*[.!]*$",
    re.I,
)
# Not a task's title: "mark the first one done" is an action item, "mark it done" the thread's.
_NOT_TASK_TITLES = re.compile(
    r"^(?:the\s+)?(?:first|second|third|fourth|fifth|last|\d{1,2}(?:st|nd|rd|th)?|it|that|this"
    r"|that one|this one|one|deal|project|rehab|job|everything|all)(?:\s+one)?$",
    re.I,
)
_TITLE_GROUPS = ("title", "title2", "title3", "title4", "title5", "title6")
_REST_GROUPS = ("rest", "rest2", "rest3", "rest4", "rest5", "rest6")


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUMBER_WORDS |= {"six": 6, "seven": 7, "ten": 10}
_DUE_RELATIVE = re.compile(
    r"^in\s+(\d{1,3}|a|an|one|two|three|four|five|six|seven|ten)\s+(day|week)s?$", re.I
)
_DUE_NUMERIC = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_DUE_MONTH_DAY = re.compile(
    r"^(" + _MONTH + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?$", re.I
)


def due_day(said: str, today: dt.date | None = None) -> dt.date | None:
    """The day a due date names, or None when it cannot be read.

    "today", "tomorrow", "friday" / "this friday" / "next friday" (the coming one, a week on
    when said on a Friday), "last friday" (a past day: the tool refuses it), "in 3 days",
    "in two weeks", "12/8", "12/8/2026", "dec 8", "December 8, 2026". A date without a year is
    this year's, unless it is more than half a year back (then next year's: "jan 5" said in
    November); a recent past date stays in the past, for the tool to refuse, never moved on a
    year unasked.
    """
    today = today or local_today()
    text = " ".join(said.lower().replace(",", " ").split()).removeprefix("on ")
    if text in ("today", "tonight", "eod", "end of day"):
        return today
    if text == "tomorrow":
        return today + dt.timedelta(days=1)
    relative = _DUE_RELATIVE.match(text)
    if relative:
        count = relative.group(1)
        n = int(count) if count.isdigit() else _NUMBER_WORDS[count]
        return today + dt.timedelta(days=n * (7 if relative.group(2) == "week" else 1))
    words = text.split()
    if words and words[-1] in _WEEKDAYS and len(words) <= 2:
        target = _WEEKDAYS.index(words[-1])
        if words[0] == "last":
            back = (today.weekday() - target) % 7 or 7
            return today - dt.timedelta(days=back)
        ahead = (target - today.weekday()) % 7 or 7
        return today + dt.timedelta(days=ahead)
    month = day = year = None
    if numeric := _DUE_NUMERIC.match(text):
        month, day = int(numeric.group(1)), int(numeric.group(2))
        if numeric.group(3):
            year = int(numeric.group(3)) + (2000 if len(numeric.group(3)) == 2 else 0)
    elif named := _DUE_MONTH_DAY.match(text):
        month = _MONTH_NAMES[named.group(1).lower()[:3]]  # "sept" is "sep"
        day = int(named.group(2))
        year = int(named.group(3)) if named.group(3) else None
    if month is None or day is None:
        return None
    try:
        found = dt.date(year or today.year, month, day)
        if year is None and (today - found).days > 183:
            found = dt.date(today.year + 1, month, day)
    except ValueError:
        return None
    return found


def _task_project(text: str, conversation: Conversation) -> str:
    """The project a task message names, else the thread's project, else the one open one."""
    return (
        _project_ref(text)
        or _street_project(text)
        or _project_on_street(text)
        or _bids_on_street(text)
        or _project_from_history(text, conversation)
        or ONLY_OPEN_PROJECT
    )


def _task_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to add, list or finish a project's tasks; None when tasks are not meant."""
    if added := _TASK_ADD.match(text):
        title = (added.group("title") or added.group("title2") or "").strip()
        where = added.group("where") or ""
        due_said = _TASK_DUE.search(title)
        due = None
        if due_said:
            due = due_day(due_said.group("day"))
            if due is None:
                return Plan(
                    reply=f"I couldn't read the due day {due_said.group('day')!r}: say it as e.g. "
                    "'due friday', 'due 12/8' or 'due Dec 8'.",
                    needs="add_task",
                )
            title = title[: due_said.start()].strip()
        if added.group("title2"):  # "add a task to order cabinets on kellogg"
            on = re.search(r"\s+(?:on|for|at)\s+(?:the\s+)?[a-z][\w' -]*$", title, re.I)
            if on:
                where, title = title[on.start() :], title[: on.start()]
        title = title.strip(" ,;.")
        if not title:
            return Plan(reply="What is the task? Say e.g. 'add a task on kellogg: order cabinets'.")
        args: dict[str, Any] = {"project": _task_project(where, conversation), "title": title}
        if due is not None:
            args["due"] = due.isoformat()
        return Plan("add_task", args)
    if done := _TASK_DONE.match(text):
        title = next((done.group(g) for g in _TITLE_GROUPS if done.group(g)), "").strip()
        rest = next((done.group(g) for g in _REST_GROUPS if done.group(g)), "")
        if title and not _NOT_TASK_TITLES.match(title):
            return Plan(
                "complete_task", {"project": _task_project(rest, conversation), "task": title}
            )
    if _TASK_LIST.match(text) and re.search(r"\btasks?\b|\bto-?do\b|left to do", text, re.I):
        args = {"project": _task_project(text, conversation)}
        if re.search(r"\bopen\b|\bleft\b", text, re.I):
            args["status"] = "open"
        return Plan("project_tasks", args)
    return None


# --- the ledger: a rental's operating money, month-end --------------------------------------
# "are the october books closed?", "which months are closed?"; "close october", "close the
# books for october"; "reopen october".
_MONTH_SAID = rf"(?:(?:{_MONTH})\.?(?:\s+20\d\d)?|20\d\d-\d\d|last month|this month)"
_BOOKS_ASKED = re.compile(
    r"\b(?:are|is|were|have)\b[^?]*\bbooks?\b[^?]*\b(?:closed|open|locked)\b"
    r"|\b(?:which|what)\s+months?\s+(?:are|is)\s+(?:closed|locked)\b"
    r"|\bclosed\s+(?:months|periods)\b|\bbooks?\s+status\b",
    re.I,
)
_CLOSE_MONTH = re.compile(
    rf"^\s*(?:please\s+)?(?P<verb>close|reopen|re-open|open\s+up|unlock)\s+(?:the\s+)?"
    rf"(?:books\s+(?:for|on)\s+|month\s+of\s+)?(?P<month>{_MONTH_SAID})(?:'?s)?"
    r"(?:\s+books)?(?:\s*[,-]\s*(?P<note>.{3,200}?))?\s*[.!]*\s*$",
    re.I,
)


def _month_end_plan(text: str) -> Plan | None:
    """A plan for the books' month-end state; None when not asked."""
    closing = _CLOSE_MONTH.match(text)
    if closing is not None:
        verb = closing.group("verb").lower()
        args: dict[str, Any] = {"month": closing.group("month").strip().rstrip(".")}
        if verb == "close" and closing.group("note"):
            args["note"] = closing.group("note")
        return Plan("close_month" if verb == "close" else "reopen_month", args)
    if re.match(
        r"^\s*(?:please\s+)?(?:close|reopen|re-open)\s+(?:the\s+)?(?:books|month)\s*[.!]*$",
        text,
        re.I,
    ):
        return Plan(
            reply="Which month? Say e.g. 'close october' or 'reopen 2026-10'.", needs="close_month"
        )
    if _BOOKS_ASKED.search(text):
        month = re.search(_MONTH_SAID, text, re.I)
        return Plan("books_status", {"month": month.group(0).rstrip(".")} if month else {})
    return None


# A rental's operating money, booked in the ledger on its deal (not a rehab project's
# expense): "paid DTE 92.10 for utilities on kellogg on 10/28", "property tax 1,840 on duff",
# "got 1,100 rent from the tenant at 825 ridgewood".
_LEDGER_CATEGORIES = (
    (re.compile(r"\butilit(?:y|ies)\b|\b(?:electric|gas|water|sewer|trash)(?:\s+bill)?\b"
                r"|\b(?:internet|cable|wifi|wi-fi)\b", re.I), "utilities"),
    (re.compile(r"\b(?:property\s+)?tax(?:es)?\b", re.I), "taxes"),
    (re.compile(r"\binsurance\b", re.I), "insurance"),
    (re.compile(r"\bmanagement\s+fees?\b|\bproperty\s+(?:management|mgmt)\b|\bmgmt\s+fees?\b",
                re.I), "management_fees"),
    (re.compile(r"\bmortgage\s+interest\b", re.I), "mortgage_interest"),
    (re.compile(r"\b(?:advertising|listing\s+ad|zillow\s+ad)\b", re.I), "advertising"),
    (re.compile(r"\b(?:legal|attorney|lawyer|accountant|cpa)\b", re.I),
     "legal_and_professional_fees"),
    (re.compile(r"\b(?:lawn|snow\s+removal|cleaning)\b", re.I), "cleaning_and_maintenance"),
    (re.compile(r"\bhoa\b", re.I), "other"),
)  # fmt: skip
# Words of a category, never a street ("on duff for the insurance").
_CATEGORY_WORDS = frozenset(
    {"utilities", "utility", "electric", "gas", "water", "sewer", "tax", "taxes", "insurance",
     "management", "mgmt", "mortgage", "advertising", "legal", "lawn", "snow", "cleaning", "hoa",
     "rent", "rental", "repairs", "repair", "tenant", "property", "bill"}
)  # fmt: skip
_RENT_IN = re.compile(
    r"\b(?:got|received|collected|deposited)\b[^.?!]{0,40}?\brent\b"
    r"|\brent\s+(?:received|collected|came\s+in|paid)\b|\brent(?:al)?\s+income\b",
    re.I,
)
_LEDGER_VERB = re.compile(r"\b(?:paid|pd|spent|pay|book|log|record)\b", re.I)
# "paid DTE 92.10", "paid mid american 143.55", "pd city of ames 61.07": who was paid.
_LEDGER_PAYEE = re.compile(
    r"\b(?:paid|pd)\s+(?!(?:the|a|an|for|on|our|my|\$)\b)"
    r"(?P<who>[a-z][\w&'.-]*(?:\s+(?!(?:for|on|at)\b)[a-z][\w&'.-]*){0,3})\s+\$?\d",
    re.I,
)
# Where the money belongs: an address after at/on/for/from ("at 1215 kellogg"), a street
# there ("on duff"), or a street before tenant/rental/house/rent ("the duff tenant").
_LEDGER_AT_ADDRESS = re.compile(
    r"\b(?:at|on|for|from)\s+(?:the\s+)?(?P<where>\d{1,6}\s+[a-z][\w .'-]*?)"
    r"(?=\s+(?:on|for|at|from|dated|paid)\b|\s+\d{1,2}/\d{1,2}|[,;!?]|\s*$)",
    re.I,
)
_LEDGER_AT_STREET = re.compile(
    r"\b(?:at|on|for|from)\s+(?:the\s+)?(?P<where>[a-z][a-z'-]{2,})\b"
    r"|\b(?P<before>[a-z][a-z'-]{2,})\s+(?:tenant|rental|house|rent)\b",
    re.I,
)


def _ledger_where(text: str) -> tuple[str | None, tuple[int, int] | None]:
    """The deal a ledger booking names (address or bare street) and where it is in ``text``."""
    for found in _LEDGER_AT_ADDRESS.finditer(text):
        said = found.group("where").strip()
        try:
            parse_address(said)
        except AddressParseError:
            continue
        return said, found.span("where")
    for found in _LEDGER_AT_STREET.finditer(text):
        name = "where" if found.group("where") else "before"
        word = found.group(name).lower()
        if (
            _not_a_street(word)
            or word in _CATEGORY_WORDS
            or word in _MONTH_WORDS
            or any(p.search(word) for p, _c in _LEDGER_CATEGORIES)  # "for internet"
            or _STORES.match(text, found.start(name))  # "at home depot"
        ):
            continue
        return word, found.span(name)
    return None, None


_MONTH_WORDS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
     "sept", "oct", "nov", "dec", "last", "this", "today", "yesterday"}
)  # fmt: skip
_LEDGER_AMOUNT = re.compile(
    r"(?<![\w/.])\$?\s*(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?P<c>\.\d{1,2})?\s*(?P<k>k)?(?![\w/]|\.\d)",
    re.I,
)


def _ledger_amount(text: str) -> tuple[Decimal | None, str]:
    """The amount in a ledger booking and ``text`` without it.

    Never the house number of the address or a day ("1,840 on 2200 Other St on 10/15": 1,840;
    "got 1100 rent from the tenant at 1215 kellogg": 1,100).
    """
    _where, span = _ledger_where(text)
    blanked = (
        text if span is None else text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]
    )
    blanked = _EXPENSE_DAY.sub(lambda m: " " * len(m.group(0)), blanked)
    found = _LEDGER_AMOUNT.search(blanked)
    if found is None:
        return None, text
    value = Decimal(found.group("n").replace(",", "") + (found.group("c") or ""))
    value = value * 1000 if found.group("k") else value
    value = (
        value.quantize(Decimal(1))
        if value == value.to_integral()
        else value.quantize(Decimal("0.01"))
    )
    return (value if value > 0 else None), text[: found.start()] + " " + text[found.end() :]


def _ledger_plan(text: str) -> Plan | None:
    """A plan to book a rental's operating money in the ledger; None when not that.

    Rehab money ("on the kellogg rehab", "for the roof") is a project's expense instead.
    """
    if "?" in text or _PROJECT_WORDS.search(text):
        return None
    refund = _REFUND.search(text)
    rent = None if refund else _RENT_IN.search(text)
    category = "rents_received" if rent else None
    if category is None:
        category = next((c for pattern, c in _LEDGER_CATEGORIES if pattern.search(text)), None)
        # "paid ... for utilities", or a bill said first: "water bill 45.60 for kellogg".
        first = re.match(r"^\s*(?:the\s+)?([a-z]+(?:\s+[a-z]+)?)", text, re.I)
        said_first = first is not None and any(
            p.match(first.group(1)) for p, _ in _LEDGER_CATEGORIES
        )
        if category is not None and not (_LEDGER_VERB.search(text) or said_first or refund):
            category = None
    if category is None:
        return None
    text = _numeric_days(text)
    amount, _rest = _ledger_amount(text)
    if amount is None:
        return Plan(reply="Say the amount, e.g. 'paid DTE 92.10 for utilities on kellogg'.")
    day = _expense_day(text)
    if day is None and (unread := _EXPENSE_DAY.search(text)):
        return Plan(
            reply=f"I couldn't read the date {unread.group(0).strip()!r}: say it as e.g. "
            "'on 10/28' or 'on October 28'."
        )
    where, _span = _ledger_where(_EXPENSE_DAY.sub(" ", text))
    if where is None and rent:
        return Plan(
            reply="Which rental is the rent for? Say its street or address, e.g. 'got 1,100 "
            "rent from the tenant at 825 ridgewood'.",
            needs="record_transaction",
        )
    args: dict[str, Any] = {"amount": str(amount), "category": category}
    if rent:
        args["type"] = "income"
    elif refund:
        # "state farm refunded 110 on duff for the insurance": money back on that expense.
        args["type"] = "refund"
        if who := re.match(
            r"^\s*([a-z][\w&'.-]*(?:\s+[a-z][\w&'.-]*){0,3}?)\s+(?:refunded|credited)", text, re.I
        ):
            args["counterparty"] = who.group(1).title() if who.group(1).islower() else who.group(1)
    if where:
        args["deal"] = where
    if day is not None:
        args["date"] = day.isoformat()
    if (payee := _LEDGER_PAYEE.search(text)) and not any(
        w in _CATEGORY_WORDS for w in payee.group("who").lower().split()[:1]
    ):
        name = payee.group("who")
        args["counterparty"] = name.title() if name.islower() else name  # "mid american"
    args["note"] = text[:1000]
    return Plan("record_transaction", args)


def _expense_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to book money spent on a project; None when the message is not that."""
    said_text, text = text, _numeric_days(text)
    booked = _EXPENSE_BOOK.search(text)
    said = _EXPENSE_SAID.search(text)
    refund = _REFUND.search(text) and "?" not in text  # "Home Depot refunded 45.20 on kercheval"
    if not booked and not (said and "?" not in text) and not refund:
        return None
    who = _PAID_WHO.search(text)
    # "paid miller plumbing 600 for the furnace": the payee's name is not the line paid for.
    payee = (who.group(1) or who.group(2)) if who else None
    paid_for = text.replace(payee, " ", 1) if payee and not _EXPENSE_LINE.fullmatch(payee) else text
    lines = list(_EXPENSE_LINE.finditer(paid_for))
    # "a dumpster expense for drywall": the work ("drywall") is the line; a dumpster or permit
    # is the line only when no work is named.
    line = next(
        (m for m in lines if m.group(1).lower() not in {"dumpster", "permit", "permits"}),
        lines[0] if lines else None,
    )
    category = next((c for pattern, c in _EXPENSE_CATEGORIES if pattern.search(text)), None)
    store = _STORES.search(text)
    vendor_at = _VENDOR_AT.search(text)
    said_of = line or category or store or vendor_at or who or _PROJECT_WORDS.search(text)
    if not booked and not said_of and not refund:
        return None  # "we paid 150k for 123 Main St": what a house cost, not a rehab expense
    amount, rest = _expense_amount(text)
    rest = _EXPENSE_DAY.sub(" ", rest)
    ref = _project_ref(rest)
    street = _street_project(rest)
    if ref is None or (street and _PROJECT_WORDS.search(ref)):
        ref = street  # "paid 3 guys 600 for demo on the mack ave job": no house number
    if ref is None:
        ref = _bare_street(rest)  # "paid Ray 4,000 for the roof on kellogg"
    if ref is None and (_IT.search(text) or booked or said or refund):
        ref = _project_from_history(text, conversation)
    if amount is None or ref is None:
        return Plan(
            reply="Say the amount, what it paid for and the project, e.g. 'paid Ray 4,000 for "
            "the roof on the kercheval rehab' or 'spent $450 at Home Depot on plumbing for' and "
            "the project's address.",
            needs="record_expense",
        )
    args: dict[str, Any] = {"project": ref, "amount": str(amount), "note": said_text[:1000]}
    if line:
        word = line.group(1).lower()
        args["line"] = _EXPENSE_LINE_WORDS.get(word, word)
    if category:
        args["category"] = category
    if store:
        # "lowe's" is "Lowe's", never "Lowe'S" (str.title capitalises after an apostrophe).
        args["vendor"] = re.sub(r"'S\b", "'s", store.group(1).title().replace("Lowes", "Lowe's"))
    elif vendor_at:
        args["vendor"] = vendor_at.group(1)
    if who:
        name = (who.group(1) or who.group(2)).strip()
        if _EXPENSE_LINE_WORDS.get(name.lower()) is None and not _EXPENSE_LINE.fullmatch(name):
            args["contractor"] = name
    day = _expense_day(text)
    if day is None and (unread := _EXPENSE_DAY.search(text)):
        # "on 2/30": never booked as today without a word.
        return Plan(
            reply=f"I couldn't read the date {unread.group(0).strip()!r}: say it as e.g. "
            "'on 11/20' or 'on November 20', and I'll book it.",
            needs="record_expense",
        )
    if day is not None:
        args["spent_on"] = day.isoformat()
    if refund:
        args["refund"] = True  # money back: it lowers the line's and project's spent
    return Plan("record_expense", args)


# Taking back an expense booked by mistake: "void expense bcb300a8 on the kercheval rehab",
# "void that expense, it was a repeat", "undo that expense" (void_expense).
_VOID = re.compile(
    r"\b(?:void|undo|reverse|take back|cancel|delete|remove)\b[^.?!]{0,40}?"
    r"\b(?:expense|expenses|booking|payment|charge|bill|entry|transaction|that one|that|it)\b",
    re.I,
)
_TRANSACTION_REF = re.compile(
    r"\btransaction\s*(?:#|id)?\s*:?\s*([0-9a-f]{6}[0-9a-f-]{0,30})\b", re.I
)
_EXPENSE_REF = re.compile(r"\bexpense\s*(?:#|id)?\s*:?\s*([0-9a-f]{8}[0-9a-f-]{0,28})\b", re.I)
_VOID_REASON = re.compile(r"(?:,|;|\s-|\bbecause\b|\bas\b)\s*(?:it was\s+)?(.{3,200})$", re.I)


_VOID_FILLER = frozenset(
    {"void", "undo", "reverse", "take", "back", "cancel", "delete", "remove", "the", "that",
     "this", "it", "its", "expense", "expenses", "booking", "payment", "one", "last", "just",
     "booked", "entry", "please", "pls", "i", "you", "we", "made", "can", "could", "my", "a",
     "an", "on", "for", "of", "to", "at", "in", "mistake", "wrong", "oops", "sorry", "no",
     "actually", "rehab", "project", "job", "again", "now", "ok", "okay", "out"}
)  # fmt: skip


def _last_ledger_booking(conversation: Conversation) -> dict[str, Any] | None:
    """The ledger transaction the thread's latest answer booked (record_transaction), if any."""
    for message in reversed(conversation.history):
        if isinstance(message, ToolMessage):
            result = tool_result(message)
            if message.name == "record_transaction" and "error" not in result:
                return result if result.get("transaction_id") else None
            return None
    return None


def _void_reason(text: str) -> dict[str, str]:
    """The reason said with a void ("..., duplicate"), unless it is a description (a figure)."""
    reason = _VOID_REASON.search(text)
    if reason is None or re.search(r"\d", reason.group(1)):
        return {}
    return {"reason": reason.group(1).strip()[:500]}


_VOID_DESCRIBED_FILLER = _VOID_FILLER | {
    "from",
    "dated",
    "charged",
    "charge",
    "bill",
    "transaction",
}


def _void_described(text: str) -> Plan:
    """void_transaction's arguments from a description: payee words, amount, deal, period."""
    args: dict[str, Any] = {}
    said = _numeric_days(text)
    period = period_in(said)
    if period is not None:
        args |= {"start": period[0].isoformat(), "end": period[1].isoformat()}
        said = said.replace(period[2], " ")
    elif (day := _expense_day(said)) is not None:
        args |= {"start": day.isoformat(), "end": day.isoformat()}  # "from 11/4"
    said = _EXPENSE_DAY.sub(" ", said)
    # "on 2200 Other St, the 870.43 one": the address is after on/at/for; the amount apart.
    where, span = _ledger_where(said)
    amount, _rest = _ledger_amount(said)
    if amount is not None:
        args["amount"] = str(amount)
    if span is not None:
        said = said[: span[0]] + " " + said[span[1] :]
    if where:
        args["deal"] = where
    said = _LEDGER_AMOUNT.sub(" ", said)
    category = next((c for pattern, c in _LEDGER_CATEGORIES if pattern.search(said)), None)
    if category is None and re.search(r"\brent\b", said, re.I):
        category = "rents_received"
    words_left = [
        w
        for w in re.findall(r"[a-z][a-z'&.-]*", _without_void_reason(said).lower())
        if w not in _VOID_DESCRIBED_FILLER
        and w not in {"wrong", "mistaken", "bad", "duplicate", "dollar", "dollars", "bucks"}
        and w not in _CATEGORY_WORDS
        and w not in {"on", "at", "for"}
    ]
    if category is not None and category != "advertising":  # "zillow ad": the payee's words
        args["category"] = category
    if words_left:
        args["counterparty"] = " ".join(words_left)[:200]
    if not args:
        return Plan(
            reply="Which one? Say 'void' and what it was (the payee, amount, house or month, "
            "e.g. 'void the 92.10 DTE charge on kellogg'), or 'void transaction' and its id.",
            needs="void_transaction",
        )
    return Plan("void_transaction", args | _void_reason(text))


def _without_void_reason(text: str) -> str:
    """A void request without its reason ("undo that, wrong project", "void that - dupe")."""
    return _VOID_REASON.sub("", text)


def _names_another_expense(text: str, booked: dict[str, Any]) -> bool:
    """Whether a void request describes an expense other than the one just booked.

    "void that" and "cancel the last expense on ridgewood" mean the booking just made; "void
    the zillow ad expense from october" names another (it voided the latest booking).
    """
    said = _without_void_reason(text)
    known = " ".join(str(v) for v in booked.values() if v is not None).lower()
    for word in re.findall(r"[a-z0-9][a-z0-9'.$,]*", said.lower()):
        word = word.strip(".,'")
        if word and word not in _VOID_FILLER and word not in known:
            return True
    return False


def _last_booking(conversation: Conversation) -> dict[str, Any] | None:
    """The latest expense the thread booked (record_expense's result), if any."""
    for message in reversed(conversation.history):
        if isinstance(message, ToolMessage) and message.name == "record_expense":
            result = tool_result(message)
            if "error" not in result and result.get("expense_id"):
                return result
    return None


# "no, it was 350", "actually make it $1,250", "sorry, should be 35.50" right after a booking:
# the expense is voided and booked again at that amount (``fallback_for`` books it).
_CORRECTED_AMOUNT = re.compile(
    r"^\s*(?:no|nope|sorry|oops|actually|wait|correction)[,!.:]?\s+(?:no[,.]?\s+)?"
    r"(?:it\s+was|it'?s|its|make\s+it|(?:it\s+|that\s+)?should\s+(?:have\s+)?be(?:en)?"
    r"|i\s+meant)\s+(?P<amount>\$?\s*[\d,]+(?:\.\d{1,2})?\s*k?)\s*[.!]*\s*$",
    re.I,
)
CORRECTION_REASON = "corrected amount: booked again at "


def _booking_just_made(conversation: Conversation) -> tuple[dict[str, Any], dict[str, Any]]:
    """The thread's latest tool call if it booked an expense: (its arguments, its result)."""
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if isinstance(message, ToolMessage):
            result = tool_result(message)
            if message.name == "record_expense" and result.get("expense_id"):
                args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
                return args, result
            return {}, {}
    return {}, {}


def _correction_plan(text: str, conversation: Conversation) -> Plan | None:
    """Void the expense just booked when the next message corrects its amount."""
    said = _CORRECTED_AMOUNT.match(text)
    if said is None:
        return None
    args, booked = _booking_just_made(conversation)
    if not booked:
        return None
    amount = _dollars_said(said.group("amount"))
    if amount is None or Decimal(amount) <= 0:
        return Plan(reply="Say the corrected amount, e.g. 'no, it was 350'.")
    if booked.get("refund"):
        return Plan(
            reply="A refund can't be voided, so I can't correct it here: book the difference "
            "as another refund ('Home Depot refunded 10 on kellogg') or as an expense."
        )
    if _dollars_said(str(args.get("amount", ""))) == amount:
        return Plan(reply="That is the amount already booked: nothing to correct.")
    return Plan(
        "void_expense",
        {
            "project": str(booked["project_id"]),
            "expense_id": str(booked["expense_id"]),
            "reason": f"{CORRECTION_REASON}{amount}",
        },
    )


def _void_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to void a booked expense; None when the message does not ask for one."""
    starts_void = re.match(r"^\s*(?:please\s+)?(?:void|reverse)\b", text, re.I)
    if not _VOID.search(text) and not starts_void:
        return None
    booked = _last_booking(conversation)
    ledger = _last_ledger_booking(conversation)
    about_expense = re.search(
        r"\bexpense|\bbooking|\bpayment|\bcharge|\btransaction|\bbill\b|\bentry\b", text, re.I
    )
    just_booked = (booked or ledger) and (
        _IT.search(text) or re.search(r"\bthat\b", text, re.I)  # "void that" after a booking
    )
    if not about_expense and not just_booked and not starts_void:
        return None  # "cancel it" means a booked expense only right after one
    if (named_tx := _TRANSACTION_REF.search(text)) is not None:
        return Plan("void_transaction", {"transaction": named_tx.group(1), **_void_reason(text)})
    if (
        ledger is not None
        and not _EXPENSE_REF.search(text)
        and not _names_another_expense(text, ledger)
    ):
        # "void that" right after a ledger booking: that transaction.
        return Plan(
            "void_transaction", {"transaction": str(ledger["transaction_id"]), **_void_reason(text)}
        )
    named = _EXPENSE_REF.search(text)
    rest = _EXPENSE_REF.sub(" ", _without_void_reason(text))  # "undo that, wrong project"
    project = _project_ref(rest) or _street_project(rest)
    if named is not None:
        expense = named.group(1)
        if (
            project is None
            and booked is not None
            and str(booked["expense_id"]).startswith(expense.lower())
        ):
            project = str(booked["project_id"])
        project = project or _project_from_history(text, conversation)
    elif booked is not None and not _names_another_expense(text, booked):
        # The expense just booked, on its own project ("void the 60 comcast on duff" named
        # no other project: its words are the booking's).
        named_project = _PROJECT_NAMED.search(rest)
        expense = str(booked["expense_id"])
        project = named_project.group(1) if named_project else str(booked["project_id"])
    else:
        expense = None
    if expense is None and named is None:
        # "void the zillow ad expense from october", "void the wrong DTE charge on kellogg, the
        # 870.43 one": the ledger transaction described (the tool says which fit, or none).
        return _void_described(text)
    if expense is None or project is None:
        return Plan(
            reply="Which expense? Say 'void expense' with its id (the booking reply gives it) "
            "and the project, e.g. 'void expense bcb300a8 on the kercheval rehab'.",
            needs="void_expense",
        )
    args: dict[str, Any] = {"project": project, "expense_id": expense}
    reason = _VOID_REASON.search(text)
    if reason:
        args["reason"] = reason.group(1).strip()[:500]
    return Plan("void_expense", args)


# Two houses side by side: "compare X and Y", "X vs Y", "which is the better deal, X or Y?".
_COMPARE = re.compile(
    r"\bcompare\b|\bcomparison\b|\bvs\.?\b|\bversus\b|\bside by side\b"
    r"|\bwhich (?:one )?(?:is|would be|'s) (?:the )?(?:better|best)\b|\bbetter deal\b",
    re.I,
)
# A walkthrough written down: "Walked 1215 Kellogg today. Roof is shot, furnace is original,
# basement has water" (walkthrough_notes: stored as a voice note's transcript would be).
_WALKED = re.compile(
    r"\b(?:walked|walk[\s-]?through|walkthrough|toured|viewed|inspected|looked at|saw)\b", re.I
)


_WALK_ADDRESS = re.compile(
    r"^\s*(?:(?:walked|toured|viewed|inspected|at)\s+)?(\d+[a-z]?\s+[a-z][\w .'-]{1,60}?)"
    r"\s*(?=[,.;:\n])",
    re.I,
)


def _conditioned_findings(text: str) -> list[Any]:
    """The components the walkthrough extractor hears a condition for in ``text``."""
    from domain.audio.extraction import extract_from_text  # pure rules, no database

    return [f for f in extract_from_text(text) if f.condition is not None]


def _walkthrough_plan(text: str, conversation: Conversation) -> Plan | None:
    """A plan to keep a texted walkthrough as the property's conditions; None if not one.

    Two or more components with a condition (or one, after "walked", "toured" ...), said, not
    asked, and not an estimate, offer or what-if request (those have their own tools).
    """
    if "?" in text or _REHAB.search(text) or _MAX_OFFER.search(text) or _REPORT.search(text):
        return None
    if _price_given(text) or _rehab_given(text):
        return None
    found = _conditioned_findings(text)
    if len(found) < 2 and not (found and _WALKED.search(text)):
        return None
    address = extract_address(text)
    if address:
        # "1215 Kellogg today. Roof is shot, ...": the address ends with its sentence.
        address = re.split(r"[.;:\n]|,\s+(?=[a-z])", address, maxsplit=1)[0].strip()
    else:
        # "1215 Kellogg Ave, roof is shot ...": a house number and street before the notes.
        lead = _WALK_ADDRESS.match(text)
        address = lead.group(1).strip() if lead else None
    if address and _conditioned_findings(address):
        address = None  # "12 windows are cracked" is a finding, not a house
    if address:
        return Plan("walkthrough_notes", {"address": address, "notes": text[:20_000]})
    discussed = conversation.discussed()
    if discussed is None:
        return Plan(
            reply="Which property? Send the street address with your walkthrough notes, e.g. "
            "'Walked 1215 Kellogg Ave: roof is shot, furnace is original'.",
            needs="walkthrough_notes",
        )
    return Plan("walkthrough_notes", {**discussed, "notes": text[:20_000]})


# "what about duff?", "and how about ridgewood" right after a question about one street: the
# same question about the street named now.
_WHAT_ABOUT = re.compile(
    r"^\s*(?:(?:and|ok|okay|so)[,\s]+)?(?:what|how)\s+about\s+(?:on\s+|for\s+|at\s+)?"
    r"(?:the\s+)?(?P<street>[a-z][a-z'-]{2,})(?:\s+" + _STREET_TYPE + r"\.?)?"
    r"(?:\s+(?:house|deal|property|place|rehab|project|job|one))?\s*[?.!]*\s*$",
    re.I,
)


def _what_about_plan(text: str, conversation: Conversation) -> Plan | None:
    """The thread's previous question asked again about the street named now, or None.

    Only when the previous question named a street of its own (in its words, and as a tool
    argument), which is swapped for the new one: "how's kellogg going" then "what about duff"
    is "how's duff going".
    """
    found = _WHAT_ABOUT.match(text)
    if found is None or _not_a_street(found.group("street").lower()):
        return None
    if found.group("street").lower() in _MONTH_WORDS:
        return None  # "what about september?" names a month, not a street
    last = max(
        (i for i, m in enumerate(conversation.history) if isinstance(m, HumanMessage)), default=-1
    )
    if last < 0:
        return None
    before = message_text(conversation.history[last])
    said = [
        str(value)
        for message in conversation.history[last + 1 :]
        if isinstance(message, AIMessage)
        for call in message.tool_calls
        for value in call.get("args", {}).values()
        if isinstance(value, str) and value.strip()
    ]
    for value in said:
        street = re.search(re.escape(value), before, re.I)
        if street is None or re.fullmatch(r"[\d\s.,$-]+", value):
            continue
        again = before[: street.start()] + found.group("street") + before[street.end() :]
        if _WHAT_ABOUT.match(again):
            return None
        plan = plan_for(Conversation(text=again, history=conversation.history, this_turn=[]))
        from tools import READ_TOOL_NAMES  # late: the tools import this module

        if plan.tool is None:
            return None
        if plan.tool not in READ_TOOL_NAMES:
            # "paid ray 4000 for the roof on kellogg" then "what about duff?": never a second
            # booking (or close, void, award ...) the user did not ask for in so many words.
            return Plan(
                reply=f"Do you mean the same for {found.group('street')}? Say it in full, "
                f"e.g. '{again}'."
            )
        if not any(
            found.group("street").lower() in str(value).lower() for value in plan.args.values()
        ):
            return None  # the question fell back to the house just discussed, not the street
        return plan
    return None


# A short id said anywhere ("project status 7bf19dd2"): eight hex digits, some of them digits
# and some letters (so neither a word nor a number).
_SHORT_HEX_ID = re.compile(r"\b(?=[0-9a-f]{0,7}[0-9])(?=[0-9a-f]{0,7}[a-f])([0-9a-f]{8})\b", re.I)


def plan_for(conversation: Conversation) -> Plan:
    """The tool call (or direct answer) for the latest user message.

    A project question that names no project goes to the caller's one open project, unless
    the message has a short id in it: then that id (was: "project status 7bf19dd2", an id
    of no project of theirs, answered about their open project without a word).
    """
    plan = _plan_for(conversation)
    said = _SHORT_HEX_ID.search(conversation.text)
    if (
        said is not None
        and plan.args.get("project") == ONLY_OPEN_PROJECT
        # "mark task 169f31b0 done": the id is the task's, not a project's.
        and not any(said.group(1).lower() in str(v).lower() for v in plan.args.values())
    ):
        plan.args["project"] = said.group(1).lower()
    return plan


def _plan_for(conversation: Conversation) -> Plan:
    """The tool call (or direct answer) for the latest user message (see ``plan_for``)."""
    lines = conversation.text.strip().splitlines()
    has_media = any(line.startswith(MEDIA_NOTE_PREFIX) for line in lines)
    text = "\n".join(line for line in lines if not line.startswith(MEDIA_NOTE_PREFIX)).strip()
    if not text:
        return Plan(reply=MEDIA_ONLY if has_media else EMPTY_MESSAGE)
    if not re.search(r"[a-z0-9]", text, re.I):
        return Plan(reply=NOT_UNDERSTOOD)
    if _OPT_OUT.match(text):
        # "STOP": no more messages they did not ask for (deal alerts are the only ones an
        # investor or the team gets unasked); their criteria are kept for "START".
        return Plan("configure_alerts", {"active": False})
    if _OPT_IN.match(text) and _opted_out_before(conversation):
        return Plan("configure_alerts", {"active": True})
    if _HELP.search(text):
        return Plan(reply=HELP_TEXT)
    if _YES.match(text) and (suggested := _suggested_address(conversation)):
        return Plan("analyze_property", {"address": suggested})  # "Did you mean ...?" "yes"
    meant = _MEANT.match(text)
    if meant is not None:
        corrected = _meant_address(meant.group(1), conversation)
        if corrected is not None:
            return Plan("analyze_property", {"address": corrected})
    if (picked := _ORDINAL_PICK.match(text)) and (pick := _picked(picked, conversation)):
        return pick  # "the second one" from a list of houses
    if small := _SMALL_WHAT_IF.search(text):
        said = small.group(1)
        return Plan(
            reply=f"Did you mean ${said},000? Say 'what if I pay {said}k' (or the full amount)."
        )
    text = _amounts_in_digits(_corrected(text))
    voucher_rent = _section8_follow_up(text, conversation)
    if voucher_rent is not None:
        return voucher_rent

    subject = _subject(text)
    saved = _save_valuation_plan(text, subject, conversation)
    if saved is not None:
        return saved
    if _REPORT.search(text):
        if subject:
            return Plan("generate_report", subject)
        compared = _just_compared(conversation)
        if compared:  # "send me the report" right after comparing houses: which one?
            return Plan(
                reply=f"Which of the {_count_word(len(compared))} houses? Say 'report for' and "
                "its address, or 'the first one' (or 'the second one' ...) and then 'report'."
            )
        property_id, _ = conversation.last_property(PROPERTY_TOOLS)
        if property_id is None:
            return Plan(reply="Which property? Send its street address first, then 'report'.")
        # After "what if I pay 30k?" the PDF shows the figures the reply gave.
        return Plan(
            "generate_report",
            {"property_id": property_id, **_what_if_of(conversation, property_id)},
        )

    if (_DROP.search(text) and (_COMP_WORD.search(text) or "#" in text)) or _RECOMPUTE.search(text):
        property_id, args = conversation.last_property(("get_comps",))
        if property_id is None:
            return Plan(reply="Ask for comps first ('comps for <address>'), then drop one.")
        earlier = {x for x in args.get("exclude") or [] if isinstance(x, int)}
        dropped = earlier | set(_comp_numbers(text))
        if not dropped and not _RECOMPUTE.search(text):
            return Plan(reply="Which comp? Say 'drop comp' and its number from the list.")
        call: dict[str, Any] = {"property_id": property_id, "exclude": sorted(dropped)}
        if args.get("arv"):
            call["arv"] = True
        return Plan("get_comps", call)

    follow_up = _FOLLOW_UP.match(text) or _FOLLOW_UP_QUESTION.match(text)
    if follow_up and subject is None:
        if compared := _just_compared(conversation):
            return _which_compared(compared)
        property_id, _ = conversation.last_property(PROPERTY_TOOLS)
        if property_id is None:
            return Plan(reply="Which property? Send its street address first.")
        word = re.sub(r"[\s-]+", "", follow_up.group(1).lower())
        if word.startswith("section"):
            return Plan("section8_rent", {"property_id": property_id})
        focus = _FOCUS_WORDS.get(word, "rental")
        # "what if I pay 60k?" then "and as a flip?": the flip at 60k.
        what_if = _what_if_of(conversation, property_id)
        return Plan("analyze_property", {"property_id": property_id, "focus": focus, **what_if})
    if _PERFORMANCE.search(text):
        return _performance_plan(text, conversation)  # "how did kercheval do vs projection?"
    if (
        subject is None
        and _PROJECTION.search(text)
        and not any(p.search(text) for p in (_DEALS, _BUDGET, _PNL, _CASHFLOW))
    ):
        if compared := _just_compared(conversation):
            return _which_compared(compared)
        property_id, _ = conversation.last_property(PROPERTY_TOOLS)
        if property_id is None:
            return Plan(reply="Which property? Send its street address first.")
        what_if = _what_if_of(conversation, property_id)
        return Plan(
            "analyze_property", {"property_id": property_id, "focus": "projection", **what_if}
        )
    aspect = None if subject or _SECTION8.search(text) else _aspect(text)
    if aspect is not None:
        if compared := _just_compared(conversation):
            return _which_compared(compared)
        property_id, _ = conversation.last_property(PROPERTY_TOOLS)
        if property_id is None:
            return Plan(reply="Which property? Send its street address first.")
        what_if = _what_if_of(conversation, property_id)
        return Plan("analyze_property", {"property_id": property_id, "focus": aspect, **what_if})
    sqft = (
        None
        if _REHAB.search(text) or _COMP_WORD.search(text)
        else _house_sqft(text, with_address=subject is not None)
    )
    if sqft is not None:
        sized = subject
        if sized is None:
            sized = conversation.discussed()
        if sized is None:
            return Plan(reply="Which property? Send its street address with the square footage.")
        given = _rehab_given(text)
        return Plan(
            "max_offer" if _MAX_OFFER.search(text) else "analyze_property",
            {**sized, "square_feet": sqft, **({"rehab_cost": given} if given else {})},
        )
    several = _addresses(text)
    if len(several) > 1 and _COMPARE.search(text):
        # "compare 1215 Kellogg Ave and 2718 Duff Ave", "which is better, X or Y?"
        return Plan("compare_properties", {"addresses": several[:4]})
    if len(several) > 1:
        listed = "; ".join(several[:4])
        return Plan(
            reply=f"I see {len(several)} addresses ({listed}). Send them one per message and "
            "I'll analyse each."
        )

    which = _which_answered(text, conversation) or _which_picked(text, conversation)
    if which is not None:
        return which
    correction = _correction_plan(text, conversation)
    if correction is not None:
        return correction
    month_end = _month_end_plan(text)
    if month_end is not None:
        return month_end
    task = _task_plan(text, conversation)
    if task is not None:
        return task
    voided = _void_plan(text, conversation)
    if voided is not None:
        return voided
    ledger = _ledger_plan(text)
    if ledger is not None:
        return ledger
    expense = _expense_plan(text, conversation)
    if expense is not None:
        return expense
    walked = _walkthrough_plan(text, conversation)
    if walked is not None:
        return walked
    paid_subject = subject
    if paid_subject is None and _PAID.search(text) and (street := _paid_street(text)):
        paid_subject = {"deal": street}  # "what did we sell ridgewood for": that street's deal
    if paid_subject is None and _PAID.search(text):
        # "what did we pay for it?" right after an analysis: that property.
        last_id, _ = conversation.last_property(
            ("analyze_property", "max_offer", "get_comps", "section8_rent", "what_we_paid")
        )
        paid_subject = {"property_id": last_id} if last_id else None
        latest = conversation.latest_subject()
        if latest is not None and latest[0] == "deal":
            # ... or right after a deal's answer: that deal's property.
            paid_subject = {"deal": latest[1]}
    # "purchase price 150k" names a price to analyse at, not a question about what we paid.
    paid = None if _price_given(text) else _paid_plan(text, paid_subject)
    asked = (
        paid
        or _offers_plan(text, conversation)
        or _deal_status_plan(text, conversation)
        or _leads_plan(text)
    )
    if asked is not None:
        return asked
    inbox = _action_items_plan(text, conversation)
    if inbox is not None:
        return inbox
    lead = _lead_plan(text)
    if lead is not None:
        return lead
    starts = _starts_plan(text, conversation)
    if starts is not None:
        return starts
    scope_line = (
        _scope_line_plan(text, conversation)
        or _reschedule_plan(text, conversation)
        or (_street_status_plan(text) if _STREET_OVER.search(text) else None)
    )
    if scope_line is not None:
        return scope_line
    construction = _construction_plan(text, conversation)
    if construction is not None:
        return construction
    street_status = _street_status_plan(text)
    if street_status is not None:
        return street_status
    market = _why_score_plan(text, conversation) or _market_plan(text)
    if market is not None:
        return market
    if _ROSTER_ASKED.search(text):
        trade = _trade(text)
        return Plan("list_contractors", {"trade": trade} if trade and trade != "general" else {})

    write = _deal_update_plan(text, conversation) or _deal_write(text, conversation)
    if write is not None:
        return write
    price_given = _price_given(text) or (_price_at(text) if subject else None)
    if price_given is not None and not _MAX_OFFER.search(text):
        # "what if I pay 150k?" right after an analysis: that property at that price.
        priced = subject
        stacked: dict[str, Any] = {}
        if priced is None:
            priced = conversation.discussed()
            if priced is not None:  # what-ifs stack: "what if rehab is 70k?" then "and at 45k?"
                stacked = _what_if_of(conversation, str(priced["property_id"]))
        if priced is None:
            return Plan(
                reply="Which property? Send its street address with the price, e.g. "
                "'<address>, what if I pay 150k?'."
            )
        given = _rehab_given(text)
        return Plan(
            "analyze_property",
            {
                **priced,
                **stacked,
                "purchase_price": price_given,
                **({"rehab_cost": given} if given else {}),
            },
        )

    rehab_given = _rehab_given(text)
    stacked = {}
    if rehab_given is not None and not subject and not _MAX_OFFER.search(text):
        # "what if rehab is 40k?" right after an analysis: that property with that budget,
        # and any price the thread's last what-if gave it ("what if I offer 45k?" before).
        subject = conversation.discussed()
        if subject is not None:
            stacked = _what_if_of(conversation, str(subject["property_id"]))
    if rehab_given is not None and subject and not _MAX_OFFER.search(text):
        return Plan("analyze_property", {**subject, **stacked, "rehab_cost": rehab_given})
    if _REHAB.search(text) and not _MAX_OFFER.search(text):
        target = extract_address(text.split(":", 1)[0]) if ":" in text else None
        where = {"address": target} if target else {}
        scope = text.split(":", 1)[1] if ":" in text else text
        if _conditioned_findings(scope):
            # The user's own words, read by the walkthrough extractor: every component it
            # hears is priced or listed as not priced ("furnace is original" was dropped).
            return Plan("estimate_rehab", {"notes": scope.strip()[:20_000], **where})
        components = _components(text)
        if not components:
            if subject and not _rehab_given(text):
                # "how much rehab does 1215 Kellogg Ave need?", "rehab estimate for 1215
                # Kellogg Ave": the analysis's rehab (walkthroughs, photos, else the default).
                return Plan("analyze_property", {**subject, "focus": "rehab"})
            return Plan(
                reply="List what needs work with its condition, e.g. 'rehab estimate for "
                "<address>: roof poor, furnace fair, windows poor'."
            )
        return Plan("estimate_rehab", {"components": components, **where})
    if _FIND.search(text) and subject and "address" in subject:
        return Plan("find_property", {"address": subject["address"]})

    # "expenses last month", "income in Q3": the P&L of that period.
    # "expenses last month", "income for deal 1a2b3c4d": a period or a named deal.
    ledger_question = bool(_LEDGER_WORDS.search(text)) and (
        period_in(text) is not None
        or _DEAL_NAMED.search(text) is not None
        or _PNL_GROUP.search(text) is not None  # "spending by vendor"
    )
    # "how much have we spent on materials?" names no deal: the organisation's expenses; "how
    # much did we spend on <address> in October?" names a period: that deal's expenses then.
    spent_overall = bool(
        _BUDGET.search(text)
        and not re.search(r"\bbudget\b", text, re.I)
        and (_deal_reference(text) is None or period_in(text) is not None)
    )
    # "max offer ... with a 40k rehab budget": an analysis input, not a deal's budget.
    analysis_budget = bool(_MAX_OFFER.search(text) or _rehab_given(text))
    for pattern, tool in ((_BUDGET, "budget_status"), (_PNL, "pnl"), (_CASHFLOW, "cashflow")):
        if tool == "budget_status" and (spent_overall or analysis_budget):
            continue
        if (
            pattern.search(text)
            or (tool == "pnl" and (ledger_question or spent_overall or _EARNED.search(text)))
            or (tool == "cashflow" and _CASH_ON_HAND.search(text))
        ):
            # The period is not part of the deal's name ("P&L for deal 1a2b3c4d in Q3").
            period = period_in(text) if tool != "budget_status" else None
            ref = _deal_reference(text.replace(period[2], " ") if period else text)
            latest = conversation.latest_subject()
            if ref is None and latest and (_DEAL_PRONOUN.search(text) or _FOLLOW_ON.search(text)):
                # "and the P&L?", "how much have we spent on it?": what was just discussed.
                if latest[0] == "deal":
                    ref = latest[1]
                elif latest[0] == "project" and (tool == "budget_status" or spent_overall):
                    return Plan("project_status", {"project": latest[1]})
            if ref is None and not (tool == "pnl" and _counterparty(text)):
                # "budget for kellogg", "p&l for kellogg": the deal on that street (the tool
                # says so when there is none), never the whole organisation's figures; "spent
                # at menards" names a payee, not a street.
                ref = _bare_street(text.replace(period[2], " ") if period else text)
            if ref is None and tool == "budget_status":
                return Plan(reply="Which deal? Say 'budget for deal' and its id or address.")
            args = {"deal": ref} if ref else {}
            if period:
                args |= {"start": period[0].isoformat(), "end": period[1].isoformat()}
            if tool == "pnl":
                if payee := _counterparty(text):
                    args["counterparty"] = payee  # "what did we spend at home depot?"
                elif grouped := _PNL_GROUP.search(text):
                    word = grouped.group(1).lower()
                    args["group_by"] = _PNL_GROUPS.get(word, word)  # "p&l by deal"
            return Plan(tool, args)

    if _MAX_OFFER.search(text):
        if not subject and (compared := _just_compared(conversation)):
            return _which_compared(compared)
        if not subject:
            # "max offer on it if rehab is 30k", "what's my max offer?", "max offer?" right
            # after an analysis: that property (as "comps?" and "what if rehab is 35k?" do).
            subject = conversation.discussed()
        if not subject:
            return Plan(reply="Which property? Say 'max offer on' and its street address.")
        args = {**subject, **({"rehab_cost": rehab_given} if rehab_given else {})}
        if "property_id" in subject and not rehab_given:
            # Right after "what if rehab is 70k?": the max offer at that rehab (and size).
            said_before = _what_if_of(conversation, str(subject["property_id"]))
            args |= {k: said_before[k] for k in ("rehab_cost", "square_feet") if k in said_before}
            estimated = conversation.last_estimate(str(subject["property_id"]))
            if estimated is not None and "rehab_cost" not in args:
                args["rehab_cost"] = estimated  # the rehab estimate just given for it
        return Plan("max_offer", args)
    if _COMP_WORD.search(text):
        if not subject:
            # "comps for it" / "show me the comps" right after an analysis: that property.
            subject = conversation.discussed()
        if not subject:
            return Plan(reply="Which property? Say 'comps for' and its street address.")
        return Plan("get_comps", {**subject, **({"arv": True} if "arv" in text.lower() else {})})
    if _SECTION8.search(text) and not (_DEALS.search(text) and not subject):
        return _section8_plan(text, conversation)
    if not subject and (
        in_period := _deals_in_period_plan(text, named_deals=bool(_DEALS.search(text)))
    ):
        return in_period
    if _DEALS.search(text) and not subject:
        # "which deals are under contract?": only the deals in that status.
        status = next((v for p, v in _STATUS_WORDS if p.search(text)), None)
        return Plan("list_deals", {"status": status} if status else {})
    if subject:
        if _PROJECTION.search(text):
            return Plan("analyze_property", {**subject, "focus": "projection"})
        return Plan("analyze_property", subject)
    if (same_question := _what_about_plan(text, conversation)) is not None:
        return same_question
    if zip_only := re.fullmatch(r"\s*(\d{5})(?:-\d{4})?\s*[.?!]*\s*", text):
        area = zip_only.group(1)
        return Plan(
            reply=f"For a deal analysis send a street address. For the {area} market, say "
            f"'market trends for {area}' or 'latest opportunities in {area}'."
        )
    return Plan(reply=NOT_UNDERSTOOD)


# --- replies from tool results ---------------------------------------------------------------


# Said under a reply cut to fit the channel (no count: every figure must come from a tool).
CUT_NOTE = "… (cut to fit one message: ask about one project, deal or trade for the rest)"


def _fit(text: str, limit: int | None = None) -> str:
    """``text`` cut at a line boundary to at most ``limit`` characters, saying so under it.

    The limit is the channel's (``REPLY_LIMIT``) unless one is given.
    """
    limit = REPLY_LIMIT.get() if limit is None else limit
    if len(text) <= limit:
        return text
    lines, total = [], 0
    for line in text.splitlines():
        if total + len(line) + 1 > limit - len(CUT_NOTE) - 1:
            break
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n" + CUT_NOTE


# Statuses and kinds as people say them ("offer_made" is "offer made"); "section8_rental"
# is written out so no stray "8" reads as a figure.
_SPECIAL_WORDS = {
    "section8_rental": "Section Eight rental",
    "for_team": "for the team to call",
}


def short_ids(text: str) -> str:
    """``text`` with each UUID in it written as its first 8 hex digits."""
    return _UUID.sub(lambda m: m.group(0)[:8], text)


def short_id(value: Any) -> str:
    """An id the way a reply writes it: a UUID's first 8 hex digits (the tools take the prefix)."""
    text = str(value)
    try:
        return uuid.UUID(text).hex[:8]
    except ValueError:
        return text


def words(value: Any) -> str:
    """A status, strategy or category code in words: ``under_contract`` → ``under contract``."""
    text = str(value)
    return _SPECIAL_WORDS.get(text, text.replace("_", " "))


_FOCUS_LINES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "rental": (
        "As a rental",
        (
            ("rent_monthly", "rent {}/mo"),
            ("noi_annual", "NOI {}/yr"),
            ("cap_rate", "cap rate {}"),
            ("monthly_cash_flow", "cash flow {}/mo"),
            ("cash_on_cash", "cash-on-cash {}"),
            ("dscr", "DSCR {}"),
            ("cash_invested", "cash in {}"),
        ),
    ),
    "flip": (
        "As a flip",
        (
            ("profit", "profit {}"),
            ("roi", "ROI {}"),
            ("annualized_roi", "annualised {}"),
            ("total_project_cost", "all-in cost {}"),
            ("cash_invested", "cash in {}"),
            ("hold_months", "{} months held"),
        ),
    ),
    "brrrr": (
        "As a BRRRR",
        (
            ("total_cash_in", "cash in {}"),
            ("refinance_loan", "refinance loan {}"),
            ("cash_out", "cash out {}"),
            ("cash_left_in_deal", "left in the deal {}"),
            ("monthly_cash_flow", "cash flow {}/mo"),
            ("cash_on_cash", "cash-on-cash {}"),
        ),
    ),
    "projection": (
        "Held as a rental",
        (
            ("hold_years", "{} years"),
            ("cash_invested", "cash in {}"),
            ("total_cash_flow", "cash flow {} in all"),
            ("sale_price", "sold for {}"),
            ("net_sale_proceeds", "net of costs and loan {}"),
            ("total_profit", "profit {}"),
            ("irr", "IRR {}"),
            ("equity_multiple", "equity multiple {}"),
        ),
    ),
}


def _focus_reply(r: dict[str, Any], focus: str) -> str:
    title, fields = _FOCUS_LINES[focus]
    figures = (r.get("strategies") or {}).get(focus)
    if not figures:
        why = (r.get("missing") or {}).get(focus, "not enough data")
        return f"{title}, {r['address']} can't be worked out: {why}"
    parts = [label.format(figures[key]) for key, label in fields if figures.get(key)]
    tail = "".join(f"\n{note}" for note in _given_notes(r))
    return f"{title}, {r['address']}: " + " · ".join(parts) + tail


# "deal 1a2b...-... price", "deal 1a2b...'s estimated repairs": said as "the deal's" in a reply.
_DEAL_ID_IN_NOTE = re.compile(r"\b(?:the )?deal [0-9a-f]{8}-[0-9a-f-]{27}(?:'s)?", re.I)


_FMR_STALE = re.compile(r"^FMR FY(\d{4}) is (?:the newest on file|out of date)")


def _fmr_note(note: str) -> str:
    """An out-of-date FMR note in words for whoever reads the chat (the CLI hint is the team's).

    "FMR FY2012 is the newest on file for Ames, IA MSA; ... `dealdesk import fmr`" reads
    "HUD's Fair Market Rents on file are FY2012, out of date: ..."; other notes as they are.
    """
    found = _FMR_STALE.match(note)
    if found is None:
        return note
    return (
        f"HUD's Fair Market Rents on file are FY{found.group(1)}, out of date: the voucher "
        "figures may be below today's (the team can import HUD's current table)"
    )


def _given_notes(r: dict[str, Any]) -> list[str]:
    """The notes on the figures the investor gave (price, rehab budget, size), as lines."""
    notes = [_DEAL_ID_IN_NOTE.sub("the deal's", str(n)) for n in r.get("notes") or []]
    # ... and an unsure "poor" photo priced as a repair: the PDF says so, and so does the reply.
    shown = [
        f"Note: {_fmr_note(n)}"
        for n in notes
        # "FMR FY2012 is the newest on file ...": HUD's figures are years out of date.
        if n.startswith(("price ", "rehab ", "FMR FY")) or "have a person check" in n
    ]
    # Old comps and an assumed Section 8 rent, shortened for a text message (the PDF and the
    # API's notes have the whole explanation).
    old = next((_OLD_COMPS.search(n) for n in notes if _OLD_COMPS.search(n)), None)
    if old is not None:
        which = old.group(1)
        uncertain = "they are" if " and " in which else "it is"
        shown.append(
            f"Note: the newest {which} comp sold on {old.group(2)}: {uncertain} uncertain "
            "(the market since then is not known)."
        )
    if any(n.startswith("Section 8:") and "assumed at the payment standard" in n for n in notes):
        shown.append(
            "Note: no market or target rent on file, so the rent is assumed at the payment "
            "standard and the utility allowance is unknown: 'fits Section 8' is not evidence."
        )
    return shown


# The analysis's note when its comps are years old ("... the newest comp sold on 2010-06-15").
_OLD_COMPS = re.compile(
    r"^confidence shown as low\b.*?\bnewest (.+?) comp sold on (\d{4}-\d{2}-\d{2})"
)


def _price_line(r: dict[str, Any]) -> str:
    """The price line: "(the deal's, under contract)" when the analysis used the deal's price."""
    deal = r.get("deal") or {}
    if deal.get("price_used"):
        return f"Price {r['purchase_price']} (the deal's, {words(deal.get('status'))})"
    return f"Price {r['purchase_price']}"


def _aspect_reply(r: dict[str, Any], aspect: str) -> str:
    """One figure of an analysis, with where it comes from."""
    sources = r.get("sources") or {}
    if aspect == "value":
        sized = "" if r.get("values_sized_on") else " (not size-adjusted: no living area on file)"
        text = (
            f"{r['address']}: as-is value {r['as_is_value']} from "
            f"{sources.get('as_is_comps', 0)} comps, ARV {r['arv']} from "
            f"{sources.get('arv_comps', 0)} renovated comps{sized}."
        )
    elif aspect == "rehab":
        source = str(r.get("rehab_source") or "estimate")
        # The investor's own figure or the deal's repairs are not the priced scope.
        basis = (
            r["rehab_scope"]
            if source == "estimate"
            else "your figure"
            if source == "as given"
            else "the deal's estimated repairs"
        )
        text = f"{r['address']}: rehab budget {r['rehab_total']} ({basis})."
        if r.get("rehab_complete") is False and r.get("rehab_missing"):
            text += f"\nNote: {r['rehab_missing']}."
    else:
        beds = f" for {r['fmr_bedrooms']} bedrooms" if r.get("fmr_bedrooms") else ""
        fy = f", FY{r['fmr_year']}" if r.get("fmr_year") else ""
        text = (
            f"{r['address']}: rent {r['rent']}/mo ({r['rent_source']}); HUD FMR {r['fmr']} and "
            f"payment standard {r['payment_standard']}{beds}{fy}; rental cash flow "
            f"{r['rental_cash_flow_monthly']}/mo."
        )
    return text + "".join(f"\n{note}" for note in _given_notes(r))


def _address_reply(r: dict[str, Any]) -> str:
    if r.get("focus") in _FOCUS_LINES:
        return _fit(_focus_reply(r, str(r["focus"])))
    if r.get("focus") in ("value", "rehab", "rent"):
        return _fit(_aspect_reply(r, str(r["focus"])))
    fy = f"FY{r['fmr_year']}, " if r.get("fmr_year") else ""
    lines = [
        f"{r['address']}",
        f"Verdict: {r['headline']}",
        f"As-is value {r['as_is_value']} · ARV {r['arv']}",
        f"Rehab {r['rehab_total']} · "
        + (
            str(r["max_offer"])  # "no offer works (ARV ... x 70% - rehab ... = -$...)"
            if str(r["max_offer"]).startswith("no offer")
            else f"Max offer {r['max_offer']}"
        ),
        f"Rent {r['rent']} vs FMR {r['fmr']} ({fy}payment standard {r['payment_standard']})",
        f"Cash flow {r['rental_cash_flow_monthly']}/mo · Flip profit {r['flip_profit']}",
    ]
    if r.get("purchase_price") and r["purchase_price"] != "not available":
        lines.insert(2, _price_line(r))
    reasons = [str(x) for x in r.get("reasons") or []]
    if reasons:
        lines.append("Why: " + "; ".join(reasons))
    missing = r.get("missing") or {}
    # The as-is value and the ARV often miss for one reason (no location): say it once.
    for note in dict.fromkeys(
        missing[p] for p in ("arv", "as_is_value", "section8") if p in missing
    ):
        lines.append(f"Note: {note}")
    lines.extend(_given_notes(r))
    if r.get("rehab_complete") is False and r.get("rehab_missing"):
        lines.append(f"Note: {r['rehab_missing']}.")
    elif r.get("square_feet_given"):
        # Whether the size also valued the house: only when none is on file (the tool says).
        sized = "Values and rehab" if _sized_as_given(r) else "Rehab"
        lines.append(f"{sized} sized with the {r['square_feet_given']:,} sqft you gave.")
    hint = REPORT_FOLLOWS if r.get("report_follows") else REPORT_HINT
    body = _fit("\n".join(lines), REPLY_LIMIT.get() - len(hint) - 1)
    return f"{body}\n{hint}"


def _comps_reply(r: dict[str, Any]) -> str:
    head = (
        f"{'ARV' if r['kind'] == 'arv' else r['kind'].capitalize()} comps for {r['address']}: "
        f"value {r['value']} "
        f"(range {r['low']} to {r['high']})"
    )
    if r.get("dropped"):
        names = ", ".join(f"#{c['n']} {c['label']}" for c in r["dropped"])
        return (
            f"{head}\nWithout {names}: value {r['value_without_dropped']} from "
            f"{r['comps_kept']} comps (was {r['value']})."
        )
    lines = [head]
    for comp in r.get("comps", []):
        distance = (
            f", {comp['distance_miles']} mi" if comp.get("distance_miles") is not None else ""
        )
        lines.append(
            f"{comp['n']}. {comp['label']}: sold {comp['sale_price']} on {comp['sale_date']}"
            f"{distance}, adjusted {comp['adjusted_price']}"
        )
    if r.get("old_comps"):
        lines.append(f"Note: {r['old_comps']}.")
    lines.append("Say 'drop comp' and a number to recompute without it.")
    return _fit("\n".join(lines))


def _sized_as_given(r: dict[str, Any]) -> bool:
    """Whether the result's values were sized on the living area the user gave."""
    return str(r.get("values_sized_on") or "").endswith("as given")


def _offer_reply(r: dict[str, Any]) -> str:
    if "formula" not in r:
        return f"I can't work out a max offer for {r['address']}: {r.get('missing')}"
    text = f"Max offer on {r['address']}: {r['max_offer']} ({r['formula']})."
    if "values_sized_on" in r and r["values_sized_on"] is None:
        text += " The ARV is not size-adjusted (no living area on file)."
    elif _sized_as_given(r):
        text += f" ARV and rehab sized on the {r['values_sized_on']}."
    if r.get("rehab_given"):
        text += f" Rehab as you gave it; our estimate is {r['rehab_estimate']}."
    if r.get("for_target_profit") and r["for_target_profit"] != "not available":
        text += f" To clear a {r['target_profit']} flip profit: at most {r['for_target_profit']}."
    return text


# How a reply says a deal moved into a status ("closed", "went under contract").
_ENTERED_WORDS = {"closed": "closed", "under_contract": "went under contract"}


def _deals_reply(r: dict[str, Any]) -> str:
    status = words(r.get("status_asked") or "")
    period = r.get("period")
    if period:
        span = f"from {period['start'] or 'the start'} to {period['end'] or 'today'}"
        asked = r.get("status_asked")
        if asked:
            did = _ENTERED_WORDS.get(asked, f"moved to {status}")
            if not r.get("deals"):
                return f"None of your deals {did} {span}."
            head = f"Your deals that {did} {span}"
        else:
            if not r.get("deals"):
                return f"No new deals were opened {span}."
            head = f"New deals opened {span}"
        shown = r["count"]
        total = r.get("total", shown)
        lines = [f"{head} ({shown}{f' of {total}' if total != shown else ''}):"]
    elif not r.get("deals"):
        return f"None of your deals is {status}." if status else "You have no deals I can show."
    else:
        shown, total = r["count"], r.get("total", r["count"])
        latest = f"{total}, the {shown} latest changed" if total != shown else f"{shown}"
        lines = [f"Your deals{' ' + status if status else ''} ({latest}):"]
    for d in r["deals"]:
        price = f", price {d['purchase_price']}" if d.get("purchase_price") else ""
        strategy = f" ({words(d['strategy'])})" if d.get("strategy") else ""
        lines.append(
            f"• {d['address']}: {words(d['status'])}{strategy}{price}, "
            f"deal {short_id(d['deal_id'])}"
        )
    return _fit("\n".join(lines))


def _deals_over_reply(r: dict[str, Any]) -> str:
    """The deals whose budget has a line or the total over, worst first."""
    if not r.get("count"):
        return "No deal's budget is over: every line is within its allocation."
    lines = [f"{r['count']} deal(s) with a budget line over (worst first):"]
    for d in r.get("deals") or []:
        over_total = d.get("over_by") and not re.fullmatch(r"-?\$0(?:\.0+)?", str(d["over_by"]))
        total = f"over by {d['over_by']} in total" if over_total else "within in total"
        over = "; ".join(f"{x['label']} over by {x['over_by']}" for x in d.get("lines_over") or [])
        lines.append(f"• {d['address']} (deal {short_id(d['deal_id'])}): {total}; {over}")
    if r.get("not_shown"):
        lines.append(f"…and {r['not_shown']} more.")
    return _fit("\n".join(lines))


def _performance_reply(r: dict[str, Any]) -> str:
    """Actual against projected, line by line; a missing side says why (never filled in)."""
    period = r.get("period") or {}
    lines = [
        f"{r['address']} ({words(r.get('strategy'))}, {r['state']}): actual vs projected, "
        + (
            f"{period.get('start')} to {period.get('end')}."
            if period.get("start")
            else f"up to {period.get('end')} (nothing booked yet)."
        )
    ]
    if r.get("projection_missing"):
        lines.append(f"No projection: {short_ids(str(r['projection_missing']))}.")
    for line in r.get("lines") or []:
        if line.get("projected") is None and line.get("actual") is None:
            continue
        projected = line["projected"] if line.get("projected") is not None else "n/a"
        actual = line["actual"] if line.get("actual") is not None else "nothing booked"
        gap = ""
        if line.get("difference") is not None and line.get("difference_pct") is not None:
            # favourable None: no difference (or no direction), neither better nor worse
            favourable = line.get("favourable")
            better = "" if favourable is None else " better" if favourable else " worse"
            gap = f" ({line['difference']}, {line['difference_pct']}%{better})"
        lines.append(f"• {line['label']}: projected {projected} · actual {actual}{gap}")
    for ret in r.get("returns") or []:
        if ret.get("projected_pct") is not None or ret.get("actual_pct") is not None:
            projected = f"{ret['projected_pct']}%" if ret.get("projected_pct") else "n/a"
            actual = f"{ret['actual_pct']}%" if ret.get("actual_pct") else "n/a"
            lines.append(f"• {ret['label']}: projected {projected} · actual {actual}")
    if r.get("open_items"):
        lines.append("Still open: " + "; ".join(str(i) for i in r["open_items"]) + ".")
    return _fit("\n".join(lines))


def _budget_reply(r: dict[str, Any]) -> str:
    if "deals" in r:
        return _deals_over_reply(r)
    # Over budget reads "over by $7,700", never "-$7,700 left".
    total = (
        f"over by {r['over_by']}"
        if r.get("over_budget") and r.get("over_by") and not str(r["over_by"]).startswith("$0")
        else f"remaining {r['total_remaining']}"
    )
    lines = [
        f"Budget for deal {short_id(r['deal_id'])}{_on_address(r)}: "
        f"allocated {r['total_allocated']}, spent "
        f"{r['total_spent']}, {total}."
    ]
    over_by = {o["label"]: o["over_by"] for o in r.get("over_lines") or []}
    for line in r.get("lines", []):
        left = (
            f"over by {over_by[line['label']]}) OVER BUDGET"
            if line.get("over_budget") and line["label"] in over_by
            else f"{line['remaining']} left)" + (" OVER BUDGET" if line.get("over_budget") else "")
        )
        lines.append(f"• {line['label']}: {line['spent']} of {line['allocated']} ({left}")
    if not r.get("lines"):
        lines.append("No budget lines are set for this deal.")
    for category, amount in (r.get("unbudgeted_spending") or {}).items():
        lines.append(f"• {category} (no budget line): {amount} spent")
    lines.extend(f"Note: {overlap}." for overlap in r.get("overlaps") or [])
    return _fit("\n".join(lines))


def _on_address(r: dict[str, Any]) -> str:
    """The deal's address in brackets, to follow its id, when the result names it."""
    return f" ({r['address']})" if r.get("address") else ""


def _scope_label(r: dict[str, Any]) -> str:
    return (
        f"deal {short_id(r['deal_id'])}{_on_address(r)}"
        if r.get("deal_id")
        else "the whole organisation"
    )


def _pnl_reply(r: dict[str, Any]) -> str:
    if r.get("counterparty") is not None:
        return _payee_reply(r)
    lines = [
        f"P&L for {_scope_label(r)}, {r['start']} to {r['end']}: income {r['total_income']}, "
        f"expenses {r['total_expenses']}, net {r['net']}."
    ]
    if r.get("group_by") and not r.get("groups"):
        lines.append(f"Nothing is booked in the period, so there is nothing by {r['group_by']}.")
        return _fit("\n".join(lines))
    if r.get("group_by"):
        lines.append(f"By {r['group_by']}:")
        lines += [
            f"• {g['label']}: income {g['income']}, expenses {g['expenses']}, net {g['net']}"
            for g in r.get("groups") or []
        ]
        if r.get("groups_not_shown"):
            lines.append(
                f"…and {r['groups_not_shown']} more (GET /api/v1/reports/pnl with group_by "
                "lists all)."
            )
        return _fit("\n".join(lines))
    for label, values in (("Income", r.get("income") or {}), ("Expenses", r.get("expenses") or {})):
        if values:
            lines.append(
                f"{label}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items())
            )
    return _fit("\n".join(lines))


def _payee_reply(r: dict[str, Any]) -> str:
    """Money to or from one payee ("what did we spend at home depot?")."""
    who = r["counterparty"]
    if not r.get("matched"):
        return (
            f"No money to or from anyone called {who!r} is in the ledger for "
            f"{_scope_label(r)}, {r['start']} to {r['end']}."
        )
    names = ", ".join(r["matched"])
    lines = [
        f"With {names} ({_scope_label(r)}, {r['start']} to {r['end']}): spent "
        f"{r['total_expenses']}, received {r['total_income']} "
        f"({r['transactions']} transactions)."
    ]
    if r.get("expenses"):
        lines.append(
            "By category: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["expenses"].items())
        )
    return _fit("\n".join(lines))


def _cashflow_reply(r: dict[str, Any]) -> str:
    return (
        f"Cash flow for {_scope_label(r)}, {r['start']} to {r['end']}: opening "
        f"{r['opening_balance']}, in {r['inflows']}, out {r['outflows']}, net {r['net']}, "
        f"closing {r['closing_balance']}."
    )


# --- Section 8: "FMR for a 3 bed in Detroit", "would a voucher cover 1,250 on this one?" ------

# The unit size asked about: "3 bed", "3br", "3-bedroom", "three bedrooms", "a studio".
_S8_BEDROOMS = re.compile(
    r"\b(\d{1,2}|zero|one|two|three|four|five|six|seven|eight)\s*-?\s*"
    r"(?:bed(?:room)?s?|bdrms?|bds?|brs?|b/r)(?![a-z])|\b(studio|efficiency)\b",
    re.I,
)
_S8_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
}
# The FMR year asked about: "FY2025", "in 2025", "for 2023" (not "for 2024 Main St").
_S8_YEAR = re.compile(
    r"\b(?:fy\s*'?|(?:in|for|of)\s+(?:fy\s*)?)((?:19|20)\d{2})\b(?![,.]?\d)"
    r"(?=\s*(?:$|[?.!,;]|(?:in|for|fmrs?|rents?|payment|utility|voucher|hud|and|or)\b))",
    re.I,
)
# A rent in the question: "$1,250", "1,250", "1.25k", "1250/mo", "cover 1250".
_S8_AMOUNT = re.compile(
    r"(\$\s*)?(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?\s*(k\b)?"
    r"(\s*(?:/\s*mo(?:nth)?\b|a\s+month\b|per\s+month\b|monthly\b))?",
    re.I,
)
_S8_RENT_VERB = re.compile(
    r"\b(?:cover|covers|pay|pays|charge|charging|ask|asking|at|of|is|be|rent(?:ing)?(?:\s+for)?)"
    r"\s*$",
    re.I,
)
_S8_AFTER_RENT = re.compile(
    r"\s*(?:$|[?.!,;]|(?:on|for|with|a|per|in|at|and|or|if|is|be|fine|ok|okay)\b)", re.I
)
# The FMR area named: "in Detroit", "in warren, mi" (the end of the question).
_S8_AREA = re.compile(
    r"\bin\s+((?!(?:it|this|that|the|a|an)\b)[a-z][a-z .'-]*?(?:,?\s+[a-z]{2})?)"
    r"(?:\s+(?:at|for|on|with|please|pls))*\s*[?.!]*\s*$",
    re.I,
)


def _s8_rent(text: str) -> tuple[str | None, str]:
    """The rent a Section 8 question names (as a decimal string), and ``text`` without it."""
    for match in _S8_AMOUNT.finditer(text):
        dollar, digits, cents, thousands, monthly = match.groups()
        before, after = text[: match.start()], text[match.end() :]
        if not (dollar or "," in digits or thousands or monthly):
            # "cover 1250 on this one" is a rent; "rent for 1234 Oak St" a house number.
            if not _S8_RENT_VERB.search(before) or not _S8_AFTER_RENT.match(after):
                continue
        value = Decimal(digits.replace(",", "") + (cents or ""))
        if thousands:
            value *= 1000
        if not Decimal(100) <= value <= Decimal(100000):
            continue
        return str(value.quantize(Decimal("0.01"))), text[: match.start()] + " " + text[
            match.end() :
        ]
    return None, text


def _section8_context(conversation: Conversation) -> dict[str, Any] | None:
    """What the thread's latest Section 8 or property answer was about, as tool arguments."""
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage) or message.name not in PROPERTY_TOOLS:
            continue
        result = tool_result(message)
        if "error" in result:
            continue
        if result.get("property_id"):
            return {"property_id": str(result["property_id"])}
        if message.name == "section8_rent":
            args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
            return {k: v for k, v in args.items() if k in ("bedrooms", "area", "year")}
    return None


# "and 1,300?", "what about $1,250 a month?" right after a voucher answer: the same unit at
# that rent (no Section 8 word in the message).
_S8_MORE = re.compile(
    r"^\s*(?:and|what about|how about|ok,?\s+(?:and|what about)|what if (?:it(?:'s| is)|i|we)"
    r"(?:\s+(?:ask|charge))?)?\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d{3,5})(\.\d{1,2})?"
    r"\s*(?:/\s*mo(?:nth)?|a month|per month|monthly)?\s*[?.!]*\s*$",
    re.I,
)


def _section8_follow_up(text: str, conversation: Conversation) -> Plan | None:
    """A rent alone right after a ``section8_rent`` answer: that unit at that rent."""
    found = _S8_MORE.match(text)
    if found is None:
        return None
    last = next((m for m in reversed(conversation.history) if isinstance(m, ToolMessage)), None)
    if last is None or last.name != "section8_rent" or "error" in tool_result(last):
        return None
    context = _section8_context(conversation)
    if context is None:
        return None
    rent = found.group(1).replace(",", "") + (found.group(2) or "")
    return Plan("section8_rent", {**context, "target_rent": rent})


def _section8_plan(text: str, conversation: Conversation) -> Plan:
    """The ``section8_rent`` call for a Section 8 question, or what to ask for."""
    args: dict[str, Any] = {}
    if year := _S8_YEAR.search(text):
        args["year"] = int(year.group(1))
        text = text[: year.start()] + " " + text[year.end() :]
    if beds := _S8_BEDROOMS.search(text):
        word = (beds.group(1) or beds.group(2)).lower()
        args["bedrooms"] = _S8_NUMBER_WORDS.get(word, 0 if not word.isdigit() else int(word))
        text = text[: beds.start()] + " " + text[beds.end() :]
    rent, text = _s8_rent(text)
    if rent is not None:
        args["target_rent"] = rent
    area = _S8_AREA.search(text)
    subject = _subject(text[: area.start()] if area else text)
    if subject is None and area is not None:
        args["area"] = " ".join(area.group(1).split())
    if subject is None and "bedrooms" not in args:
        # "what's the payment standard?" after an answer: the same property or unit.
        context = _section8_context(conversation)
        if context is None:
            return Plan(
                reply="Which property, or how many bedrooms? Say 'voucher rent for' and a "
                "street address, or e.g. 'FMR for a three bed in Detroit'.",
                needs="section8_rent",
            )
        subject = {k: v for k, v in context.items() if k not in args}
    return Plan("section8_rent", {**(subject or {}), **args})


def _section8_reply(r: dict[str, Any]) -> str:
    beds = f"{r['bedrooms']} bedrooms" + (" (studio)" if r["bedrooms"] == 0 else "")
    head = f"{r['address']}, {beds}" if r.get("address") else f"Voucher rent, {beds}"
    pct = r.get("payment_standard_pct_of_fmr")
    share = f" ({Decimal(str(pct)).normalize():f}% of FMR)" if pct is not None else ""
    most = r["max_contract_rent"]
    lines = [
        f"{head}: FMR {r['fmr']}, payment standard {r['payment_standard']}{share}.",
        f"Source: {r['source']}.",
    ]
    if r.get("utility_allowance_on_file") is False:
        lines.append(
            f"Utility allowance: none on file, so the max contract rent {most} holds only if the "
            "owner pays all utilities; if the tenant pays any, the housing authority's allowance "
            "comes off it (rent + allowance must stay within the payment standard)."
        )
    else:
        lines.append(
            f"Utility allowance {r['utility_allowance']} for tenant-paid utilities: max contract "
            f"rent {most} (payment standard less the allowance)."
        )
    market = r.get("market_rent")
    market_said = f"the market rent {market} on file ({r.get('market_rent_source')})"
    if r.get("target_rent_source") == "none" or r.get("target_rent") is None:
        given = "on file" if r.get("address") else "given"
        cap = (
            f" Ask {r['recommended_rent']}: {market_said} caps it (HUD's rent reasonableness)."
            if market and r.get("recommended_rent") != most
            else ""
        )
        lines.append(f"No target rent {given}: the voucher supports up to {most}.{cap}")
    else:
        rent = r["target_rent"]
        said = "Rent" if r.get("target_rent_source") == "given" else "Target rent on file"
        if r.get("within_payment_standard") is False:
            lines.append(
                f"{said} {rent} does not fit the voucher: {r['over_by']} over the max contract "
                f"rent {most}."
            )
        elif r.get("rent_reasonable") is False:
            lines.append(
                f"{said} {rent} is within the payment standard but above {market_said}: it "
                "would fail HUD's rent reasonableness test, so expect about the market rent."
            )
        else:
            reasonable = (
                f", and at or below {market_said}" if r.get("rent_reasonable") is True else ""
            )
            lines.append(
                f"{said} {rent} fits the voucher: within the payment standard with "
                f"{r['headroom']} to spare{reasonable}."
            )
    said_already = ("no target rent given", "tenant-paid utilities but no utility allowance")
    lines.extend(
        f"Note: {_fmr_note(str(n))}"
        for n in r.get("notes") or []
        if not str(n).startswith(said_already)
    )
    if r.get("address"):
        lines.append(
            "A voucher lease also needs the unit to pass the housing authority's inspection."
        )
    return _fit("\n".join(lines))


def _report_reply(r: dict[str, Any]) -> str:
    if r.get("status") == "queued":
        return f"The PDF report for {r['address']} is being rendered; I'll send it when it's ready."
    what = f"the PDF report for {r['address']}" + (
        ", with the figures you gave" if r.get("what_if") else ""
    )
    link = r.get("report_url")
    if link:
        return f"Here is {what}: {link}"
    return f"Here is {what}."


def _property_reply(r: dict[str, Any]) -> str:
    lines = ["On file:"]
    for m in r.get("matches", []):
        lines.append(f"• {m['address']} (property {m['property_id']})")
    return _fit("\n".join(lines))


def _rehab_reply(r: dict[str, Any]) -> str:
    where = f" for {r['address']}" if r.get("address") else ""
    lines = [
        f"Rehab estimate{where}: {r['total']} (subtotal {r['subtotal']} + contingency "
        f"{r['contingency']})"
    ]
    for line in r.get("line_items", []):
        lines.append(f"• {line['component']}: {line['action']}, {line['cost']}")
    for message in r.get("unpriced", []):
        lines.append(f"• not priced: {message}")
    return _fit("\n".join(lines))


def _compare_reply(r: dict[str, Any]) -> str:
    """Each house in three lines, then which leads as a flip and as a rental."""
    lines = []
    for h in r.get("properties", []):
        lines += [
            f"{h['address']}: {h['headline']}",
            f"  Price {h['purchase_price']} · as-is {h['as_is_value']} · ARV {h['arv']} · rehab "
            f"{h['rehab_total']} · max offer {h['max_offer']}",
            f"  Flip profit {h['flip_profit']} · cash flow {h['rental_cash_flow_monthly']}/mo · "
            f"rent {h['rent']} vs FMR {h['fmr']}",
        ]
    if r.get("best_flip"):
        lines.append(
            f"Best flip: {r['best_flip']['address']} ({r['best_flip']['flip_profit']} profit)."
        )
    if r.get("best_rental"):
        best = r["best_rental"]
        lines.append(
            f"Best rental: {best['address']} ({best['rental_cash_flow_monthly']}/mo cash flow)."
        )
    return _fit("\n".join(lines))


def _walkthrough_reply(r: dict[str, Any]) -> str:
    """What a texted walkthrough found, what it costs, and the analysis on those conditions."""
    lines = [
        f"Saved your walkthrough of {r['address']}: its analysis and PDF now use these "
        f"conditions. Rehab {r['rehab_total']} (subtotal {r['rehab_subtotal']} + contingency "
        f"{r['contingency']}). Only what you mentioned is priced now, not the default scope."
    ]
    for f in r.get("findings", [])[:12]:
        quantity = f" x{f['quantity']}" if f.get("quantity") else ""
        if f.get("cost"):
            lines.append(
                f"• {f['component']}{quantity}: {f['condition']}, {f['action']} {f['cost']}"
            )
        else:
            lines.append(f"• {f['component']}{quantity}: {f['condition'] or 'no condition'}, "
                         f"not priced ({f.get('reason') or 'no cost'})")  # fmt: skip
    for item in r.get("not_priced", [])[:6]:
        if not any(f["component"] == item["what"] for f in r.get("findings", [])):
            lines.append(f"• not priced: {item['what']} ({item['reason']})")
    head = _fit("\n".join(lines), 700)
    if r.get("analysis"):
        return f"{head}\n\n{_address_reply(r['analysis'])}"
    return f"{head}\nNo analysis: {r.get('analysis_missing') or 'not available'}."


def _void_reply(r: dict[str, Any]) -> str:
    line = f" on the {r['line']} line" if r.get("line") else ""
    text = (
        f"Voided expense {short_id(r['voided_expense_id'])} ({r['amount']}{line}) on "
        f"{r['address']}: a reversal is booked and the ledger gets a refund; the original stays "
        "on record."
    )
    return text + _spent_text(r, has="now has", flags=False)


def _spent_text(r: dict[str, Any], *, has: str, flags: bool) -> str:
    """Where an expense (or its void) leaves its line and the project, from ``_spent_after``."""
    text = ""
    if r.get("line"):
        budgeted = f" of {r['line_budgeted']} budgeted" if r.get("line_budgeted") else ""
        over = " (over budget)" if flags and r.get("line_over_budget") else ""
        text += f" The {r['line']} line {has} {r['line_spent']} spent{budgeted}{over}."
    budget = f" of {r['project_budget']}" if r.get("project_budget") else " (no budget set)"
    over = " It is over budget." if flags and r.get("project_over_budget") else ""
    return text + f" The project has {r['project_spent']} spent{budget}.{over}"


def _changed_reply(r: dict[str, Any]) -> str:
    deal = f"deal {short_id(r.get('deal_id'))} on {r.get('address')}"
    if r.get("created"):
        strategy = f", strategy {words(r['strategy'])}" if r.get("strategy") else ""
        price = f", price {r['purchase_price']}" if r.get("purchase_price") else ""
        return f"Created {deal}: status {words(r.get('status'))}{strategy}{price}."
    if r.get("offer_amount"):
        return (
            f"Offer {r['offer_amount']} recorded ({words(r.get('offer_status'))}) on {deal}; "
            f"the deal is now {words(r.get('status'))}."
        )
    before = f" (was {words(r['previous_status'])})" if r.get("previous_status") else ""
    return f"Done: {deal} is now {words(r.get('status'))}{before}."


def _budget_verdict(r: dict[str, Any]) -> str:
    """The budget line's verdict: within budget ($X left), OVER budget by $X, or lines over."""
    remaining = str(r.get("remaining") or "")
    over_lines = [x["component"] for x in r.get("lines") or [] if x.get("over_budget")]
    if not r.get("budget") or not remaining:
        return ""
    if remaining.startswith("-"):
        return f" · OVER budget by {remaining[1:]}"
    if over_lines:
        return f" · within budget in total ({remaining} left), but over on {', '.join(over_lines)}"
    return f" · within budget ({remaining} left)"


def _project_status_reply(r: dict[str, Any]) -> str:
    if asked := r.get("line_asked"):
        return _scope_line_reply(r, asked)
    lines = [
        f"{r['name']} ({r['address']}): {words(r['status'])}",
        f"Tasks {r['tasks']}"
        + (
            f" ({r['percent_complete_by_tasks']}%)"
            if r.get("percent_complete_by_tasks") is not None
            else ""
        ),
        f"Budget {r['budget'] or 'not set'} · spent {r['spent']}"
        + (f" ({r['percent_of_budget_spent']}%)" if r.get("percent_of_budget_spent") else "")
        + _budget_verdict(r),
    ]
    if r.get("start_date") or r.get("target_end_date"):
        lines.append(
            f"Start {r.get('start_date') or 'not set'} · target finish "
            f"{r.get('target_end_date') or 'not set'}"
        )
    else:
        lines.append("No start date set (awarding a bid with a start date sets it)")
    if r.get("schedule_slip_days"):
        lines.append(f"Behind schedule by {r['schedule_slip_days']} days")
    if r.get("open_action_items"):
        count = r["open_action_items"]
        lines.append(
            f"{count} open action item{'s' if count != 1 else ''} from contractors' calls and "
            "texts: say 'action items for this project' to see them"
        )
    # Every line over its budget is shown; the others up to eight lines in all, then by name.
    scope = r.get("lines", [])
    over_first = [x for x in scope if x.get("over_budget")] + [
        x for x in scope if not x.get("over_budget")
    ]
    shown = over_first[: max(8, sum(1 for x in scope if x.get("over_budget")))]
    for line in shown:
        over = " — over budget" if line.get("over_budget") else ""
        lines.append(f"• {line['component']}: spent {line['spent']} of {line['budgeted']}{over}")
    if len(over_first) > len(shown):
        rest = ", ".join(x["component"] for x in over_first[len(shown) :])
        lines.append(f"• other lines (not over budget): {rest}")
    for task in r.get("late_tasks", [])[:5]:
        lines.append(f"• late: {task['title']} (due {task['due_date']})")
    for said in r.get("contractor_messages", []):
        lines.append(f"• {said['on']}: {said['summary']}")
    return _fit("\n".join(lines))


def _scope_line_reply(r: dict[str, Any], component: str) -> str:
    """One scope line of a project: "what's left on the roof line?"."""
    line = next(x for x in r.get("lines", []) if x["component"] == component)
    head = f"{component[:1].upper()}{component[1:]} line, {r['name']} ({r['address']}): "
    if line.get("budgeted") is None:
        return f"{head}no budget set on this line; spent {line['spent']} so far."
    if line.get("over_budget"):
        return (
            f"{head}over budget by {line['over_by']}: spent {line['spent']} of "
            f"{line['budgeted']}, nothing left."
        )
    return f"{head}{line['remaining']} left: spent {line['spent']} of {line['budgeted']}."


def _contractors_reply(r: dict[str, Any]) -> str:
    rows = r.get("contractors", [])
    trade = f" ({r['trade']})" if r.get("trade") else ""
    if not rows:
        return f"No contractors{trade} on file."
    lines = [
        f"Contractors{trade}: {r['count']}"
        + (f", first {r['shown']} by name" if r["shown"] < r["count"] else "")
    ]
    for c in rows:
        flags = [
            flag
            for flag, on in (
                ("do not call", c.get("do_not_call")),
                ("licence expired", c.get("license_expired")),
                ("insurance expired", c.get("insurance_expired")),
            )
            if on
        ]
        company = f" ({c['company']})" if c.get("company") else ""
        extra = f" [{', '.join(flags)}]" if flags else ""
        trades = ", ".join(c.get("trades") or []) or "no trade on file"
        lines.append(f"• {c['name']}{company}: {trades}; {c.get('phone') or 'no phone'}{extra}")
    return _fit("\n".join(lines))


def _days(count: Any) -> str:
    """A count of days in words: 1 day, 3 days."""
    return f"{count} day" if str(count) == "1" else f"{count} days"


def _starts_reply(r: dict[str, Any]) -> str:
    trade = r.get("trade")
    project = r.get("project") or {}
    where = f" on {project['address']}" if project.get("address") else " on the open projects"
    who = f"{trade} " if trade else ""
    rows = r.get("starts", [])
    if not rows:
        if trade and r.get("contractors_of_trade") == 0:
            return (
                f"No {trade} contractor is in the directory, so no {trade} start date is on "
                f"file. Add one, then ask for bids, e.g. 'get {trade} bids for <address>'."
            )
        return (
            f"No live {who}bids{where}, so no start date is on file. Ask for bids, e.g. "
            f"'get {trade or 'roofing'} bids for <address>'."
        )
    lines = [f"Start dates{' (' + trade + ')' if trade else ''}{where}, from the bids:"]
    for s in rows:
        when = s.get("start_date") or "no start date given"
        days = s.get("duration_days")
        length = f", {_days(days)}" if days is not None else ""
        if s.get("end_date"):
            length += f" (to {s['end_date']})"
        kind = "booked (awarded bid)" if s.get("booked") else "offered (bid not awarded yet)"
        place = "" if project else f" at {s['address']}"
        lines.append(f"• {s['contractor']}{place}: {when}{length}; {kind}, bid {s['bid_total']}")
    if r["count"] >= 20:
        lines.append("Showing the first 20; name a trade or a project to narrow it.")
    return _fit("\n".join(lines))


def _projects_reply(r: dict[str, Any]) -> str:
    asked = r.get("filters") or {}
    kinds = " and ".join(
        k
        for k, on in (
            ("over budget", asked.get("over_budget")),
            ("behind schedule", asked.get("behind_schedule")),
        )
        if on
    )
    scope = "" if asked.get("include_closed") else "open "
    if not r.get("projects"):
        return f"No {scope}projects are {kinds}." if kinds else f"You have no {scope}projects."
    head = f"{r['count']} {scope}project{'s' if r['count'] != 1 else ''}"
    lines = [
        f"{head}{' ' + kinds if kinds else ''} (worst first): spent {r['total_spent']} of "
        f"{r['total_budget']} budgeted."
    ]
    for p in r["projects"][:10]:
        spent = (
            f"spent {p['spent']} of {p['budget']}"
            if p.get("budget")
            else (f"spent {p['spent']}, no budget set")
        )
        flags = [" OVER BUDGET" if p.get("over_budget") else ""]
        if p.get("schedule_slip_days"):
            flags.append(f", {p['schedule_slip_days']} days behind")
        label = p["name"] if p["address"] in (None, p["name"]) else f"{p['name']} ({p['address']})"
        over_lines = "; ".join(
            f"{x['component']} {x['spent']} of {x['budgeted']}"
            for x in p.get("lines_over_budget") or []
        )
        lines.append(
            f"• {label}: {words(p['status'])}, {spent}{''.join(flags)}, tasks {p['tasks']}"
            + (f"; lines over budget: {over_lines}" if over_lines else "")
        )
    if r["count"] > 10:
        lines.append(f"…and {r['count'] - 10} more.")
    lines.append("Ask 'how is the rehab on <address> going?' for one project's lines and tasks.")
    return _fit("\n".join(lines))


def _bids_reply(r: dict[str, Any]) -> str:
    bids = r.get("bids", [])
    if not bids:
        return f"No bids yet on {r['address']}."
    basis = " ".join(r.get("basis") or [])
    budget, book = "budgeted cost" in basis, "cost catalogue" in basis
    priced = (
        "at their budget, or from the cost book where a line has none"
        if budget and book
        else "from the cost book"
        if book
        else "at their budget"
    )
    lines = [f"Bids on {r['address']} (missing lines priced {priced}):"]
    for b in bids:
        missing = f"; missing {', '.join(b['missing_lines'])}" if b.get("missing_lines") else ""
        notes = f"; excludes {b['exclusions']}" if b.get("exclusions") else ""
        notes += "".join(f"; check: {o}" for o in b.get("outliers") or [])
        if b.get("not_awardable_reason") and b.get("status") != "accepted":
            notes += f"; cannot be awarded: {b['not_awardable_reason']}"
        if b.get("withdrawal_reported"):
            notes += (
                f"; the contractor texted on {b.get('withdrawal_reported_on')} that they can no "
                "longer do it (see the action items)"
            )
        lines.append(
            f"• {b['contractor']}: bid {b['bid_total'] or 'lump sum'}, leveled "
            f"{b['leveled_total']}{missing}{notes} "
            f"(bid {short_id(b['bid_id'])}, {words(b['status'])})"
        )
    lowest = r.get("lowest_complete_bid_id") or r.get("lowest_leveled_bid_id")
    if lowest:
        award = " Say 'award bid' and its id to accept it." if r.get("caller_may_award") else ""
        lines.append(f"Lowest: bid {short_id(lowest)}.{award}")
    else:
        lines.append("No open bid can be awarded as things stand.")
    return _fit("\n".join(lines))


def _bids_received_reply(r: dict[str, Any]) -> str:
    bids = r.get("bids", [])
    if not bids:
        return f"No bids have come in on {r['address']} yet."
    lines = [f"{r['count']} bid(s) on {r['address']}:"]
    for b in bids:
        parts = [f"• {b['contractor']}: {b['total']}"]
        if b.get("lines"):
            parts.append(
                "(" + ", ".join(f"{x['component']} {x['amount']}" for x in b["lines"]) + ")"
            )
        if b.get("start_date"):
            parts.append(f"start {b['start_date']}")
        if b.get("duration_days") is not None:
            parts.append(_days(b["duration_days"]))
        if b.get("source") == "call":
            parts.append("by phone")
        if b.get("exclusions"):
            parts.append(f"excludes {str(b['exclusions']).strip().rstrip('.')}")
        if b.get("status") in ("accepted", "rejected", "withdrawn"):
            parts.append(f"— {b['status']}")  # after an award: not a live bid
        if b.get("bid_id"):
            parts.append(f"[bid {short_id(b['bid_id'])}]")  # to say 'award bid <id>'
        lines.append(" ".join(parts))
    return _fit("\n".join(lines))


def _award_reply(r: dict[str, Any]) -> str:
    return (
        f"Awarded bid {short_id(r['awarded_bid_id'])} on {r['address']}: "
        f"the budget is now {r['budget']}, "
        f"{r['rejected_bids']} other bid(s) rejected, {r.get('open_bids', 0)} open on other lines; "
        f"the project is {words(r['status'])}."
    )


def _ledger_reply(r: dict[str, Any]) -> str:
    """A tool's own summary sentence (the ledger tools, rescheduling), and any warning."""
    text = str(r["summary"])
    if r.get("warning"):
        text += f" {r['warning']}"
    return _fit(text)


def _expense_reply(r: dict[str, Any]) -> str:
    paid = f", paid to {r['contractor']}" if r.get("contractor") else ""
    at = f", at {r['vendor']}" if r.get("vendor") and not r.get("contractor") else ""
    line = f", {r['line']} line" if r.get("line") else ", no scope line"
    what = "a refund of " if r.get("refund") else ""  # money back lowers what was spent
    text = (
        f"Booked {what}{r['amount']} ({words(r['category'])}) on {r['address']}{paid}{at}"
        f"{line}, dated {r['spent_on']}."
    )
    text += _spent_text(r, has="has", flags=True)
    for note in r.get("notes") or []:
        text += f" Note: {note}."
    if r.get("same_day_same_amount") and not r.get("refund"):  # a refund cannot be voided
        text += (
            f" Heads up: {r['same_day_same_amount']} other expense(s) of {r['amount']} were "
            "already booked on this project for that day; if this one is a repeat, say 'void "
            "that expense'."
        )
    return text


def _request_bids_reply(r: dict[str, Any]) -> str:
    calling = f": {', '.join(r['calling'])}" if r.get("calling") else ""
    skipped = "".join(f" {row['reason']}." for row in r.get("skipped") or [])
    return (
        f"Calling {r['will_call']} {r['trade']} contractor(s) about {r['address']} "
        f"({r['contractors_on_file']} on file){calling}.{skipped} Calls go out within each "
        "contractor's hours; ask 'what bids came in?' later."
    )


def _lead_reply(r: dict[str, Any]) -> str:
    who = f"{r['name']} " if r.get("name") else "the lead "
    if r.get("will_call"):
        return (
            f"The voice agent will call {who}at {r['to_number']} about {r['address']} "
            f"(from {r['calls_from']}, within their calling hours; consent: "
            f"{r['consent_source']}). Their answers come back as action items."
        )
    if r.get("status") == "for_team":
        return (
            f"The agent won't call {who}at {r['to_number']}: no consent to automated calls was "
            "given, so the team should call them. Say where and when they consented ('consent:' "
            "and the web form or call it came from) to have the agent call."
        )
    return f"No call scheduled for {who.strip()}: {r.get('reason') or words(r.get('status'))}."


def _lead_calls_reply(r: dict[str, Any]) -> str:
    calls, upcoming = r.get("calls", []), r.get("upcoming", [])
    about = f" for {r['lead']!r}" if r.get("lead") else ""
    if not calls and not upcoming:
        return f"No seller lead calls{about} yet."
    lines: list[str] = []
    if calls:
        lines.append(f"Seller lead calls{about}, latest first:")
    for c in calls[:6]:
        who = c.get("name") or c.get("phone") or "a lead"
        when = c.get("at_local") or f"{str(c['at'])[:16].replace('T', ' ')} UTC"
        lines.append(f"• {who}, {when}: {c['summary']}")
        for step in c.get("next_steps", [])[:2]:
            if step != c["summary"]:
                lines.append(f"  – {step}")
    to_call = [u for u in upcoming if u["status"] != "for_team"]
    for_team = [u for u in upcoming if u["status"] == "for_team"]
    if to_call:
        lines.append("The agent calls next:")
        lines.extend(
            f"• {u.get('name') or u.get('phone') or 'a lead'}: {u['local_time']}"
            + (f" — {u['reason']}" if u.get("reason") else "")
            for u in to_call[:6]
        )
    if for_team:
        lines.append("For the team to call (no consent to automated calls):")
        lines.extend(
            f"• {u.get('name') or 'a lead'} at {u.get('phone')} about {u.get('address')}"
            for u in for_team[:6]
        )
    return _fit("\n".join(lines))


def _calls_reply(r: dict[str, Any]) -> str:
    calls, scheduled = r.get("calls", []), r.get("scheduled", [])
    if not calls and not scheduled:
        return f"No contractor calls on {r['address']} yet."
    lines = [f"Contractor calls on {r['address']}:"]
    for c in calls[:8]:
        outcome = words(c.get("outcome") or c.get("status"))
        lines.append(f"• {c['contractor']}: {outcome} (attempt {c['attempt']})")
    for item in scheduled[:8]:
        when = item.get("scheduled_local") or item["scheduled_for"]
        lines.append(f"• {item['contractor']}: scheduled {when}")
    return _fit("\n".join(lines))


def _score_reply(rows: list[dict[str, Any]]) -> str:
    """Each opportunity asked about, its score part by part."""
    lines: list[str] = []
    for o in rows:
        b = o.get("score_breakdown") or {}
        out_of = f" of {b['out_of']}" if b.get("out_of") else ""
        lines.append(f"{o['address']}: score {o['score']}{out_of}, {words(o['strategy'])}")
        for part in b.get("components", []):
            points = (
                f"{part['points']} of {part['max_points']}"
                if part.get("points") is not None
                else "not scored"
            )
            lines.append(f"• {words(part['name'])}: {points}. {part['explanation']}")
        lines.extend(f"Note: {n}" for n in b.get("notes") or [])
        if b.get("points_add_up") is False:
            lines.append("The parts can't be restated for this older score (see the note).")
    return _fit("\n".join(lines))


def _opportunities_reply(r: dict[str, Any]) -> str:
    if r.get("explained"):
        return _score_reply(r["explained"])
    rows = r.get("opportunities", [])
    if not rows:
        return "No opportunities found yet. The monitor scores listings as feeds are scanned."
    lines = [f"Latest opportunities ({r['count']}):"]
    for o in rows:
        lines.append(
            f"• {o['address']}: list {o['list_price']}, score {o['score']}, "
            f"{words(o['strategy'])}, ROI {o['roi_pct']}%, rehab {o['rehab_estimate']}, "
            f"ARV {o['arv']}"
        )
    return _fit("\n".join(lines))


def _alerts_reply(r: dict[str, Any]) -> str:
    if r.get("had_alerts") is False and r.get("resume"):
        return (
            "You have no deal alerts set up, so there is nothing to turn back on. Say 'alert "
            "me' with ZIP codes or cities and a price range to start them."
        )
    if r.get("had_alerts") is False:
        return (
            "Deal alerts are off: you had none set up, so there was nothing to stop, and I only "
            "message you when you text me. Say 'alert me' with ZIP codes or cities and a price "
            "range to start them."
        )
    if not r.get("active"):
        return (
            "Deal alerts are off; your criteria are kept, and I only message you when you text "
            "me. Say 'turn my alerts back on' (or START) to resume them, or 'alert me' with new "
            "criteria."
        )
    where = ", ".join([*(r.get("zip_codes") or []), *(r.get("cities") or [])]) or "any area"
    low, high = [
        p if p and p != "not available" else None for p in (r.get("price_range") or [None, None])
    ][:2]
    lines = [f"Alerts saved: {where}"]
    if low or high:
        lines.append(f"price {low or 'any'} to {high or 'any'}")
    if r.get("min_score") is not None:
        lines.append(f"score at least {r['min_score']}")
    if r.get("strategies"):
        lines.append("strategies " + ", ".join(r["strategies"]))
    if r.get("quiet_hours"):
        lines.append(f"quiet hours {r['quiet_hours']}")
    elif r.get("quiet_hours_removed"):
        lines.append("no quiet hours (alerts come at any hour)")
    return "; ".join(lines) + ". New matches come by WhatsApp."


_ALERT_STATUS_WORDS = {
    "queued": "queued for WhatsApp",
    "held": "held for your quiet hours",
    "no_phone": "not sent",
    "skipped": "not sent",
}


_WHATSAPP_DELIVERY = {
    "sent": "sent on WhatsApp",
    "recorded": "kept in the outbox, not sent (WhatsApp sending is not set up)",
    "failed": "WhatsApp could not deliver it",
    "queued": "queued for WhatsApp",
}


def _my_alerts_reply(r: dict[str, Any]) -> str:
    settings = r.get("settings")
    if settings is None:
        lines = ["You have no deal alerts set. Say 'alert me to flips in' and a ZIP to start."]
    elif not settings.get("active"):
        lines = ["Your deal alerts are off. Say 'alert me' with what you want to turn them on."]
    else:
        saved = _alerts_reply(settings | {"active": True})
        lines = ["Your alerts: " + saved.removeprefix("Alerts saved: ").split(". New")[0] + "."]
    alerts = r.get("alerts", [])
    if not alerts:
        lines.append("No alerts yet.")
    else:
        lines.append(f"Latest alerts ({len(alerts)}):")
    for a in alerts:
        status = _ALERT_STATUS_WORDS.get(a["status"], a["status"])
        if a["status"] == "queued" and a.get("whatsapp") in _WHATSAPP_DELIVERY:
            status = _WHATSAPP_DELIVERY[a["whatsapp"]]  # what the outbox did with it
        if a.get("held_until_local"):  # "7:00 am tomorrow (America/Detroit)"
            status += f" until {a['held_until_local']}"
        elif a.get("held_until"):  # an ISO time with its offset
            status += f" until {a['held_until'].replace('T', ' ')}"
        if a.get("not_sent_because"):
            status += f": {a['not_sent_because']}"
        lines.append(f"• {a['address']}, list {a['list_price']}, score {a['score']}: {status}")
    return _fit("\n".join(lines))


def _trends_reply(r: dict[str, Any]) -> str:
    months = r.get("months", [])
    capped = (
        f" (I can look back at most {r['months_limit']} months, {r['months_limit_years']} years.)"
        if r.get("months_asked") and r.get("months_limit") and r.get("months_limit_years")
        else ""
    )
    if not months:
        asked = r.get("months_requested")
        period = f"in the last {asked} months" if asked else "in that period"
        start, end = (r.get("period") or [None, None])[:2]
        if start and end:
            period += f" ({start} to {end})"
        reply = f"No {r['source']} data for {r['area']} {period}.{capped}"
        if r.get("listings_in_area"):
            n = r["listings_in_area"]
            reply += (
                f" The monitor tracks {n} listing{'s' if n != 1 else ''} there: say "
                f"'market trends for {r['area']} listings'."
            )
        return reply
    lines = [f"{r['area']} ({r['source']}), {r['period'][0]} to {r['period'][1]}:{capped}"]
    for m in months[-12:]:
        parts = [str(m.get("month"))]
        if m.get("median_price") is not None:
            parts.append(f"median {m['median_price']}")
        if m.get("median_price_per_sqft") is not None:
            parts.append(f"{m['median_price_per_sqft']}/sqft")
        if m.get("sales") is not None:
            parts.append(f"{m['sales']} sales")
        if m.get("inventory") is not None:
            parts.append(f"{m['inventory']} listed")
        lines.append("• " + ", ".join(parts))
    return _fit("\n".join(lines))


def _my_bids_reply(r: dict[str, Any]) -> str:
    bids = r.get("bids", [])
    if not bids:
        return f"No bids from {r['contractor']} on file yet."
    lines = [f"Your bids, {r['contractor']}:"]
    for b in bids:
        start = f", start {b['start_date']}" if b.get("start_date") else ""
        status = _CONTRACTOR_BID_WORDS.get(b["status"], words(b["status"]))
        lines.append(f"• {b['project']}: {b['total']}, {status}{start}")
    return _fit("\n".join(lines))


def _paid_reply(r: dict[str, Any]) -> str:
    unsold = (
        f"No sale is booked on {r['address']}. "
        if r.get("sale_asked") and not r.get("sold_for") and not r.get("close_price")
        else ""
    )
    return unsold + _paid_text(r)


def _paid_text(r: dict[str, Any]) -> str:
    if not r.get("has_price"):
        sold = (
            f" On record it sold for {r['close_price']} on {r['close_date']}."
            if r.get("close_price")
            else ""
        )
        return (
            f"No deal you can see on {r['address']} has a purchase price, so I can't say what we "
            f"paid.{sold} The analysis below shows the list (asking) price, not a price paid."
        )
    deal = f"deal {short_id(r['deal_id'])}, {words(r['deal_status'])}"
    price = r["purchase_price"]
    if r.get("basis") == "paid":
        booked = (
            "; purchase booked in the ledger"
            if str(r.get("purchase_source", "")).startswith("ledger")
            else ""
        )
        text = f"We paid {price} for {r['address']} ({deal}{booked})."
    elif r.get("basis") == "agreed":
        how = "an accepted offer" if r.get("accepted_offer_id") else "the contract"
        text = f"We agreed to pay {price} for {r['address']} ({deal}, from {how}); not closed yet."
    else:
        text = (
            f"Nothing is agreed or paid on {r['address']} yet: {deal} carries an expected "
            f"purchase price of {price}."
        )
    if r.get("closing_costs"):
        text += f" Closing costs booked: {r['closing_costs']}; all in {r['all_in']}."
    elif r.get("basis") != "expected":
        text += " No closing costs are booked on the deal."
    if r.get("sold_for"):
        costs = f", selling costs {r['selling_costs']}" if r.get("selling_costs") else ""
        # Proceeds booked on a deal not yet closed: said, and the status questioned.
        still = (
            f"; the deal is still {words(r['deal_status'])}: close it if the purchase is done"
            if r.get("basis") != "paid" and not r.get("notes")
            else ""
        )
        text += f" Sold for {r['sold_for']} (sale proceeds booked on the deal{costs}{still})."
    for note in r.get("notes") or []:
        text += f" Note: {note}."
    return text


def _deal_offers_reply(r: dict[str, Any]) -> str:
    head = f"{r['address']} (deal {short_id(r['deal_id'])}, {words(r['deal_status'])})"
    offers = r.get("offers", [])
    if not offers:
        return f"No offers on {head} yet."
    lines = [f"Offers on {head}, oldest first:"]
    for o in offers:
        when = o.get("submitted_on") or o.get("made_on")
        expires = f", expires {o['expires_on']}" if o.get("expires_on") else ""
        lines.append(f"• {o['amount']}, {words(o['status'])}, by {o['made_by']} on {when}{expires}")
        for c in o.get("changes", [])[:4]:
            note = f": {c['note']}" if c.get("note") else ""
            lines.append(f"  – {words(c['status'])} {c['on']} by {c['by']}{note}")
    return _fit("\n".join(lines))


_LEAD_STATUS_WORDS = {
    "scheduled": "agent call scheduled",
    "in_progress": "being called",
    "completed": "called",
    "cancelled": "cancelled",
    "failed": "calls failed",
    "for_team": "for the team to call (no consent to automated calls)",
}


def _seller_leads_reply(r: dict[str, Any]) -> str:
    since, until = r.get("since"), r.get("until")
    if since and until:
        since = f" on {since}" if since == until else f" from {since} to {until}"
    else:
        since = f" since {since}" if since else (f" up to {until}" if until else "")
    leads = r.get("leads", [])
    if not leads:
        return f"No seller leads{since}."
    lines = [f"Seller leads{since} ({r['count']}), newest first:"]
    for lead in leads:
        who = lead.get("name") or "a lead"
        status = _LEAD_STATUS_WORDS.get(lead["status"], words(lead["status"]))
        last = (
            f"; last call {lead['last_call_at']}: {lead['last_call']}"
            if lead.get("last_call_at")
            else "; no call yet"
        )
        lines.append(
            f"• {who}, {lead.get('phone') or 'no phone'}, {lead.get('address') or 'no address'}: "
            f"{status} (in {lead['received']}){last}"
        )
    return _fit("\n".join(lines))


# --- contractors ---------------------------------------------------------------------------
# A contractor's run has the contractor tools only; its messages are read here, not by
# ``plan_for``: their bids, or what they tell the team (passed on, never lost), or a refusal.

CONTRACTOR_UPDATE_TOOL = "contractor_update"
CONTRACTOR_HELP = (
    "Hi, I'm dealdesk, the company's assistant. You can:\n"
    "• ask about your bids: 'did you get my bid?', 'was my roof bid accepted?'\n"
    "• tell me a new start date, a new price or how long the job takes\n"
    "• send progress ('finished the tear off today') or photos\n"
    "• ask the project manager anything ('who do I invoice?'): I pass it on\n"
    "• 'stop' if you don't want to be called about bids any more"
)
CONTRACTOR_REFUSED = (
    "Sorry, that is not something I can do for you here: I can show you your own bids and "
    "pass your updates and questions to the project manager, but not budgets, deals, other "
    "contractors' bids or other projects. Send 'my bids' for yours, or 'help'."
)
CONTRACTOR_EMPTY = "I got an empty message. Send 'help' to see what I can do."
CONTRACTOR_THANKS = "You're welcome. Text me any update on the job and I'll pass it on."
CONTRACTOR_NOT_UNDERSTOOD = (
    "Sorry, I didn't get that. Text me an update on the job (a new start date, a price, "
    "progress) or a question for the project manager, or 'help'."
)
_C_OPT_OUT = re.compile(
    r"^\W*(?:stop|stop ?all|unsubscribe|opt[ -]?out)\W*$"
    r"|\b(?:stop|quit|no more)\s+(?:texting|messaging|calling|contacting|bugging|sending)\b"
    r"|\b(?:don'?t|do not|never)\s+(?:text|call|message|contact)\s+me\b"
    r"|\b(?:take|remove) me (?:off|from)\b|\bno more (?:texts|messages|calls)\b"
    r"|\bleave me alone\b|\bopt(?:ing)?[ -]?out\b",
    re.I,
)
# "thanks", "ok thanks", "great thx man", "👍": one or more of these words and nothing else.
_C_THANKS = re.compile(
    r"^\W*(?:(?:thanks?(?: you)?|thank you|thx|ty|ok(?:ay)?|k|cool|great|got it|sounds good"
    r"|will do|perfect|gracias|appreciate it|much appreciated|alright|awesome|nice|roger"
    r"|👍)(?:\s+(?:you|man|bud|buddy|boss|guys|so much|a lot|again))*\W*)+$",
    re.I,
)
# "hey its ray", "good morning, this is Ray from Ray's Roofing": a hello, their name at most.
_C_GREETING = re.compile(
    r"^\W*(?:(?:hey|hi|hello|yo|hiya|howdy|morning|good (?:morning|afternoon|evening)|hola"
    r"|buenas|buenos d[ií]as)(?:\s+(?:there|guys|all|team|man))?\W*)+"
    r"(?:(?:it'?s|its|this is|i'?m|im|soy|es)\s+[a-z'.&-]+(?:\s+[a-z'.&-]+){0,4}\W*)?$",
    re.I,
)
# Words that make a hello more than a hello ("hi im running late", "hey its done").
_C_NOT_JUST_HELLO = re.compile(
    r"\b(?:late|done|finished|start|starting|can'?t|cant|need|sick|running|here|there now"
    r"|coming|on my way|stuck|problem|issue|question|bid|price|quote)\b",
    re.I,
)
CONTRACTOR_HELLO = (
    "Hi! I'm dealdesk, the company's assistant. Text me any update on the job (a start date, a "
    "price, progress) or a question for the project manager and I'll pass it on; 'my bids' "
    "shows your bids."
)
# What only the team sees: budgets, deals, money, other contractors' bids.
_C_TEAM_ONLY = re.compile(
    # "what we paid for it", not "when do I get paid for kellogg" (their own pay: a question)
    r"\b(?:budget|profit|p\s*&\s*l|pnl|deals?|arv|comps?|margin|purchase price"
    r"|(?<!get )(?<!got )(?<!be )(?<!getting )(?<!being )paid for|cash flow|rent)\b"
    # "how much did hank bid", "how much is mike charging": another's price
    r"|\bhow much (?:did|does|do|is|was|will|would) (?!i\b|you\b|we\b|my\b|u\b|it\b|this\b"
    r"|that\b|the\b)[a-z']+(?:'s)? (?:bid|quote|charg|get|ask|want)"
    r"|\b(?:other|others|everyone|everybody|competitors?|lowest|cheapest|highest)\b"
    r"[^.?!]{0,30}\b(?:bids?|quotes?|prices?|contractors?)\b"
    r"|\bwhat (?:did|do|does|is) (?!i\b|you\b|we\b|my\b)[a-z']+ (?:bid|quote|charge|get)"
    r"|\bwhat bids\b|\bbids? (?:came|come|have come) in\b|\bhow many (?:bids|quotes)\b"
    r"|\bwho (?:else )?(?:bid|quoted)\b|\b(?:any|all the|the) bids (?:on|for)\b",
    re.I,
)
# Their own bids: "did you get my bid?", "was my roof bid accepted?", "did I get the job?",
# "can you send me the address again?", "¿recibieron mi cotización?".
_C_MY_BIDS = re.compile(
    r"\b(?:my|mine)\b[^.?!]{0,25}\b(?:bids?|quotes?|estimates?|proposals?)\b"
    r"|\b(?:did|have) (?:you|y'?all|u) (?:get|got|receive[d]?|see(?:n)?)\b"
    r"|\bdid i (?:get|win|land) (?:it|the (?:job|bid|work))\b|\b(?:get|got|win|won) the job\b"
    r"|\baddress\b|\bwhere is the (?:job|house|property)\b"
    r"|\b(?:show|list|see|send)\b(?: me)?[^.?!]{0,15}\bbids?\b"
    r"|\b(?:recibieron|recibiste|recibió|recibio)\b|\bcotizaci[oó]n\b"
    r"|\bmi (?:oferta|presupuesto)\b",
    re.I,
)
_C_QUESTION_ABOUT_BID = re.compile(
    r"\?|^\W*(?:did|was|is|has|any|what|status|where|can you|could you|send|show|list|¿)", re.I
)
_C_WITHDRAW = re.compile(
    r"\b(?:can'?t|cannot|won'?t be able to|unable to|not able to|no longer)\s+(?:do|take"
    r"|finish|handle)\s+(?:(?:the|this|that|your)\s+(?:\w+\s+)?(?:job|work|project)\b"
    r"|it (?:any ?more|after all)\b)"
    r"|\b(?:withdraw|pull(?:ing)? out|back(?:ing)? out|drop(?:ping)? out|pass on (?:the|this) job"
    r"|not (?:doing|taking) (?:the|this) job)\b"
    # "cant do it, sorry", "cannot make it", but not "can't do it until Monday" (a date)
    r"|\b(?:can'?t|cannot|can not|won'?t be able to|unable to|not able to)\s+(?:do|make)\s+it\b"
    r"(?!\s*(?:until|till|til|before|after|by|on|at|in|to|for|this|that|there|next|today"
    r"|tomorrow|tonight|mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct"
    r"|nov|dec|the\b|\d))"
    r"|\b(?:have|gotta|got|gonna have) to pass\b"
    r"|\b(?:got|took|have|found|taking) (?:another|a different|an other|other)"
    r" (?:job|gig|project)\b"
    r"|\bya no (?:puedo|podemos)\b"
    r"|\bno (?:puedo|podemos) (?:hacer|tomar) (?:el|este|ese) trabajo\b",
    re.I,
)
_C_PRICE_WORDS = re.compile(
    r"\b(?:price|bid|quote|cost|charge|went up|goes up|go up|gone up|raise|increase|total"
    r"|materials? (?:went|are) up|now|precio|cuesta|cobro|d[oó]lares)\b|\$",
    re.I,
)
# "roof gonna be more like 4.8k", "el techo va a costar 4500": a line of the job, a be/cost
# verb and the amount right after it (so "the roof will be done in 3 days" is not a price).
_C_LINE_PRICE = re.compile(
    r"\b(?:roof|furnace|hvac|boiler|water heater|plumbing|electrical|panel|windows?|siding"
    r"|gutters?|kitchen|cabinets?|bath(?:room)?|flooring|floors?|carpet|paint(?:ing)?|drywall"
    r"|foundation|doors?|tile|deck|porch|garage|driveway|concrete|demo(?:lition)?|job|work"
    r"|techo|tejado|plomer[ií]a|electricidad|ventanas?|pintura|pisos?|cocina|ba[nñ]o|trabajo)"
    r"\b.*?\b(?:gonna|going to|will|would|'?ll|is|it'?s|s|comes? to|runs?|be|more like"
    r"|closer to|va a|cuesta|costar[aá]?|sale|ser[aá]|es)"
    r"(?:\s+(?:be|more|like|closer|to|about|around|roughly|cost|costar|ser|en|a|unos|como"
    r"|de))*\s+\$?\s*\d",
    re.I,
)
_C_AMOUNT = re.compile(
    r"\$\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*(k)?\b"
    r"|(?<![\d/:.-])(\d{1,3}(?:,\d{3})+|\d{1,4}(?:\.\d)?)\s*(k)\b"
    r"|(?<![\d/:.,-])(\d{1,3}(?:,\d{3})+|\d{3,7})(?:\.(\d{1,2}))?(?=\s*(?:dollars|bucks|total"
    r"|flat|all in|for|now|even|not|instead|d[oó]lares)\b|\s*[.!?]*\s*$)",
    re.I,
)
_C_DURATION = re.compile(
    r"\b(?:take|takes|taking|need|needs|be|about|around)\s+(?:about\s+|around\s+|like\s+)?"
    r"(\d{1,3})\s+(?:more\s+)?(?:working\s+|business\s+)?days?\b"
    r"|\b(\d{1,3})\s+days?\s+(?:not|instead of|rather than)\b"
    r"|\b(?:son|tarda|tardo|tardamos|toma|lleva|necesito|necesitamos)\s+(?:unos\s+)?(\d{1,3})"
    r"\s+d[ií]as\b",
    re.I,
)
_C_START = re.compile(
    r"\b(?:start|starting|begin|push|move|reschedule|delay|instead|pushed|moved"
    r"|empezar|empiezo|empezamos|comenzar|comienzo|iniciar)\b"
    r"|\b(?:can'?t|cannot|can not)\s+(?:do|make|get to)\s+it\s+(?:until|till|til|before)\b",
    re.I,
)
_C_PERSONAL = re.compile(r"\b(?:i|i'm|im|we|we're|my|me|you|your)\b", re.I)
_C_START_ASK = re.compile(r"^\W*(?:when|what day|what date)\b", re.I)
# A question about their own bid: "whats my start date on kellogg", "when do i start", "what
# did i bid on kellogg", "is my bid accepted" (answered from their bids, not passed on).
_C_OWN_BID_ASK = re.compile(
    r"\b(?:when|what day|what date)\s+(?:do|does|am|will|would|should|shall)\s+i\s+(?:start"
    r"|begin|be starting|get started)\b"
    r"|\b(?:what'?s|whats|what is|what was|when'?s|whens|when is|what day is|what date is"
    r"|remind me (?:of )?)\s+(?:my|the|our)\s+(?:start(?:ing)?(?: date| day)?|price|bid|quote"
    r"|total|number|status)\b"
    r"|\b(?:what|how much) (?:did|do|was|have) i (?:bid|quote|say|charge|put in|quoted)\b"
    r"|\b(?:is|was|has|did|have) (?:my|our) (?:\w+ )?(?:bid|quote|price|estimate)s? (?:been |get )?"
    r"(?:accepted|approved|awarded|picked|chosen|rejected|declined|decided)\b"
    r"|\b(?:am i|was i|have i been|did i get) (?:awarded|picked|chosen|approved|accepted)\b",
    re.I,
)
# An amount on top of the bid ("decking is gonna be extra $850", "another 1.2k for the
# gutters", "850 more"): a change order, not a new price ("roof gonna be more like 9.8k").
_C_EXTRA_MONEY = (
    r"(?:\$\s*\d[\d,]*(?:\.\d{1,2})?\s*k?|\d[\d,]*(?:\.\d)?\s*k\b|\d{1,3}(?:,\d{3})+|\d{3,7})"
)
_C_EXTRA = re.compile(
    r"\b(?:extra|additional|another|add(?:ing)?|plus|more)\s+(?:of\s+)?(?P<a>"
    + _C_EXTRA_MONEY
    + r")(?![\d,.])(?!\s*(?:days?|hours?|weeks?|sq|square|feet|ft|%))"
    r"|(?P<b>" + _C_EXTRA_MONEY + r")(?![\d,.])\s+(?:extra|more|additional|on top)\b",
    re.I,
)
# "decking is gonna be extra", "extra $850 for the decking": what the extra is for.
_C_EXTRA_FOR = re.compile(
    r"\bfor\s+(?:the\s+)?(?P<what>[a-z][a-z ]{1,30}?)(?=\s+(?:on|at|over|job)\b|\s*[.,;!?]|\s*$)",
    re.I,
)
_C_EXTRA_SUBJECT = re.compile(
    r"^\W*(?:the\s+)?(?P<what>[a-z][a-z ]{1,30}?)\s+(?:is|are|'s|gonna|going|will|would|came"
    r"|comes?|runs?)\b",
    re.I,
)
_C_NOT_A_THING = frozenset(
    {"it", "that", "this", "i", "we", "there", "its", "thats", "im", "price"}
)
# "need another 2 days", "2 more days", "an extra day": days on top of the plan.
_C_EXTRA_DAYS = re.compile(
    r"\b(?:another|an? extra|extra|additional|an additional|more)\s+(?P<n>\d{1,3}|a|one|two"
    r"|three|four|five|six|seven|couple(?: of)?)\s+(?:more\s+)?(?:working\s+|business\s+)?days?\b"
    r"|\b(?P<m>\d{1,3}|one|two|three|four|five|six|seven|a couple(?: of)?)\s+(?:more|extra"
    r"|additional)\s+(?:working\s+|business\s+)?days?\b"
    r"|\b(?P<one>another|an extra|one more) day\b"
    # "gonna be 2 days late", "running 3 days behind", "a day behind": the job slips that much
    r"|\b(?P<late>\d{1,3}|a|one|two|three|four|five|six|seven|a couple(?: of)?)\s+"
    r"(?:(?:working|business)\s+)?days?\s+(?:late|behind|behind schedule|over)\b",
    re.I,
)
_C_DAY_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
# A part of a message that asks rather than says why ("can i get", "need").
_C_ASKING = re.compile(
    r"(?:can|could|would|will|need|needs|please|gonna|going|just|may|might|is|are|do|does"
    r"|i|i'?ll|i'?m|im|we|we'?re|were|we'?ll|it|it'?s|its|be|running)\b",
    re.I,
)
# The parts of a message ("need another 2 days on kellogg, found rotted decking").
_C_CLAUSES = re.compile(r"[,;.!?]+|\s+-+\s+|\b(?:because|cause|cuz|bc|since|due to)\b", re.I)
_C_PROGRESS = re.compile(
    r"\b(?:finished|done|completed|started|tore|torn|installed|wrapped up|halfway|on site"
    r"|running late|late|delayed|delay|rain(?:ing|ed)?|weather|be there|on my way|out there"
    r"|dried in|passed|failed|inspection)\b",
    re.I,
)
_C_QUESTION = re.compile(
    r"\?|^\W*(?:who|what|when|where|how|why|can|could|do|does|is|are|will|should|need|call me"
    r"|please)\b|\b(?:call me|need (?:a |the )?(?:deposit|check|payment|draw|key|code))\b",
    re.I,
)
# "instead of the 3rd", "not the 3rd": the date being replaced, not the new one.
_C_REPLACED_DATE = re.compile(
    r"\b(?:instead of|rather than|not)\s+(?:on\s+)?(?:the\s+)?[^,.;!?]*", re.I
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_C_DAY = re.compile(
    r"\b(?P<rel>today|tomorrow)\b"
    r"|\b(?:next\s+|this\s+|on\s+)?(?P<wd>mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)"
    r"(?:day|nesday|sday|rsday|urday)?\b"
    r"|\b(?P<iso>\d{4}-\d{2}-\d{2})\b"
    r"|\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+"
    r"(?P<mday>\d{1,2})(?:st|nd|rd|th)?\b"
    r"|\b(?P<m>\d{1,2})/(?P<d>\d{1,2})\b"
    r"|\bthe\s+(?P<ord>\d{1,2})(?:st|nd|rd|th)\b",
    re.I,
)


# Spanish: "el 10 de diciembre", "el lunes".
_C_ES_MONTHS = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
).split()
_C_ES_DATE = re.compile(r"\b(\d{1,2})\s+de\s+(" + "|".join(_C_ES_MONTHS) + r"|setiembre)\b", re.I)
_C_ES_WEEKDAY = re.compile(
    r"\b(lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo)\b", re.I
)


def _next_month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    """``month``/``day`` this year, or next year when it has passed; None if no such day."""
    for year in (today.year, today.year + 1):
        try:
            found = dt.date(year, month, day)
        except ValueError:
            return None
        if found >= today:
            return found
    return None


def contractor_start_day(text: str, today: dt.date | None = None) -> dt.date | None:
    """The one day a contractor names as their new start, or None when it is not a day.

    "Monday" is the next Monday (a week on, said on a Monday); "the 3rd" the next 3rd;
    "12/8", "Dec 8", "tomorrow". The date being replaced ("instead of the 3rd") is skipped.
    """
    today = today or local_today()
    spanish = _C_ES_DATE.search(text)
    if spanish is not None:
        name = spanish.group(2).lower().replace("setiembre", "septiembre")
        return _next_month_day(today, _C_ES_MONTHS.index(name) + 1, int(spanish.group(1)))
    match = _C_DAY.search(_C_REPLACED_DATE.sub(" ", text))
    if match is None:
        weekday = _C_ES_WEEKDAY.search(text)
        if weekday is None:
            return None
        wanted = ("lun", "mar", "mie", "jue", "vie", "sab", "dom").index(
            weekday.group(1).lower()[:3].replace("é", "e").replace("á", "a")
        )
        return today + dt.timedelta(days=(wanted - today.weekday()) % 7 or 7)
    if match.group("rel"):
        return today + dt.timedelta(days=0 if match.group("rel").lower() == "today" else 1)
    if match.group("wd"):
        wanted = next(
            i for i, w in enumerate(_WEEKDAYS) if w.startswith(match.group("wd").lower()[:3])
        )
        return today + dt.timedelta(days=(wanted - today.weekday()) % 7 or 7)
    if match.group("iso"):
        try:
            return dt.date.fromisoformat(match.group("iso"))
        except ValueError:
            return None
    if match.group("mon"):
        month = ("jan feb mar apr may jun jul aug sep oct nov dec".split()).index(
            match.group("mon").lower()[:3]
        ) + 1
        return _next_month_day(today, month, int(match.group("mday")))
    if match.group("m"):
        return _next_month_day(today, int(match.group("m")), int(match.group("d")))
    day = int(match.group("ord"))
    for months_on in (0, 1, 2):
        month = (today.month - 1 + months_on) % 12 + 1
        year = today.year + (today.month - 1 + months_on) // 12
        try:
            found = dt.date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def contractor_amount(text: str) -> Decimal | None:
    """The price a contractor names ("9,500", "$9500", "9.5k"), or None."""
    match = _C_AMOUNT.search(text)
    if match is None:
        return None
    if match.group(1):
        whole, cents, k = match.group(1), match.group(2), match.group(3)
    elif match.group(4):
        whole, cents, k = match.group(4), None, match.group(5)
    else:
        whole, cents, k = match.group(6), match.group(7), None
    value = Decimal(whole.replace(",", "") + (f".{cents}" if cents else ""))
    return value * 1000 if k else value


def _contractor_update(kind: str, message: str, **facts: Any) -> Plan:
    args = {"kind": kind, "message": message[:1000]}
    return Plan(CONTRACTOR_UPDATE_TOOL, args | {k: v for k, v in facts.items() if v is not None})


_C_STREET_WORD = re.compile(
    r"\b(?:ave|avenue|st|street|rd|road|dr|drive|blvd|boulevard|ln|lane|ct|court|way|pl|place"
    r"|ter|terrace|cir|circle|pkwy|parkway|hwy|highway)\b\.?|,",
    re.I,
)


def _address_alone(text: str) -> bool:
    """The message is an address and nothing else ("14500 Kercheval Ave, Detroit, MI")."""
    address = extract_address(text)
    if address is None or _C_PERSONAL.search(text):
        return False
    rest = text.replace(address, " ")
    return len(re.findall(r"\w+", rest)) <= 1 and _C_STREET_WORD.search(address) is not None


def _contractor_extra_days(text: str) -> tuple[int, tuple[int, int]] | None:
    """The days on top of the plan a message asks for ("need another 2 days": 2) and where."""
    match = _C_EXTRA_DAYS.search(text)
    if match is None:
        return None
    said = (match.group("n") or match.group("m") or match.group("late") or "").lower()
    said = said.removeprefix("a couple")
    said = said.removeprefix("couple").strip() or ("2" if "couple" in match.group(0) else "1")
    days = int(said) if said.isdigit() else _C_DAY_WORDS.get(said.split()[0], 2)
    return (days, match.span()) if days >= 1 else None


def _contractor_reason(text: str, span: tuple[int, int]) -> str | None:
    """The other part of a message than the one at ``span``: why ("found rotted decking")."""
    for part in _C_CLAUSES.split(text[: span[0]] + "," + text[span[1] :]):
        part = re.sub(r"^\W*(?:and|but|so|also|plus)\b", "", part.strip(), flags=re.I).strip()
        part = re.sub(r"^(?:on|at|for)\s+(?:the\s+)?\w+(?:\s+(?:job|house|st|ave))?$", "", part)
        if len(re.findall(r"[a-z]+", part, re.I)) >= 2 and not _C_ASKING.match(part):
            return part[:200]
    return None


def _contractor_extra_for(text: str, match: re.Match[str]) -> str | None:
    """What an extra amount is for ("decking" of "decking is gonna be extra $850")."""
    for found in (_C_EXTRA_FOR.search(text, match.end()), _C_EXTRA_SUBJECT.search(text)):
        if found is not None:
            what = found.group("what").strip().lower()
            if what.split()[0] not in _C_NOT_A_THING and not what.startswith("gonna"):
                return what
    return _contractor_reason(text, match.span())


def _contractor_thread_project(conversation: Conversation) -> str | None:
    """The one job this thread's latest contractor answer was about (its project id), if any.

    The latest ``contractor_update`` recorded on one project, or ``my_bids`` shown for one;
    None when the latest was about several or none ("hey its ray" then "ok thanks" after a
    note on Kellogg: still Kellogg).
    """
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        if message.name not in (CONTRACTOR_UPDATE_TOOL, "my_bids"):
            continue
        result = tool_result(message)
        if "error" in result:
            continue
        ids = result.get("project_ids") or []
        if message.name == "my_bids":
            ids = [result["project_id"]] if result.get("project_id") else []
        return str(ids[0]) if len(ids) == 1 else None
    return None


def _contractor_which_job(text: str, conversation: Conversation) -> Plan | None:
    """The previous update again, on the job ``text`` picks, after "which job is it?".

    "gonna be 2 days late" → "You have bids on A and B: which job is it?" → "the duff one".
    """
    calls = _tool_calls_by_id(conversation.history)
    for message in reversed(conversation.history):
        if not isinstance(message, ToolMessage):
            continue
        result = tool_result(message)
        if message.name != CONTRACTOR_UPDATE_TOOL or not result.get("named_none_of_several"):
            return None
        words = re.findall(r"[a-z0-9]+", text.lower())
        if not words or len(words) > 6:
            return None
        named = [
            label
            for label in result.get("which_of") or []
            if any(
                len(w) >= 3 and re.search(rf"\b{re.escape(w)}", str(label).lower())
                for w in words
                if w not in {"the", "one", "job", "house", "its", "it", "on", "at", "for"}
            )
        ]
        if len(named) != 1:
            return None
        args = dict(calls.get(str(message.tool_call_id), {}).get("args", {}))
        return Plan(CONTRACTOR_UPDATE_TOOL, {**args, "project": str(named[0])})
    return None


def contractor_plan_for(conversation: Conversation, today: dt.date | None = None) -> Plan:
    """The tool call (or direct answer) for a contractor's latest message.

    Their own bids (``my_bids``); what they tell or ask the team (``contractor_update``: the
    message is recorded for the project manager, so nothing they say is lost); an opt-out;
    or a refusal of what only the team sees (budgets, deals, other contractors' bids).
    """
    said = conversation.text.strip()
    lines = said.splitlines()
    has_media = any(line.startswith(MEDIA_NOTE_PREFIX) for line in lines)
    text = "\n".join(line for line in lines if not line.startswith(MEDIA_NOTE_PREFIX)).strip()
    if not text:
        if has_media:
            return _contractor_update("photo", said)
        return Plan(reply=CONTRACTOR_EMPTY)
    if not re.search(r"\w", text):
        return Plan(reply=CONTRACTOR_NOT_UNDERSTOOD)
    if _HELP.search(text):
        return Plan(reply=CONTRACTOR_HELP)
    if _C_OPT_OUT.search(text):
        return _contractor_update("opt_out", said)
    if _C_THANKS.search(text) and not has_media:
        return Plan(reply=CONTRACTOR_THANKS)
    if _C_GREETING.search(text) and not has_media and not _C_NOT_JUST_HELLO.search(text):
        return Plan(reply=CONTRACTOR_HELLO)  # "hey its ray": nothing for the team
    if _C_TEAM_ONLY.search(text) and not _MY_BIDS.search(text):
        return Plan(reply=CONTRACTOR_REFUSED)
    answered = _contractor_which_job(text, conversation)
    if answered is not None:
        return answered  # "the duff one" after "which job is it?": that message, on that job
    # The job the thread was about, for a message that names none of several.
    about = {"project": _contractor_thread_project(conversation)}
    if _C_WITHDRAW.search(text):
        return _contractor_update("withdraw", said, **about)
    # Every fact a message gives is kept: "4,250.50 not 4002. can also start dec 3 instead".
    priced = _C_PRICE_WORDS.search(text) or _C_LINE_PRICE.search(text)
    amount = contractor_amount(text) if priced else None
    day = contractor_start_day(text, today)
    starting = _C_START.search(text) is not None and _C_START_ASK.search(text) is None
    start = day.isoformat() if starting and day is not None else None
    more_days = _contractor_extra_days(text)
    duration = _C_DURATION.search(text) if more_days is None else None
    days = int(next(g for g in duration.groups() if g)) if duration is not None else None
    extra = _C_EXTRA.search(text)
    extra_amount = contractor_amount(extra.group("a") or extra.group("b")) if extra else None
    if extra is not None and extra_amount is not None:
        # "decking is gonna be extra $850": on top of the bid, not its new price.
        why = _contractor_extra_for(text, extra)
        return _contractor_update(
            "extra", said, amount=str(extra_amount), reason=why, start_date=start, **about
        )
    if _C_OWN_BID_ASK.search(text) and day is None and amount is None:
        return Plan("my_bids", {"project": text[:1000]})  # "whats my start date on kellogg"
    if amount is not None:
        return _contractor_update("price", said, amount=str(amount), start_date=start, **about)
    if (_MY_BIDS.search(text) or _C_MY_BIDS.search(text)) and _C_QUESTION_ABOUT_BID.search(text):
        return Plan("my_bids", {"project": text[:1000]})
    if _MY_BIDS.search(text):
        return Plan("my_bids", {"project": text[:1000]})
    if starting:
        return _contractor_update("start_date", said, start_date=start, duration_days=days, **about)
    if more_days is not None:
        # "need another 2 days on kellogg, found rotted decking": +2 days, and why.
        why = _contractor_reason(text, more_days[1])
        return _contractor_update("duration", said, extra_days=more_days[0], reason=why, **about)
    if days is not None:
        return _contractor_update("duration", said, duration_days=days, **about)
    if _C_PROGRESS.search(text) and not text.rstrip().endswith("?"):
        return _contractor_update("progress", said, **about)
    if has_media:
        return _contractor_update("photo", said, **about)
    if _C_QUESTION.search(text):
        return _contractor_update("question", said, **about)
    if _address_alone(text):
        return Plan(reply=CONTRACTOR_REFUSED)  # an address alone: an analysis is the team's
    # Not understood is still kept for the team, word for word (never dropped).
    return _contractor_update("other", said, **about)


# The scope line a contractor's price names ("roof gonna be more like 4.8k").
_C_LINE_WORD = re.compile(
    r"\b(?:roof|furnace|hvac|boiler|water heater|plumbing|electrical|panel|windows?|siding"
    r"|gutters?|kitchen|cabinets?|bath(?:room)?|flooring|floors?|carpet|paint(?:ing)?|drywall"
    r"|foundation|doors?|tile|deck|porch|garage|driveway|concrete|demo(?:lition)?)\b",
    re.I,
)


def _contractor_update_reply(r: dict[str, Any]) -> str:
    who, pm = r["contractor"], r.get("passed_to") or "the project manager"
    projects = [str(p) for p in r.get("projects") or []]
    on = f" for {projects[0]}" if len(projects) == 1 else ""
    at = f" at {projects[0]}" if len(projects) == 1 else ""
    upon = f" on {projects[0]}" if len(projects) == 1 else ""
    if r.get("kind") == "opt_out":
        if r.get("already_opted_out"):
            text = f"You're already opted out, {who}: we don't call you about bids."
        else:
            text = (
                f"Done, {who}: you're opted out, so we won't call or text you about bids any "
                "more (I'll still answer if you message me)."
            )
        if r.get("calls_cancelled"):
            text += f" Scheduled calls cancelled: {r['calls_cancelled']}."
        return text + f" I've told {pm}; if you change your mind, tell them."
    kind = r.get("kind")
    if kind == "start_date":
        new = f" ({r['new_start_date']})" if r.get("new_start_date") else ""
        text = (
            f"Thanks, {who}. I've passed your new start date{new}{on} to {pm}, who will confirm it."
        )
    elif kind == "price":
        # "roof gonna be 4.8k": the roof's price (the team sees that line's amount on file)
        line = _C_LINE_WORD.search(str(r.get("said") or ""))
        text = f"Thanks, {who}. I've passed your new price of {r['new_price']}" + (
            f" for the {line.group(0).lower()}{at}" if line else on
        )
        if r.get("new_start_date"):
            text += f" and your new start date ({r['new_start_date']})"
        text += f" to {pm} to review."
    elif kind == "extra":
        what = f" for the {r['reason']}" if r.get("reason") else ""
        text = (
            f"Thanks, {who}. I've passed your extra charge of {r['extra_amount']}{what}{upon} "
            f"to {pm} as a change order on top of your bid, for them to review."
        )
    elif kind == "duration" and r.get("extra_days"):
        more = r["extra_days"]
        why = f" ({r['reason']})" if r.get("reason") else ""
        text = (
            f"Thanks, {who}. I've told {pm} you need {more} more day{'s' if more != 1 else ''}"
            f"{upon}{why}; they will update the schedule."
        )
    elif kind == "duration":
        text = (
            f"Thanks, {who}. I've told {pm} the job{at} will take {r['new_duration_days']} days."
            if r.get("new_duration_days")
            else f"Thanks, {who}. I've passed your note on how long the job{at} takes to {pm}."
        )
    elif kind == "withdraw":
        text = f"Understood, {who}. I've told {pm} you can't do the job{at}; they will contact you."
    elif kind == "progress":
        text = f"Thanks, {who}: noted{upon} for {pm}."
    elif kind == "question":
        text = (
            f"I can't answer that here, {who}, so I've passed your question{on} to {pm}, "
            "who will get back to you."
        )
    elif kind == "photo":
        text = f"Got it, {who}: your attachment is noted{upon} for {pm}."
    else:
        text = f"Thanks, {who}: I've passed your message{on} to {pm}."
    bids = [b for b in r.get("bids") or [] if b.get("total")]
    if len(bids) == 1 and kind in ("start_date", "price", "extra", "duration", "question"):
        bid = bids[0]
        start = f", start {bid['start_date']}" if bid.get("start_date") else ""
        status = _CONTRACTOR_BID_WORDS.get(bid["status"], words(bid["status"]))
        until = " (it stays so until they update it)." if kind != "question" else "."
        text += f" Your bid on file: {bid['total']}, {status}{start}{until}"
    if r.get("which_of"):
        # Recorded once, on no job: which one is it?
        text += (
            f" You have bids on {' and '.join(str(p) for p in r['which_of'])}: which job is it? "
            "Tell me the street and I'll note it there."
        )
    elif r.get("named_none_of_several"):
        text += (
            f" You have bids on {'; '.join(projects)}, so I noted it on each: tell me the street "
            "if it's about one of them."
        )
    elif not projects:
        text += " (I found no bid of yours on file, so it's noted for the team without a job.)"
    return text


def _action_items_reply(r: dict[str, Any]) -> str:
    lines = []
    if closed := r.get("resolved"):
        lines.append(f"Marked {words(closed['status'])}: {closed['text']}")
    where = f" on {r['project']}" if r.get("project") else ""
    count = r.get("open_count") or 0
    if not count:
        lines.append(f"No open action items{where}.")
        return _fit("\n".join(lines))
    more = f", newest {r['shown']} shown" if r.get("shown", 0) < count else ""
    lines.append(f"{count} open action item{'s' if count != 1 else ''}{where}{more}:")
    for item in r.get("items", []):
        who = ", ".join(x for x in (item.get("project"), item.get("contractor")) if x)
        lines.append(
            f"{item['number']}. {item['text']}" + (f" ({who}, {item['on']})" if who else "")
        )
    lines.append("Say 'done with the first one' (or 'dismiss the second one') to close one.")
    return _fit("\n".join(lines))


# How a contractor reads their bid's status.
_CONTRACTOR_BID_WORDS = {
    "received": "received, not decided yet",
    "accepted": "awarded to you",
    "rejected": "not chosen",
    "withdrawn": "withdrawn",
}


def _save_valuation_reply(r: dict[str, Any]) -> str:
    what = "ARV" if r.get("kind") == "arv" else "as-is value"
    confidence = (
        f", confidence {r['confidence_pct']}%" if r.get("confidence_pct") is not None else ""
    )
    return (
        f"Saved the {what} of {r['address']}: {r['value']} (range {r['low']} to {r['high']}"
        f"{confidence}, from {r['comps']} comps, as of {r['as_of']}). Deal projections now use it."
        + (f" Note: {r['old_comps']}." if r.get("old_comps") else "")
    )


def _update_deal_reply(r: dict[str, Any]) -> str:
    changed = r.get("changed") or {}
    deal = f"deal {short_id(r.get('deal_id'))} on {r.get('address')}"
    if not changed:
        return f"Nothing to change on {deal}: it already has those figures."
    said = "; ".join(
        f"{words(field)} {words(old) if old is not None else 'not set'} → {words(new)}"
        for field, (old, new) in changed.items()
    )
    return f"Updated {deal}: {said}."


def _task_line(t: dict[str, Any]) -> str:
    """One task: "• order cabinets (todo, due 2026-12-04, 2 days late, Ray; waits on demo)"."""
    facts = [words(t.get("status"))]
    if t.get("due_date"):
        facts.append(f"due {t['due_date']}")
    if t.get("days_late"):
        facts.append(f"{t['days_late']} days late")
    if t.get("completed_on"):
        facts.append(f"done {t['completed_on']}")
    if t.get("assignee"):
        facts.append(str(t["assignee"]))
    if t.get("line"):
        facts.append(f"{t['line']} line")
    waits = f"; waits on {', '.join(t['blocked_by'])}" if t.get("blocked_by") else ""
    return f"• {t['title']} ({', '.join(facts)}{waits}) [task {t.get('task')}]"


def _tasks_counted(r: dict[str, Any]) -> str:
    c = r.get("counts") or {}
    late = f", {c['late']} late" if c.get("late") else ""
    return f"{c.get('open', 0)} open, {c.get('done', 0)} done{late}"


def _project_tasks_reply(r: dict[str, Any]) -> str:
    head = f"Tasks on {r['address']} ({_tasks_counted(r)})"
    tasks = r.get("tasks") or []
    if not tasks:
        return f"{head}: none{' matching' if r.get('filter') else ''} yet."
    lines = [head + ":"] + [_task_line(t) for t in tasks]
    if r.get("matching", 0) > r.get("shown", 0):
        lines.append("…and more: ask for the open ones, or by status.")
    return _fit("\n".join(lines))


def _add_task_reply(r: dict[str, Any]) -> str:
    due = f", due {r['due_date']}" if r.get("due_date") else ""
    who = f", for {r['assignee']}" if r.get("assignee") else ""
    line = f", on the {r['line']} line" if r.get("line") else ""
    notes = "".join(f" Note: {n}" for n in r.get("notes") or [])
    return (
        f"Added the task '{r['title']}' to {r['address']}{due}{who}{line} "
        f"(task {r.get('task')}); the project now has {_tasks_counted(r)}.{notes}"
    )


def _complete_task_reply(r: dict[str, Any]) -> str:
    late = f", {r['days_late']} days after it was due" if r.get("days_late") else ""
    freed = f" That unblocks: {', '.join(r['unblocked'])}." if r.get("unblocked") else ""
    blocked = (
        " It had been marked blocked: check that what it waited on is sorted."
        if r.get("was_status") == "blocked"
        else ""
    )
    return (
        f"Marked '{r['title']}' done on {r['address']} ({r.get('completed_on')}{late}); "
        f"the project has {_tasks_counted(r)}.{freed}{blocked}"
    )


REPLIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "what_we_paid": _paid_reply,
    "deal_offers": _deal_offers_reply,
    "seller_leads": _seller_leads_reply,
    "my_bids": _my_bids_reply,
    "contractor_update": _contractor_update_reply,
    "action_items": _action_items_reply,
    "latest_opportunities": _opportunities_reply,
    "configure_alerts": _alerts_reply,
    "my_alerts": _my_alerts_reply,
    "market_trends": _trends_reply,
    "project_status": _project_status_reply,
    "list_projects": _projects_reply,
    "list_contractors": _contractors_reply,
    "trade_schedule": _starts_reply,
    "list_bids": _bids_reply,
    "bids_received": _bids_received_reply,
    "award_bid": _award_reply,
    "project_tasks": _project_tasks_reply,
    "update_deal": _update_deal_reply,
    "save_valuation": _save_valuation_reply,
    "add_task": _add_task_reply,
    "complete_task": _complete_task_reply,
    "record_expense": _expense_reply,
    "void_expense": _void_reply,
    "record_transaction": _ledger_reply,
    "void_transaction": _ledger_reply,
    "books_status": _ledger_reply,
    "close_month": _ledger_reply,
    "reopen_month": _ledger_reply,
    "reschedule_contractor": _ledger_reply,
    "request_bids": _request_bids_reply,
    "qualify_lead": _lead_reply,
    "lead_calls": _lead_calls_reply,
    "call_status": _calls_reply,
    "analyze_property": _address_reply,
    "compare_properties": _compare_reply,
    "get_comps": _comps_reply,
    "max_offer": _offer_reply,
    "list_deals": _deals_reply,
    "budget_status": _budget_reply,
    "deal_performance": _performance_reply,
    "pnl": _pnl_reply,
    "cashflow": _cashflow_reply,
    "section8_rent": _section8_reply,
    "generate_report": _report_reply,
    "find_property": _property_reply,
    "estimate_rehab": _rehab_reply,
    "walkthrough_notes": _walkthrough_reply,
    "create_deal": _changed_reply,
    "change_deal_status": _changed_reply,
    "make_offer": _changed_reply,
}

_WHAT = {
    "what_we_paid": "find what we paid",
    "deal_offers": "get those offers",
    "seller_leads": "list the leads",
    "analyze_property": "analyse that property",
    "compare_properties": "compare those houses",
    "get_comps": "find comps",
    "max_offer": "work out the max offer",
    "list_deals": "list your deals",
    "budget_status": "get that budget",
    "deal_performance": "compare that deal with its projection",
    "pnl": "get that P&L",
    "cashflow": "get that cash flow",
    "section8_rent": "check the voucher rent",
    "generate_report": "make the report",
    "find_property": "find that property",
    "estimate_rehab": "price that rehab",
    "walkthrough_notes": "take those walkthrough notes",
    "create_deal": "create that deal",
    "change_deal_status": "move that deal",
    "make_offer": "record that offer",
    "project_status": "get that project's status",
    "list_projects": "list the projects",
    "list_contractors": "list the contractors",
    "trade_schedule": "get those start dates",
    "list_bids": "compare those bids",
    "bids_received": "get those bids",
    "award_bid": "award that bid",
    "project_tasks": "list that project's tasks",
    "update_deal": "change that deal",
    "save_valuation": "save that valuation",
    "add_task": "add that task",
    "complete_task": "mark that task done",
    "record_expense": "book that expense",
    "void_expense": "void that expense",
    "record_transaction": "book that in the ledger",
    "void_transaction": "void that transaction",
    "books_status": "check the books",
    "close_month": "close that month",
    "reopen_month": "reopen that month",
    "reschedule_contractor": "move that start date",
    "request_bids": "request those bids",
    "qualify_lead": "set up that lead call",
    "lead_calls": "get the lead calls",
    "call_status": "get those calls",
    "my_bids": "find your bids",
    "contractor_update": "pass that on to the team",
    "action_items": "get the action items",
    "latest_opportunities": "get the opportunities",
    "configure_alerts": "save those alerts",
    "my_alerts": "get your alerts",
    "market_trends": "get that trend",
}


# A house's rehab money asked about ("what is the rehab budget for ...?"), not its progress.
_REHAB_MONEY = re.compile(r"\b(?:budget|cost|costs|estimate|need|needs)\b", re.I)
_REHAB_PROGRESS = re.compile(
    r"\b(?:going|status|progress|behind|schedule|done|finish(?:ed)?|spent|left|over|under)\b",
    re.I,
)
# The start of project_status's error for a house with no project (tools/construction.py).
NO_REHAB_PROJECT = "no rehab project is on "


def reply_for(results: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> str:
    """The reply text for this turn's tool results (figures copied from them only)."""
    parts = []
    names = [name for name, _, _ in results]
    for index, (name, args, result) in enumerate(results):
        if (
            name == "project_status"
            and str(result.get("error", "")).startswith(NO_REHAB_PROJECT)
            and "analyze_property" in names[index + 1 :]
        ):
            continue  # no project on that house: the analysis after it answers the question
        if (
            name == "project_status"
            and "error" in result
            and "deal_offers" in names[index + 1 :]
            and not all("error" in r for n, _, r in results[index + 1 :] if n == "deal_offers")
        ):
            continue  # no rehab on that street: its deal answers "how's kellogg going"
        ledger_after = [r for n, _a, r in results[index + 1 :] if n == "record_transaction"]
        if (
            name == "record_expense"
            and ledger_after
            and _NO_PROJECT_THERE.search(str(result.get("error", "")))
        ):
            if "error" not in ledger_after[0]:
                parts.append(
                    "No rehab project is on that house, so it goes in the ledger on its deal:"
                )
                continue
        if name == "record_transaction" and "error" in result and index > 0:
            before = results[index - 1]
            if before[0] == "record_expense" and _NO_PROJECT_THERE.search(
                str(before[2].get("error", ""))
            ):
                continue  # no project and no deal there: the project refusal says so
        if "error" in result:
            what = _WHAT.get(name, "do that")
            # ids in a tool's message as replies write them ("expense fe83623e")
            error = short_ids(str(result["error"]))
            parts.append(f"Sorry, I couldn't {what}: {error}")
            continue
        if name == "list_deals" and args.get("status"):
            result = {**result, "status_asked": args["status"]}
        if name == CONTRACTOR_UPDATE_TOOL:
            result = {**result, "said": args.get("message", "")}
        compose = REPLIES.get(name)
        try:
            parts.append(compose(result) if compose else f"Done ({name}).")
        except (KeyError, TypeError):
            parts.append(f"I got an answer from {name} I can't summarise; ask the team.")
    return _fit("\n\n".join(parts)) if parts else NOT_UNDERSTOOD


# record_expense's refusal when no rehab project is on the house or street named.
_NO_PROJECT_THERE = re.compile(
    r"^(?:no rehab project is on |no project you can see is on a street)"
)
# A project expense's category as the ledger books it for a rental with no project.
_LEDGER_FOR_EXPENSE = {
    "cleanup": "cleaning_and_maintenance",
    "supplies": "supplies",
    "permits": "other",
}


def _as_ledger_booking(args: dict[str, Any]) -> dict[str, Any]:
    """record_expense's arguments as a ledger booking on the house's deal (repairs)."""
    booking: dict[str, Any] = {
        "amount": str(args["amount"]),
        "category": _LEDGER_FOR_EXPENSE.get(str(args.get("category", "")), "repairs"),
        "deal": str(args["project"]),
    }
    if args.get("refund"):
        booking["type"] = "refund"
    if args.get("spent_on"):
        booking["date"] = args["spent_on"]
    if payee := args.get("contractor") or args.get("vendor"):
        booking["counterparty"] = str(payee)
    if args.get("note"):
        booking["note"] = args["note"]
    return booking


def fallback_for(
    results: list[tuple[str, dict[str, Any], dict[str, Any]]],
    text: str = "",
    conversation: Conversation | None = None,
) -> Plan | None:
    """A second tool call this turn needs, or None.

    The analysis, when no deal had a price paid, or when a house's rehab budget was asked
    (``text``: the message) and no project is on it.
    """
    names = {name for name, _, _ in results}
    budget_asked = bool(_REHAB_MONEY.search(text)) and not _REHAB_PROGRESS.search(text)
    for name, args, result in results:
        if (
            name == "record_expense"
            and _NO_PROJECT_THERE.search(str(result.get("error", "")))
            and "record_transaction" not in names
        ):
            # "paid the plumber 350 for repairs on duff" with no rehab there: the rental's
            # repairs in the ledger, on the deal of that house.
            return Plan("record_transaction", _as_ledger_booking(args))
        if (
            name == "void_expense"
            and "error" not in result
            and str(args.get("reason", "")).startswith(CORRECTION_REASON)
            and conversation is not None
            and "record_expense" not in names
        ):
            # "no, it was 350": the voided booking again, at the amount said.
            booked_args, _ = _booking_just_made(
                Conversation(text="", history=conversation.history, this_turn=[])
            )
            if booked_args:
                amount = str(args["reason"])[len(CORRECTION_REASON) :]
                return Plan("record_expense", {**booked_args, "amount": amount})
        if (
            name == "list_projects"
            and args.get("over_budget")
            and "error" not in result
            and not _PROJECT_WORDS.search(text)
            and "budget_status" not in names
        ):
            # "what is over budget?" names no projects: the deals' budget lines too.
            return Plan("budget_status", {})
        if (
            budget_asked
            and name == "project_status"
            and str(result.get("error", "")).startswith(NO_REHAB_PROJECT)
            and extract_address(str(args.get("project", "")))
            and "analyze_property" not in names
        ):
            # "what is the rehab budget for 1215 Kellogg Ave?" with no project there: the
            # analysis's rehab budget for that house.
            return Plan("analyze_property", {"address": str(args["project"]), "focus": "rehab"})
        street_asked = _STREET_STATUS.search(text)
        if (
            name == "project_status"
            and "error" in result
            and street_asked
            and (street_asked.group(2) or "").lower() not in {"rehab", "project", "job", "reno"}
            # not when the street has several projects ("say the house number")
            and re.search(r"not found|no rehab project|no project", str(result["error"]), re.I)
            and not extract_address(str(args.get("project", "")))
            and "deal_offers" not in names
        ):
            # "how's kellogg going" with no rehab on kellogg: the deal there, if any.
            return Plan("deal_offers", {"deal": str(args["project"])})
        if (
            name == "what_we_paid"
            and result.get("has_price") is False
            and result.get("property_id")
            and "analyze_property" not in names
        ):
            return Plan("analyze_property", {"property_id": str(result["property_id"])})
    return None


# --- the chat-model interface -----------------------------------------------------------------


class OfflinePlanner(BaseChatModel):
    """A chat model that plans tool calls by intent and writes replies from tool results."""

    allowed_tools: frozenset[str] | None = None
    """The tools bound for this run (None: not bound, so no tool may be called)."""

    @property
    def _llm_type(self) -> str:
        return OFFLINE_MODEL_NAME

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """A copy restricted to ``tools`` (it never calls a tool outside them)."""
        names = frozenset(t.name if isinstance(t, BaseTool) else str(t) for t in tools)
        return self.model_copy(update={"allowed_tools": names})

    def respond(self, messages: Sequence[BaseMessage]) -> AIMessage:
        """The next message: tool calls for a new user message, or the reply to the results."""
        conversation = Conversation.read(messages)
        results = conversation.results()
        if results:
            follow = fallback_for(results, conversation.text, conversation)
            if follow is not None and self.allowed_tools and follow.tool in self.allowed_tools:
                call_id = f"call_{uuid.uuid4().hex[:24]}"
                return AIMessage(
                    content="",
                    tool_calls=[{"name": follow.tool, "args": follow.args, "id": call_id}],
                )
            return AIMessage(content=reply_for(results))
        plan = (
            contractor_plan_for(conversation)
            if self.allowed_tools is not None and CONTRACTOR_UPDATE_TOOL in self.allowed_tools
            else plan_for(conversation)
        )
        needed = plan.tool or plan.needs
        if needed is not None and (self.allowed_tools is None or needed not in self.allowed_tools):
            return AIMessage(content=NOT_YOUR_ROLE)
        if plan.tool is None:
            if plan.reply == HELP_TEXT and self.allowed_tools is not None:
                if "make_offer" not in self.allowed_tools:  # not the team
                    return AIMessage(content=INVESTOR_HELP_TEXT)
            return AIMessage(content=plan.reply or NOT_UNDERSTOOD)
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        return AIMessage(
            content="", tool_calls=[{"name": plan.tool, "args": plan.args, "id": call_id}]
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.respond(messages))])
