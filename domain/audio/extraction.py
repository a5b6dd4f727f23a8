"""The deterministic condition extractor: components, conditions and quantities from narration.

It reads plain speech the way an investor narrates a walkthrough ("The roof is shot and needs
replacing. There are twelve windows, all original.") and needs no language model:

1. The transcript is split into sentences; each keeps the start time of the segment it
   begins in.
2. Components are found by the pricing catalogue's own names and aliases (plus a few spoken
   forms), longest phrase first, and confirmed with ``pricing_service.match_component`` so
   every component found is one the rehab estimate can price.
3. A sentence naming several components is cut into clauses at commas and conjunctions
   ("the cabinets are worn **but** the counters are new"); each component gets the cue words
   of its own clause.
4. Cue words grade the condition: "brand new" → excellent, "good shape" → good, "worn",
   "original", "needs paint" → fair, "shot", "leaking", "cracked", "needs replacing" → poor,
   and an age ("five years old"). A negation flips a cue ("not bad" → good, "no leaks" →
   good). Any fair/poor cue wins over praise (the worst one), otherwise the best praise.
5. A number said right before the component is its count ("twelve windows"); a number with
   a unit anywhere in its clause is its quantity in that unit ("about 20 squares"); a number
   pointing back ("15 of them", "14 total") is a count, also in the very next sentence when
   that sentence names no component and the one before named exactly one; said with a grade
   ("Two bathrooms. One of them needs a full remodel.", "Twelve windows, all original. Three
   are cracked.") that many get the grade, when it is worse than the rest's. A room's size
   ("12 by 14") is the floor area of flooring or paint named with it, never a length; one
   window or door named alone ("the back door") is one; a share of the house ("half the
   house") is kept as a share and priced on the living area once the caller knows it. The
   house's own area ("the house is about 1,100 square feet") is no component's quantity:
   ``narrated_living_area`` gives it to the caller, to price on when the property has none.
6. What a sentence says beyond one component: a floor under another ("hardwood under the
   carpet") takes what follows, and the covering is not graded; a whole room that needs
   everything ("gut the kitchen") grades each of the room's catalogue components poor; a
   bathroom that "just needs paint" is painted (its 5x8 floor area), not remodelled; a
   bathroom named as the place of a component ("the tub in the bathroom is cracked", "the
   bathroom has mold") is not graded by what is said of that component, but a remodel said
   after it ("... and needs a full remodel") is the room's. A thing no catalogue line prices
   and a component's name would mistake ("hot tub": no bathtub) is no component; it is listed
   as not priced, with why (``heard_not_priced``).
7. Across sentences, one finding per component: two single ones said differently ("front door
   is solid, back door needs replacing") are the one in the worse condition, not two; a
   hardwood "refinish" is the line's full sand and refinish (its repair: screen and recoat).
8. What is said of the house that prices as whole lines: water in the basement ("the basement
   has water", "wet basement", "efflorescence on the basement walls") is its waterproofing,
   interior drain tile around the perimeter plus a sump pump ("needs a sump pump" alone: the
   pump); a full gut ("it's a gut job", "down to the studs") is one line per sqft of living
   area, and the interior components it covers are folded into it, not priced again (the
   roof, windows, exterior and mechanicals are). Not when denied, already done ("the
   basement was waterproofed", "it was gutted last year") or said of a room ("gutted kitchen").

Everything here is pure: text in, findings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_CEILING, Decimal

from domain.audio.enums import Condition
from domain.pricing import service as pricing_service
from domain.pricing.catalogue import (
    CATALOGUE_BY_KEY,
    DEFAULT_CATALOGUE,
    GUT_REHAB_COVERS,
    QuantityKind,
)
from domain.pricing.enums import CostUnit

METHOD = "deterministic"

# --- numbers -----------------------------------------------------------------------------

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
_SCALES = {"hundred": 100, "thousand": 1000}


def words_to_numbers(tokens: Sequence[str]) -> list[str]:
    """Replace runs of spelled-out numbers with digits ("a dozen" → "12", "a couple" → "2")."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "a" and i + 1 < len(tokens) and tokens[i + 1] == "dozen":
            out.append("12")
            i += 2
            continue
        if token == "a" and i + 1 < len(tokens) and tokens[i + 1] == "couple":
            out.append("2")  # "a couple of the windows"
            i += 2
            continue
        if token == "dozen":
            out.append("12")
            i += 1
            continue
        # "a hundred and twenty feet": "a" is the one the scale multiplies.
        a_scale = token == "a" and i + 1 < len(tokens) and tokens[i + 1] in _SCALES
        if token not in _UNITS and token not in _TENS and not a_scale:
            out.append(token)
            i += 1
            continue
        total, current = 0, 0
        j = i
        if a_scale:
            current, j = 1, i + 1
        while j < len(tokens):
            word = tokens[j]
            if word in _UNITS and (current % 10 == 0 or current >= 100):
                current += _UNITS[word]
            elif word in _TENS and current % 100 == 0:
                current += _TENS[word]
            elif word in _SCALES and current:
                current *= _SCALES[word]
                if word == "thousand":
                    total, current = total + current, 0
            elif word == "and" and j + 1 < len(tokens) and current >= 100:
                pass  # "one hundred and twenty"
            else:
                break
            j += 1
        out.append(str(total + current))
        i = j
    return out


# --- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\d+\.\d+|[a-z0-9]+(?:'[a-z]+)?|[,;:]")
_BOUNDARY_WORDS = {"and", "but", "while", "though", "although", "however", "plus", "also"}
_PUNCTUATION = {",", ";", ":"}


def tokenize(text: str) -> list[str]:
    """Lower-case words (keeping "isn't"), numbers (``1,200`` → ``1200``) and punctuation."""
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.lower().replace("’", "'"))
    text = text.replace("%", " percent")
    text = re.sub(r"\b(\d+)\s*[x×]\s*(\d+)\b", r"\1 by \2", text)  # "12x14": a room's size
    tokens = [t[:-2] if t.endswith("'s") else t for t in _TOKEN.findall(text)]
    return words_to_numbers(tokens)


# --- components --------------------------------------------------------------------------

# Spoken forms the catalogue does not list, mapped to a name it does.
SPOKEN_ALIASES = {
    "breaker box": "breaker panel",
    "electrical box": "electric panel",
    "electric box": "electric panel",
    "main panel": "electric panel",
    "electrical panel": "electric panel",
    "cabinetry": "cabinets",
    "counter": "countertop",
    "kitchen counter": "countertop",
    "shower": "shower tile",
    "bathroom tiles": "bath tile",
    "hot water heater": "water heater",
    "air con": "air conditioner",
    "heat": "heating",
    "carpeted": "carpet",
    "vinyl plank flooring": "vinyl plank",
    "sewer line": "sewer",
    "gutter system": "gutters",
    "kitchen floor": "flooring",
    "tub": "bathtub",
    # Panels known to fail (Federal Pacific Stab-Lok, Zinsco): named by make, graded poor.
    "federal pacific panel": "electric panel",
    "fpe panel": "electric panel",
    "zinsco panel": "electric panel",
    # "There's no hot water": the water heater is out ("hot water" alone is too vague).
    "no hot water": "water heater",
}
# Catalogue aliases too ambiguous in free speech ("in the range of", "the yard is big").
AMBIGUOUS_ALIASES = frozenset(
    {
        "range",
        "glass",
        "yard",
        "cleanup",
        "clean up",
        "walls",
        "heater",
        "hot water",
        "cooling",
        "heat",
        "bath",
        "floor",
        "tile",
        "tiles",
        "inspections",
        "permit",
        "main line",
        "condenser",
        "wc",
        # "the countertops are laminate": a material, not the laminate flooring line.
        "laminate",
        # "the deck needs waterproofing": not the basement's drain tile (a basement said to
        # need it is, see ``_BASEMENT_WATER``).
        "waterproofing",
    }
)
# Catalogue components found by what is said of the house, never by their names as words:
# "it's a gut job", "down to the studs" (``_GUT_SAID``).
_SAID_NOT_NAMED = frozenset({"gut_rehab"})
_MAX_PHRASE_WORDS = 5
# Catalogue aliases that carry a condition ("new roof"): the component is the rest, and the
# condition word stays a cue.
_CONDITION_PREFIXES = frozenset({"new", "replace", "install", "repair", "refinish", "paint"})
_PAINT_KEYS = frozenset({"interior_paint", "exterior_paint"})
_ABSENT_WORDS = frozenset({"no", "without"})
_LIST_WORDS = frozenset(
    {"the", "a", "an", "and", "or", "both", "all", "my", "its", "their", "those", "these", "plus"}
)
_NEEDS_WORDS = frozenset({"needs", "need", "needing", "fresh", "new", "some"})


def _phrase_index() -> dict[tuple[str, ...], str]:
    """Every speakable component phrase (as tokens) → the catalogue key it names."""
    phrases: dict[tuple[str, ...], str] = {}

    def add(phrase: str, key: str) -> None:
        normal = pricing_service.normalise_name(phrase)
        if not normal or normal in AMBIGUOUS_ALIASES:
            return
        words = normal.split()
        if len(words) > 1 and words[0] in _CONDITION_PREFIXES:
            return
        for variant in {normal, _plural(normal)}:
            phrases.setdefault(tuple(variant.split()), key)

    for entry in DEFAULT_CATALOGUE:
        if entry.key in _SAID_NOT_NAMED:
            continue
        for name in (entry.key.replace("_", " "), *entry.aliases):
            match = pricing_service.match_component(name)
            if match is not None and match.key == entry.key:
                add(name, entry.key)
    for spoken, catalogue_name in SPOKEN_ALIASES.items():
        match = pricing_service.match_component(catalogue_name)
        if match is not None:
            add(spoken, match.key)
    return phrases


def _plural(phrase: str) -> str:
    """The plain plural of a phrase's last word ("window" → "windows")."""
    if phrase.endswith(("s", "x", "ch", "sh")):
        return phrase
    return phrase + "s"


_PHRASES = _phrase_index()


# --- condition cues ----------------------------------------------------------------------

_GRADE = {Condition.excellent: 4, Condition.good: 3, Condition.fair: 2, Condition.poor: 1}

