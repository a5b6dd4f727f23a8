"""What a contractor said on a call, as facts: prices per scope line, start, duration, and more.

Pure functions, no language model. Twilio's speech results arrive as plain text, with numbers
sometimes in digits ("$11,500") and sometimes in words ("eleven thousand five hundred"):

1. ``normalise`` lower-cases the text and turns spelled-out numbers into digits ("eleven
   thousand five hundred" → ``11500``, "forty two hundred" → ``4200``, "eleven point five k" →
   ``11.5 k``, "twelve and a half" → ``12.5``) and ordinals into ``3rd`` form ("the twenty
   third" → ``the 23rd``).
2. ``parse_amounts`` finds money: a ``$``, a money word ("dollars", "k", "grand", "thousand")
   or a number of at least 100 that is not a quantity ("22 squares"), a time ("10 am") or a
   date's day or year; cents after dollars count ("9999 dollars and 50 cents" → $9,999.50).
   An amount followed by "per/a square", "a square foot", "a linear foot" or "each" is a unit
   rate, not a line total: ``extract`` multiplies it by the scope line's quantity when the
   units match ("1,500 per square" on a 20-square roof → $30,000, read back as "roof 20
   squares at $1,500 = $30,000"), and otherwise keeps it aside so the agent asks for the
   line's total. Contractor shorthand for thousands is money only when a price is being
   given (the question asked for one, or "for", "is", "it's", "about" ... comes just before):
   "eleven five" / "eleven-five" → $11,500, "twelve and a half" → $12,500, and with two
   digits after, hundreds: "twelve fifty" → $1,250, "forty two fifty" → $4,250 ("nine grand"
   is $9,000 by its money word); a run of digits ("three one three ..."), a clock time ("at
   ten thirty") or a year ("twenty twenty six") never is. "Four thousand two fifty" is 4250;
   "between thirty eight hundred and forty two hundred" two numbers (a range).
3. ``parse_start_date`` reads "the 3rd" (the next 3rd of a month after the call date), "March
   3rd", "Wednesday, December 9th" (the date wins over its weekday), "next Monday",
   "tomorrow", "in two weeks", "12/3", and loosely "after the holidays" /
   "after the first of the year" (the first working day after New Year's Day), "end of the
   month", "next month"; ``parse_duration_days`` reads "takes four days", "two weeks", "3 to 4
   days" (the longer), "a day and a half" (rounded up: 2), but not "in two weeks" (a start).
4. ``extract`` reads one answer in the context of the question asked (``expect``) and the
   project's scope lines: each amount goes to the line named next to it ("the roof for
   11,500"), to the line asked about, or to the total.

``CallFacts`` accumulates the answers of a whole call and is stored as JSON on the call.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from domain.voice.hours import CallWindow

# --- numbers in words --------------------------------------------------------------------

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"thousand": 1000, "million": 1_000_000}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_NUMBER_WORDS = set(_UNITS) | set(_TEENS) | set(_TENS) | set(_SCALES) | {"hundred"}
# "a couple of days", "a few weeks", "a week": counts said without a number.
_VAGUE_COUNTS = (
    (re.compile(r"\ba\s+couple(?:\s+of)?\b"), "2"),
    (re.compile(r"\ba\s+few\b"), "3"),
    (re.compile(r"\bhalf\s+a\s+day\b"), "1 day"),
    (re.compile(r"\ba\s+dozen\b"), "12"),
    (re.compile(r"\ban?\s+(?=(?:day|week|month|hour)s?\b)"), "1 "),
)


def _suffix(n: int) -> str:
    """The ordinal suffix of ``n``: 1st, 2nd, 3rd, 4th, 11th, 23rd."""
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _and_continues(following: Sequence[str], *, current: int, scale: int, last: str) -> bool:
    """Whether the words after an "and" go on the same number, not start a second one.

    ``following`` are the words after the "and"; ``current`` and ``scale`` the number read so
    far (its part under the scale, and the scale's value) and ``last`` what ended it. "One
    hundred and fifty", "a hundred and twenty thousand", "three thousand and fifty" and
    "three thousand and five hundred" go on; "thirty eight hundred and forty two hundred",
    "between two thousand and twenty five hundred" and "two thousand and three thousand" are
    two numbers (a range).
    """
    j, tail = 0, 0
    if j < len(following) and following[j] in _TENS:
        tail = _TENS[following[j]]
        j += 1
        if j < len(following) and following[j] in _UNITS:
            tail += _UNITS[following[j]]
            j += 1
    elif j < len(following) and (following[j] in _UNITS or following[j] in _TEENS):
        tail = _UNITS.get(following[j], _TEENS.get(following[j], 0))
        j += 1
    if j == 0:
        return False
    after = following[j] if j < len(following) else ""
    if last == "hundred":
        # "forty two hundred" after "thirty eight hundred and"; "4 thousand" after "35 hundred"
        return after != "hundred" and not (after in _SCALES and current >= 1000)
    if after in _SCALES:
        return _SCALES[after] < scale
    return not (after == "hundred" and tail >= 10)


def _number_run(words: Sequence[str]) -> tuple[str, int]:
    """Read one spelled-out number from the start of ``words``: (its text, words used).

    A unit after a unit ("eleven five") starts a new number; "and" is allowed inside one
    ("one hundred and fifty", "three thousand and fifty") but not before a second number of
    hundreds ("thirty eight hundred and forty two hundred" is two numbers, and so is
    "thirty eight hundred forty two hundred"); after thousands a unit before tens is hundreds
    ("four thousand two fifty" → 4250); a trailing ordinal makes it an ordinal ("twenty
    third" → 23rd); "point" adds decimals ("eleven point five" → 11.5).
    """
    total, current, last = 0, 0, ""
    used = 0
    scale = 0  # the last scale word's value ("thousand": 1000)
    hundreds_unit = False  # a unit said right after a scale: "four thousand two (fifty)"
    saved: tuple[int, int] | None = None  # (value, words used) as of the last "hundred"
    for index, word in enumerate(words):
        if word in _UNITS:
            if last in ("unit", "teen"):
                break
            hundreds_unit = last == "scale"
            current += _UNITS[word]
            last = "unit"
        elif word in _TEENS:
            if last == "unit" and hundreds_unit:
                current = current * 100 + _TEENS[word]  # "four thousand two fifteen"
            elif last in ("unit", "teen", "ten"):
                break
            else:
                current += _TEENS[word]
            last = "teen"
        elif word in _TENS:
            if last == "unit" and hundreds_unit:
                current = current * 100 + _TENS[word]  # "four thousand two fifty"
            elif last in ("unit", "teen", "ten"):
                break
            else:
                current += _TENS[word]
            last = "ten"
        elif word == "hundred":
            if current >= 100 and saved is not None:
                # "thirty eight hundred forty two hundred": a second number began after the
                # first "hundred".
                return str(saved[0]), saved[1]
            current = (current or 1) * 100
            last = "hundred"
            saved = (total + current, index + 1)
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current, last, scale = 0, "scale", _SCALES[word]
        elif word == "and" and last in ("hundred", "scale") and index + 1 < len(words):
            if not _and_continues(words[index + 1 :], current=current, scale=scale, last=last):
                break
            used = index + 1
            continue
        elif word in _ORDINALS and last in ("ten", "hundred", "scale") and _ORDINALS[word] < 10:
            value = total + current + _ORDINALS[word]
            return f"{value}{_suffix(value)}", index + 1
        elif word == "point" and last and index + 1 < len(words) and words[index + 1] in _UNITS:
            digits = []
            j = index + 1
            while j < len(words) and words[j] in _UNITS:
                digits.append(str(_UNITS[words[j]]))
                j += 1
            return f"{total + current}.{''.join(digits)}", j
        else:
            break
        used = index + 1
    return str(total + current), used


_WORD = re.compile(r"[a-z]+")
_AND_A_HALF = re.compile(r"(?<![\d,.])(\d{1,3}) and a half\b")
# "a day and a half" (normalised "1 day and a half") is 1.5 days; a duration rounds it up.
_UNIT_AND_A_HALF = re.compile(r"(?<![\d,.])(\d{1,3}) (day|week|month|hour)s? and a half\b")


def normalise(text: str) -> str:
    """Lower-case ``text`` with numbers in digits and ordinals as ``3rd`` (see the module doc)."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # "forty-two" → "forty two"
    for pattern, replacement in _VAGUE_COUNTS:
        text = pattern.sub(replacement, text)
    matches = list(_WORD.finditer(text))
    out: list[str] = []
    position = 0
    i = 0
    while i < len(matches):
        word = matches[i].group()
        starts_number = word in _NUMBER_WORDS and word not in ("hundred", *_SCALES)
        a_scale = (
            word in ("a", "one")
            and i + 1 < len(matches)
            and matches[i + 1].group() in ("hundred", *_SCALES)
        )
        if word in _ORDINALS and not (i > 0 and matches[i - 1].group() in ("a", "every")):
            out.append(text[position : matches[i].start()])
            value = _ORDINALS[word]
            out.append(f"{value}{_suffix(value)}")
            position = matches[i].end()
            i += 1
            continue
        if not (starts_number or a_scale):
            i += 1
            continue
        # The words of this run, as long as they follow each other with only spaces between.
        run = [matches[i]]
        j = i + 1
        while j < len(matches) and text[run[-1].end() : matches[j].start()].strip() == "":
            candidate = matches[j].group()
            if (
                candidate in _NUMBER_WORDS
                or candidate in ("and", "point")
                or candidate in _ORDINALS
            ):
                run.append(matches[j])
                j += 1
            else:
                break
        words = ["one" if m.group() == "a" else m.group() for m in run]
        pieces: list[str] = []
        k = 0
        while k < len(words):
            if pieces and "." in pieces[-1] and words[k] in ("hundred", *_SCALES):
                pieces.append(words[k])  # "11.5 thousand": the amount reader scales it
                k += 1
                continue
            piece, used = _number_run(words[k:])
            if used == 0:
                break
            pieces.append(piece)
            k += used
        consumed = run[k - 1] if k else run[0]
        if not pieces:
            i += 1
            continue
        out.append(text[position : run[0].start()])
        out.append(" ".join(pieces))
        position = consumed.end()
        i = matches.index(consumed) + 1
    out.append(text[position:])
    # "twelve and a half" → "12.5" (money or a duration: the reader decides which)
    joined = _UNIT_AND_A_HALF.sub(r"\1.5 \2s", "".join(out))
    return _AND_A_HALF.sub(r"\1.5", joined)


# --- money -------------------------------------------------------------------------------

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMBER = re.compile(
    r"(?P<dollar>\$\s*)?(?<![\d.:/])(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?(?![\d/:]|st\b|nd\b|rd\b|th\b)"
)
_MONEY_SUFFIX = re.compile(r"^\s*(k|grand|thousand|million|dollars?|bucks)\b")
# "... and 50 cents" after a whole amount.
_CENTS = re.compile(r"^\s*(?:and\s+)?(\d{1,2})\s+cents?\b")
# A unit rate after an amount: "per square", "a square foot", "/sqft", "a linear foot", "each".
_PER_UNIT = re.compile(
    r"^\s*(?:(?:(?:per|an?)\s+|/\s*)(?P<unit>square\s+f(?:oo|ee)t|sq\.?\s*f(?:oo|ee)?t\b\.?|sqft|"
    r"sf|squares?|sq|linear\s+f(?:oo|ee)?t|lineal\s+f(?:oo|ee)?t|lf|foot|feet|ft|piece|unit|"
    r"item)|(?P<each>each|apiece|a\s+piece))\b"
)
_UNIT_KEYS = {
    "square": ("square", "squares", "sq", "sqs", "roofing square", "roofing squares"),
    "sqft": (
        "sqft",
        "sq ft",
        "sq feet",
        "sq foot",
        "square foot",
        "square feet",
        "square ft",
        "sf",
        "ft2",
    ),
    "lf": (
        "lf",
        "linear ft",
        "linear foot",
        "linear feet",
        "lin ft",
        "lineal ft",
        "lineal foot",
        "lineal feet",
        "foot",
        "feet",
        "ft",
    ),
    "each": ("each", "ea", "unit", "units", "piece", "pieces", "pc", "pcs", "item", "items"),
}
_UNIT_OF = {word: key for key, words in _UNIT_KEYS.items() for word in words}


def unit_key(unit: str | None) -> str | None:
    """A unit as one key: ``square``, ``sqft``, ``lf``, ``each`` (else the word, singular)."""
    if not unit:
        return None
    word = " ".join(re.sub(r"[^a-z0-9]+", " ", unit.lower()).split())
    if not word:
        return None
    return _UNIT_OF.get(word) or (word[:-1] if word.endswith("s") and len(word) > 2 else word)


def _spoken_unit(key: str) -> str:
    return {"sqft": "square foot", "lf": "linear foot"}.get(key, key)


_SCALE_OF = {"k": 1000, "grand": 1000, "thousand": 1000, "million": 1_000_000}
# Words after a number that make it a quantity or a time, not money.
_NOT_MONEY = re.compile(
    r"^\s*(?:days?|weeks?|months?|years?|hours?|minutes?|squares?|sq|square|feet|foot|ft|"
    r"linear|windows?|doors?|rooms?|units?|gallons?|inches?|yards?|am|pm|a\.m|p\.m|o'clock|"
    r"percent|%|people|guys|men|crews?|of\s+(?:" + _MONTH_RE + r"))\b"
)


@dataclass(frozen=True)
class Amount:
    """A sum of money said in the text, and where (in the normalised text)."""

    value: Decimal
    start: int
    end: int
    text: str
    per: str | None = None
    """a unit rate's unit key (``square``, ``sqft``, ``lf``, ``each``); None for a sum."""

    def spoken_rate(self) -> str:
        """``$1,500 per square`` (the amount as a rate)."""
        return f"{dollars(self.value)} {'each' if self.per == 'each' else 'per '}" + (
            "" if self.per == "each" else _spoken_unit(self.per or "")
        )


def _previous_word(text: str, start: int) -> str:
    match = re.search(r"([a-z]+)\W*$", text[:start])
    return match.group(1) if match else ""


# Words just before a sum that say a price is being given ("the roof for", "it's", "about").
_PRICE_CUE = re.compile(
    r"(?:\b(?:for|is|be|was|about|around|roughly|like|say|price|priced|cost|costs|charge|bid|"
    r"quote|number|runs?(?:\s+you)?|comes?\s+(?:out\s+)?to|make\s+it|call\s+it)|'s)\s*$"
)
# The second number of "11 5" (said "eleven five"): one digit, not part of a longer run.
_SLANG_HUNDREDS = re.compile(r"^ (\d)(?![\d:/]|[,.]\d|st\b|nd\b|rd\b|th\b|\s+\d)")
# The second number of "12 50" (said "twelve fifty"): two digits, not part of a longer run.
_SLANG_TENS = re.compile(r"^ ([1-9]\d)(?![\d:/]|[,.]\d|st\b|nd\b|rd\b|th\b|\s+\d)")
# "20 26" / "20 31" (said "twenty twenty six"): a year unless a price cue comes just before.
_YEAR_LIKE = re.compile(r"^20 [23]\d$")
# Words before a clock time ("at 10 30", "by 12 50"): the pair is hours and minutes.
_CLOCK_CUE = re.compile(r"\b(?:at|by|till|until|before|after|from)\s*$")


def _thousands_slang(
    normalised: str, match: re.Match[str], value: Decimal, *, price_asked: bool
) -> tuple[Decimal, int] | None:
    """Contractor shorthand: "11 5" → 11,500, "12.5" → 12,500, and "12 50" → 1,250.

    Read so only when a price is being given (the question asked for one, or a cue such as
    "for" or "it's" comes just before) and the number is under 100; a quantity, a time or a
    run of digits (a phone number) is never money. A one-digit second number is hundreds of
    thousands ("eleven five" → $11,500); a two-digit one makes the pair hundreds and tens
    ("twelve fifty" → $1,250, "forty two fifty" → $4,250, "nineteen ninety nine" → $1,999),
    except a year ("twenty twenty six") said without a price cue. Returns (value, end) or None.
    """
    if value >= 100 or "," in match.group("num"):
        return None
    before = normalised[max(0, match.start() - 40) : match.start()]
    if re.search(r"\d\s*$", before):
        return None  # inside a run of digits
    cued = bool(_PRICE_CUE.search(before))
    if not (price_asked or cued):
        return None
    if match.group("dec"):
        end = match.end()
        result = value * 1000
    else:
        rest = normalised[match.end() :]
        pair = _SLANG_HUNDREDS.match(rest)
        tens = None if pair or value < 10 else _SLANG_TENS.match(rest)
        if pair is not None:
            end = match.end() + pair.end()
            result = value * 1000 + int(pair.group(1)) * 100
        elif tens is not None:
            end = match.end() + tens.end()
            if _YEAR_LIKE.match(normalised[match.start() : end]) and not cued:
                return None
            if _CLOCK_CUE.search(before) and value <= 12 and int(tens.group(1)) < 60 and not cued:
                return None  # "be there at ten thirty": a time of day
            result = value * 100 + int(tens.group(1))
        else:
            return None
    rest = normalised[end:]
    if _NOT_MONEY.match(rest) or _MONEY_SUFFIX.match(rest):
        return None
    return result, end


def parse_amounts(normalised: str, *, price_asked: bool = False) -> list[Amount]:
    """The sums of money in already ``normalise``-d text, in order.

    ``price_asked`` (the question was about a price) lets contractor shorthand for thousands
    ("eleven five" → $11,500, "twelve and a half" → $12,500) count without a cue word.
    """
    amounts: list[Amount] = []
    consumed_to = 0
    for match in _NUMBER.finditer(normalised):
        if match.start() < consumed_to:
            continue  # the "500" of "11 thousand 500", already added
        try:
            value = Decimal(match.group("num").replace(",", "") + (match.group("dec") or ""))
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
        rest = normalised[match.end() :]
        suffix = _MONEY_SUFFIX.match(rest)
        end = match.end()
        rate = _PER_UNIT.match(rest)
        if suffix:
            word = suffix.group(1)
            end += suffix.end()
            value *= _SCALE_OF.get(word, 1)
            if word in ("thousand", "k", "grand"):
                # "11 thousand 500"
                more = re.match(
                    r"^\s*(?:and\s+)?(\d{1,3})(?![\d,.]|\s*(?:k|thousand|grand)\b)",
                    normalised[end:],
                )
                if more and not _NOT_MONEY.match(normalised[end + more.end() :]):
                    value += Decimal(more.group(1))
                    end += more.end()
        elif not match.group("dollar"):
            if _previous_word(normalised, match.start()) in _MONTHS:
                continue  # "march 2027", "march 11"
            slang = (
                None
                if rate
                else _thousands_slang(normalised, match, value, price_asked=price_asked)
            )
            if rate:
                pass  # "4 a square foot": a rate, whatever its size
            elif slang is not None:
                value, end = slang
            elif value < 100 or _NOT_MONEY.match(rest):
                continue
            elif re.search(
                r"\b(?:" + _MONTH_RE + r")\s+\d{1,2}(?:st|nd|rd|th)?,?\s*$",
                normalised[: match.start()],
            ):
                continue  # the year of "march 3, 2027"
        cents = _CENTS.match(normalised[end:])
        if cents and value == value.to_integral_value():
            value += Decimal(cents.group(1)) / 100
            end += cents.end()
        per: str | None = None
        unit = _PER_UNIT.match(normalised[end:])
        if unit:
            per = "each" if unit.group("each") else unit_key(unit.group("unit"))
            end += unit.end()
        consumed_to = end
        amounts.append(
            Amount(
                value=value.quantize(Decimal("0.01")),
                start=match.start(),
                end=end,
                text=normalised[match.start() : end].strip(),
                per=per,
            )
        )
    return amounts


def parse_amount(text: str, *, price_asked: bool = False) -> Decimal | None:
    """The first sum of money in ``text`` ("$11,500", "11.5k", "eleven thousand five hundred")."""
    found = parse_amounts(normalise(text), price_asked=price_asked)
    return found[0].value if found else None


# --- dates -------------------------------------------------------------------------------

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAY_RE = "|".join(_WEEKDAYS)


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_day_of_month(day_of_month: int, after: dt.date) -> dt.date | None:
    """The next date after ``after`` on ``day_of_month`` (the 31st skips short months)."""
    if not 1 <= day_of_month <= 31:
        return None
    year, month = after.year, after.month
    for _ in range(14):
        if day_of_month <= calendar.monthrange(year, month)[1]:
            candidate = dt.date(year, month, day_of_month)
            if candidate > after:
                return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return None  # pragma: no cover


def _month_day(month: int, day: int, year: int | None, after: dt.date) -> dt.date | None:
    try:
        if year is not None:
            return dt.date(year if year > 100 else 2000 + year, month, day)
        candidate = dt.date(after.year, month, day)
        return candidate if candidate > after else dt.date(after.year + 1, month, day)
    except ValueError:
        return None


def _next_weekday(weekday: int, after: dt.date) -> dt.date:
    return after + dt.timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)


@dataclass(frozen=True)
class DateMention:
    """A date said in the text, where, and the words it came from."""

    value: dt.date
    start: int
    end: int
    text: str


_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
_BOOKED = (
    r"\b(?:booked|busy|slammed|tied up)(?:\s+up)?(?:\s+solid)?\s+(?:for\s+)?(?:the\s+next\s+)?"
)
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "iso"),
    # "Monday after next" is a week after the coming Monday; "the week after next" its Monday.
    (re.compile(r"\b(" + _WEEKDAY_RE + r")\s+after\s+next\b"), "weekday_after_next"),
    (re.compile(r"\bweek\s+after\s+next\b"), "week_after_next"),
    # "first week of March", "early March", "end of January": the first day of that part.
    (
        re.compile(
            r"\b(?:(?:the\s+)?(1st|2nd|3rd|4th|last)\s+week\s+of|(early|beginning\s+of|start\s+of|"
            r"mid|middle\s+of|late|end\s+of))[\s-]+(" + _MONTH_RE + r")\b(?!\s+(?:the\s+)?\d)"
        ),
        "part_of_month",
    ),
    # "I'm booked for three weeks": free to start once that time has passed.
    (re.compile(_BOOKED + r"(\d+(?:\.5)?)\s+(day|week|month)s?\b"), "in"),
    # Said loosely (see ``_loose_start``): "after the holidays", "after the first of the year",
    # "end of the month".
    (
        re.compile(
            r"\bafter\s+(?:the\s+)?(?:holidays|holiday\s+season|christmas(?:\s+and\s+new\s+year'?s?)?)\b"
        ),
        "after_holidays",
    ),
    (
        re.compile(
            r"\b(?:(?:after|past|from)\s+)?(?:the\s+)?1st\s+of\s+(?:the|next)\s+year\b|"
            r"\b(?:after|past)\s+new\s+year'?s?(?:\s+day)?\b|"
            r"\b(?:start|beginning)\s+of\s+(?:the\s+|next\s+)?year\b"
        ),
        "new_year",
    ),
    (re.compile(r"\b(?:the\s+)?end\s+of\s+(?:the|this)\s+month\b"), "end_of_month"),
    (
        re.compile(
            r"\b(" + _MONTH_RE + r")\.?\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(\d{4}))?"
        ),
        "month_day",
    ),
    (
        re.compile(r"\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+of\s+(" + _MONTH_RE + r")\b"),
        "day_of_month",
    ),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"), "numeric"),
    (re.compile(r"\bthe\s+(\d{1,2})(st|nd|rd|th)\b"), "ordinal"),
    (re.compile(r"\b(?:(next|this|coming)\s+)?(" + _WEEKDAY_RE + r")\b"), "weekday"),
    (re.compile(r"\bday\s+after\s+tomorrow\b"), "after_tomorrow"),
    (re.compile(r"\btomorrow\b"), "tomorrow"),
    (re.compile(r"\btoday\b|\bright\s+now\b"), "today"),
    (re.compile(r"\b(?:in|within)\s+(\d+(?:\.5)?)\s+(day|week|month)s?\b"), "in"),
    (re.compile(r"\b(\d+(?:\.5)?)\s+(day|week|month)s?\s+(?:out|from\s+now)\b"), "in"),
    (re.compile(r"\bnext\s+week\b"), "next_week"),
    (re.compile(r"\bnext\s+month\b"), "next_month"),
    (re.compile(r"\b(?:right\s+away|asap|a\s*s\s*a\s*p|immediately|any\s*time)\b"), "asap"),
)


