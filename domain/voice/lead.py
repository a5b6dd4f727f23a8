"""What a seller lead said on a qualification call, as facts (pure functions, no model).

A lead-qualification call asks, one at a time: still interested in selling, the timeline, the
asking price, the condition (repairs needed), the occupancy (owner-occupied, tenant, vacant)
and a time for a walkthrough. ``extract_lead`` reads one answer in the context of the question
asked (``expect``), reusing the contractor path's readers (``domain.voice.extraction``):

- Price: ``parse_amounts`` ("$120k", "a hundred and twenty thousand", "120,000"), plus the
  way sellers say house prices when asked for one: "one twenty" / "one twenty five" (thousands
  in two parts → $120,000 / $125,000) and a bare "120" or "85" (→ thousands). A sum under
  $1,000 or over $50,000,000 is not a house price and is dropped.
- Timeline: ``parse_dates`` ("in two months", "by March 3rd", "next month", "right away"),
  plus seasons ("by spring" → the next March 1st) and "end of the year"; kept as a date
  (``sell_by``) and the words it came from.
- Walkthrough: the contractor path's site-visit reading (``extract(..., expect="site_visit")``)
  and a time of day when said ("Tuesday at 3 pm" → ``15:00``).
- Opt-out ("don't call me", "take me off your list"), call back later, yes / no: as for
  contractors.

``LeadFacts`` accumulates a call's answers and is stored as JSON in ``calls.outcome_data``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from domain.voice.extraction import (
    CallbackTime,
    asks_callback,
    callback_request,
    clock_in,
    dollars,
    extract,
    normalise,
    parse_amounts,
    parse_dates,
    spoken_date,
)

# What a lead-qualification call asks, in order.
LEAD_ITEMS = ("interested", "timeline", "asking_price", "condition", "occupancy", "walkthrough")
OCCUPANCIES = ("owner_occupied", "tenant", "vacant")
MIN_HOUSE_PRICE = Decimal("1000")
MAX_HOUSE_PRICE = Decimal("50000000")
MAX_CONDITION_CHARS = 160

_NOT_INTERESTED = re.compile(
    r"\b(?:not interested|no longer interested|not selling|not (?:going|gonna) to sell|"
    r"won't (?:be )?sell|decided (?:not to|to keep)|changed my mind|already sold|"
    r"(?:it's|it is|house is) (?:already )?sold|keeping (?:it|the house)|off the market|"
    r"don't want to sell|do not want to sell)\b"
)
# A polite no that ends the interest only when the question was whether they still sell
# ("no thanks" to a walkthrough is no walkthrough, not "not selling").
_NO_THANKS = re.compile(r"\b(?:no thanks|no thank you)\b")
_STILL_INTERESTED = re.compile(
    r"\b(?:still (?:interested|selling|want to sell|looking to sell)|want to sell|"
    r"looking to sell|ready to sell|need to sell|interested)\b"
)
# A figure may end a sentence ("We want 120."): a comma or period after it ends the number
# unless a digit follows ("120,000", "1.5").
_HOUSE_SHORTHAND = re.compile(r"(?<![\d$.,])(\d) (\d{2})(?!\d|[,.]\d|\s*(?:am|pm|a\.m|p\.m)\b)")
_BARE_PRICE = re.compile(r"(?<![\d$.,:/])(\d{2,3})(?!\d|[,.:/]\d|st\b|nd\b|rd\b|th\b)")
_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
_SEASON = re.compile(
    r"\b(?:by |in |before |around |this |next )*(spring|summer|fall|autumn|winter)\b"
)
_YEAR_END = re.compile(r"\b(?:end of (?:the |this )?year|year end|new year)\b")
_TENANT = re.compile(
    r"\b(?:tenants?|renters?|rented|renting|rent it|leased|lease|section 8|tenant occupied)\b"
)
_VACANT = re.compile(
    r"\b(?:vacant|empty|nobody|no one|no-one|unoccupied|sitting empty|moved out)\b"
)
_OWNER = re.compile(
    r"\b(?:i live|we live|i'm living|we're living|i am living|we are living|my home|our home|"
    r"owner occupied|live there|live here|living there|living in it|my family)\b"
)
_CLAUSES = re.compile(r"(?<=[.!?;,])\s+")
# Why someone cannot talk now: with a callback request, these words are no answer.
_BUSY = re.compile(
    r"\b(?:sorry|i'm|i am|we're|we are|at work|busy|driving|in a meeting|bad time|"
    r"not a good time|can't talk|cannot talk|right now|please|um+|uh+|well|so|oh|ok|okay)\b|\W+",
    re.I,
)
_FILLER = re.compile(r"^\W*(?:well|um+|uh+|so|oh|yeah|yes|okay|ok|hmm|like)\b[\s,]*")


@dataclass(frozen=True)
class LeadAnswer:
    """What one utterance of the seller said (None or False when it did not say it)."""

    text: str
    interested: bool | None = None
    sell_by: dt.date | None = None
    timeline_heard: str | None = None
    asking_price: Decimal | None = None
    price_heard: str | None = None
    condition: str | None = None
    occupancy: str | None = None
    walkthrough_date: dt.date | None = None
    walkthrough_time: str | None = None
    opted_out: bool = False
    callback: bool = False
    callback_when: CallbackTime | None = None
    yes: bool = False
    no: bool = False

    @property
    def heard_anything(self) -> bool:
        """True when the answer carried any fact (or a plain yes or no)."""
        return bool(
            self.interested is not None
            or self.sell_by
            or self.timeline_heard
            or self.asking_price is not None
            or self.condition
            or self.occupancy
            or self.walkthrough_date
            or self.opted_out
            or self.callback
            or self.yes
            or self.no
        )


_PRICE_CUE = re.compile(
    r"\b(?:want(?:s|ed|ing)?|asking|ask|hop(?:e|es|ing)|looking for|get|sell(?: it)? for|"
    r"price(?: is)?|take|list(?: it)? (?:at|for))\b",
    re.I,
)


_RIGHT_AFTER_CUE = re.compile(r"^\s*(?:about |around |maybe |at least |like )?\$?\d")


def house_price(text: str, *, price_asked: bool) -> tuple[Decimal, str] | None:
    """The asking price said in ``text`` (and the words it came from), or None.

    "$120k", "120,000", "a hundred and twenty thousand"; when the question was the price, or
    right after a price word ("want 120"), also "one twenty" (→ $120,000) and a bare "120"
    (→ $120,000).
    """
    normalised = normalise(text)
    # "I owe 50, want 120": the figure after the last price word is the asking price.
    cues = list(_PRICE_CUE.finditer(normalised))
    if cues:
        after = normalised[cues[-1].end() :]
        # A figure right after a price word is a price even when another question was asked
        # ("We want 120." said to the timeline question).
        direct = price_asked or _RIGHT_AFTER_CUE.match(after) is not None
        found = _price_in(after, price_asked=direct)
        if found is not None:
            return found
    return _price_in(normalised, price_asked=price_asked)


def _price_in(normalised: str, *, price_asked: bool) -> tuple[Decimal, str] | None:
    """``house_price`` over already normalised text."""
    for amount in parse_amounts(normalised, price_asked=price_asked):
        if amount.per is None and MIN_HOUSE_PRICE <= amount.value <= MAX_HOUSE_PRICE:
            return amount.value, amount.text
    if not price_asked:
        return None
    shorthand = _HOUSE_SHORTHAND.search(normalised)
    if shorthand:
        value = Decimal(int(shorthand.group(1)) * 100 + int(shorthand.group(2))) * 1000
        return value.quantize(Decimal("0.01")), shorthand.group(0)
    bare = _BARE_PRICE.search(normalised)
    if bare and 20 <= int(bare.group(1)) <= 999:
        rest = normalised[bare.end() :]
        if not re.match(r"^\s*(?:days?|weeks?|months?|years?|percent|%|am|pm)\b", rest):
            value = Decimal(int(bare.group(1)) * 1000)
            return value.quantize(Decimal("0.01")), bare.group(0)
    return None


def _season_date(name: str, today: dt.date) -> dt.date:
    month = _SEASONS[name]
    candidate = dt.date(today.year, month, 1)
    return candidate if candidate > today else dt.date(today.year + 1, month, 1)


def sell_timeline(text: str, *, today: dt.date) -> tuple[dt.date, str] | None:
    """By when the seller wants to sell, and the words: "in two months", "by spring", a date."""
    normalised = normalise(text)
    season = _SEASON.search(normalised)
    if season:
        return _season_date(season.group(1), today), season.group(0).strip()
    year_end = _YEAR_END.search(normalised)
    if year_end:
        return dt.date(today.year, 12, 31), year_end.group(0)
    mentions = parse_dates(normalised, after=today)
    if mentions:
        return mentions[0].value, mentions[0].text
    return None


def occupancy_of(text: str) -> str | None:
    """``tenant``, ``vacant`` or ``owner_occupied`` from what was said, or None."""
    normalised = normalise(text)
    if _TENANT.search(normalised):
        return "tenant"
    if _VACANT.search(normalised):
        return "vacant"
    if _OWNER.search(normalised):
        return "owner_occupied"
    return None


def condition_text(text: str) -> str | None:
    """The seller's words on the condition, kept short (fillers trimmed), or None."""
    cleaned = " ".join(text.split())
    while True:
        trimmed = _FILLER.sub("", cleaned, count=1)
        if trimmed == cleaned:
            break
        cleaned = trimmed
    cleaned = cleaned.strip(" .,")
    if not cleaned:
        return None
    if len(cleaned) > MAX_CONDITION_CHARS:
        cut = cleaned[:MAX_CONDITION_CHARS].rsplit(" ", 1)[0]
        cleaned = cut.rstrip(" .,") + "…"
    return cleaned