# Multi-word cues first (they mask the words inside them); each is a regex over the clause's
# tokens joined by single spaces.
PHRASE_CUES: tuple[tuple[str, Condition], ...] = (
    (
        r"(?:not|isn't|aren't|wasn't) (?:in )?(?:too |that |so )?(?:bad|rough|poor) "
        r"(?:shape|condition)",
        Condition.good,
    ),
    (r"not (?:too |that |so )?bad", Condition.good),
    (r"not (?:in )?(?:good|great) (?:shape|condition)", Condition.poor),
    (r"not (?:that |so |too )?great", Condition.fair),
    (
        r"(?:not|isn't|aren't|doesn't|don't|won't|didn't|never) (?:working|work|works|run|runs"
        r"|running|turn on|turns on|come on|kick on|start|fire up|light|heat|cool|flush|drain)",
        Condition.poor,
    ),
    (
        r"(?:no|not|without|isn't|aren't|doesn't|don't|never) (?:any )?"
        r"(?:leaks?|leaking|cracks?|cracked|issues?|problems?|damage|rot)",
        Condition.good,
    ),
    (r"needs? (?:to be )?(?:replac\w*|redone|torn out|gutted)", Condition.poor),
    (r"needs? (?:a |all |\d+ )?(?:new|full) (?:one|\w+)", Condition.poor),
    (
        r"(?:has to|have to|should|will need to|going to have to|got to|needs? to) (?:be )?"
        r"(?:replac\w*|go)",
        Condition.poor,
    ),
    (
        r"needs? (?:some )?(?:paint|painting|work|repairs?|cleaning|updating|tlc|touch ups?)",
        Condition.fair,
    ),
    (
        r"needs? (?:to be )?(?:refinish\w*|sanded|resurfac\w*|regrout\w*|repaint\w*|patch\w*"
        r"|clean\w*|servic\w*|fix\w*|repair\w*|reglaz\w*|recaulk\w*|caulk\w*|seal\w*)",
        Condition.fair,
    ),
    (r"could use (?:some |a )?\w+", Condition.fair),
    # The hardwood line's repair ("screen and recoat") said as what is needed.
    (r"(?:screen|buff) and (?:recoat|coat)", Condition.fair),
    (
        r"backed up|backing up|backs up|beat up|beaten up|banged up|clogged"
        r"|runs (?:constantly|all the time|nonstop)|keeps running|won't stop running",
        Condition.fair,
    ),
    (
        r"(?:hanging|falling|coming|pulling) (?:off|down|away|loose)|trashed|destroyed"
        r"|kicked in|busted in|smashed",
        Condition.poor,
    ),
    (
        r"falling apart|beyond repair|end of (?:its )?life|on its last legs|water damage",
        Condition.poor,
    ),
    (
        r"brand new|like new|just (?:been )?(?:replaced|installed|redone)|recently "
        r"(?:replaced|installed|redone|updated)|replaced last year",
        Condition.excellent,
    ),
    (
        r"(?:good|great|decent|nice|solid) (?:shape|condition|working order)|works (?:fine|great)"
        r"|in good shape|well maintained|looks good|no issues",
        Condition.good,
    ),
    (r"(?:fair|ok|okay|rough|bad) (?:shape|condition)", Condition.fair),
    # "in poor condition": the written grade poor (replace), as "roof poor" is.
    (r"poor (?:shape|condition)", Condition.poor),
    (r"some wear|a bit worn|little worn|kind of old|pretty old|really old", Condition.fair),
    # "a soft spot on the roof": rotten decking or subfloor under it, patched.
    (r"soft spots?|spongy", Condition.fair),
    # "the foundation has a few cracks": sealed and patched, not rebuilt.
    (
        r"(?:a few|few|some|several|a couple of|2|minor|small|hairline|little) cracks?",
        Condition.fair,
    ),
)
WORD_CUES: dict[str, Condition] = {
    # excellent
    "new": Condition.excellent,
    "excellent": Condition.excellent,
    "perfect": Condition.excellent,
    "pristine": Condition.excellent,
    "renovated": Condition.excellent,
    "remodeled": Condition.excellent,
    # good
    "good": Condition.good,
    "great": Condition.good,
    "fine": Condition.good,
    "solid": Condition.good,
    "decent": Condition.good,
    "newer": Condition.good,
    "updated": Condition.good,
    "working": Condition.good,
    "works": Condition.good,
    "ok": Condition.good,
    "okay": Condition.good,
    "functional": Condition.good,
    # fair
    "worn": Condition.fair,
    "dated": Condition.fair,
    "outdated": Condition.fair,
    "original": Condition.fair,
    "old": Condition.fair,
    "older": Condition.fair,
    "tired": Condition.fair,
    "fair": Condition.fair,
    "average": Condition.fair,
    "scuffed": Condition.fair,
    "stained": Condition.fair,
    "faded": Condition.fair,
    "chipped": Condition.fair,
    "loose": Condition.fair,
    "dirty": Condition.fair,
    "filthy": Condition.fair,
    "peeling": Condition.fair,
    "minor": Condition.fair,
    "sticking": Condition.fair,
    "holes": Condition.fair,
    "hole": Condition.fair,
    "ugly": Condition.fair,
    # "refinish about 900 square feet": the work to do, as "needs refinishing" is.
    "refinish": Condition.fair,
    # poor
    "shot": Condition.poor,
    "leaking": Condition.poor,
    "leaks": Condition.poor,
    "leaky": Condition.poor,
    "leak": Condition.poor,
    "cracked": Condition.poor,
    "cracking": Condition.poor,
    "cracks": Condition.poor,
    "crack": Condition.fair,
    "broken": Condition.poor,
    "busted": Condition.poor,
    "rotted": Condition.poor,
    "rotten": Condition.poor,
    "rotting": Condition.poor,
    "rot": Condition.poor,
    "damaged": Condition.poor,
    # The written grade ("roof poor", "windows are poor"), as "fair" and "good" are read.
    "poor": Condition.poor,
    "missing": Condition.poor,
    "dead": Condition.poor,
    "failing": Condition.poor,
    "failed": Condition.poor,
    "bad": Condition.poor,
    "terrible": Condition.poor,
    "awful": Condition.poor,
    "moldy": Condition.poor,
    "mold": Condition.poor,
    "sagging": Condition.poor,
    "buckled": Condition.poor,
    "buckling": Condition.poor,
    "rusted": Condition.poor,
    "rusty": Condition.poor,
    "junk": Condition.poor,
    "toast": Condition.poor,
    "gone": Condition.poor,
    "caved": Condition.poor,
    "collapsed": Condition.poor,
    "drafty": Condition.poor,
    # Whisper hears espeak's (and some people's) "drafty" as "drafted".
    "drafted": Condition.poor,
    "replace": Condition.poor,
    "replacing": Condition.poor,
    "replacement": Condition.poor,
}
_NEGATORS = {"not", "no", "never", "without", "isn't", "aren't", "wasn't", "doesn't", "don't"}
_NEGATED = {
    Condition.poor: Condition.good,
    Condition.fair: Condition.good,
    Condition.good: Condition.poor,
    Condition.excellent: Condition.fair,
}
_AGE = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?) (?:years?|yrs?) old\b"
    r"|(?:replaced|installed|put in|redone|new) (?:about |maybe |around |like )?"
    r"(\d+(?:\.\d+)?) (?:years?|yrs?) ago\b"
)
# "redone in 2019", "the water heater is from 1998": an age from the year said, counted from
# this year.
_YEAR = re.compile(
    r"(?:(?:replaced|installed|put in|redone|done|new|built) (?:back |sometime )?"
    r"(?:in|around|about)|\bfrom|dates (?:back )?to) (?:about |around |like )?((?:19|20)\d\d)\b"
)
# "the roof has maybe five years left": the life said to be left, not its age.
_LIFE_LEFT = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?) (?:more )?(?:years?|yrs?) (?:of life )?(?:left|remaining)\b"
)
_NEGATED_NEED = re.compile(r"\b(?:doesn't|don't|didn't|won't|does not|do not|not) (?:really )?$")
_COMPILED_PHRASES = [(re.compile(rf"\b(?:{p})\b"), grade) for p, grade in PHRASE_CUES]


def grade_for_age(years: float) -> Condition:
    """A component's condition from its age alone: ≤2 excellent, ≤10 good, ≤20 fair, else poor."""
    if years <= 2:
        return Condition.excellent
    if years <= 10:
        return Condition.good
    if years <= 20:
        return Condition.fair
    return Condition.poor


def grade_for_life_left(years: float) -> Condition:
    """A component's condition from the years of life said to be left: ≤2 poor, ≤10 fair."""
    if years <= 2:
        return Condition.poor
    if years <= 10:
        return Condition.fair
    return Condition.good


@dataclass(frozen=True)
class Cue:
    """A word or phrase that says something about condition, and the grade it means."""

    text: str
    condition: Condition


def find_cues(words: Sequence[str]) -> list[Cue]:
    """The condition cues in a clause's words, phrases before single words, negations applied."""
    text = " ".join(words)
    taken: list[tuple[int, int]] = []
    cues: list[tuple[int, Cue]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in _AGE.finditer(text):
        years = float(match.group(1) or match.group(2))
        taken.append(match.span())
        cues.append((match.start(), Cue(match.group(0), grade_for_age(years))))
    for match in _LIFE_LEFT.finditer(text):
        taken.append(match.span())
        cues.append(
            (match.start(), Cue(match.group(0), grade_for_life_left(float(match.group(1)))))
        )
    for match in _YEAR.finditer(text):
        years = date.today().year - int(match.group(1))
        if years >= 0:
            taken.append(match.span())
            cues.append((match.start(), Cue(match.group(0), grade_for_age(years))))
    for pattern, grade in _COMPILED_PHRASES:
        for match in pattern.finditer(text):
            if free(*match.span()):
                taken.append(match.span())
                said = match.group(0)
                negator = _NEGATED_NEED.search(text[: match.start()])
                if negator is not None and said.startswith(("need", "could use")):
                    # "doesn't need refinishing": no work, not the work.
                    said, grade_said = f"{negator.group(0)}{said}", _NEGATED[grade]
                    cues.append((negator.start(), Cue(said, grade_said)))
                    continue
                cues.append((match.start(), Cue(said, grade)))
    position = 0
    for index, word in enumerate(words):
        start, end = position, position + len(word)
        position = end + 1
        word_grade = WORD_CUES.get(word)
        if word_grade is None or not free(start, end):
            continue
        before = list(words[max(0, index - 3) : index])
        negated = any(w in _NEGATORS or w.endswith("n't") for w in before)
        if negated:
            negator_at = max(i for i, w in enumerate(before) if w in _NEGATORS or w.endswith("n't"))
            phrase = " ".join(before[negator_at:] + [word])
            cues.append((start, Cue(phrase, _NEGATED[word_grade])))
        else:
            cues.append((start, Cue(word, word_grade)))
    return [cue for _, cue in sorted(cues, key=lambda item: item[0])]


def decide(cues: Sequence[Cue]) -> tuple[Condition | None, Decimal]:
    """The condition the cues add up to, and how sure: the worst complaint, else the best praise."""
    if not cues:
        return None, Decimal("0.30")
    grades = [cue.condition for cue in cues]
    complaints = [g for g in grades if _GRADE[g] <= _GRADE[Condition.fair]]
    chosen = (
        min(complaints, key=_GRADE.__getitem__)
        if complaints
        else max(grades, key=_GRADE.__getitem__)
    )
    agreeing = sum(1 for g in grades if g is chosen)
    disagreeing = len(grades) - agreeing
    confidence = Decimal("0.70") + Decimal("0.10") * min(agreeing - 1, 2)
    confidence -= Decimal("0.15") * min(disagreeing, 2)
    if all(any(p.fullmatch(cue.text) for p in (_AGE, _YEAR, _LIFE_LEFT)) for cue in cues):
        confidence = Decimal("0.60")  # an age alone is a weaker signal than a description
    return chosen, max(Decimal("0.40"), min(confidence, Decimal("0.95")))


# --- quantities --------------------------------------------------------------------------

# Spoken units → the pricing unit (None: said, kept, but not a pricing unit).
_UNIT_WORDS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("square", "feet"), CostUnit.sqft.value),
    (("square", "foot"), CostUnit.sqft.value),
    (("sq", "ft"), CostUnit.sqft.value),
    (("sqft",), CostUnit.sqft.value),
    (("linear", "feet"), CostUnit.linear_ft.value),
    (("linear", "foot"), CostUnit.linear_ft.value),
    (("lineal", "feet"), CostUnit.linear_ft.value),
    (("feet",), CostUnit.linear_ft.value),
    (("foot",), CostUnit.linear_ft.value),
    (("squares",), CostUnit.square.value),
    (("bedrooms",), "bedroom"),
    (("bedroom",), "bedroom"),
    (("rooms",), "room"),
    (("room",), "room"),
)
# Words allowed between a count and its component ("twelve old windows", "2 full bathrooms").
_COUNT_GAP_WORDS = 2
_COUNT_UNITS = {CostUnit.each.value, CostUnit.unit.value, CostUnit.job.value}
_PRICING_UNITS = frozenset(u.value for u in CostUnit)