def _working_day(day: dt.date) -> dt.date:
    """``day``, or the first day after it that is a weekday and not New Year's Day."""
    while day.weekday() >= 5 or (day.month == 1 and day.day == 1):
        day += dt.timedelta(days=1)
    return day


def _after_new_year(after: dt.date) -> dt.date:
    """The first working day after New Year's Day that is still to come.

    "After the holidays" means the same: in the US "the holidays" run from Thanksgiving to New
    Year's, and a contractor who says it in November or December means the new year, not the
    Monday after Thanksgiving. Said in January, once that day has passed, the holidays are
    over: the next working day.
    """
    this_year = _working_day(dt.date(after.year, 1, 2))
    if this_year > after:
        return this_year
    if after.month == 1:
        return _working_day(after + dt.timedelta(days=1))
    return _working_day(dt.date(after.year + 1, 1, 2))


def _end_of_month(after: dt.date) -> dt.date:
    """The last weekday of this month, or of next month when fewer than 3 days remain."""
    last = dt.date(after.year, after.month, calendar.monthrange(after.year, after.month)[1])
    if (last - after).days < 3:
        following = _add_months(after.replace(day=1), 1)
        last = dt.date(
            following.year,
            following.month,
            calendar.monthrange(following.year, following.month)[1],
        )
    while last.weekday() >= 5:
        last -= dt.timedelta(days=1)
    return last