def extract_lead(text: str, *, today: dt.date, expect: str | None = None) -> LeadAnswer:
    """Read one answer of a seller in the context of the question asked (``expect``)."""
    normalised = normalise(text)
    general = extract(
        text, today=today, expect="site_visit" if expect == "walkthrough" else "confirm"
    )
    yes, no = general.yes, general.no
    interested: bool | None = None
    if _NOT_INTERESTED.search(normalised) or (
        expect in ("interested", None) and _NO_THANKS.search(normalised)
    ):
        interested = False
    elif expect == "interested":
        if no:
            interested = False
        elif yes or _STILL_INTERESTED.search(normalised):
            interested = True
    # "call me back Tuesday at 3" is a callback time: not a timeline, a price or a condition.
    _, rest = callback_request(normalised, today=today)
    said = " ".join(rest.split()) if rest != normalised else text
    # The seller's own words without the clauses asking for the callback (for the condition).
    spoken = (
        " ".join(c for c in _CLAUSES.split(text) if not asks_callback(c))
        if general.callback
        else text
    )
    price = house_price(said, price_asked=expect == "asking_price")
    timeline = sell_timeline(said, today=today) if expect in ("timeline", "interested") else None
    walkthrough = general.site_visit if expect == "walkthrough" else None
    # "Tuesday at 3" is 15:00, as a callback's "at 3" is (a working hour).
    clock = clock_in(normalise(said)) if expect == "walkthrough" else None
    occupancy = occupancy_of(said)  # "it's vacant" is heard whatever was asked
    condition: str | None = None
    if (
        expect == "condition"
        and not general.opted_out
        and not ((yes or no) and len(normalised.split()) <= 2)
        and not (general.callback and len(_BUSY.sub(" ", spoken).split()) < 3)
    ):
        condition = condition_text(spoken)
    if expect == "condition" and no and len(normalised.split()) <= 3:
        condition = "no repairs needed (as the seller said)"
    return LeadAnswer(
        text=text,
        interested=None if general.opted_out else interested,
        sell_by=timeline[0] if timeline else None,
        timeline_heard=timeline[1] if timeline else None,
        asking_price=price[0] if price else None,
        price_heard=price[1] if price else None,
        condition=condition,
        occupancy=occupancy,
        walkthrough_date=walkthrough,
        walkthrough_time=clock if walkthrough else None,
        opted_out=general.opted_out,
        callback=general.callback,
        callback_when=general.callback_when,
        yes=yes,
        no=no,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class LeadFacts:
    """What a lead-qualification call has established (``calls.outcome_data["facts"]``)."""

    kind: str = "lead"
    interested: bool | None = None
    sell_by: str | None = None
    timeline: str | None = None
    """the seller's words for the timeline ("in 2 months", "by spring")."""
    asking_price: str | None = None
    condition: str | None = None
    occupancy: str | None = None
    walkthrough_date: str | None = None
    walkthrough_time: str | None = None
    opted_out: bool = False
    callback: bool = False
    callback_when: CallbackTime | None = None
    """when the seller asked to be called back (the latest time said), if a time was said."""
    heard: dict[str, str] = field(default_factory=dict)
    """fact → the words it was taken from ("asking_price": "1 20")."""

    def merge(self, answer: LeadAnswer) -> LeadFacts:
        """These facts updated with one answer (a later statement of a fact replaces it)."""
        heard = dict(self.heard)
        if answer.price_heard and answer.asking_price is not None:
            heard["asking_price"] = answer.price_heard
        if answer.timeline_heard:
            heard["timeline"] = answer.timeline_heard
        return replace(
            self,
            interested=answer.interested if answer.interested is not None else self.interested,
            sell_by=answer.sell_by.isoformat() if answer.sell_by else self.sell_by,
            timeline=answer.timeline_heard or self.timeline,
            asking_price=_money(answer.asking_price) or self.asking_price,
            condition=answer.condition or self.condition,
            occupancy=answer.occupancy or self.occupancy,
            walkthrough_date=(
                answer.walkthrough_date.isoformat()
                if answer.walkthrough_date
                else self.walkthrough_date
            ),
            walkthrough_time=(
                answer.walkthrough_time if answer.walkthrough_date else self.walkthrough_time
            ),
            opted_out=self.opted_out or answer.opted_out,
            callback=self.callback or answer.callback,
            callback_when=answer.callback_when or self.callback_when,
            heard=heard,
        )

    def known(self, item: str) -> bool:
        """True when ``item`` (one of ``LEAD_ITEMS``) has an answer."""
        return {
            "interested": self.interested is not None,
            "timeline": self.sell_by is not None,
            "asking_price": self.asking_price is not None,
            "condition": self.condition is not None,
            "occupancy": self.occupancy is not None,
            "walkthrough": self.walkthrough_date is not None,
        }.get(item, False)

    @property
    def answered_anything(self) -> bool:
        """True when any qualifying answer was taken (beyond "still interested")."""
        return any(self.known(item) for item in LEAD_ITEMS[1:])

    def answers(self) -> dict[str, Any]:
        """The answers as the events and the team see them (JSON values)."""
        return {
            "interested": self.interested,
            "sell_by": self.sell_by,
            "timeline": self.timeline,
            "asking_price": self.asking_price,
            "condition": self.condition,
            "occupancy": self.occupancy,
            "walkthrough_date": self.walkthrough_date,
            "walkthrough_time": self.walkthrough_time,
        }

    def to_json(self) -> dict[str, Any]:
        """The facts as JSON values."""
        return {
            "kind": "lead",
            **self.answers(),
            "opted_out": self.opted_out,
            "callback": self.callback,
            "callback_when": self.callback_when.to_json() if self.callback_when else None,
            "heard": dict(self.heard),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LeadFacts:
        """Facts stored by ``to_json`` (missing keys take their defaults)."""
        data = data or {}
        interested = data.get("interested")
        occupancy = data.get("occupancy")
        return cls(
            interested=interested if isinstance(interested, bool) else None,
            sell_by=data.get("sell_by"),
            timeline=data.get("timeline"),
            asking_price=data.get("asking_price"),
            condition=data.get("condition"),
            occupancy=occupancy if occupancy in OCCUPANCIES else None,
            walkthrough_date=data.get("walkthrough_date"),
            walkthrough_time=data.get("walkthrough_time"),
            opted_out=bool(data.get("opted_out")),
            callback=bool(data.get("callback")),
            callback_when=CallbackTime.from_json(data.get("callback_when")),
            heard={str(k): str(v) for k, v in (data.get("heard") or {}).items()},
        )


OCCUPANCY_WORDS = {
    "owner_occupied": "owner-occupied",
    "tenant": "tenant-occupied",
    "vacant": "vacant",
}


def timeline_words(facts: LeadFacts, today: dt.date | None = None) -> str | None:
    """``within 2 months`` / ``by spring`` / ``by Friday, January 15``, from the facts."""
    if facts.sell_by is None:
        return None
    heard = (facts.timeline or "").strip()
    counted = re.match(r"^(?:in|within)\s+(\d+)\s+(day|week|month)s?$", heard)
    if counted:
        count, unit = int(counted.group(1)), counted.group(2)
        return f"within {count} {unit}{'' if count == 1 else 's'}"
    season = _SEASON.fullmatch(heard)
    if season:
        return f"by {season.group(1)} ({spoken_date(facts.sell_by)})"
    return f"by {spoken_date(facts.sell_by)}"


def walkthrough_words(facts: LeadFacts) -> str | None:
    """``Thursday, December 3 at 15:00``, from the facts."""
    if facts.walkthrough_date is None:
        return None
    at = f" at {facts.walkthrough_time}" if facts.walkthrough_time else ""
    return f"{spoken_date(facts.walkthrough_date)}{at}"


def confirmation(facts: LeadFacts) -> str:
    """The answers read back before goodbye, written from the recorded facts only."""
    parts: list[str] = []
    timeline = timeline_words(facts)
    if timeline:
        parts.append(f"you'd like to sell {timeline}")
    if facts.asking_price is not None:
        parts.append(f"asking {dollars(facts.asking_price)}")
    if facts.condition:
        parts.append(f"condition: {facts.condition}")
    if facts.occupancy:
        parts.append(f"the house is {OCCUPANCY_WORDS[facts.occupancy]}")
    walkthrough = walkthrough_words(facts)
    if walkthrough:
        parts.append(f"a walkthrough on {walkthrough}")
    heard = "; ".join(parts) if parts else "nothing definite yet"
    return f"Let me confirm what I have: {heard}. Is that right?"


def team_summary(facts: LeadFacts, address: str) -> str:
    """One line for the team: "Seller of 123 Main St: asking $120,000, wants to sell ..."."""
    parts: list[str] = []
    if facts.asking_price is not None:
        parts.append(f"asking {dollars(facts.asking_price)}")
    timeline = timeline_words(facts)
    if timeline:
        parts.append(f"wants to sell {timeline}")
    if facts.occupancy:
        parts.append(OCCUPANCY_WORDS[facts.occupancy])
    if facts.condition:
        parts.append(f"condition: {facts.condition}")
    if facts.walkthrough_date:
        at = f" {facts.walkthrough_time}" if facts.walkthrough_time else ""
        parts.append(f"walkthrough {facts.walkthrough_date}{at}")
    return f"Seller of {address}: " + (", ".join(parts) if parts else "no answers taken")