def _is_number(word: str) -> bool:
    """Whether a token is a number as ``tokenize`` writes them ("22", "22.5")."""
    return word.replace(".", "", 1).isdigit()


def _unit_at(words: Sequence[str], index: int) -> tuple[str | None, int] | None:
    """The spoken unit starting at ``index`` and how many words it takes, or None."""
    for unit_words, unit in _UNIT_WORDS:
        if tuple(words[index : index + len(unit_words)]) == unit_words:
            return unit, len(unit_words)
    return None


_LENGTH_WORDS = frozenset({"feet", "foot", "ft"})
# Components priced per sqft of *floor*: a room's "12 by 14" is their quantity there. Not the
# countertops, cabinets or tile surround, whose size a room's floor does not give.
FLOOR_AREA_KEYS = frozenset(
    {"flooring_lvp", "flooring_carpet", "hardwood_refinish", "interior_paint"}
)


def find_dimensions(words: Sequence[str]) -> list[tuple[int, int, Decimal]]:
    """Room sizes said as "12 by 14 (feet)": each one's token span and its area in sqft."""
    found: list[tuple[int, int, Decimal]] = []
    index = 0
    while index < len(words):
        if not _is_number(words[index]):
            index += 1
            continue
        by = index + 1 + (index + 1 < len(words) and words[index + 1] in _LENGTH_WORDS)
        if by + 1 < len(words) and words[by] == "by" and _is_number(words[by + 1]):
            end = by + 2 + (by + 2 < len(words) and words[by + 2] in _LENGTH_WORDS)
            found.append((index, end, Decimal(words[index]) * Decimal(words[by + 1])))
            index = end
            continue
        index += 1
    return found


_FOLLOW_UP_MARKERS = (
    ("of", "them"),
    ("of", "those"),
    ("of", "these"),
    ("of", "it"),
    ("in", "total"),
    ("in", "all"),
    ("all", "together"),
    ("total",),
    ("altogether",),
    # "Three are cracked.", "one needs replacing": a number said as the subject.
    ("are",),
    ("were",),
    ("is",),
    ("need",),
    ("needs",),
    ("have",),
    ("has",),
    ("look",),
    ("looks",),
)


def _count_pointing_back(words: Sequence[str], start: int) -> tuple[Decimal, str | None] | None:
    """A number from ``start`` on said of something named before it ("15 of them", "14 total")."""
    counts = _counts_pointing_back(words, start)
    return counts[0] if counts else None


def _counts_pointing_back(words: Sequence[str], start: int) -> list[tuple[Decimal, str | None]]:
    """Every number from ``start`` on said of something named before it, in order."""
    found: list[tuple[Decimal, str | None]] = []
    for index in range(start, len(words)):
        if not _is_number(words[index]):
            continue
        unit = _unit_at(words, index + 1)
        after = index + 1 + (unit[1] if unit else 0)
        if any(tuple(words[after : after + len(m)]) == m for m in _FOLLOW_UP_MARKERS):
            found.append((Decimal(words[index]), unit[0] if unit else None))
    return found


def find_quantity(
    words: Sequence[str],
    mention_start: int,
    mention_end: int,
    *,
    floor_area: bool = False,
    counted: bool = False,
) -> tuple[Decimal, str | None] | None:
    """A quantity for the component at ``words[mention_start:mention_end]`` in its clause.

    A number followed by a unit anywhere in the clause ("20 squares", "1200 square feet of
    carpet", "3 bedrooms of carpet"); else, for a component priced per sqft of floor
    (``floor_area``), a room's size ("the kitchen is 12 by 14" → 168 sqft; a size is never a
    length of cabinets); else a bare number just before the component ("12 windows"), which
    is a count (unit None). A figure in a pricing unit wins over one in rooms ("carpet in the
    three bedrooms, about 400 square feet" is 400 sqft), and rooms are no quantity of a
    ``counted`` component ("three bedrooms and two bathrooms" is 2 bathrooms). Of a part
    ("two of the three toilets") the part is the quantity.
    """
    dimensions = find_dimensions(words)
    in_dimension = {i for lo, hi, _ in dimensions for i in range(lo, hi)}
    in_rooms: tuple[Decimal, str | None] | None = None
    for index, word in enumerate(words):
        if index in in_dimension:
            continue
        if _is_number(word) and index + 1 < len(words):
            found = _unit_at(words, index + 1)
            if found is not None and found[0] in _PRICING_UNITS:
                return Decimal(word), found[0]
            if found is not None and in_rooms is None and not counted:
                in_rooms = Decimal(word), found[0]
    if in_rooms is not None:
        return in_rooms
    if floor_area and len(dimensions) == 1:  # two rooms' sizes: which one is unclear
        return dimensions[0][2], CostUnit.sqft.value
    for gap in range(0, _COUNT_GAP_WORDS + 1):
        index = mention_start - 1 - gap
        if index < 0:
            break
        if words[index].isdigit():
            if index in in_dimension or any(
                w in _PUNCTUATION or w in _BOUNDARY_WORDS for w in words[index:mention_start]
            ):
                break
            if index >= 3 and words[index - 2 : index] == ["of", "the"]:
                if words[index - 3].isdigit():  # "two of the three toilets": two of them
                    return Decimal(words[index - 3]), None
            return Decimal(words[index]), None
    return _count_pointing_back(words, mention_end)  # "all new windows, about 15 of them"


# --- sentences and clauses ---------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A timed stretch of transcript (seconds)."""

    start: float | None
    end: float | None
    text: str


@dataclass(frozen=True)
class Sentence:
    """A sentence of the transcript and the start of the segment it begins in."""

    text: str
    start: float | None


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(segments: Iterable[Segment]) -> list[Sentence]:
    """Cut the transcript into sentences, each timed by the segment it starts in."""
    sentences: list[Sentence] = []
    pending = ""
    pending_start: float | None = None
    for segment in segments:
        text = segment.text.strip()
        if not text:
            continue
        parts = _SENTENCE_END.split(text)
        for i, part in enumerate(parts):
            part = part.strip()
            if not part:
                continue
            if not pending:
                pending_start = segment.start
            pending = f"{pending} {part}".strip()
            ends = part.endswith((".", "!", "?")) or i < len(parts) - 1
            if ends:
                sentences.append(Sentence(pending, pending_start))
                pending, pending_start = "", None
    if pending:
        sentences.append(Sentence(pending, pending_start))
    return sentences


@dataclass(frozen=True)
class Mention:
    """A component named in a sentence: the words as spoken and their token span."""

    phrase: str
    key: str
    start: int
    end: int


# Things heard that a component's spoken name would mistake and the catalogue has no line
# for: not components, listed as not priced with the reason (``heard_not_priced``).
_HOT_TUB = (
    "a hot tub (spa) is not a bathtub and the cost book has no line for one; "
    "get a spa contractor's quote (repair or removal) if it matters to the deal"
)
NOT_PRICED: dict[tuple[str, ...], tuple[str, str]] = {
    ("hot", "tub"): ("hot tub", _HOT_TUB),
    ("hot", "tubs"): ("hot tub", _HOT_TUB),
    ("swim", "spa"): ("hot tub", _HOT_TUB),
}
_MAX_NOT_PRICED_WORDS = max(len(phrase) for phrase in NOT_PRICED)


def _not_priced_at(words: Sequence[str], index: int) -> int:
    """How many words a not-priced thing named at ``index`` takes ("hot tub": 2), else 0."""
    for size in range(_MAX_NOT_PRICED_WORDS, 0, -1):
        if tuple(words[index : index + size]) in NOT_PRICED:
            return size
    return 0