def _resolve(kind: str, match: re.Match[str], after: dt.date) -> dt.date | None:
    g = match.groups()
    if kind == "iso":
        try:
            return dt.date(int(g[0]), int(g[1]), int(g[2]))
        except ValueError:
            return None
    if kind == "month_day":
        return _month_day(_MONTHS[g[0]], int(g[1]), int(g[2]) if g[2] else None, after)
    if kind == "day_of_month":
        return _month_day(_MONTHS[g[1]], int(g[0]), None, after)
    if kind == "numeric":
        month, day = int(g[0]), int(g[1])
        if not (1 <= month <= 12):
            return None
        return _month_day(month, day, int(g[2]) if g[2] else None, after)
    if kind == "ordinal":
        return next_day_of_month(int(g[0]), after)
    if kind == "part_of_month":
        part = (g[0] or g[1]).split()[0]
        day = {"2nd": 8, "3rd": 15, "mid": 15, "middle": 15, "4th": 22, "late": 22}.get(part, 1)
        if part in ("last", "end"):
            day = 22 if part == "last" else 25
        return _month_day(_MONTHS[g[2]], day, None, after)
    if kind == "weekday_after_next":
        return _next_weekday(_WEEKDAYS[g[0]], after) + dt.timedelta(days=7)
    if kind == "week_after_next":
        return _next_weekday(0, after) + dt.timedelta(days=7)
    if kind == "weekday":
        target = _next_weekday(_WEEKDAYS[g[1]], after)
        if g[0] == "next" and (target - after).days < 7 and after.weekday() >= 5:
            return target  # said at the weekend, "next monday" is the coming one
        return target
    if kind == "after_tomorrow":
        return after + dt.timedelta(days=2)
    if kind in ("tomorrow", "asap"):
        return after + dt.timedelta(days=1)
    if kind == "today":
        return after
    if kind == "in":
        count, unit = Decimal(g[0]), g[1]
        if unit == "month":
            whole = int(count)
            return _add_months(after, whole) + dt.timedelta(days=15 if count > whole else 0)
        days = (count * _UNIT_DAYS[unit]).to_integral_value(rounding="ROUND_CEILING")
        return after + dt.timedelta(days=int(days))
    if kind == "next_week":
        return _next_weekday(0, after)
    if kind == "next_month":
        return _working_day(_add_months(after.replace(day=1), 1))
    if kind in ("after_holidays", "new_year"):
        return _after_new_year(after)
    if kind == "end_of_month":
        return _end_of_month(after)
    return None  # pragma: no cover


# A date that names its day ("december 9th", "the 9th", "12/9"): said after a weekday, it wins.
_DAY_KINDS = frozenset({"iso", "month_day", "day_of_month", "numeric", "ordinal"})
_WEEKDAY_THEN_DATE = re.compile(r"^\s*,?\s*(?:the\s+)?$")


def parse_dates(normalised: str, *, after: dt.date) -> list[DateMention]:
    """Every date said in already ``normalise``-d text, in order; relative to ``after``.

    A weekday said just before a date that names its day ("Wednesday, December 9th", "Monday
    the 7th") is one mention, the date's: an explicit day wins over the weekday, also when the
    two disagree ("Thursday December 9th" is December 9, the day the contractor can check when
    it is read back as "Wednesday, December 9").
    """
    found: list[tuple[DateMention, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in _DATE_PATTERNS:
        for match in pattern.finditer(normalised):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            value = _resolve(kind, match, after)
            if value is None:
                continue
            taken.append((match.start(), match.end()))
            mention = DateMention(value, match.start(), match.end(), match.group().strip())
            found.append((mention, kind))
    found.sort(key=lambda pair: pair[0].start)
    merged: list[DateMention] = []
    for index, (mention, kind) in enumerate(found):
        if kind == "weekday" and index + 1 < len(found):
            date, date_kind = found[index + 1]
            if date_kind in _DAY_KINDS and _WEEKDAY_THEN_DATE.match(
                normalised[mention.end : date.start]
            ):
                text = normalised[mention.start : date.end].strip()
                found[index + 1] = (replace(date, start=mention.start, text=text), date_kind)
                continue
        merged.append(mention)
    return merged


_START_CUE = re.compile(r"\b(start|begin|get (?:to|on) it|available|free|open|there|kick off)\b")
_VISIT_CUE = re.compile(
    r"\b(come (?:out|by|over)|stop by|swing by|look at|see the|take a look|walk ?through|visit)\b"
)


def _nearest_after_cue(
    mentions: Sequence[DateMention], text: str, cue: re.Pattern[str]
) -> DateMention | None:
    cues = [m.end() for m in cue.finditer(text)]
    best: tuple[int, DateMention] | None = None
    for mention in mentions:
        for position in cues:
            if position <= mention.start and mention.start - position < 60:
                gap = mention.start - position
                if best is None or gap < best[0]:
                    best = (gap, mention)
    return best[1] if best else None


_LOOSE_STARTS = (
    (re.compile(r"\bholiday|\bchristmas\b"), "after the holidays"),
    (
        re.compile(r"\b1st of (?:the|next) year\b|\bnew year|\bof (?:the |next )?year\b"),
        "after the first of the year",
    ),
    (re.compile(r"\bend of (?:the|this) month\b"), "at the end of the month"),
    (re.compile(r"^next month$"), "next month"),
)


def loose_start(heard: str | None) -> str | None:
    """How to say back a start given loosely ("after the holidays"), from the words heard.

    The read-back names the words and the date taken for them ("starting after the holidays,
    so about Monday, January 4"), so the contractor hears what "after the holidays" became.
    """
    if not heard:
        return None
    for pattern, spoken in _LOOSE_STARTS:
        if pattern.search(heard):
            return spoken
    return None


# "Couple of weeks" to "when could you start?": a wait, not how long the work takes.
_BARE_WAIT = re.compile(r"(?<![\d.])(\d+(?:\.5)?)\s+(day|week|month)s?\b")
_TAKES = re.compile(r"\b(?:tak(?:e|es|ing)|last(?:s|ing)?|of work|to (?:do|finish|complete))\b")


def parse_start_date(text: str, *, after: dt.date) -> dt.date | None:
    """The start date said in ``text`` ("start on the third" → the next 3rd after ``after``)."""
    normalised = normalise(text)
    mentions = parse_dates(normalised, after=after)
    if not mentions:
        return None
    chosen = _nearest_after_cue(mentions, normalised, _START_CUE) or mentions[0]
    return chosen.value


# --- durations ---------------------------------------------------------------------------

_DURATION = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*(?:to|-|or)\s*(\d+(?:\.\d+)?))?\s+"
    r"(?:(?:full|working|business|work)\s+)?(day|week|month|hour)s?\b"
)


def _days(count: Decimal, unit: str) -> int:
    if unit == "hour":
        return max(1, int((count / 8).to_integral_value(rounding="ROUND_CEILING")))
    return max(1, int((count * _UNIT_DAYS[unit]).to_integral_value(rounding="ROUND_CEILING")))


def parse_duration_days(text: str, *, bare_number_is_days: bool = False) -> int | None:
    """How many days the work takes ("takes four days" → 4, "two weeks" → 14, "3 to 4 days" → 4).

    "In two weeks" and "two weeks out" say when, not how long, and are skipped. With
    ``bare_number_is_days`` (the question was how many days), a lone number counts as days.
    """
    normalised = normalise(text)
    for match in _DURATION.finditer(normalised):
        before = normalised[: match.start()]
        after_text = normalised[match.end() :]
        if re.search(r"\b(?:in|within|about\s+in)\s*$|" + _BOOKED + "$", before) or re.match(
            r"^\s*(?:out|from now|ago)\b", after_text
        ):
            continue
        high = match.group(2) or match.group(1)
        return _days(Decimal(high), match.group(3))
    if bare_number_is_days:
        bare = re.search(r"(?<![\d.$])(\d{1,2})(?![\d,.]|st|nd|rd|th)", normalised)
        if bare and 0 < int(bare.group(1)) <= 90:
            return int(bare.group(1))
    return None


# --- intents -----------------------------------------------------------------------------

