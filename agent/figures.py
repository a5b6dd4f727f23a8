"""Figures in text: the check that every number in a reply comes from a tool result.

``figures_in`` reads the numbers a person would read as figures: dollar amounts (``$1,329``,
``$185k`` = 185000, ``$3.5M`` = 3500000), plain numbers, percentages and dates (ISO
``2026-11-28``, ``November 28, 2026``, ``Nov 28``, ``11/28/2026``), normalised (``$1,329``
and ``1329.00`` are the same figure; a date is written ISO, or ``MM-DD`` without a year).
Identifiers are not figures: UUIDs, URLs and short ids (``deal 6cb341a0``) are skipped,
and digits inside words (``3f2a9c1d``, ``B2``) are not read as numbers. ``figures_in``
reports values without their sign (``-$1,250`` is ``1250``); ``unsupported_figures`` looks
at the sign.

``unsupported_figures(reply, sources)`` lists the reply's figures that no source supports.
Callers pass the tool results they hold: this turn's, and earlier turns' of the thread when
the reply may repeat them. The rules:

- a figure written with a k/M suffix is rounded: ``$185k`` is supported by any value from
  184,500 to 185,500, ``$1.2M`` by 1,150,000 to 1,250,000; other figures must be equal;
- a dollar figure (``$`` or a k/M suffix) is supported only by a money-like source value: in
  a JSON result, numbers under address-like keys (``address``, ``street``, ``zip``, ``phone``
  …: house numbers, ZIP codes) support plain numbers only;
- signs: ``-$218`` needs a negative source value; a figure without a minus is supported by a
  negative source value only when the words around it say it is a loss ("loses $218",
  "negative cash flow of $218", "$218 short", "over budget by $218"), so "cash flow $218
  positive" against ``-$218`` is unsupported;
- figures in single-quoted examples of what to type (``'what if I pay 150k?'``) are not
  read from a reply;
- a date is supported by the same date in any format (``November 28, 2026`` by
  ``2026-11-28``; a date without a year by any source date on that month and day), and a
  plain year (``2026``) by a source date in that year.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

# An example in single quotes ("add 'if rehab is 40k'") is words to type, not a stated figure.
_QUOTED = re.compile(r"(?<![\w])['\u2018][^'\u2018\u2019\n]{0,200}['\u2019](?![\w])")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_URL = re.compile(r"https?://\S+", re.I)
# A short id as replies write one ("deal 6cb341a0", "bid 12345678"): 8 hex digits, no figure.
_SHORT_ID = re.compile(
    r"\b(?:deal|bid|expense|project|property|transaction|call)\s+[0-9a-f]{8}(?![\w-])", re.I
)
_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?:(?=T\d)|(?![\w-]))")
_MONTHS = (
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_DAY = re.compile(
    r"(?<![\w])" + _MONTHS + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?(?![\w])", re.I
)
_DAY_MONTH = re.compile(
    r"(?<![\w.,])(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTHS + r"\.?(?:,?\s+(\d{4}))?(?![\w])", re.I
)
# US dates need a year: "3/4" is a fraction more often than a date.
_US_DATE = re.compile(r"(?<![\w/.,-])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/])")
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(k|K|M|MM|mm|m|bn|B)(?![\w])|\s(thousand|million|billion)\b)?(?![\w])"
)
_MULTIPLIERS = {
    "k": Decimal(1000),
    "thousand": Decimal(1000),
    "m": Decimal(1_000_000),
    "mm": Decimal(1_000_000),
    "million": Decimal(1_000_000),
    "b": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "billion": Decimal(1_000_000_000),
}
# Suffixes read only after a "$" (otherwise "5m" is five metres, "2B" a unit).
_DOLLAR_ONLY_SUFFIXES = {"m", "mm", "B", "bn"}
_MINUS = "-−–"  # noqa: RUF001 - the Unicode minus and en dash are minus signs in replies
_LOSS_WORDS = re.compile(
    r"\b(loss|losses|lose|loses|losing|lost|negative|deficit|short|shortfall|minus|"
    r"in the red|underwater|under water|owes?|owed|over (?:budget )?by|overrun|overspent)\b",
    re.I,
)
# JSON keys whose numbers are house numbers, ZIP codes, phone numbers: never money.
_ADDRESS_KEY = re.compile(r"(^|_)(address|street|zip|zips|zip_codes?|zipcode|postal|phone)", re.I)
_MONTH_NUMBERS = {
    name: index
    for index, names in enumerate(
        (
            (),
            ("jan",),
            ("feb",),
            ("mar",),
            ("apr",),
            ("may",),
            ("jun",),
            ("jul",),
            ("aug",),
            ("sep",),
            ("oct",),
            ("nov",),
            ("dec",),
        )
    )
    for name in names
}


@dataclass(frozen=True)
class Figure:
    """One figure read from a text."""

    text: str
    """Normalised, unsigned: ``185000``, ``8.5``, ``2026-11-28`` (``11-28`` without a year)."""
    value: Decimal | None = None
    """The signed value of a number; None for a date."""
    date: str | None = None
    money: bool = False
    """Written as money (``$``, or a k/M suffix); in a source: may stand for money."""
    tolerance: Decimal = Decimal(0)
    """How far a source value may be from it (half the last stated digit of ``$185k``)."""
    loss: bool = False
    """The words around it say it is a loss (an unsigned figure may match a negative one)."""


def _normalise(value: Decimal) -> str:
    normalised = value.normalize()
    # Decimal("100").normalize() is 1E+2: write integers without an exponent.
    if normalised == normalised.to_integral_value():
        return str(normalised.quantize(Decimal(1)))
    return str(normalised)


def _iso(year: str | None, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if year is None:
        return f"{month:02d}-{day:02d}"
    full = int(year) + (2000 if len(year) == 2 else 0)
    return f"{full:04d}-{month:02d}-{day:02d}"


def _dates(text: str) -> tuple[list[Figure], str]:
    """The dates in ``text`` and the text with them blanked out."""
    found: list[Figure] = []

    def keep(date: str | None, match: re.Match[str]) -> str:
        if date is None:
            return match.group(0)
        found.append(Figure(text=date, date=date))
        return " "

    def iso(match: re.Match[str]) -> str:
        return keep(f"{match[1]}-{match[2]}-{match[3]}", match)

    def month_day(match: re.Match[str]) -> str:
        return keep(_iso(match[3], _MONTH_NUMBERS[match[1][:3].lower()], int(match[2])), match)

    def day_month(match: re.Match[str]) -> str:
        return keep(_iso(match[3], _MONTH_NUMBERS[match[2][:3].lower()], int(match[1])), match)

    def us(match: re.Match[str]) -> str:
        return keep(_iso(match[3], int(match[1]), int(match[2])), match)

    text = _DATE.sub(iso, text)
    text = _MONTH_DAY.sub(month_day, text)
    text = _DAY_MONTH.sub(day_month, text)
    text = _US_DATE.sub(us, text)
    return found, text


def _prefix(text: str, start: int) -> tuple[bool, bool]:
    """Whether the number at ``start`` is written as dollars, and with a minus sign.

    A minus counts when it is attached to the figure and follows a space, the start or an
    opening mark (``-$218``, ``$-218``, ``(-218)``); ``20-45`` and ``$20k-$45k`` are ranges.
    """
    i = start
    if i >= 2 and text[i - 1] in _MINUS and text[i - 2] == "$":
        return True, True
    dollar = False
    if i >= 1 and text[i - 1] == "$":
        dollar, i = True, i - 1
    elif i >= 2 and text[i - 1] == " " and text[i - 2] == "$":
        dollar, i = True, i - 2
    if i >= 1 and text[i - 1] in _MINUS:
        return dollar, i == 1 or text[i - 2].isspace() or text[i - 2] in "(:=/"
    return dollar, False


def _read(text: str, *, quoted: bool = False) -> list[Figure]:
    """Every figure in ``text``, in order, with sign, money flag, rounding and loss wording.

    Figures in single-quoted examples are left out unless ``quoted`` (sources keep them).
    """
    text = _SHORT_ID.sub(" ", _URL.sub(" ", _UUID.sub(" ", text)))
    if not quoted:
        text = _QUOTED.sub(" ", text)
    found, text = _dates(text)
    for match in _NUMBER.finditer(text):
        token, suffix = match[1], (match[2] or match[3] or "")
        dollar, negative = _prefix(text, match.start())
        if suffix in _DOLLAR_ONLY_SUFFIXES and not dollar:
            continue  # "5m", "2B": a unit or a name, not a figure
        try:
            number = Decimal(token.replace(",", ""))
        except InvalidOperation:
            continue
        multiplier = _MULTIPLIERS.get(suffix.lower(), Decimal(1))
        tolerance = Decimal(0)
        if suffix:
            exponent = number.as_tuple().exponent
            places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            tolerance = multiplier * Decimal(1).scaleb(-places) / 2
        value = number * multiplier
        window = text[max(0, match.start() - 50) : match.end() + 25]
        found.append(
            Figure(
                text=_normalise(value),
                value=-value if negative else value,
                money=dollar or bool(suffix),
                tolerance=tolerance,
                loss=bool(_LOSS_WORDS.search(window)),
            )
        )
    return found


def figures_in(text: str) -> set[str]:
    """The figures in ``text``, normalised: ``{"1329", "8.5", "2024-01-15", "185000"}``."""
    return {figure.text for figure in _read(text)}


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    else:
        yield key, value


def _source_figures(source: str) -> list[Figure]:
    """The figures a source (a tool result, as text) holds; JSON is read key by key."""
    stripped = source.lstrip()
    parsed: Any = None
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
    if parsed is None:
        found = [replace(figure, money=True) for figure in _read(source, quoted=True)]
    else:
        found = []
        for key, leaf in _leaves(parsed):
            money_ok = not _ADDRESS_KEY.search(key)
            if isinstance(leaf, bool) or leaf is None:
                continue
            if isinstance(leaf, int | float):
                value = Decimal(str(leaf))
                figures = [Figure(text=_normalise(abs(value)), value=value)]
            else:
                figures = _read(str(leaf), quoted=True)
            found.extend(
                Figure(text=f.text, value=f.value, date=f.date, money=money_ok) for f in figures
            )
    years = [
        Figure(text=f.date[:4], value=Decimal(f.date[:4]))
        for f in found
        if f.date and len(f.date) == 10
    ]
    return found + years


def _supported(figure: Figure, known: Sequence[Figure]) -> bool:
    if figure.date is not None:
        if len(figure.date) == 10:
            return any(k.date == figure.date for k in known)
        return any(k.date is not None and k.date.endswith(figure.date) for k in known)
    assert figure.value is not None
    for k in known:
        if k.value is None or (figure.money and not k.money):
            continue
        if abs(abs(figure.value) - abs(k.value)) > figure.tolerance:
            continue
        if figure.value < 0 and k.value >= 0:
            continue  # "-$218" needs a negative source
        if figure.value > 0 and k.value < 0 and not figure.loss:
            continue  # "$218" against "-$218" only when the words say it is a loss
        return True
    return False


def known_figures(sources: Sequence[str]) -> list[Figure]:
    """The figures ``sources`` (tool results as text) hold, read once for several checks."""
    known: list[Figure] = []
    for source in sources:
        known.extend(_source_figures(source))
    return known


def unsupported_in(reply: str, known: Sequence[Figure]) -> set[str]:
    """Figures in ``reply`` that none of ``known`` (``known_figures``) supports."""
    return {figure.text for figure in _read(reply) if not _supported(figure, known)}


def unsupported_figures(reply: str, sources: Sequence[str]) -> set[str]:
    """Figures in ``reply`` that none of ``sources`` (tool results as text) supports."""
    return unsupported_in(reply, known_figures(sources))