def find_mentions(words: Sequence[str]) -> list[Mention]:
    """The catalogue components named in ``words``, longest phrase first, not overlapping.

    A thing the catalogue has no line for is no mention ("hot tub" is not a "tub").
    """
    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        skip = _not_priced_at(words, i)
        if skip:
            i += skip
            continue
        for size in range(min(_MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            key = _PHRASES.get(tuple(words[i : i + size]))
            if key is not None:
                mentions.append(Mention(" ".join(words[i : i + size]), key, i, i + size))
                i += size
                break
        else:
            i += 1
    return mentions


# Things named that are no component here but are a clause's subject: "the toilet is loose
# and the tile is cracked" says nothing more of the toilet after "and" ("tile" is too vague
# to price: bath or kitchen, floor or wall), unless it is what the component is made of
# ("the kitchen floor is 12 by 12, tile is cracked"): subject → the components it may be.
_FLOORS = ("flooring_lvp", "flooring_carpet", "hardwood_refinish")
_OTHER_SUBJECTS: dict[str, frozenset[str]] = {
    "tile": frozenset({*_FLOORS, "bath_tile"}),
    "tiles": frozenset({*_FLOORS, "bath_tile"}),
    "floor": frozenset(_FLOORS),
    "walls": frozenset({"interior_paint", "drywall_repair", "foundation_repair"}),
    "yard": frozenset({"landscaping_cleanup"}),
}


def _without_other_subjects(
    words: Sequence[str], mention: Mention, lo: int, hi: int
) -> tuple[int, int]:
    """A mention's clause ``lo:hi`` cut at the boundary before another subject named in it.

    The other subject is a thing not priced ("hot tub") or a word too vague to be a
    component ("tile"); only at a comma or conjunction between them, so "the toilet in the
    hall bath runs" keeps its words.
    """
    index = lo
    while index < hi:
        other = _OTHER_SUBJECTS.get(words[index])
        size = _not_priced_at(words, index) or int(other is not None and mention.key not in other)
        if not size:
            index += 1
            continue
        if index >= mention.end:
            cuts = [
                i
                for i in range(mention.end, index)
                if words[i] in _PUNCTUATION or words[i] in _BOUNDARY_WORDS
            ]
            if cuts:
                return lo, cuts[-1]
        elif index + size <= mention.start:
            cuts = [
                i
                for i in range(index + size, mention.start)
                if words[i] in _PUNCTUATION or words[i] in _BOUNDARY_WORDS
            ]
            if cuts:
                lo = cuts[0]
        index += size
    return lo, hi


def _clause_bounds(words: Sequence[str], mentions: Sequence[Mention]) -> list[tuple[int, int]]:
    """The token span of each mention's clause: cut between mentions at a comma or conjunction."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for current, following in zip(mentions, mentions[1:], strict=False):
        cut = following.start
        for index in range(following.start - 1, current.end - 1, -1):
            if words[index] in _PUNCTUATION or words[index] in _BOUNDARY_WORDS:
                cut = index
                break
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(words)))
    return bounds


# --- the house's living area, said ----------------------------------------------------

# "The house is about 1,100 square feet", "an 1100 square foot ranch", "square footage is
# roughly 950": the living area, used where the property's own is not on record. Not "the
# basement is 600 square feet" nor "400 square feet of carpet" (a component's quantity).
_HOUSE_NOUN = r"(?:house|home|place|property|ranch|bungalow|colonial|duplex|living (?:area|space))"
_AREA_UNIT = r"(?:square (?:feet|foot)|sq ft|sqft)"
_ABOUT = (
    r"(?:(?:is|was|has|measures|about|around|roughly|approximately|maybe|like|just|over"
    r"|under|only|probably|almost|nearly|a|little|right|at) )*"
)
_LIVING_AREA_SAID = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\b{_HOUSE_NOUN} {_ABOUT}(?P<n>\d+) {_AREA_UNIT}\b(?! (?:of|in) (?!living\b))",
        rf"\b(?P<n>\d+) {_AREA_UNIT} (?:of )?{_HOUSE_NOUN}\b",
        rf"\bsquare footage {_ABOUT}(?P<n>\d+)\b",
    )
)
_LIVING_AREA_RANGE = (300, 20000)  # sqft: a figure outside it is not a house's living area


def _living_area_spans(words: Sequence[str]) -> list[tuple[int, int, int]]:
    """The house's living area said in ``words``: each saying's token span and its sqft."""
    text = " ".join(words)
    found: list[tuple[int, int, int]] = []
    for pattern in _LIVING_AREA_SAID:
        for match in pattern.finditer(text):
            area = int(match.group("n"))
            start = text[: match.start()].count(" ")
            if _LIVING_AREA_RANGE[0] <= area <= _LIVING_AREA_RANGE[1] and not any(
                lo <= start < hi for lo, hi, _ in found
            ):
                found.append((start, start + len(match.group(0).split()), area))
    return sorted(found)


@dataclass(frozen=True)
class NarratedArea:
    """The house's living area as said in the narration, and the sentence that said it."""

    square_feet: int
    said: str
    timestamp_seconds: int | None


def narrated_living_area(segments: Iterable[Segment]) -> NarratedArea | None:
    """The living area the narration gives the house ("about 1,100 square feet"), first said."""
    for sentence in split_sentences(segments):
        spans = _living_area_spans(tokenize(sentence.text))
        if spans:
            start = int(sentence.start) if sentence.start is not None else None
            return NarratedArea(spans[0][2], sentence.text, start)
    return None


# --- what a sentence says beyond one component -----------------------------------------

# The unit of a quantity said as a share of the house ("half the house needs new flooring"):
# the quantity is the share (0.5), priced once the caller knows the living area.
SHARE_OF_LIVING_AREA = "share of living area"
_SHARE = re.compile(
    r"\b(?:(?P<half>half)|(?P<count>a|1|2|3) (?P<part>thirds?|quarters?)"
    r"|(?P<percent>\d+(?:\.\d+)?) percent)"
    r"(?: of)? (?:the|this|that|our) (?:whole |entire )?"
    r"(?:house|home|place|property|living area|living space|square footage|_)\b"
)
_SHARE_PARTS = {"third": 3, "thirds": 3, "quarter": 4, "quarters": 4}

# "hardwood under the carpet": the carpet covers the hardwood; what follows is said of the
# hardwood, and the covering comes up rather than being priced (unless said of it elsewhere).
_COVER_WORDS = frozenset({"under", "underneath", "beneath", "below"})
_MAX_COVER_GAP = 4

# A whole room said to need everything: every component of the room the catalogue has.
_ROOM_KEYS: dict[str, tuple[str, ...]] = {
    "kitchen": tuple(e.key for e in DEFAULT_CATALOGUE if e.category == "kitchen"),
    "bathroom": ("bath_full_remodel",),
    "bath": ("bath_full_remodel",),
}
_ROOM = r"(?P<room>kitchen|bathroom|bath)"
_WHOLE_ROOM = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\bgut(?:ted|ting)? (?:out )?(?:the |this |that )?(?:whole |entire )?{_ROOM}\b",
        rf"\b{_ROOM} (?:needs|will need|is going to need) (?:just about |pretty much |basically )?"
        r"everything\b",
        rf"\b{_ROOM} (?:is |needs |needs to be |has to be |will need |will be )?(?:a )?"
        r"(?:full |complete |total )?gut(?:ted| job)?\b",
        rf"\b(?:whole|entire) {_ROOM} (?:needs (?:to be )?(?:replac\w*|redone|redoing|torn out)"
        r"|has to (?:go|be replaced|be redone|be torn out))\b",
        rf"\b{_ROOM} needs (?:a )?(?:full|complete|total) "
        r"(?:remodel|redo|rehab|renovation|overhaul)\b",
        rf"\beverything in (?:the |this |that )?{_ROOM} (?:needs|has|will need) (?:to )?"
        r"(?:go|be replaced|be redone|replacing)\b",
        # "the kitchen is dated and needs a full gut": the room said in the clause before.
        rf"\b{_ROOM} (?:is|was|looks) (?:\w+ ){{0,2}}and (?:needs|will need) (?:a )?"
        r"(?:full |complete |total )?(?:gut(?:ted| job)?|remodel|redo|rehab|renovation)\b",
    )
)
# A room priced as one line, and its floor area: the catalogue's rental bath is 5x8 ft.
_ROOM_AREA_SQFT = {"bath_full_remodel": Decimal("40")}
_PAINT_CUE = re.compile(r"\b(?:paint|painting|repaint\w*)\b")
# A room that is priced as a component, and the words that make it the place of another
# component rather than the thing graded: "the tub in the bathroom is cracked", "the bathroom
# has a cracked tub", "the bathroom tub".
_ROOM_COMPONENT_KEYS = frozenset(_ROOM_AREA_SQFT)
_PLACE_PREPOSITIONS = frozenset({"in", "inside", "of", "at", "from", "on", "behind", "around"})
_PLACE_DETERMINERS = frozenset(
    {"the", "this", "that", "a", "an", "one", "our", "my", "its", "each", "every", "both"}
    | {"main", "master", "hall", "guest", "upstairs", "downstairs", "second", "other", "first"}
)
_HAVING_WORDS = frozenset({"has", "had", "have", "with", "got"})
_MAX_HAVING_GAP = 4
_HIDDEN = "~"  # a word blanked out of a clause that is not the component's own


def _places(words: Sequence[str], mentions: Sequence[Mention]) -> dict[int, int]:
    """Rooms named as the place of another component: room mention index → that component's.

    "the tub in the bathroom", "mold in the main bathroom", "the bathroom has a cracked tub",
    "the bathroom tub": what is said there grades the tub or the mold, not the bathroom.
    """
    found: dict[int, int] = {}
    for index, room in enumerate(mentions):
        if room.key not in _ROOM_COMPONENT_KEYS:
            continue
        before = mentions[index - 1] if index > 0 else None
        after = mentions[index + 1] if index + 1 < len(mentions) else None
        if before is not None and before.key not in _ROOM_COMPONENT_KEYS:
            between = words[before.end : room.start]
            if (
                between
                and between[0] in _PLACE_PREPOSITIONS
                and all(w in _PLACE_DETERMINERS for w in between[1:])
            ):
                found[index] = index - 1
                continue
        if after is not None and after.key not in _ROOM_COMPONENT_KEYS:
            between = words[room.end : after.start]
            if not between or (
                between[0] in _HAVING_WORDS
                and len(between) <= _MAX_HAVING_GAP
                and not any(w in _PUNCTUATION or w in _BOUNDARY_WORDS for w in between)
            ):
                found[index] = index + 1
    return found


# Work only a whole room takes: "needs a full remodel", "needs to be gutted".
_ROOM_WORK = re.compile(
    r"\b(?:needs?|will need|is going to need|could use) (?:a )?"
    r"(?:full |complete |total |whole |gut )?"
    r"(?:remodel\w*|renovation|overhaul|redo|rehab|gut job)\b"
    r"|\b(?:needs?|has|have) to be (?:completely |totally |fully )?"
    r"(?:gutted|remodel\w*|renovated)\b"
)
# Work a component could take too ("needs to be redone"): the room's only when it is the
# subject ("the bathroom has mold and needs to be redone"), not "the tub in the bathroom".
_SUBJECT_ROOM_WORK = re.compile(
    r"\b(?:needs?|has|have) to be (?:completely |totally |fully )?redone\b"
)


def _room_remodels(
    words: Sequence[str],
    mentions: Sequence[Mention],
    places: dict[int, int],
    rooms: Sequence[_WholeRoom],
) -> dict[int, tuple[int, int, str]]:
    """Rooms named as a component's place that the sentence then says need a remodel.

    Room mention index → the remodel's token span and words: "the bathroom has mold and
    needs a full remodel", "there's mold in the bathroom and it needs to be gutted". Only
    with nothing but that component named between the room and the work ("the bathroom has
    mold, the cabinets need a full redo" is the cabinets'), and not a whole room's own
    saying ("the kitchen needs a full remodel").
    """
    text = " ".join(words)
    found: dict[int, tuple[int, int, str]] = {}
    said = [(m, False) for m in _ROOM_WORK.finditer(text)]
    said += [(m, True) for m in _SUBJECT_ROOM_WORK.finditer(text)]
    for match, as_subject in said:
        start = text[: match.start()].count(" ")
        end = start + len(match.group(0).split())
        if any(r.start <= start < r.end for r in rooms):
            continue
        for room, component in places.items():
            if as_subject and component < room:
                continue
            between = [
                i
                for i, m in enumerate(mentions)
                if mentions[room].end <= m.start < start and i != component
            ]
            if mentions[room].end <= start and not between and room not in found:
                found[room] = (start, end, match.group(0))
    return found


def find_share(words: Sequence[str]) -> tuple[Decimal, str] | None:
    """A share of the house said in ``words`` ("half the house" → 0.5) and the words said."""
    match = _SHARE.search(" ".join(words))
    if match is None:
        return None
    if match.group("half"):
        share = Decimal("0.5")
    elif match.group("percent"):
        share = Decimal(match.group("percent")) / Decimal(100)
    else:
        count = 1 if match.group("count") == "a" else int(match.group("count"))
        share = Decimal(count) / Decimal(_SHARE_PARTS[match.group("part")])
    if not Decimal(0) < share <= Decimal(1):
        return None
    return share.quantize(Decimal("0.01")), match.group(0)


# Component names that are the work itself: "paint" as "needs paint" (a partial repaint), the
# others the whole line ("we should repipe").
_ACTION_CUES = {
    "paint": Condition.fair,
    "repipe": Condition.poor,
    "re pipe": Condition.poor,
    "rewire": Condition.poor,
    "reroof": Condition.poor,
}
# Component names that are a diagnosis: knob-and-tube wiring is rewired, not repaired.
_DIAGNOSIS_NAMES = {
    "knob and tube": Condition.poor,
    "federal pacific panel": Condition.poor,
    "fpe panel": Condition.poor,
    "zinsco panel": Condition.poor,
    "no hot water": Condition.poor,
}
# What a component is said to be that is its diagnosis: a Federal Pacific or Zinsco panel is
# replaced (a known fire hazard; insurers refuse it), galvanized or polybutylene supply pipe
# is repiped ("the plumbing is all galvanized"), and each with the grade it means.
_DIAGNOSIS_WORDS = {
    "electrical_panel": (
        re.compile(r"\b(?:federal pacific|fpe|zinsco|stab lok)\b"),
        Condition.poor,
    ),
    "plumbing_repipe": (re.compile(r"\b(?:galvanized|polybutylene|poly b)\b"), Condition.poor),
    # Roots in a sewer line: jetted and the line spot repaired.
    "sewer_line": (re.compile(r"\b(?:roots?|root intrusion)\b"), Condition.fair),
}
# "The roof has a few missing shingles": a few is a roof repair, not a new roof.
_FEW_SHINGLES = re.compile(
    r"\b(?:(?:a few|few|some|several|a handful of|[1-9](?: of)?) (?:missing (?:shingles?|tabs?)"
    r"|(?:shingles?|tabs?) (?:are |were )?(?:missing|gone|blown off))"
    r"|missing (?:a few|few|some|several|a handful of|[1-9](?: of)?) (?:shingles?|tabs?))\b"
)
_MISSING_CUES = frozenset({"missing", "gone"})
# Components whose name is the finding ("there's mold in the basement"): graded by the name
# when nothing else is said of them ("minor mold" is minor), and absent when negated ("no
# mold", "didn't see any mold"), never "missing" (to be put in) as a water heater is.
_FOUND_PROBLEMS = {"mold_remediation": Condition.poor}
_SURFACE_PROBLEMS = frozenset({"mildew", "mildews"})  # surface growth: clean and treat
_WORK_TO_DO = (
    ("should",),
    ("must",),
    ("need", "to"),
    ("needs", "to"),
    ("have", "to"),
    ("has", "to"),
    ("going", "to"),
    ("got", "to"),
    ("gonna",),
    ("let's",),
    ("we'll",),
    ("i'll",),
)