_OPT_OUT = re.compile(
    r"\b(?:(?:don't|dont|do not|never|stop|quit)\s+(?:ever\s+)?(?:call|calling|contact|"
    r"contacting|phone|phoning|ring|ringing)(?:\s+(?:me|us|this number|here))?"
    r"(?:\s+again|\s+anymore)?"
    r"(?!\s+(?:me\s+)?(?:before|after|until|till|on|at|during|between|tomorrow|today|now|this|"
    r"back|later|next)\b))"
    r"|\b(?:remove|take|delete|drop)\s+(?:me|us|my number|this number)\s+(?:off|from)\b"
    r"|\bdo\s*[- ]?\s*not\s*[- ]?\s*call\s+list\b|\bunsubscribe\b|\bleave me alone\b"
    r"|\bno more calls\b|\bnot\s+(?:to\s+)?call\s+(?:me\s+)?again\b"
)
_DECLINE = re.compile(
    r"\b(?:not interested|no thanks|no thank you|too busy|booked up|fully booked|"
    r"(?:can't|cannot|can not|won't|will not)\s+(?:take|do)\s+(?:it|this|that|the job|on)|"
    r"not taking|pass on (?:it|this|that)|we'll pass|i'll pass|not for us|"
    r"don't do (?:that|this|that kind of|those)\b)"
)
_CALLBACK = re.compile(
    r"\b(?:call (?:me |us )?(?:back|later|tomorrow)|bad time|i'm driving|i am driving|"
    r"in a meeting|on a job right now|can't talk|"
    r"(?:call|ring|try|reach) (?:me|us) (?:again |back )?(?:on|at|in|this|next|tonight|"
    r"tomorrow|later|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"give (?:me|us) a (?:call|ring) (?:back|later|tomorrow|on|at|in|this|next|tonight))\b"
)
# When a callback was asked for: a clock time ("at 3 pm", "at 3"), a part of the day, or a
# delay ("in an hour"); read only inside the callback phrase (see ``callback_request``).
_TIME_OF_DAY = re.compile(r"\b(\d{1,2})(?:(?::| )([0-5]\d))?\s*(am|pm|a\.m\.?|p\.m\.?)(?!\w)")
_NOON = re.compile(r"\b(?:noon|midday|lunch ?time)\b")
_BARE_CLOCK = re.compile(
    r"\b(?:at|around|after|by) (\d{1,2})(?:(?::| )([0-5]\d)(?![\d,.]))?"
    r"(?![\d:]|[,.]\d|\s*(?:am|pm|a\.m|p\.m))"
)
_DAY_PARTS = (
    (re.compile(r"\bmorning\b"), "10:00"),
    (re.compile(r"\bafternoon\b"), "14:00"),
    (re.compile(r"\b(?:evening|tonight)\b"), "18:00"),
)
_DELAY = re.compile(
    r"\bin (?:(\d+) (hour|minute|min)s?|half (?:1 |an )?hour|(?:1 )?(?:and a )?half hours?)\b"
)
_SENTENCE_END = re.compile(
    r"[.!?;]|,\s*(?:i|we|i'm|we're|i'll|we'll|it|it's|the|that|my|our)\b|"
    r"\b(?:but|and then|because|also)\b"
)
CALLBACK_HORIZON_DAYS = 60


def time_of_day(text: str) -> str | None:
    """A clock time said in ``text`` as ``HH:MM`` ("3 pm" → 15:00, "10:30 am", noon), or None."""
    normalised = normalise(text)
    if _NOON.search(normalised):
        return "12:00"
    match = _TIME_OF_DAY.search(normalised)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if not (1 <= hour <= 12 and 0 <= minute < 60):
        return None
    if match.group(3).startswith("p") and hour != 12:
        hour += 12
    if match.group(3).startswith("a") and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}"


@dataclass(frozen=True)
class CallbackTime:
    """When a person asked to be called back, as they said it (their local day and clock).

    ``day`` and ``clock`` ("HH:MM") are on the callee's wall clock; ``in_minutes`` is a delay
    from when it was said ("in an hour"). ``heard`` keeps the words. The scheduler turns it
    into a moment inside the callee's calling hours (``domain.voice.hours.requested_moment``).
    """

    day: dt.date | None = None
    clock: str | None = None
    in_minutes: int | None = None
    heard: str = ""

    def spoken(self) -> str:
        """``on Tuesday, December 1 at 3 PM`` / ``tomorrow afternoon`` / ``in about an hour``."""
        if self.in_minutes is not None:
            if self.in_minutes % 60 == 0:
                hours_ = self.in_minutes // 60
                return "in about an hour" if hours_ == 1 else f"in about {hours_} hours"
            return f"in about {self.in_minutes} minutes"
        parts: list[str] = []
        if self.day is not None:
            parts.append(f"on {spoken_date(self.day)}")
        if self.clock is not None:
            hour, minute = (int(x) for x in self.clock.split(":"))
            parts.append(f"at {spoken_clock(hour, minute)}")
        return " ".join(parts)

    def moment(self, *, said_at: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
        """The moment asked for, in UTC (``hours.requested_moment``), on the callee's clock."""
        from domain.voice import hours

        return hours.requested_moment(
            day=self.day,
            clock=dt.time.fromisoformat(self.clock) if self.clock else None,
            in_minutes=self.in_minutes,
            said_at=said_at,
            zone=zone,
        )

    def to_json(self) -> dict[str, Any]:
        """The request as JSON values."""
        return {
            "date": self.day.isoformat() if self.day else None,
            "time": self.clock,
            "in_minutes": self.in_minutes,
            "heard": self.heard,
        }

    @classmethod
    def from_json(cls, data: Any) -> CallbackTime | None:
        """``to_json`` read back; None for anything that is not a stored request."""
        if not isinstance(data, dict):
            return None
        try:
            day = dt.date.fromisoformat(data["date"]) if data.get("date") else None
        except (TypeError, ValueError):
            day = None
        clock = data.get("time")
        if not (isinstance(clock, str) and re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", clock)):
            clock = None
        minutes = data.get("in_minutes")
        if not (isinstance(minutes, int) and 0 < minutes <= 24 * 60):
            minutes = None
        if day is None and clock is None and minutes is None:
            return None
        return cls(day=day, clock=clock, in_minutes=minutes, heard=str(data.get("heard") or ""))


def asks_callback(text: str) -> bool:
    """True when ``text`` asks to be called back (or says it is a bad time)."""
    return _CALLBACK.search(normalise(text)) is not None


def callback_promise(
    when: CallbackTime | None,
    *,
    windows: Sequence[CallWindow] = (),
    now: dt.datetime | None = None,
) -> str:
    """What the agent promises when asked to call back ("We'll call you back on Tuesday ...").

    With the callee's calling ``windows`` and the moment it is said (``now``), a time outside
    them is not promised: the agent names the first allowed moment after it instead, the one
    the scheduler will use (``hours.callback_slot``).
    """
    spoken = when.spoken() if when is not None else ""
    if not spoken:
        return "We'll call you back another day."
    if when is None or not windows or now is None:
        return f"We'll call you back {spoken}."
    from domain.voice import hours

    window_list = tuple(windows)
    asked = when.moment(said_at=now, zone=window_list[0].zone)
    slot = hours.callback_slot(asked, now=now, windows=window_list)
    local = slot.when.astimezone(window_list[0].zone)
    if asked is not None and abs(slot.when - asked) <= dt.timedelta(minutes=1):
        if when.day is None and when.clock is not None:
            # "call me back at 4" said after 4: the day it will be is said too.
            today = now.astimezone(window_list[0].zone).date()
            if local.date() == today + dt.timedelta(days=1):
                return f"We'll call you back tomorrow {spoken}."
            if local.date() != today:
                return f"We'll call you back on {spoken_date(local.date())} {spoken}."
        return f"We'll call you back {spoken}."
    if when.day is not None and when.clock is None and local.date() == when.day:
        # "Call me back Friday": Friday's calling hours open the day, and no hour was asked for.
        return f"We'll call you back {spoken}."
    at = f"on {spoken_date(local.date())} at {spoken_clock(local.hour, local.minute)}"
    if asked is not None and asked < now:
        return f"That time has passed, so we'll call you back {at}."
    return f"That's outside the hours we may call, so we'll call you back {at}."


def clock_in(window: str) -> str | None:
    """The clock said in a phrase: "3 pm", noon, "at 3" (a working hour), "afternoon"."""
    if _NOON.search(window):
        return "12:00"
    match = _TIME_OF_DAY.search(window)
    if match is not None:
        return time_of_day(match.group(0))
    bare = _BARE_CLOCK.search(window)
    if bare is not None:
        hour, minute = int(bare.group(1)), int(bare.group(2) or 0)
        if 1 <= hour <= 12 and minute < 60:
            if re.search(r"\b(?:tonight|evening|afternoon)\b", window):
                hour = hour + 12 if hour < 12 else hour  # "at 9 tonight" is 21:00
            elif not re.search(r"\bmorning\b", window):
                # "call me at 3": a working hour (1-7 is afternoon, 8-11 morning).
                hour = hour + 12 if hour <= 7 else hour
            return f"{hour:02d}:{minute:02d}"
    for pattern, clock in _DAY_PARTS:
        if pattern.search(window):
            return clock
    return None


# "I'm on a job right now", "I'm busy today": why now is bad, never a day to call back, start,
# sell or visit on (unless a start word comes just before: "I can start today"; "free" or
# "available" with a callback is free to talk: "not available today, call me tomorrow").
_NOW = re.compile(r"\bright\s+now\b|\btoday\b")
_STARTS = (
    r"(?<!can't )(?<!cannot )(?<!not )(?<!won't )(?<!couldn't )"
    r"\b(?:start|begin|get (?:to|on) it|kick off)(?:\s+(?:on|from|as of|by))?\s*"
)
_STARTS_NOW = re.compile(_STARTS + r"$")
# "I'm free tomorrow, call me back then": "then" is the day said just before.
_THEN = re.compile(r"\s*then\b")  # matched where the cue ends
_THEN_REACH = 40  # how far before the callback cue that day may be said


def _said_before_then(normalised: str, start: int, today: dt.date) -> int | None:
    """Where the day a "call me back then" points at begins: said just before, same sentence."""
    before = [
        m
        for m in parse_dates(normalised[:start], after=today)
        if not _NOW.fullmatch(m.text) and start - m.end <= _THEN_REACH
    ]
    if not before or re.search(r"[.!?;]", normalised[before[-1].end : start]):
        return None
    mention = before[-1]
    if re.search(_STARTS + r"(?:the\s+)?$", normalised[: mention.start]):
        return None  # "I start the 10th, call me back then": the 10th stays the start
    if not 0 <= (mention.value - today).days <= CALLBACK_HORIZON_DAYS:
        return None
    return mention.start


def callback_request(normalised: str, *, today: dt.date) -> tuple[CallbackTime | None, str]:
    """When a callback was asked for, and the text with the callback phrase blanked out.

    Only the words from the first callback cue to the end of that sentence are read, so
    "call me back Tuesday at 3" is a callback time and not a start date or a price; the
    returned text has that phrase replaced by spaces (same positions) for the other readers.
    "Right now" or "today" said with a callback ("I'm on a job right now, call me back
    Friday", "busy today, call me tomorrow") says why now is bad: it is no callback day and is
    blanked too, unless a start word comes just before it ("I can start today"). "Call me back
    then" takes the day said just before it in the same sentence ("I'm free tomorrow after 5,
    call me back then"), which is blanked with it. None when no callback was asked for or no
    time was said with it; a day more than ``CALLBACK_HORIZON_DAYS`` out is not a callback time.
    """
    cues = list(_CALLBACK.finditer(normalised))
    if not cues:
        return None, normalised
    start = cues[0].start()
    last = cues[-1].end()
    stop_match = _SENTENCE_END.search(normalised, last)
    stop = stop_match.start() if stop_match else len(normalised)
    stop = min(stop, last + 60)
    then = _said_before_then(normalised, start, today) if _THEN.match(normalised, last) else None
    if then is not None:
        start = then
    window = normalised[start:stop]
    delay = _DELAY.search(window)
    minutes: int | None = None
    if delay is not None:
        if delay.group(1):
            count = int(delay.group(1))
            minutes = count * 60 if delay.group(2) == "hour" else count
        elif "and a half" in delay.group(0) or delay.group(0).startswith("in 1 half"):
            minutes = 90
        else:
            minutes = 30
        if not 0 < minutes <= 24 * 60:
            minutes = None
    day: dt.date | None = None
    end = last
    for mention in parse_dates(window, after=today):
        if mention.text == "right now":
            continue  # "on a job right now, call me back friday": friday is the day
        if 0 <= (mention.value - today).days <= CALLBACK_HORIZON_DAYS:
            day = mention.value
            end = max(end, start + mention.end)
            break
    clock = clock_in(window)
    if clock is not None or minutes is not None or then is not None:
        end = stop
    if day is None and clock is None and minutes is None:
        request = None
    elif minutes is not None:
        request = CallbackTime(in_minutes=minutes, heard=window.strip())
    else:
        if day is None and re.search(r"\btonight\b|\bthis (?:afternoon|evening)\b", window):
            day = today
        request = CallbackTime(day=day, clock=clock, heard=window.strip())
    rest = normalised[:start] + " " * (end - start) + normalised[end:]
    for now in _NOW.finditer(rest):
        if not _STARTS_NOW.search(rest[: now.start()]):
            rest = rest[: now.start()] + " " * (now.end() - now.start()) + rest[now.end() :]
    return request, rest


_YES = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|ya|correct|right|that's right|that is right|sure|sounds good|"
    r"you got it|exactly|absolutely|ok|okay|affirmative|uh huh|yes sir|yes ma'am|perfect|"
    r"that's it|that's correct|all good|good)\b"
)
_NO = re.compile(
    r"^\W*(?:no|nope|nah|not quite|not really|wrong|incorrect|that's wrong|that's not right|"
    r"negative)\b"
)
_INSURANCE = re.compile(r"\b(?:insured|insurance|liability|bonded)\b")
_NO_INSURANCE = re.compile(
    r"\b(?:not insured|no insurance|don't have (?:any )?insurance|do not have (?:any )?insurance|"
    r"uninsured|lapsed|expired)\b"
)
_NO_EXCLUSIONS = re.compile(
    r"\b(?:no exclusions|nothing (?:excluded|extra)|everything(?:'s| is)? included|"
    r"includes everything|that covers everything|that's everything|all in|all included|"
    r"turn ?key|no extras)\b"
)
_PARTS = r"materials?|parts|equipment|permits?|disposal|dumpster(?:\s+fees?)?|tax(?:es)?"
_EXCLUSION_PATTERNS = (
    re.compile(
        r"\b(?:does not|doesn't|dont|don't|do not|won't|will not|wouldn't|isn't|is not)\s+"
        r"includ(?:e|ing)\s+(?P<x>[^.;!?]+)"
    ),
    re.compile(r"\b(?:excluding|not including|except for|except|minus)\s+(?P<x>[^.;!?]+)"),
    re.compile(
        r"(?:^|[,.;]\s*|\band\s+|\bbut\s+)"
        r"(?P<x>[a-z](?:(?!\b(?:is|are|but|and|would|will)\b)[a-z ]){2,40}?)\s+"
        r"(?:is|are|would be|will be)\s+"
        r"(?:extra|not included|separate|additional|on you|on the owner)\b"
    ),
    re.compile(r"\bplus\s+(?P<x>[a-z][a-z ]{2,40}?)\s+(?:extra|on top|separately)\b"),
    # "12k plus materials", "materials extra", "that's labour only": a partial price.
    re.compile(r"\bplus\s+(?:the\s+)?(?P<x>" + _PARTS + r")\b"),
    re.compile(r"\b(?P<x>" + _PARTS + r")\s+(?:extra|separate|on top|additional)\b"),
    re.compile(r"\b(?P<x>labou?r)\s+only\b|\bonly\s+(?:the\s+)?(?P<y>labou?r)\b"),
)
_CLAUSE_CUT = re.compile(
    r",|\b(?:and|but|so)\s+(?:i|we|it|i'll|we'll|i can|we can|start|takes|that|the price)\b"
    r"|\b(?:start|takes|i can|we can)\b"
)


def _clean_phrase(phrase: str) -> str:
    phrase = _CLAUSE_CUT.split(phrase, maxsplit=1)[0]
    phrase = re.sub(r"^\s*(?:the|any|a|an)\s+", "", phrase.strip())
    return re.sub(r"\s+", " ", phrase).strip(" .,")


def parse_exclusions(text: str) -> list[str]:
    """What the price leaves out ("doesn't include permits" → ["permits"]), in order."""
    normalised = normalise(text)
    found: list[str] = []
    for pattern in _EXCLUSION_PATTERNS:
        for match in pattern.finditer(normalised):
            groups = match.groupdict()
            if (groups.get("x") or groups.get("y") or "").startswith("labo"):
                phrase = "materials (the price is labour only)"
                if phrase not in found:
                    found.append(phrase)
                continue
            phrase = _clean_phrase(match.group("x"))
            if phrase and phrase not in found and len(phrase) <= 120:
                found.append(phrase)
    if any(x.endswith("labour only)") for x in found):
        found = [x for x in found if x not in ("material", "materials")]
    return found


def wants_opt_out(text: str) -> bool:
    """True when asked not to be called ("don't call me", "remove me from your list")."""
    return bool(_OPT_OUT.search(normalise(text)))


def is_yes(text: str) -> bool:
    """True for an affirmative answer ("yes", "yeah that's right", "correct")."""
    normalised = normalise(text)
    return bool(_YES.search(normalised)) and not _NO.search(normalised)


def is_no(text: str) -> bool:
    """True for a negative answer ("no", "nope, the roof is twelve thousand")."""
    return bool(_NO.search(normalise(text)))


# --- scope lines -------------------------------------------------------------------------

# Spoken names of common scope components beyond the component's own words.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "roof": ("roofing", "shingles", "shingle", "reroof", "tear off"),
    "furnace": ("heating", "heat", "hvac", "heater", "boiler"),
    "hvac": ("furnace", "heating", "cooling", "air conditioning", "ac"),
    "water heater": ("hot water", "tank"),
    "electrical": ("electric", "wiring", "panel", "electrician"),
    "plumbing": ("pipes", "plumber", "drains"),
    "window": ("windows", "glass"),
    "kitchen": ("cabinets", "counters", "countertops"),
    "bathroom": ("bath", "shower", "tub", "toilet"),
    "paint": ("painting", "painter", "interior paint", "exterior paint"),
    "flooring": ("floors", "floor", "carpet", "lvp", "vinyl plank", "hardwood"),
    "drywall": ("sheetrock", "walls", "plaster"),
    "foundation": ("basement", "waterproofing"),
    "gutters": ("gutter", "downspouts"),
    "siding": ("exterior",),
    "demolition": ("demo", "dumpster", "cleanout"),
    "landscaping": ("yard", "lawn", "trees"),
    "door": ("doors",),
    "concrete": ("driveway", "sidewalk", "flatwork"),
}