def _said_as_work_to_do(words: Sequence[str], start: int) -> bool:
    """Whether the verb at ``start`` is said as work to do ("we need to paint")."""
    return any(tuple(words[max(0, start - len(w)) : start]) == w for w in _WORK_TO_DO)


# Water in the basement: priced as basement waterproofing, interior drain tile around the
# basement's perimeter to a sump plus the sump pump ("the basement has water", "wet
# basement", "basement leaks when it rains", "efflorescence on the basement walls"). Not
# "no water in the basement", "the basement is dry", "the basement was waterproofed", nor the
# water heater or water lines that are in the basement.
_WATERPROOFING_KEYS = ("basement_drain_tile", "sump_pump")
_BASEMENT = r"(?:basement|cellar)(?: (?:walls?|floors?|foundation))?"
_WATER = (
    r"(?<!hot )\bwater\b(?! (?:heaters?|tanks?|lines?|mains?|meters?|softeners?|filters?"
    r"|pipes?|supply|service|spigots?|pressure|bills?|treatment|heating|valves?|shut)\b)"
)
_WATER_SIGN = r"(?:efflorescence|water (?:stains?|stained|marks?|damage)|watermarks?)"
_SOAK_GAP = (
    r"(?:(?:is|was|gets|got|does|did|has|been|will|can|always|often|sometimes|still|really"
    r"|pretty|a|bit|little|very|stays|tends|to|get|definitely|usually|probably|seems) )*"
)
_BASEMENT_WATER = tuple(
    re.compile(pattern)
    for pattern in (
        # "water in the basement", "standing water downstairs in the basement"
        rf"{_WATER}(?: [a-z']+){{0,3}}? (?:in|into|inside) (?:the |our |this |that |a )?"
        rf"(?:[a-z']+ )?{_BASEMENT}\b",
        # "the basement has water", "the basement takes on water"
        rf"\b{_BASEMENT} (?:[a-z']+ ){{0,3}}?(?:has|had|have|gets|got|takes|took|with|there)"
        rf"(?: [a-z']+){{0,3}}? {_WATER}",
        # "the basement leaks when it rains", "the basement floods"
        rf"\b{_BASEMENT} {_SOAK_GAP}(?:wet|leaks?|leaking|leaked|leaky|floods?|flooded"
        r"|flooding|seeps?|seeping|seepage)\b",
        r"\b(?:wet|leaky|leaking|flooded|flooding) (?:basement|cellar)\b",
        # "efflorescence / water stains on the basement walls"
        rf"\b{_WATER_SIGN} (?:(?:on|in|at|along|of|the|all|over|down|around|this|that|walls?"
        rf"|floors?|block|concrete) ){{0,5}}{_BASEMENT}\b",
        rf"\b{_BASEMENT} (?:(?:has|have|had|shows?|showing|with|got|there|is|are|some|a|lot"
        rf"|of|signs?|the) ){{0,5}}{_WATER_SIGN}",
        # "the basement needs waterproofing", "needs basement waterproofing"
        rf"\b{_BASEMENT} (?:needs?|will need|has to|have to) (?:to )?(?:be )?"
        r"waterproof(?:ed|ing)\b",
        r"\b(?:needs?|will need|should get|could use|going to need) (?:some |a |the )?"
        r"(?:(?:basement|interior|cellar) )?waterproofing\b",
        rf"\bwaterproof (?:the |this |that )?{_BASEMENT}\b",
    )
)
_WATER_NEGATORS = _NEGATORS | {"didn't", "hasn't", "haven't", "won't", "used"}
# "It was waterproofed last year": the water said before is fixed, unless it is "still" there.
_WATER_FIXED = re.compile(r"\b(?:waterproofed|fixed|resolved|dried out)\b")
_WATER_STILL = re.compile(r"\b(?:still|again|anyway|even so)\b")
_BASEMENT_WORD = re.compile(r"\b(?:basement|cellar)\b")


@dataclass(frozen=True)
class _Saying:
    """Something said of the house that prices as whole lines: its words' span and text."""

    start: int
    end: int
    text: str


def _unsaid(words: Sequence[str], start: int, end: int, negators: frozenset[str]) -> bool:
    """Whether a saying at ``words[start:end]`` is negated: in it or in its clause just before.

    "there's no water in the basement", "the basement has no water", "it's not a gut job".
    """
    before: list[str] = []
    for word in reversed(words[max(0, start - 4) : start]):
        if word in _PUNCTUATION or word in _BOUNDARY_WORDS:
            break
        before.insert(0, word)
    return any(w in negators or w.endswith("n't") for w in [*before, *words[start:end]])


def _said_spans(patterns: Sequence[re.Pattern[str]], words: Sequence[str]) -> list[_Saying]:
    """Every non-overlapping match of ``patterns`` in ``words`` as token spans, in order."""
    text = " ".join(words)
    found: list[_Saying] = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            start = text[: match.start()].count(" ")
            end = start + len(match.group(0).split())
            if not any(s.start < end and start < s.end for s in found):
                found.append(_Saying(start, end, match.group(0)))
    return sorted(found, key=lambda s: s.start)


def _basement_water(words: Sequence[str], mentions: Sequence[Mention]) -> list[_Saying]:
    """Where ``words`` say the basement takes on water (not negated, not fixed, not a leak).

    "There's water in the basement from the water heater" is the water heater's leak, not
    groundwater: a component named after "from" is the source.
    """
    text = " ".join(words)
    if _WATER_FIXED.search(text) and not _WATER_STILL.search(text):
        return []
    found = []
    for saying in _said_spans(_BASEMENT_WATER, words):
        if _unsaid(words, saying.start, saying.end, frozenset(_WATER_NEGATORS)):
            continue
        if "waterproofing" in saying.text.split() and not _BASEMENT_WORD.search(text):
            continue  # "the deck needs waterproofing"
        after = words[saying.end : saying.end + 6]
        source = after.index("from") if "from" in after else None
        if source is not None and any(
            saying.end + source < m.start <= saying.end + 6 and m.key not in _WATERPROOFING_KEYS
            for m in mentions
        ):
            continue
        found.append(saying)
    return found


def _perimeter_said(words: Sequence[str], mentions: Sequence[Mention]) -> Decimal | None:
    """A basement's perimeter said with its water: "30 by 40" (2 x 70) or "140 feet", else None.

    Not when another component priced by length is named in the sentence (its feet).
    """
    if any(CATALOGUE_BY_KEY[m.key].unit is CostUnit.linear_ft for m in mentions):
        return None
    dimensions = find_dimensions(words)
    if len(dimensions) == 1:
        lo, hi, _ = dimensions[0]
        numbers = [Decimal(w) for w in words[lo:hi] if _is_number(w)]
        return 2 * (numbers[0] + numbers[1])
    lengths = [
        Decimal(w)
        for i, w in enumerate(words)
        if _is_number(w) and (_unit_at(words, i + 1) or (None, 0))[0] == CostUnit.linear_ft.value
    ]
    return lengths[0] if len(lengths) == 1 else None


def _waterproofing(
    key: str, saying: _Saying, perimeter: Decimal | None, sentence: Sentence, timestamp: int | None
) -> Finding:
    """The drain tile or sump pump a basement's water prices, with the assumption in its notes."""
    entry = CATALOGUE_BY_KEY[key]
    cost = entry.material + entry.labour
    if key == "basement_drain_tile":
        length = (
            f"{perimeter.normalize():f} linear ft as said"
            if perimeter is not None
            else "the basement's perimeter taken as that of the house's footprint"
        )
        scope = (
            f"interior drain tile along the basement walls to a sump, {length} (catalogue "
            f"default ${cost}/linear ft, material + labour: 2025-26 US typical $40-$100)"
        )
    else:
        scope = (
            f"a sump pump with its basin and discharge (catalogue default ${cost} installed: "
            "2025-26 US typical $1,000-$2,500)"
        )
    cue = Cue(saying.text, Condition.poor)
    return Finding(
        component=_component_name_for(key),
        component_key=key,
        component_name=entry.name,
        condition=Condition.poor,
        confidence=decide([cue])[1],
        quantity=perimeter if key == "basement_drain_tile" else None,
        unit=CostUnit.linear_ft.value if key == "basement_drain_tile" and perimeter else None,
        notes=f'basement waterproofing from "{saying.text}": {scope}. {sentence.text}',
        timestamp_seconds=timestamp,
        cues=(cue,),
        implied=True,
    )


# A component said as needed by name alone: "needs a sump pump", "we should put in drain
# tile" (no "new" to say it); "doesn't need a sump pump" is none needed.
_NEEDED_WHEN_NAMED = frozenset(_WATERPROOFING_KEYS)
_NEED_BEFORE = re.compile(
    r"(?:^| )(?P<need>needs?|needed|needing|install|add|put in|could use|should get|should have"
    r"|should add|wants?)(?: [a-z0-9']+){0,4}$"
)


_BARE_NEED = frozenset({"needs", "need", "needing"})
_BARE_NEED_FILL = frozenset({"a", "an", "some", "all"})


def _needed_bare(words: Sequence[str], lo: int, mention: Mention) -> Cue | None:
    """A component said needed by its name right after "needs" ("the kitchen needs cabinets").

    Replaced, as "needs new cabinets" is; "doesn't need cabinets" is none needed.
    """
    at = mention.start - 1
    while at >= lo and words[at] in _BARE_NEED_FILL:
        at -= 1
    if at < lo or words[at] not in _BARE_NEED:
        return None
    return _needed_by_name(words, lo, mention)


def _needed_by_name(words: Sequence[str], lo: int, mention: Mention) -> Cue | None:
    """A need said of a component right before its name in its clause, as a cue, else None."""
    text = " ".join(words[lo : mention.start])
    match = _NEED_BEFORE.search(text)
    if match is None:
        return None
    said = text[match.start("need") :]
    before = text[: match.start("need")].split()[-3:]
    if any(w in _NEGATORS or w.endswith("n't") for w in before):
        return Cue(f"{' '.join(before)} {said} {mention.phrase}", Condition.good)
    return Cue(f"{said} {mention.phrase}", Condition.poor)