@dataclass(frozen=True)
class ScopeLine:
    """One line of the project's scope, as the call reads it."""

    id: str
    component: str
    description: str | None = None
    quantity: str | None = None
    unit: str | None = None

    @property
    def said(self) -> str:
        """The component as words ("water_heater" is read aloud as "water heater")."""
        return " ".join(self.component.replace("_", " ").split())

    def spoken(self) -> str:
        """How the agent says the line: ``roof (22 squares)``.

        A quantity with no unit is said alone (``windows (12)``), and one of no unit not at
        all (``furnace``): never ``(1 None)``.
        """
        unit = str(self.unit or "").strip()
        if unit.lower() in ("none", "null"):
            unit = ""
        quantity = str(self.quantity or "").strip()
        if not quantity or quantity.lower() in ("none", "null"):
            return self.said
        if not unit:
            try:
                single = Decimal(quantity) == 1
            except ArithmeticError:
                single = False
            return self.said if single else f"{self.said} ({quantity})"
        return f"{self.said} ({quantity} {unit})"

    def own_words(self) -> set[str]:
        """The component's own words (and the whole name), without synonyms."""
        base = " ".join(re.sub(r"[^a-z0-9 ]+", " ", self.component.lower()).split())
        words = {base}
        for word in base.split():
            if len(word) > 2:
                words.add(word)
                words.add(word.rstrip("s") if len(word) > 3 else word)
        return words

    def keywords(self) -> set[str]:
        """Words by which a contractor may name this line."""
        base = " ".join(re.sub(r"[^a-z0-9 ]+", " ", self.component.lower()).split())
        words = self.own_words()
        for key, synonyms in SYNONYMS.items():
            if key in words or key.rstrip("s") in words or base.startswith(key):
                words.update(synonyms)
                words.add(key)
        words.discard("")
        return words

    def head_keywords(self) -> set[str]:
        """Words of the line's leading name ("Flooring: luxury vinyl plank" → flooring, floor ...).

        The name before the first ``:``, ``,`` or ``(``, its words and their synonyms: a line
        named by what was said, not one that only mentions the word further on ("Bath tile,
        ceramic, floor and tub surround" is not the flooring).
        """
        head = re.split(r"[:,(]", self.component, maxsplit=1)[0]
        return ScopeLine(id=self.id, component=head).keywords() if head.strip() else set()


def _keyword_spans(text: str, line: ScopeLine) -> list[tuple[int, int]]:
    spans = []
    for keyword in line.keywords():
        for match in re.finditer(r"\b" + re.escape(keyword) + r"(?:s|ing)?\b", text):
            spans.append((match.start(), match.end()))
    return spans


_TOTAL_CUE = re.compile(r"\b(?:total|all|everything|whole (?:thing|job)|altogether|all in|both)\b")
_CLAUSE_BREAK = re.compile(r"[.;!?]|,\s*(?=and\b|the\b|plus\b|then\b)|\band\b|\bplus\b")


def _clause_bounds(text: str, position: int) -> tuple[int, int]:
    start, end = 0, len(text)
    for match in _CLAUSE_BREAK.finditer(text):
        if match.end() <= position:
            start = match.end()
        elif match.start() >= position:
            end = match.start()
            break
    return start, end


# --- one answer --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinePrice:
    """A price the contractor gave for one scope line."""

    scope_item_id: str
    component: str
    amount: Decimal
    heard: str
    rate: Decimal | None = None
    """the unit rate the amount was worked out from (rate × the line's quantity), if any."""


@dataclass(frozen=True)
class UnitRate:
    """A unit rate that could not be turned into a line total (another unit, no quantity)."""

    key: str
    """the scope item id it was said for, or ``total`` when no line was named."""
    spoken: str
    """``$4 per square foot``."""


@dataclass(frozen=True)
class Answer:
    """What one contractor utterance said (fields are None or empty when it did not say it)."""

    text: str
    line_prices: tuple[LinePrice, ...] = ()
    total: Decimal | None = None
    start_date: dt.date | None = None
    start_heard: str | None = None
    site_visit: dt.date | None = None
    site_visit_time: str | None = None
    """the clock said with the site visit ("Monday at 10am": ``10:00``, the callee's clock)."""
    duration_days: int | None = None
    exclusions: tuple[str, ...] = ()
    no_exclusions: bool = False
    insured: bool | None = None
    opted_out: bool = False
    declined: bool = False
    callback: bool = False
    callback_when: CallbackTime | None = None
    yes: bool = False
    no: bool = False
    skipped_lines: tuple[str, ...] = ()
    unit_rates: tuple[UnitRate, ...] = ()
    price_ranges: tuple[tuple[str, str], ...] = ()
    """(scope item id or ``total``, the bottom of the range said) for a price said as a range."""
    wrong_number: bool = False
    follow_up: str | None = None
    """a price to come another way (``follow_up``): office, details, text, email or quote."""

    @property
    def heard_anything(self) -> bool:
        """True when the answer carried any fact (a price, a date, a yes or no ...)."""
        return bool(
            self.line_prices
            or self.total is not None
            or self.start_date
            or self.site_visit
            or self.duration_days
            or self.exclusions
            or self.no_exclusions
            or self.insured is not None
            or self.opted_out
            or self.declined
            or self.callback
            or self.yes
            or self.no
            or self.skipped_lines
            or self.unit_rates
            or self.wrong_number
            or self.follow_up
        )


def _units_match(rate_unit: str | None, line_unit: str | None) -> bool:
    """A rate in ``rate_unit`` applies to a line counted in ``line_unit`` ("each": any unit)."""
    if rate_unit is None or not line_unit:
        return False
    return rate_unit == "each" or rate_unit == unit_key(line_unit)


def _line_quantity(line: ScopeLine) -> Decimal | None:
    try:
        quantity = Decimal(str(line.quantity)) if line.quantity else None
    except InvalidOperation:
        return None
    return quantity if quantity is not None and quantity.is_finite() and quantity > 0 else None


def _rate_price(
    amount: Amount, line: ScopeLine | None, scope: Sequence[ScopeLine]
) -> LinePrice | UnitRate:
    """A unit rate as the line's total (rate × quantity, units matching), else kept aside."""
    if line is None:
        # No line named or asked: the one line counted in the rate's unit, if just one.
        counted = [s for s in scope if amount.per != "each" and _units_match(amount.per, s.unit)]
        line = counted[0] if len(counted) == 1 else (scope[0] if len(scope) == 1 else None)
    quantity = _line_quantity(line) if line is not None else None
    if line is None or quantity is None or not _units_match(amount.per, line.unit):
        return UnitRate(line.id if line is not None else "total", amount.spoken_rate())
    total = (amount.value * quantity).quantize(Decimal("0.01"))
    return LinePrice(line.id, line.component, total, amount.text, rate=amount.value)


_JOINED_BEFORE = re.compile(r"\b([a-z]+)\s+(?:and|plus|&)\s+(?:the\s+)?$")
_JOINED_AFTER = re.compile(r"^\s+(?:and|plus|&)\s+(?:the\s+)?([a-z]+)\b")


def _joined_with_other_line(
    text: str, start: int, end: int, line: ScopeLine, scope: Sequence[ScopeLine]
) -> bool:
    """True when the line is named with another ("roof and furnace"): one price for both."""
    others = {w for s in scope if s.id != line.id for w in s.keywords()}
    before = _JOINED_BEFORE.search(text[max(0, start - 40) : start])
    after = _JOINED_AFTER.match(text[end : end + 40])
    words = [m.group(1) for m in (before, after) if m]
    return any(w in others or w.rstrip("s") in others for w in words)


def _merged_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _named_line(
    normalised: str,
    amount: Amount,
    scope: Sequence[ScopeLine],
    bounds: tuple[int, int],
    expect_line: str | None,
) -> tuple[tuple[int, ScopeLine] | None, bool, bool]:
    """The line named nearest an amount in its clause: (distance, line), joined, ambiguous.

    Lines named equally near (the same word, "flooring") are told apart, in this order, by
    how many of their words the clause says ("the bath floor": bath and floor), by whether
    the word is the line's leading name or its synonym ("Flooring: luxury vinyl plank", not
    "Bath tile, ceramic, floor and tub surround"), by whether it is one of the line's own
    words ("shingles": "Roof: architectural asphalt shingles", not "Roof tear-off"), then by
    being the line asked about. Lines still alike make the amount ambiguous: never decided by
    the order of the scope.
    """
    lo, hi = bounds
    nearest: dict[str, tuple[int, int, int, int, int]] = {}  # distance, start, end, head, own
    said: dict[str, int] = {}
    for candidate in scope:
        spans = [(s, e) for s, e in _keyword_spans(normalised, candidate) if s >= lo and e <= hi]
        if not spans:
            continue
        # Its words said on the amount's side, no comma between ("the bath floor 350").
        said[candidate.id] = sum(
            1
            for s, e in _merged_spans(spans)
            if (e <= amount.start and "," not in normalised[e : amount.start])
            or (s >= amount.end and "," not in normalised[amount.end : s])
        )
        heads, own = candidate.head_keywords(), candidate.own_words()
        for start, end in spans:
            distance = amount.start - end if end <= amount.start else start - amount.end
            if end > amount.start and "," in normalised[amount.end : start]:
                distance += 100  # "roof 11 5, furnace 4200": the comma ends the roof's part
            word = normalised[start:end]
            head, literal = (
                int(any(re.fullmatch(re.escape(k) + r"(?:s|ing)?", word) for k in names))
                for names in (heads, own)
            )
            found = (abs(distance), start, end, head, literal)
            previous = nearest.get(candidate.id)
            if previous is None or (found[0], -head, -literal) < (
                previous[0],
                -previous[3],
                -previous[4],
            ):
                nearest[candidate.id] = found
    if not nearest:
        return None, False, False
    closest = min(found[0] for found in nearest.values())
    tied = [s for s in scope if s.id in nearest and nearest[s.id][0] == closest]

    def rank(line: ScopeLine) -> tuple[int, int, int, int]:
        _, _, _, head, literal = nearest[line.id]
        return (said[line.id], head, literal, int(line.id == expect_line))

    top = max(rank(line) for line in tied)
    winners = [line for line in tied if rank(line) == top]
    line = winners[0]
    _, start, end, _, _ = nearest[line.id]
    joined = _joined_with_other_line(normalised, start, end, line, scope)
    return (closest, line), joined, len(winners) > 1


def _attribute(
    normalised: str, amounts: Sequence[Amount], scope: Sequence[ScopeLine], expect_line: str | None
) -> tuple[list[LinePrice], Decimal | None, list[UnitRate]]:
    """Give each amount to the line named in its clause, the line asked about, or the total.

    A unit rate ("1,500 per square") is never a total: it becomes the line's price times the
    line's quantity when the units match, else a ``UnitRate`` to ask the line's total for.
    """
    prices: list[LinePrice] = []
    total: Decimal | None = None
    rates: list[UnitRate] = []
    for amount in amounts:
        lo, hi = _clause_bounds(normalised, amount.start)
        clause = normalised[lo:hi]
        best, joined, ambiguous = _named_line(normalised, amount, scope, (lo, hi), expect_line)
        if (joined or ambiguous) and amount.per is None:
            # "roof and furnace 22 5", or a word two lines claim alike: not one line's price.
            total = amount.value
            continue
        if amount.per is not None:
            named = best[1] if best else None
            if named is None and expect_line:
                named = next((s for s in scope if s.id == expect_line), None)
            found = _rate_price(amount, named, scope)
            if isinstance(found, LinePrice):
                prices = [p for p in prices if p.scope_item_id != found.scope_item_id]
                prices.append(found)
            else:
                rates = [r for r in rates if r.key != found.key] + [found]
            continue
        if best is None and _TOTAL_CUE.search(clause):
            total = amount.value
            continue
        line: ScopeLine | None = best[1] if best else None
        if line is None and expect_line:
            line = next((s for s in scope if s.id == expect_line), None)
        if line is None and len(scope) == 1:
            line = scope[0]
        if line is None:
            total = amount.value
            continue
        prices = [p for p in prices if p.scope_item_id != line.id]
        prices.append(LinePrice(line.id, line.component, amount.value, amount.text))
    return prices, total, rates


_WRONG_NUMBER = re.compile(
    r"\bwrong (?:number|person|guy)\b"
    r"|\bthere(?:'s| is) no(?:body)? (?:\w+ )?(?:here|by that name)\b"
    r"|\bno one (?:here )?(?:by|named|called) that\b|\bnever heard of (?:him|her|them|that)\b"
)
# "Call my office", "talk to my office manager": someone else gives the price.
_OFFICE = re.compile(
    r"\b(?:call|ring|phone|talk to|talk with|speak to|speak with|contact|reach|try|go through|"
    r"deal with|get (?:a )?hold of)\s+(?:my|our|the)\s+(?:office(?: manager)?|estimator|"
    r"secretary|dispatcher|front desk|bookkeeper)\b"
    r"|\b(?:my|our|the)\s+(?:office(?: manager)?|estimator|secretary)\s+(?:handles|does|takes care "
    r"of|deals with|will (?:call|get back to) you)\b"
)
# "I'll text you a quote", "send me the details and I'll get you a number": a price later.
_QUOTE_LATER = re.compile(
    r"\b(?:i'll|i will|i can|i could|let me|we'll|we will|we can|i'd|gonna|going to)\s+"
    r"(?:just\s+)?(?P<how>text|email|e mail|send|get|shoot|mail|put together|work up|write up|"
    r"draw up)\s+(?:you\s+|it\s+|that\s+|over\s+)*(?:over\s+)?(?:a\s+|the\s+|my\s+|some\s+)?"
    r"(?:[a-z]+\s+)?(?:quote|estimate|price|pricing|number|numbers|bid|proposal)\b"
)
_SEND_DETAILS = re.compile(
    r"\b(?:send|email|e mail|text|shoot|forward)\s+(?:me|us)\s+(?:over\s+)?(?:the\s+|some\s+)?"
    r"(?:details|info|information|scope|plans|specs|pictures|photos|address|job)\b"
)


_FOLLOW_UPS = ("office", "details", "text", "email", "quote")


def follow_up(normalised: str) -> str | None:
    """How a price will come instead of now (office, details, text, email, quote), or None.

    ``office``: call their office; ``details``: send them the job details and they will price
    it; ``text`` / ``email`` / ``quote``: they will send a quote. None when nothing was said.
    """
    if _OFFICE.search(normalised):
        return "office"
    if _SEND_DETAILS.search(normalised):
        return "details"
    quote = _QUOTE_LATER.search(normalised)
    if quote is None:
        return None
    how = quote.group("how")
    return "text" if how == "text" else "email" if how in ("email", "e mail", "mail") else "quote"


_LEAVE_OUT = re.compile(
    r"\b(?:no|nope|nah)\W*$|^\W*(?:uh\s+|um\s+)?(?:nothing|leave it(?: out)?|skip(?: it| that)?|"
    r"pass|not that one)\W*$"
)
_QUOTE_CUE = re.compile(
    r"\b(?:quote|estimate|numbers|proposal|(?:text|email|send) (?:you|it|that|them|over)|"
    r"get back to you)\b"
)
_NOT_MINE_BEFORE = re.compile(
    r"\b(?:don't|do not|doesn't|can't|cannot|won't|no longer)\s+(?:do|handle|touch|work on|"
    r"install|service)\s+(?:the\s+|any\s+)?$"
)
_NOT_MINE_AFTER = re.compile(
    r"^(?:'s|s|\s+is|\s+are)?\W*\s*(?:no\b(?!\s+(?:problem|worries|issue))|"
    r"not (?:my|our) (?:thing|trade|area|line)|not something (?:i|we) do|"
    r"(?:i|we) don't (?:do|touch|handle)|isn't my|is not my)"
)