# A full gut of the house: one line over the living area (``gut_rehab``: what it covers is
# in the catalogue; the components inside it are not priced again beside it, the roof,
# windows, exterior and mechanicals are). Not a room's gut ("gut the kitchen", "the bathroom
# is a gut job": ``_WHOLE_ROOM``), not one done ("it was gutted last year", "already down to
# the studs"), not one denied ("it's not a gut job").
_GUT_SAID = tuple(
    re.compile(pattern)
    for pattern in (
        r"\b(?:full|complete|total|whole house|whole home|entire|major) gut"
        r"(?: (?:job|rehab|renovation|remodel|reno))?\b",
        r"\bgut (?:job|rehab|renovation|remodel|reno)\b",
        r"\b(?:down|back|strip|stripped|gut|gutted|take|taken|taking|tear|torn) (?:it )?"
        r"(?:all )?(?:down |back )?to the studs\b",
        r"\bgut (?:the |this |that )?(?:whole |entire )?(?:house|home|place|property|interior"
        r"|inside|it|everything)\b",
        r"\b(?:house|home|place|property|interior|inside|it|everything) (?:needs|will need"
        r"|has|is going|should) (?:to )?(?:be )?(?:completely |totally |fully )?gutted\b",
        r"^(?:needs|will need|has) to be (?:completely |totally |fully )?gutted\b",
    )
)
_GUT_DONE_BEFORE = frozenset({"already", "previously", "recently", "been", "was", "were"})
_GUT_DONE_AFTER = re.compile(r"^(?:[a-z0-9']+ ){0,3}?(?:ago|last year|in (?:19|20)\d\d)\b")
_ROOM_WORDS = frozenset({"kitchen", "bathroom", "bath", "bathrooms", "baths", "basement"})
# A clause that starts with its verb takes the subject of the clause before it.
_SUBJECTLESS = frozenset({"needs", "need", "will", "has", "have", "should", "is", "could"})


def _full_guts(
    words: Sequence[str], mentions: Sequence[Mention], rooms: Sequence[_WholeRoom]
) -> list[_Saying]:
    """Where ``words`` say the whole house needs a gut ("it's a gut job", "full gut")."""
    found = []
    for saying in _said_spans(_GUT_SAID, words):
        if any(r.start < saying.end and saying.start < r.end for r in rooms):
            continue  # "the kitchen is a gut job": the room's
        clause: list[str] = []
        for word in reversed(words[max(0, saying.start - 5) : saying.start]):
            if word in _PUNCTUATION or word in _BOUNDARY_WORDS:
                break
            clause.insert(0, word)
        named_before = any(
            saying.start - len(clause) <= m.start < saying.start for m in mentions
        ) or any(w in _ROOM_WORDS for w in clause)
        if not named_before and (not clause or clause[0] in _SUBJECTLESS):
            # "the kitchen is dated and needs a full gut": the clause has no subject of its
            # own, so it is the one of the clause before ("and" joins them).
            start = saying.start - len(clause)
            if start > 0 and words[start - 1] in {"and", "but", "plus"}:
                before: list[str] = []
                for word in reversed(words[max(0, start - 9) : start - 1]):
                    if word in _PUNCTUATION or word in _BOUNDARY_WORDS:
                        break
                    before.insert(0, word)
                first = start - 1 - len(before)
                named_before = any(w in _ROOM_WORDS for w in before) or any(
                    first <= m.start < start - 1 for m in mentions
                )
        after = words[saying.end : saying.end + 3]
        named_after = (
            bool(after)
            and after[0] in {"of", "on", "in", "for"}
            and (
                any(w in _ROOM_WORDS for w in after)
                or any(saying.end < m.start <= saying.end + 3 for m in mentions)
            )
        )
        if named_before or named_after:
            continue  # "the cabinets need to be gutted", "a full gut of the bathroom"
        if _unsaid(words, saying.start, saying.end, frozenset(_NEGATORS)):
            continue
        if any(w in _GUT_DONE_BEFORE for w in clause[-4:]) or _GUT_DONE_AFTER.search(
            " ".join(words[saying.end :])
        ):
            continue
        found.append(saying)
    return found


def _gut_rehab(
    saying: _Saying,
    words: Sequence[str],
    mentions: Sequence[Mention],
    area_said: set[int],
    sentence: Sentence,
    timestamp: int | None,
) -> Finding:
    """The gut rehab line a full gut prices; its area is a sqft figure said with it, if any."""
    entry = CATALOGUE_BY_KEY["gut_rehab"]
    figures = [
        Decimal(w)
        for i, w in enumerate(words)
        if i not in area_said
        and _is_number(w)
        and (_unit_at(words, i + 1) or (None, 0))[0] == CostUnit.sqft.value
    ]
    quantity = figures[0] if len(figures) == 1 and not mentions else None
    cue = Cue(saying.text, Condition.poor)
    return Finding(
        component="gut rehab",
        component_key=entry.key,
        component_name=entry.name,
        condition=Condition.poor,
        confidence=decide([cue])[1],
        quantity=quantity,
        unit=CostUnit.sqft.value if quantity is not None else None,
        notes=(
            f'full gut from "{saying.text}": {sentence.text} The gut line covers the interior to '
            "the studs (demolition and haul-off, drywall, paint, flooring, doors and trim, "
            "kitchen, bathrooms, rewire, repipe) per sqft of living area (catalogue default "
            f"${entry.material + entry.labour}/sqft: 2025-26 US mid-range $60-$150); the roof, "
            "windows, exterior, foundation, mechanicals and basement are priced on their own."
        ),
        timestamp_seconds=timestamp,
        cues=(cue,),
    )


def _gut_covered(findings: dict[str, Finding]) -> dict[str, Finding]:
    """The findings with those a full gut's line covers folded into its notes (priced once)."""
    gut = findings.get("gut_rehab")
    if gut is None or gut.condition is not Condition.poor:
        return findings
    covered = [f for key, f in findings.items() if key in GUT_REHAB_COVERS]
    if not covered:
        return findings
    names = ", ".join(f.component for f in covered)
    kept = {key: f for key, f in findings.items() if key not in GUT_REHAB_COVERS}
    kept["gut_rehab"] = replace(
        gut, notes=f"{gut.notes} Also named and inside the gut line, not priced again: {names}."
    )
    return kept


# Counted components whose default is more than one (windows, doors), and the words that may
# follow one named alone ("the window in the back bedroom is broken").
_DEFAULT_MANY = frozenset(
    e.key
    for e in DEFAULT_CATALOGUE
    if e.unit is CostUnit.each
    and not (e.quantity.kind is QuantityKind.fixed and e.quantity.value == 1)
)
_AFTER_ONE = frozenset(
    {"is", "was", "needs", "need", "has", "had", "looks", "in", "on", "at", "by", "off", "that"}
    | {"are", "were"}  # "the front door and the back door are shot": each is one
    | {"upstairs", "downstairs", "itself", "there"}
)
_NOT_ONE = frozenset({"every", "each", "all", "no", "some", "any", "most", "several", "many"})


def _names_one(words: Sequence[str], mention: Mention) -> bool:
    """Whether a counted component is named as a single one ("the back door needs replacing").

    Only for components whose default count is more than one; "every window", "window
    frames" and "window unit" are not one window.
    """
    if mention.key not in _DEFAULT_MANY or _plural(mention.phrase) == mention.phrase:
        return False
    before = words[mention.start - 1] if mention.start > 0 else ""
    after = words[mention.end] if mention.end < len(words) else ""
    return (
        before not in _NOT_ONE
        and not _is_number(before)
        and (not after or after in _PUNCTUATION or after in _BOUNDARY_WORDS or after in _AFTER_ONE)
    )


_NEED_VERBS = frozenset({"need", "needs", "needing", "want", "wants"})
_STATE_VERBS = frozenset({"is", "are", "was", "were", "has", "have", "had", "got", "looks"})


def _needed_new(words: Sequence[str], mention: Mention) -> Cue | None:
    """A need for a component said "new" in a list after "need", else None.

    "needs a new roof, new windows and new carpet": the windows and carpet are needed, not
    new; "the furnace needs work and the AC is new" keeps the AC new.
    """
    before = [w for w in words[max(0, mention.start - 2) : mention.start] if w not in {"a", "all"}]
    if not before or before[-1] != "new":
        return None
    for index in range(mention.start - 1, -1, -1):
        if words[index] in _STATE_VERBS:
            return None
        if words[index] in _NEED_VERBS:
            return Cue(f"{words[index]} new {mention.phrase}", Condition.poor)
    return None


def _new_with_gut(
    words: Sequence[str], mention: Mention, mentions: Sequence[Mention], guts: Sequence[_Saying]
) -> Cue | None:
    """A component said "new" in a list after a full gut, as needed: "gut job, plus a new roof".

    Other components may be listed between ("gut job, new cabinets and a new roof").
    """
    named = {i for m in mentions for i in range(m.start, m.end)}
    for gut in guts:
        between = [
            w for i, w in enumerate(words) if gut.end <= i < mention.start and i not in named
        ]
        if (
            gut.end <= mention.start
            and words[mention.start - 1 if mention.start else 0] == "new"
            and all(
                w in _PUNCTUATION or w in _BOUNDARY_WORDS or w in _LIST_WORDS or w == "new"
                for w in between
            )
        ):
            return Cue(f"{gut.text} plus new {mention.phrase}", Condition.poor)
    return None


# Work said that is a component's full line, not its repair: a contractor's "refinish" (or
# "sand") of hardwood is the sand-and-refinish the line prices; its repair is a screen and
# recoat ("buff").
_FULL_LINE_WORK = {"hardwood_refinish": re.compile(r"\b(?:refinish\w*|sand|sanded|sanding)\b")}


def _as_full_line(key: str, cues: Sequence[Cue]) -> list[Cue]:
    """``cues`` with a repair cue that names the component's full line graded poor."""
    work = _FULL_LINE_WORK.get(key)
    if work is None:
        return list(cues)
    return [
        Cue(c.text, Condition.poor) if c.condition is Condition.fair and work.search(c.text) else c
        for c in cues
    ]


def _component_name_for(key: str) -> str:
    """A spoken name for a catalogue component that matches back to it ("kitchen cabinets")."""
    return key.replace("_", " ")


# --- findings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A component heard in the narration, with condition, quantity, notes and timing."""

    component: str
    component_key: str
    component_name: str
    condition: Condition | None
    confidence: Decimal
    quantity: Decimal | None = None
    unit: str | None = None
    notes: str = ""
    timestamp_seconds: int | None = None
    cues: tuple[Cue, ...] = field(default_factory=tuple)
    # The room a quantity is limited to ("the bathroom just needs paint"), None: house-wide.
    room: str | None = None
    # Priced because of what was said of something else (the sump pump of "the basement has
    # water"): what is said of the component itself, when graded, wins over it.
    implied: bool = False

    @property
    def cue_texts(self) -> list[str]:
        """The words that set the condition, as heard."""
        return [cue.text for cue in self.cues]

    @property
    def book_unit(self) -> str:
        """The unit the catalogue prices this component in."""
        entry = CATALOGUE_BY_KEY.get(self.component_key)
        return entry.unit.value if entry else CostUnit.each.value

    @property
    def priceable_quantity(self) -> tuple[Decimal, str] | None:
        """The quantity in a unit the estimate can use, else None (its defaults apply).

        A bare count prices counted things (windows, toilets); a figure in sqft, squares or
        linear ft prices anything in a convertible unit; "3 bedrooms" of carpet does not, nor
        does a share of the house without the house's living area (``priceable_quantity_for``).
        """
        if self.quantity is None:
            return None
        if self.unit is None:
            return (self.quantity, self.book_unit) if self.book_unit in _COUNT_UNITS else None
        if self.unit in {u.value for u in CostUnit}:
            return self.quantity, self.unit
        return None

    def priceable_quantity_for(self, square_feet: int | None) -> tuple[Decimal, str] | None:
        """``priceable_quantity``, with a share of the house priced on its living area."""
        entry = CATALOGUE_BY_KEY.get(self.component_key)
        if self.unit != SHARE_OF_LIVING_AREA or self.quantity is None or entry is None:
            return self.priceable_quantity
        if square_feet is None:
            return None
        area = self.quantity * entry.quantity.value * Decimal(square_feet)
        return area.to_integral_value(rounding=ROUND_CEILING), entry.unit.value

    def quantity_assumption(self, square_feet: int | None) -> str | None:
        """How a share of the house became a quantity, or why it could not; None otherwise."""
        if self.unit != SHARE_OF_LIVING_AREA or self.quantity is None:
            return None
        share = "half" if self.quantity == Decimal("0.5") else f"{self.quantity.normalize():f}"
        priced = self.priceable_quantity_for(square_feet)
        if priced is None:
            return (
                f"{self.component_name}: {share} of the house said, but the living area is not "
                "known: give the house's square_feet to price that share"
            )
        return (
            f"{self.component_name}: {share} of the house = {self.quantity.normalize():f} x "
            f"living area {square_feet} sqft = {priced[0]} {priced[1]}"
        )