def _listed_before(normalised: str, start: int, scope: Sequence[ScopeLine]) -> int:
    """Where a list of scope lines ending at ``start`` begins ("roofs or " before "furnaces")."""
    names = sorted({w for s in scope for w in s.keywords()}, key=len, reverse=True)
    if not names:
        return start
    item = re.compile(
        r"(?:" + "|".join(re.escape(n) for n in names) + r")(?:s|ing)?\s*(?:,\s*)?"
        r"(?:(?:or|and|nor)\s+)?(?:the\s+|any\s+)?$"
    )
    while True:
        found = item.search(normalised[max(0, start - 40) : start])
        if found is None or found.start() == found.end():
            return start
        start = max(0, start - 40) + found.start()


def _lines_not_done(
    normalised: str, scope: Sequence[ScopeLine], line_prices: Sequence[LinePrice]
) -> tuple[str, ...]:
    """Lines the contractor says they don't do ("roof's not my thing", "I don't do furnaces").

    A list after the refusal counts for each line in it: "I don't do roofs or furnaces".
    """
    priced = {p.scope_item_id for p in line_prices}
    skipped: list[str] = []
    for line in scope:
        if line.id in priced:
            continue
        for start, end in _keyword_spans(normalised, line):
            listed = _listed_before(normalised, start, scope)
            if _NOT_MINE_BEFORE.search(normalised[max(0, listed - 30) : listed]) or (
                _NOT_MINE_AFTER.match(normalised[end : end + 30])
            ):
                skipped.append(line.id)
                break
    return tuple(skipped)


_RANGE = re.compile(
    r"\b(?P<between>between\s+|from\s+)?(?<![\d.,])(?P<lo>\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?"
    r"\s*(?P<scale>k|grand|thousand)?\s*(?P<to>and|to|-|or)\s*(?P<hi>\$?\d)"
)


def _price_ranges(rest: str, *, price_asked: bool) -> tuple[str, dict[int, Decimal]]:
    """``rest`` with each range's bottom blanked out, and the bottoms by where the top starts."""
    lows: dict[int, Decimal] = {}
    for match in _RANGE.finditer(rest):
        top = next(
            (
                a
                for a in parse_amounts(rest, price_asked=price_asked)
                if a.start >= match.start("hi")
            ),
            None,
        )
        if top is None or top.start != match.start("hi") or top.per is not None:
            continue
        if match.group("to") == "and" and not match.group("between"):
            continue  # "roof 4000 and 8000 for the furnace" are two prices
        low = Decimal(match.group("lo").replace(",", "")) * _SCALE_OF.get(
            match.group("scale") or "", 1
        )
        while low and low * 10 <= top.value:
            low *= 10  # "8 and 10000": the 8 is thousands too
        if not 0 < low < top.value:
            continue
        lows[top.start] = low
        rest = rest[: match.start()] + " " * (top.start - match.start()) + rest[top.start :]
    return rest, lows


def _visit_clock(text: str, visit: DateMention) -> str | None:
    """The clock said with a site visit's day (``HH:MM``): "Monday at 10am", "10 am Monday".

    Read from the day to the end of its sentence, else just before the day in the same
    sentence; ``text`` has any callback phrase blanked, so a callback time is not taken.
    """
    stop = _SENTENCE_END.search(text, visit.end)
    after = text[visit.start : min(stop.start() if stop else len(text), visit.end + 40)]
    clock = clock_in(after)
    if clock is not None:
        return clock
    before = text[max(0, visit.start - 25) : visit.start]
    cut = max((m.end() for m in _SENTENCE_END.finditer(before)), default=0)
    return clock_in(before[cut:]) if _TIME_OF_DAY.search(before[cut:]) else None


def extract(
    text: str,
    *,
    scope: Sequence[ScopeLine] = (),
    today: dt.date,
    expect: str | None = None,
) -> Answer:
    """Read one contractor answer in the context of the question asked.

    ``expect`` names that question: ``prices``, ``line:<scope item id>``,
    ``line_total:<scope item id or total>`` (the total after a unit rate), ``exclusions``,
    ``start_date``, ``duration``, ``insurance``, ``site_visit`` or ``confirm``.
    """
    normalised = normalise(text)
    if expect and expect.startswith("line_total:"):
        key = expect.split(":", 1)[1]
        expect = "prices" if key == "total" else f"line:{key}"
    price_asked = expect in ("prices", "confirm") or bool(expect and expect.startswith("line:"))
    # "call me back Tuesday at 3": a callback time, not a start date or a price.
    callback_when, rest = callback_request(normalised, today=today)
    dates = parse_dates(rest, after=today)
    # Money never comes from a date's own digits ("march 15") or a duration ("4 days").
    date_spans = [(d.start, d.end) for d in dates]
    # "between 8 and 10 grand": the top of the range is the price, its bottom kept to say back.
    rest, lows = _price_ranges(rest, price_asked=price_asked)
    amounts = [
        a
        for a in parse_amounts(rest, price_asked=price_asked)
        if not any(a.start < end and start < a.end for start, end in date_spans)
    ]
    expect_line = expect.split(":", 1)[1] if expect and expect.startswith("line:") else None
    blanked = "".join(
        " " if r == " " and n != " " else n for r, n in zip(rest, normalised, strict=True)
    )
    line_prices, total, unit_rates = _attribute(blanked, amounts, scope, expect_line)
    ranges: list[tuple[str, str]] = []
    for amount in amounts:
        low = lows.get(amount.start)
        if low is None or amount.per is not None:
            continue
        line = next((p for p in line_prices if p.heard == amount.text), None)
        if line is not None:
            ranges.append((line.scope_item_id, _money(low) or ""))
        elif total == amount.value:
            ranges.append(("total", _money(low) or ""))

    visit = _nearest_after_cue(dates, normalised, _VISIT_CUE)
    start_mention = _nearest_after_cue(dates, normalised, _START_CUE)
    wants_callback = bool(_CALLBACK.search(normalised))
    if start_mention is None and dates and (expect != "site_visit" or visit is not None):
        # A date with no start word is the start, unless it says when the quote comes ("I'll
        # text you a quote later today") or why now is bad ("I'm on a roof right now, call
        # me back tomorrow").
        start_mention = next(
            (
                d
                for d in dates
                if d is not visit
                and not _QUOTE_CUE.search(normalised[max(0, d.start - 30) : d.start])
                and not (wants_callback and expect != "start_date")
            ),
            None,
        )
    if expect == "site_visit" and visit is None and dates:
        visit = dates[0]
        start_mention = None
    visit_time = _visit_clock(rest, visit) if visit is not None else None
    duration = parse_duration_days(
        rest if rest != normalised else text,
        bare_number_is_days=expect == "duration" and not amounts,
    )
    wait = _BARE_WAIT.search(rest) if expect == "start_date" and not dates else None
    if wait is not None and not _TAKES.search(rest):
        # "Maybe a couple of weeks" to the start question: that long from the call date.
        when = _resolve("in", wait, today)
        if when is not None:
            start_mention = DateMention(when, wait.start(), wait.end(), f"in {wait.group()}")
            duration = None

    yes, no = is_yes(text), is_no(text)
    opted_out = wants_opt_out(text)
    exclusions = tuple(parse_exclusions(text))
    no_exclusions = bool(_NO_EXCLUSIONS.search(normalised))
    if expect == "exclusions" and not exclusions:
        if no or re.search(r"^\W*(?:nothing|none|nope|no|that's it)\b", normalised):
            no_exclusions = True
        elif (
            not yes
            and not amounts
            and not dates
            and len(normalised.split()) <= 12
            and not normalised.rstrip().endswith("?")  # "and the roof?" asks; it excludes nothing
        ):
            phrase = _clean_phrase(re.sub(r"^\W*(?:just|only|well|um|uh)\s+", "", normalised))
            if phrase:
                exclusions = (phrase,)
    insured: bool | None = None
    if _NO_INSURANCE.search(normalised):
        insured = False
    elif _INSURANCE.search(normalised):
        insured = not no
    elif expect == "insurance" and (yes or no):
        insured = yes
    skipped: tuple[str, ...] = _lines_not_done(normalised, scope, line_prices)
    if (
        expect_line
        and not line_prices
        and total is None
        and not unit_rates
        and (no or _DECLINE.search(normalised) or _LEAVE_OUT.search(normalised))
        and expect_line not in skipped
    ):
        skipped += (expect_line,)
    if skipped and expect == "exclusions" and exclusions and not parse_exclusions(text):
        exclusions = ()  # "furnace, no, I don't do furnaces" skips a line; it is no exclusion
    declined = bool(
        (_DECLINE.search(normalised) or (scope and len(skipped) == len(scope)))
        and not line_prices
        and total is None
        and not unit_rates
        and not start_mention  # "booked up for three weeks" says when, not no
        and not (skipped and len(skipped) < len(scope))
    )
    return Answer(
        text=text,
        line_prices=tuple(line_prices),
        total=total,
        start_date=start_mention.value if start_mention else None,
        start_heard=start_mention.text if start_mention else None,
        site_visit=visit.value if visit else None,
        site_visit_time=visit_time,
        duration_days=duration,
        exclusions=exclusions,
        no_exclusions=no_exclusions and not exclusions,
        insured=insured,
        opted_out=opted_out,
        declined=declined and not opted_out,
        callback=bool(_CALLBACK.search(normalised)) and not opted_out,
        callback_when=None if opted_out else callback_when,
        yes=yes,
        no=no,
        skipped_lines=skipped,
        unit_rates=tuple(unit_rates),
        price_ranges=tuple(ranges),
        wrong_number=bool(_WRONG_NUMBER.search(normalised)) and not line_prices and total is None,
        follow_up=None if opted_out else follow_up(normalised),
    )


# --- a whole call ------------------------------------------------------------------------


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class CallFacts:
    """Everything a call has established so far (stored as JSON in ``calls.outcome_data``)."""

    line_prices: dict[str, str] = field(default_factory=dict)
    """scope item id → amount ("11500.00")."""
    total: str | None = None
    start_date: str | None = None
    site_visit: str | None = None
    site_visit_time: str | None = None
    """the site visit's clock ("10:00", the contractor's local time), when one was said."""
    duration_days: int | None = None
    exclusions: tuple[str, ...] = ()
    exclusions_answered: bool = False
    insured: bool | None = None
    opted_out: bool = False
    declined: bool = False
    callback: bool = False
    callback_when: CallbackTime | None = None
    """when they asked to be called back (the latest time said), if a time was said."""
    skipped_lines: tuple[str, ...] = ()
    heard: dict[str, str] = field(default_factory=dict)
    """fact → the words it was taken from ("start_date": "the 3rd")."""
    line_rates: dict[str, str] = field(default_factory=dict)
    """scope item id → the unit rate its price was worked out from ("1500.00")."""
    unit_rates: dict[str, str] = field(default_factory=dict)
    """scope item id (or ``total``) → a unit rate still needing the line's total."""
    price_ranges: dict[str, str] = field(default_factory=dict)
    """scope item id (or ``total``) → the bottom of a range said ("8000.00"), the price its top."""
    wrong_number: bool = False
    """someone else answered: the number on file is not the contractor's."""
    follow_up: str | None = None
    """the price comes another way (``follow_up``): office, details, text, email or quote."""

    def merge(self, answer: Answer) -> CallFacts:
        """These facts updated with one answer (a later statement of a fact replaces it)."""
        prices = dict(self.line_prices)
        heard = dict(self.heard)
        rates = dict(self.line_rates)
        pending = dict(self.unit_rates)
        for price in answer.line_prices:
            prices[price.scope_item_id] = _money(price.amount) or "0.00"
            heard[f"line:{price.scope_item_id}"] = price.heard
            if price.rate is not None:
                rates[price.scope_item_id] = _money(price.rate) or "0.00"
            else:
                rates.pop(price.scope_item_id, None)
            pending.pop(price.scope_item_id, None)
        for rate in answer.unit_rates:
            pending[rate.key] = rate.spoken
        if answer.total is not None:
            pending.pop("total", None)
        ranges = dict(self.price_ranges)
        for key in [p.scope_item_id for p in answer.line_prices] + (
            ["total"] if answer.total is not None else []
        ):
            ranges.pop(key, None)  # a price said again replaces the range
        ranges.update(dict(answer.price_ranges))
        skipped = tuple(s for s in self.skipped_lines if s not in prices)
        skipped += tuple(s for s in answer.skipped_lines if s not in skipped)
        for line in skipped:
            pending.pop(line, None)
        if answer.start_heard:
            heard["start_date"] = answer.start_heard
        exclusions = self.exclusions + tuple(
            x for x in answer.exclusions if x not in self.exclusions
        )
        return replace(
            self,
            line_prices=prices,
            total=_money(answer.total) if answer.total is not None else self.total,
            start_date=answer.start_date.isoformat() if answer.start_date else self.start_date,
            site_visit=answer.site_visit.isoformat() if answer.site_visit else self.site_visit,
            site_visit_time=self._visit_time(answer),
            duration_days=answer.duration_days or self.duration_days,
            exclusions=exclusions,
            exclusions_answered=self.exclusions_answered
            or answer.no_exclusions
            or bool(exclusions),
            insured=answer.insured if answer.insured is not None else self.insured,
            opted_out=self.opted_out or answer.opted_out,
            declined=self.declined or answer.declined,
            callback=self.callback or answer.callback,
            callback_when=answer.callback_when or self.callback_when,
            skipped_lines=skipped,
            heard=heard,
            line_rates=rates,
            unit_rates=pending,
            price_ranges=ranges,
            wrong_number=self.wrong_number or answer.wrong_number,
            follow_up=answer.follow_up or self.follow_up,
        )

    def _visit_time(self, answer: Answer) -> str | None:
        """The site visit's clock after ``answer``: its own, else the one kept for that day."""
        if answer.site_visit is None:
            return self.site_visit_time
        if answer.site_visit_time is not None:
            return answer.site_visit_time
        same_day = answer.site_visit.isoformat() == self.site_visit
        return self.site_visit_time if same_day else None

    @property
    def priced(self) -> bool:
        """True when a price was given (for a line or in total)."""
        return bool(self.line_prices) or self.total is not None

    def bid_total(self) -> Decimal | None:
        """The total: as said, or the sum of the line prices."""
        if self.total is not None:
            return Decimal(self.total)
        if self.line_prices:
            return sum((Decimal(v) for v in self.line_prices.values()), Decimal("0"))
        return None

    def to_json(self) -> dict[str, Any]:
        """The facts as JSON values."""
        return {
            "line_prices": dict(self.line_prices),
            "total": self.total,
            "start_date": self.start_date,
            "site_visit": self.site_visit,
            "site_visit_time": self.site_visit_time,
            "duration_days": self.duration_days,
            "exclusions": list(self.exclusions),
            "exclusions_answered": self.exclusions_answered,
            "insured": self.insured,
            "opted_out": self.opted_out,
            "declined": self.declined,
            "callback": self.callback,
            "callback_when": self.callback_when.to_json() if self.callback_when else None,
            "skipped_lines": list(self.skipped_lines),
            "heard": dict(self.heard),
            "line_rates": dict(self.line_rates),
            "unit_rates": dict(self.unit_rates),
            "price_ranges": dict(self.price_ranges),
            "wrong_number": self.wrong_number,
            "follow_up": self.follow_up,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CallFacts:
        """Facts stored by ``to_json`` (missing keys take their defaults)."""
        data = data or {}
        return cls(
            line_prices={str(k): str(v) for k, v in (data.get("line_prices") or {}).items()},
            total=data.get("total"),
            start_date=data.get("start_date"),
            site_visit=data.get("site_visit"),
            site_visit_time=_clock_text(data.get("site_visit_time")),
            duration_days=data.get("duration_days"),
            exclusions=tuple(data.get("exclusions") or ()),
            exclusions_answered=bool(data.get("exclusions_answered")),
            insured=data.get("insured"),
            opted_out=bool(data.get("opted_out")),
            declined=bool(data.get("declined")),
            callback=bool(data.get("callback")),
            callback_when=CallbackTime.from_json(data.get("callback_when")),
            skipped_lines=tuple(data.get("skipped_lines") or ()),
            heard={str(k): str(v) for k, v in (data.get("heard") or {}).items()},
            line_rates={str(k): str(v) for k, v in (data.get("line_rates") or {}).items()},
            unit_rates={str(k): str(v) for k, v in (data.get("unit_rates") or {}).items()},
            price_ranges={str(k): str(v) for k, v in (data.get("price_ranges") or {}).items()},
            wrong_number=bool(data.get("wrong_number")),
            follow_up=data.get("follow_up") if data.get("follow_up") in _FOLLOW_UPS else None,
        )


def _clock_text(value: Any) -> str | None:
    """A stored ``HH:MM`` clock, or None for anything else."""
    if isinstance(value, str) and re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", value):
        return value
    return None


def facts_from_transcript(
    turns: Iterable[tuple[str | None, str]], *, scope: Sequence[ScopeLine], today: dt.date
) -> CallFacts:
    """Replay (question asked, contractor's answer) pairs into the facts of a call."""
    facts = CallFacts()
    for expect, text in turns:
        facts = facts.merge(extract(text, scope=scope, today=today, expect=expect))
    return facts


def dollars(value: Decimal | str | None) -> str:
    """``$11,500`` (cents only when there are some)."""
    if value is None:
        return "no price"
    amount = Decimal(str(value))
    return f"${amount:,.2f}" if amount != amount.to_integral_value() else f"${amount:,.0f}"


def spoken_clock(hour: int, minute: int) -> str:
    """``3 PM`` / ``10:30 AM`` for a 24-hour clock time."""
    label = f"{(hour - 1) % 12 + 1}" + (f":{minute:02d}" if minute else "")
    return f"{label} {'PM' if hour >= 12 else 'AM'}"


def spoken_date(value: str | dt.date | None) -> str:
    """``Wednesday, December 3``."""
    if value is None:
        return "no date"
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day:%A, %B} {day.day}"


# --- the call's recording ----------------------------------------------------------------

SPEECH = "speech"
RECORDING = "recording"
# Facts that are figures of the bid (a change to one of them changes the call's bid).
BID_FACTS = frozenset({"total", "start_date", "duration_days", "exclusions"})
_ECHO_SHARE = 0.7  # a recording segment this much made of one agent line's words is the agent


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", normalise(text))


def contractor_side(segments: Sequence[str], agent_lines: Sequence[str]) -> list[str]:
    """The recording's segments less those that repeat an agent line (a mixed recording).

    Calls are recorded on the inbound track (the contractor only); a recording that also
    holds the agent's voice has the segments made (at least 70%, four words or more) of one
    agent line's words removed, so the agent's read-back is never taken as the contractor's.
    """
    agent_words = [set(_words(line)) for line in agent_lines if line]
    kept: list[str] = []
    for segment in segments:
        words = _words(segment)
        if not words:
            continue
        if len(words) >= 4 and any(
            sum(word in line for word in words) / len(words) >= _ECHO_SHARE for line in agent_words
        ):
            continue
        kept.append(segment.strip())
    return kept


def fact_values(facts: CallFacts) -> dict[str, str]:
    """Each fact the call holds, by key (``line:<id>``, ``total``, ``start_date`` ...)."""
    values = {f"line:{key}": value for key, value in facts.line_prices.items()}
    if facts.total is not None:
        values["total"] = facts.total
    for key in ("start_date", "site_visit"):
        if getattr(facts, key):
            values[key] = getattr(facts, key)
    if facts.duration_days:
        values["duration_days"] = str(facts.duration_days)
    if facts.exclusions_answered:
        values["exclusions"] = "; ".join(facts.exclusions) or "none"
    if facts.insured is not None:
        values["insured"] = "yes" if facts.insured else "no"
    return values


@dataclass(frozen=True)
class RecordingMerge:
    """The call's facts with what only the recording said, and where each fact came from."""

    facts: CallFacts
    sources: dict[str, str]
    """fact key → ``speech`` (heard live on the call) or ``recording`` (only in the recording)."""
    added: tuple[str, ...]
    disagreements: tuple[dict[str, str], ...]
    """{fact, speech, recording}: the recording says otherwise; the call's value stands."""


def merge_recording(speech: CallFacts, recording: CallFacts) -> RecordingMerge:
    """Add to the live call's facts only what its speech results missed (see the rule below).

    - A fact heard live (the contractor heard it read back and confirmed it) is never changed;
      a recording that says otherwise is a disagreement for the team to check.
    - A scope line not priced live gets the recording's price, unless the contractor said on
      the call they would not price it (a disagreement then).
    - A total from the recording counts only when the call gave no price at all (an amount
      the recording does not tie to a line could be any line's).
    - Start date, site visit, duration, exclusions and insurance not heard live are taken.
    """
    said = fact_values(speech)
    heard_again = fact_values(recording)
    prices = dict(speech.line_prices)
    heard = dict(speech.heard)
    added: list[str] = []
    disagreements: list[dict[str, str]] = []
    changes: dict[str, Any] = {}

    def disagree(key: str, speech_value: str) -> None:
        disagreements.append({"fact": key, "speech": speech_value, "recording": heard_again[key]})

    for key in heard_again:
        if key in said:
            if said[key] != heard_again[key] and key != "exclusions":
                disagree(key, said[key])
            continue
        if key.startswith("line:"):
            line = key.split(":", 1)[1]
            if line in speech.skipped_lines:
                disagree(key, "not priced on the call")
                continue
            prices[line] = recording.line_prices[line]
            if line in recording.line_rates:
                changes.setdefault("line_rates", dict(speech.line_rates))[line] = (
                    recording.line_rates[line]
                )
            if key in recording.heard:
                heard[key] = recording.heard[key]
        elif key == "total":
            if speech.priced:
                continue
            changes["total"] = recording.total
        elif key in ("start_date", "site_visit"):
            changes[key] = getattr(recording, key)
            if key == "start_date" and "start_date" in recording.heard:
                heard["start_date"] = recording.heard["start_date"]
        elif key == "duration_days":
            changes["duration_days"] = recording.duration_days
        elif key == "exclusions":
            changes["exclusions"] = recording.exclusions
            changes["exclusions_answered"] = True
        elif key == "insured":
            changes["insured"] = recording.insured
        added.append(key)
    facts = replace(
        speech,
        line_prices=prices,
        skipped_lines=tuple(s for s in speech.skipped_lines if s not in prices),
        heard=heard,
        **changes,
    )
    sources = {key: RECORDING if key in added else SPEECH for key in fact_values(facts)}
    return RecordingMerge(facts, sources, tuple(added), tuple(disagreements))