def _coverings(words: Sequence[str], mentions: Sequence[Mention]) -> dict[int, int]:
    """Mentions that cover the one before them ("hardwood under the carpet").

    Index of the covering mention → the word its phrase starts at ("under"). Only a covering
    of the same kind (flooring over flooring): "the floor under the toilet" is not one.
    """
    found: dict[int, int] = {}
    for index in range(1, len(mentions)):
        covered, covering = mentions[index - 1], mentions[index]
        between = words[covered.end : covering.start]
        if (
            index - 1 not in found
            and 0 < len(between) <= _MAX_COVER_GAP
            and between[0] in _COVER_WORDS
            and not any(w in _PUNCTUATION or w in _BOUNDARY_WORDS for w in between)
            and CATALOGUE_BY_KEY[covered.key].category == CATALOGUE_BY_KEY[covering.key].category
        ):
            found[index] = covered.end
    return found


@dataclass(frozen=True)
class _WholeRoom:
    """A whole room said to need everything: its words' span and the words as heard."""

    room: str
    start: int
    end: int
    text: str


def _whole_rooms(words: Sequence[str], mentions: Sequence[Mention]) -> list[_WholeRoom]:
    """The rooms ``words`` say need everything ("gut the kitchen", "kitchen needs everything")."""
    text = " ".join(words)
    found: list[_WholeRoom] = []
    for pattern in _WHOLE_ROOM:
        for match in pattern.finditer(text):
            room = match.group("room")
            at = text[: match.start("room")].count(" ")
            # "gut the kitchen cabinets" is about the cabinets, not the whole kitchen.
            if any(m.start <= at < m.end and m.phrase != room for m in mentions) or any(
                r.start <= at < r.end for r in found
            ):
                continue
            start = text[: match.start()].count(" ")
            found.append(_WholeRoom(room, start, start + len(match.group(0).split()), match[0]))
    return found


def _room_paint(
    room: Mention, cues: Sequence[Cue], sentence: Sentence, timestamp: int | None
) -> Finding:
    """Interior paint for one room ("the bathroom just needs paint"): its floor area, in full."""
    paint = CATALOGUE_BY_KEY["interior_paint"]
    return Finding(
        component=_component_name_for(paint.key),
        component_key=paint.key,
        component_name=paint.name,
        condition=Condition.poor,
        confidence=decide(cues)[1],
        quantity=_ROOM_AREA_SQFT[room.key],
        unit=CostUnit.sqft.value,
        notes=f"{room.phrase} only: {sentence.text}",
        timestamp_seconds=timestamp,
        cues=tuple(Cue(c.text, Condition.poor) for c in cues),
        room=room.phrase,
    )


def _room_component(
    key: str, room: _WholeRoom, sentence: Sentence, timestamp: int | None
) -> Finding:
    """A component of a room that needs everything, graded poor, saying where it came from."""
    cue = Cue(room.text, Condition.poor)
    return Finding(
        component=_component_name_for(key),
        component_key=key,
        component_name=CATALOGUE_BY_KEY[key].name,
        condition=Condition.poor,
        confidence=decide([cue])[1],
        notes=f'from "{room.room} needs everything": {sentence.text}',
        timestamp_seconds=timestamp,
        cues=(cue,),
    )


# Words a speaker opens a sentence with before saying anything ("Okay, so the roof is shot"):
# no praise of what follows.
_OPENING_FILLERS = frozenset(
    {"ok", "okay", "alright", "right", "well", "so", "now", "yeah", "yes", "um", "uh", "oh"}
)


def _opening_filler(words: Sequence[str]) -> set[int]:
    """The positions of the fillers a sentence opens with ("Okay, so ...", "okay so ...").

    Each is followed by a comma or another filler; "Okay roof" is not one.
    """
    end = 0
    while (
        end + 1 < len(words)
        and words[end] in _OPENING_FILLERS
        and (words[end + 1] in _PUNCTUATION or words[end + 1] in _OPENING_FILLERS)
    ):
        end += 2 if words[end + 1] in _PUNCTUATION else 1
    return set(range(end))


def _components_in(sentence: Sentence) -> list[Finding]:
    words = tokenize(sentence.text)
    mentions = find_mentions(words)
    # The house's own area said here is no component's quantity.
    area_said = {i for lo, hi, _ in _living_area_spans(words) for i in range(lo, hi)}
    rooms = _whole_rooms(words, mentions)
    waters = _basement_water(words, mentions)
    guts = _full_guts(words, mentions, rooms)
    if not mentions and not rooms and not waters and not guts:
        return []
    # "the siding needs paint": there "paint" is what the siding needs, not a component of its
    # own, when the sentence names another component.
    if len(mentions) > 1:
        kept = [
            m
            for m in mentions
            if not (m.key in _PAINT_KEYS and m.start > 0 and words[m.start - 1] in _NEEDS_WORDS)
        ]
        mentions = kept or mentions
    coverings = _coverings(words, mentions)
    # A room named as the place of a component has no clause of its own: what is said there
    # is said of the component ("the tub in the bathroom is cracked").
    places = {i: o for i, o in _places(words, mentions).items() if i not in coverings}
    # "The bathroom has mold and needs a full remodel": the remodel is the room's, the mold
    # is graded by its own words (both are priced).
    remodels = _room_remodels(words, mentions, places, rooms)
    for lo, hi, _ in remodels.values():
        area_said |= set(range(lo, hi))
    owners = [i for i in range(len(mentions)) if i not in coverings and i not in places]
    bounds = (
        dict(zip(owners, _clause_bounds(words, [mentions[i] for i in owners]), strict=True))
        if owners
        else {}
    )
    bounds = {i: _without_other_subjects(words, mentions[i], *bounds[i]) for i in owners}
    timestamp = int(sentence.start) if sentence.start is not None else None
    findings: list[Finding] = []  # one per mention, in order
    extra: list[tuple[int, Finding]] = []  # what a sentence adds beyond them, by position
    listed: list[bool] = []  # the clause is the bare name in a list ("the furnace and ...")
    for index, mention in enumerate(mentions):
        entry = CATALOGUE_BY_KEY[mention.key]
        if index in coverings or index in places:
            # What the sentence says next belongs to the covered component (its clause), and
            # what is said in a room to the component there.
            remodel = remodels.get(index)
            work = (Cue(remodel[2], Condition.poor),) if remodel is not None else ()
            condition, confidence = decide(work)
            findings.append(
                Finding(
                    component=mention.phrase,
                    component_key=mention.key,
                    component_name=entry.name,
                    condition=condition,
                    confidence=confidence,
                    notes=sentence.text,
                    timestamp_seconds=timestamp,
                    cues=work,
                )
            )
            listed.append(False)
            continue
        lo, hi = bounds[index]
        # The component's own words are not cues ("new roof" phrase aside, a "window" is not
        # a grade), so grade the clause with the mention blanked out; so are the words of a
        # covering it ("under the old carpet") and of a whole room ("the kitchen needs
        # everything" says nothing of the roof).
        blanked = set(range(mention.start, mention.end))
        following = mentions[index + 1] if index + 1 < len(mentions) else None
        if index + 1 in coverings and following is not None:
            blanked |= set(range(coverings[index + 1], following.end))
        in_room = [r for r in rooms if r.start <= mention.start < r.end]
        for room in rooms:
            blanked |= set(range(room.start, room.end))
        for saying in (*waters, *guts):
            # "The basement walls leak": the water's, priced as waterproofing, not the
            # foundation's; "needs a full gut" grades no component named with it.
            blanked |= set(range(saying.start, saying.end))
        for place in places:
            blanked |= set(range(mentions[place].start, mentions[place].end))
        blanked |= area_said | _opening_filler(words)
        local = [
            "_" if mention.start <= lo + i < mention.end else _HIDDEN if lo + i in blanked else w
            for i, w in enumerate(words[lo:hi])
        ]
        cues = [
            Cue(cue.text.replace("_", mention.phrase), cue.condition)
            for cue in find_cues([w for w in local if w not in _PUNCTUATION])
        ]
        if (
            mention.key in _PAINT_KEYS
            and mention.start > 0
            and words[mention.start - 1] in _NEEDS_WORDS
        ):
            cues.append(Cue(f"{words[mention.start - 1]} {mention.phrase}", Condition.fair))
        needed = _needed_new(words, mention) or _new_with_gut(words, mention, mentions, guts)
        if needed is not None:
            # "We need a new furnace and a new water heater": the need covers the list.
            cues = [needed if c.text == "new" else c for c in cues]
        action = _ACTION_CUES.get(mention.phrase)
        if action is not None and (
            (mention.start == 0 and len(words) > mention.end + 1)
            or _said_as_work_to_do(words, mention.start)
        ):
            # "Paint the bedrooms.", "we should repipe": the work to do.
            cues.append(Cue(mention.phrase, action))
        if mention.phrase in _DIAGNOSIS_NAMES:
            cues.append(Cue(mention.phrase, _DIAGNOSIS_NAMES[mention.phrase]))
        diagnosis = _DIAGNOSIS_WORDS.get(mention.key)
        said_as = diagnosis[0].search(" ".join(local)) if diagnosis is not None else None
        if diagnosis is not None and said_as is not None:
            cues.append(Cue(said_as.group(0), diagnosis[1]))
        few_missing = _FEW_SHINGLES.search(" ".join(words))
        if mention.key == "roof_shingles" and few_missing is not None:
            cues = [
                Cue(few_missing.group(0), Condition.fair) if c.text in _MISSING_CUES else c
                for c in cues
            ]
        if (
            mention.key in _PAINT_KEYS
            and not cues
            and words[mention.end : mention.end + 1] == ["throughout"]
        ):
            # "Paint throughout.": the house's paint, as "needs paint" is.
            cues.append(Cue(f"{mention.phrase} throughout", Condition.fair))
        if mention.key in _FOUND_PROBLEMS:
            before = list(words[max(0, mention.start - 3) : mention.start])
            negators = [i for i, w in enumerate(before) if w in _NEGATORS or w.endswith("n't")]
            if negators:
                said = " ".join([*before[negators[-1] :], mention.phrase])
                cues.append(Cue(said, Condition.good))
            elif not cues:
                surface = mention.phrase in _SURFACE_PROBLEMS
                grade = Condition.fair if surface else _FOUND_PROBLEMS[mention.key]
                cues.append(Cue(mention.phrase, grade))
        if mention.key in _NEEDED_WHEN_NAMED and not cues:
            need = _needed_by_name(words, lo, mention)
            if need is not None:
                cues.append(need)
        if not cues:
            bare = _needed_bare(words, lo, mention)
            if bare is not None:
                cues.append(bare)
        if not cues and mention.start > 0 and words[mention.start - 1] in _ABSENT_WORDS:
            # "there's no water heater": nothing to grade, so one must be put in.
            cues.append(Cue(f"{words[mention.start - 1]} {mention.phrase}", Condition.poor))
        for room in rooms:
            if mention.key in _ROOM_KEYS[room.room] and (room in in_room or not cues):
                cues.append(Cue(room.text, Condition.poor))
        share = (
            find_share(local)
            if entry.quantity.kind is QuantityKind.living_area and entry.unit is CostUnit.sqft
            else None
        )
        if share is not None and mention.key in _PAINT_KEYS:
            # The fair paint line is a partial repaint of the whole house; with the part named
            # ("paint half the house") that part is painted in full.
            cues = [
                Cue(c.text, Condition.poor) if c.condition is Condition.fair else c for c in cues
            ]
        room_paint = [c for c in cues if _PAINT_CUE.search(c.text)]
        if mention.key in _ROOM_AREA_SQFT and room_paint:
            # "The bathroom is fine, just needs paint": paint the bathroom, not remodel it.
            cues = [c for c in cues if c not in room_paint]
            extra.append((mention.end, _room_paint(mention, room_paint, sentence, timestamp)))
        cues = _as_full_line(mention.key, cues)
        listed.append(all(w == "_" or w in _PUNCTUATION or w in _LIST_WORDS for w in local))
        condition, confidence = decide(cues)
        quantity = find_quantity(
            local,
            mention.start - lo,
            mention.end - lo,
            floor_area=mention.key in FLOOR_AREA_KEYS,
            counted=entry.unit.value in _COUNT_UNITS,
        )
        # "about fifteen of them, and a couple are broken": the part is the smaller count.
        counts = [c for c in _counts_pointing_back(local, mention.end - lo) if c[1] is None]
        part = min(counts) if counts else None
        if (
            quantity is not None
            and quantity[1] is None
            and part is not None
            and part[1] is None
            and part[0] < quantity[0]
            and cues
        ):
            # "Two bathrooms, one of them needs a full remodel": the grade is that one's.
            quantity = part
        if quantity is None and share is not None:
            quantity = share[0], SHARE_OF_LIVING_AREA
        if quantity is None and _names_one(words, mention):
            # "front door is solid, back door needs replacing": each door is one.
            quantity = Decimal(1), None
        findings.append(
            Finding(
                component=mention.phrase,
                component_key=mention.key,
                component_name=entry.name,
                condition=condition,
                confidence=confidence,
                quantity=quantity[0] if quantity else None,
                unit=quantity[1] if quantity else None,
                notes=sentence.text,
                timestamp_seconds=timestamp,
                cues=tuple(cues),
            )
        )
    mentioned = {m.key for m in mentions} | {f.component_key for _, f in extra}
    for room in rooms:
        for key in _ROOM_KEYS[room.room]:
            if key not in mentioned:
                mentioned.add(key)
                extra.append((room.start, _room_component(key, room, sentence, timestamp)))
    if waters:
        perimeter = _perimeter_said(words, mentions)
        for key in _WATERPROOFING_KEYS:
            if key not in mentioned:
                mentioned.add(key)
                found = _waterproofing(key, waters[0], perimeter, sentence, timestamp)
                extra.append((waters[0].start, found))
    if guts and "gut_rehab" not in mentioned:
        gut = _gut_rehab(guts[0], words, mentions, area_said, sentence, timestamp)
        extra.append((guts[0].start, gut))
    # "the furnace and the AC are both 20 years old": a component named bare in a list shares
    # what is said of the next one (last to first, so a longer list shares it too).
    for index in range(len(findings) - 2, -1, -1):
        shared = findings[index + 1].cues
        between = words[mentions[index].end : mentions[index + 1].start]
        joined = all(w in _PUNCTUATION or w in _LIST_WORDS for w in between)  # not "I mean"
        if listed[index] and joined and not findings[index].cues and shared:
            condition, confidence = decide(shared)
            findings[index] = replace(
                findings[index], condition=condition, confidence=confidence, cues=shared
            )
    placed = [(m.start, f) for m, f in zip(mentions, findings, strict=True)] + extra
    return [f for _, f in sorted(placed, key=lambda item: item[0])]


def _merge(first: Finding, later: Finding) -> Finding:
    """One finding per component: cues pooled and decided again, notes kept in order.

    A house-wide statement wins over one limited to a room ("the bathroom just needs paint",
    then "the whole house needs paint"): its cues and quantity cover the room too.
    """
    notes = first.notes if later.notes in first.notes else f"{first.notes} {later.notes}"
    if first.implied != later.implied:
        # "The basement has water. The sump pump is brand new.": the pump as said of itself.
        said, implied = (later, first) if first.implied else (first, later)
        if said.condition is not None:
            return replace(said, timestamp_seconds=first.timestamp_seconds)
        return replace(implied, notes=notes, timestamp_seconds=first.timestamp_seconds)
    if (first.room is None) != (later.room is None):
        house_wide = first if first.room is None else later
        return replace(house_wide, notes=notes, timestamp_seconds=first.timestamp_seconds)
    cues = first.cues + later.cues
    condition, confidence = decide(cues)
    quantity = first.quantity if first.quantity is not None else later.quantity
    if (
        first.quantity is not None
        and later.quantity == 1
        and first.unit is later.unit is None
        and later.component != first.component
    ):
        # Another one of a counted component ("the back door" after "the front door").
        if first.condition is not later.condition:
            # "Front door is solid, back door needs replacing": one door needs work, not
            # two; the count is of those said to be in the condition the finding keeps.
            kept = later if condition is later.condition else first
            return replace(kept, notes=notes, timestamp_seconds=first.timestamp_seconds)
        quantity = first.quantity + 1  # "The front door is shot. The back door is shot."
    return replace(
        first,
        condition=condition,
        confidence=confidence,
        quantity=quantity,
        unit=first.unit if first.quantity is not None else later.unit,
        notes=notes,
        cues=cues,
        timestamp_seconds=first.timestamp_seconds,
    )


def follow_up_quantity(text: str) -> tuple[Decimal, str | None] | None:
    """A quantity said of the component just named ("There are fourteen of them."), or None.

    A number, its unit if any, then words that point back: "of them", "total", "in all"
    ("Fourteen total.", "About 800 square feet of it.").
    """
    return _count_pointing_back([w for w in tokenize(text) if w not in _PUNCTUATION], 0)


def _followed_up(named: Finding, sentence: Sentence) -> Finding:
    """The one component just named, with what a sentence naming none says back of it.

    "There are fourteen of them." is its count. "One of them needs a full remodel." (after
    "Two bathrooms.") grades that one: the finding becomes the one needing the work, when
    nothing graded the component before; with a grade already and no count, the grades pool
    and the number is its count.
    """
    words = [w for w in tokenize(sentence.text) if w not in _PUNCTUATION]
    quantity = _count_pointing_back(words, 0)
    if quantity is None:
        return named
    notes = f"{named.notes} {sentence.text}"
    cues = _as_full_line(named.component_key, find_cues(words))
    part_of = named.quantity is None or (named.unit is None and quantity[0] <= named.quantity)
    worse = (
        named.condition is not None
        and named.quantity is not None
        and bool(cues)
        and _GRADE[decide(cues)[0] or named.condition] < _GRADE[named.condition]
    )
    if cues and quantity[1] is None and (named.condition is None or worse) and part_of:
        # "Twelve windows, all original. Three of them are cracked.": the three are the
        # work (replaced); the finding is of them, the rest said in its notes.
        condition, confidence = decide(cues)
        return replace(
            named,
            condition=condition,
            confidence=confidence,
            quantity=quantity[0],
            unit=None,
            notes=notes,
            cues=tuple(cues),
        )
    if named.quantity is not None:
        return named
    pooled = named.cues + tuple(cues)
    condition, confidence = decide(pooled) if pooled else (named.condition, named.confidence)
    return replace(
        named,
        condition=condition,
        confidence=confidence,
        quantity=quantity[0],
        unit=quantity[1],
        notes=notes,
        cues=pooled,
    )


def extract_conditions(segments: Iterable[Segment]) -> list[Finding]:
    """Every catalogue component the narration mentions, with condition, quantity and timing.

    A component named in several sentences gives one finding (its cues pooled), in the order
    first mentioned. A sentence naming no component that gives a quantity pointing back ("The
    windows are original. There are fourteen of them.") gives it to the one component the
    sentence before named, when that one has no quantity yet. With a full gut, the components
    its line covers are folded into it (``_gut_covered``).
    """
    by_key: dict[str, Finding] = {}
    just_named: str | None = None  # the key of the one component the last sentence named
    for sentence in split_sentences(segments):
        found = _components_in(sentence)
        words = tokenize(sentence.text)
        area_said = bool(_living_area_spans(words))
        # "The hot tub is shot.": of something not priced, not of the component before.
        other_named = any(_not_priced_at(words, i) for i in range(len(words)))
        if not found and just_named is not None and not area_said and not other_named:
            by_key[just_named] = _followed_up(by_key[just_named], sentence)
        just_named = found[0].component_key if len(found) == 1 else None
        for finding in found:
            earlier = by_key.get(finding.component_key)
            by_key[finding.component_key] = finding if earlier is None else _merge(earlier, finding)
    return list(_gut_covered(by_key).values())


@dataclass(frozen=True)
class NotPriced:
    """Something heard that the estimate does not price, and why ("hot tub")."""

    said: str
    reason: str
    timestamp_seconds: int | None

    @property
    def line(self) -> str:
        """The estimate's line for it: what, and why it is not priced."""
        return f"{self.said}: not priced ({self.reason})"


# "the kitchen is dated": a room graded as a whole is no cost-book line; what in it needs
# work must be said (a gut or a full remodel of it is priced: ``_WHOLE_ROOM``).
_GRADED_ROOM_REASON = (
    "a room graded as a whole is not one cost-book line: say what in it needs work "
    "(cabinets, countertops, appliances), or 'the kitchen needs a full gut'"
)
_KITCHEN_PARTS = frozenset(
    {"cabinets", "cabinet", "counters", "counter", "countertops", "countertop", "appliances",
     "appliance", "sink", "stove", "range", "fridge", "refrigerator", "dishwasher"}
)  # fmt: skip
_ROOM_WORK_WORDS = frozenset(
    {"gut", "gutted", "remodel", "remodeled", "redo", "redone", "rehab", "renovation",
     "everything", "studs"}
)  # fmt: skip


def _graded_kitchen(words: Sequence[str]) -> bool:
    """Whether a clause grades "the kitchen" itself ("kitchen is dated") and nothing in it."""
    clauses: list[list[str]] = [[]]
    for word in words:
        if word in _PUNCTUATION or word in _BOUNDARY_WORDS:
            clauses.append([])
        else:
            clauses[-1].append(word)
    return any("kitchen" in clause and any(w in WORD_CUES for w in clause) for clause in clauses)


def heard_not_priced(segments: Iterable[Segment]) -> list[NotPriced]:
    """What the narration names that no catalogue line prices (once each, first said)."""
    found: dict[str, NotPriced] = {}
    for sentence in split_sentences(segments):
        words = tokenize(sentence.text)
        start = int(sentence.start) if sentence.start is not None else None
        for index in range(len(words)):
            size = _not_priced_at(words, index)
            if size:
                said, reason = NOT_PRICED[tuple(words[index : index + size])]
                found.setdefault(said, NotPriced(said, reason, start))
        if _graded_kitchen(words) and not any(
            w in _ROOM_WORK_WORDS or w in _KITCHEN_PARTS for w in words
        ):
            found.setdefault("kitchen", NotPriced("kitchen", _GRADED_ROOM_REASON, start))
    return list(found.values())


def extract_from_text(text: str) -> list[Finding]:
    """``extract_conditions`` over plain text (one untimed segment)."""
    return extract_conditions([Segment(start=None, end=None, text=text)])
