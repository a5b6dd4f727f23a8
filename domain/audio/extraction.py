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
   a unit anywhere in its clause is its quantity in that unit ("about 20 squares").

Everything here is pure: text in, findings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from domain.audio.enums import Condition
from domain.pricing import service as pricing_service
from domain.pricing.catalogue import CATALOGUE_BY_KEY, DEFAULT_CATALOGUE
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
        if token not in _UNITS and token not in _TENS:
            out.append(token)
            i += 1
            continue
        total, current = 0, 0
        j = i
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
    }
)
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
        r"(?:not|isn't|aren't|doesn't|don't|never) (?:working|work|works|run|runs|running)",
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
        r"(?:has to|have to|should|will need to|going to have to|got to) (?:be )?(?:replac\w*|go)",
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
    (r"(?:fair|ok|okay|rough|poor|bad) (?:shape|condition)", Condition.fair),
    (r"some wear|a bit worn|little worn|kind of old|pretty old|really old", Condition.fair),
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
    "peeling": Condition.fair,
    "minor": Condition.fair,
    "sticking": Condition.fair,
    "ugly": Condition.fair,
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
    for pattern, grade in _COMPILED_PHRASES:
        for match in pattern.finditer(text):
            if free(*match.span()):
                taken.append(match.span())
                cues.append((match.start(), Cue(match.group(0), grade)))
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
    if all(_AGE.fullmatch(cue.text) for cue in cues):
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


def _is_number(word: str) -> bool:
    """Whether a token is a number as ``tokenize`` writes them ("22", "22.5")."""
    return word.replace(".", "", 1).isdigit()


def _unit_at(words: Sequence[str], index: int) -> tuple[str | None, int] | None:
    """The spoken unit starting at ``index`` and how many words it takes, or None."""
    for unit_words, unit in _UNIT_WORDS:
        if tuple(words[index : index + len(unit_words)]) == unit_words:
            return unit, len(unit_words)
    return None


def find_quantity(
    words: Sequence[str], mention_start: int, mention_end: int
) -> tuple[Decimal, str | None] | None:
    """A quantity for the component at ``words[mention_start:mention_end]`` in its clause.

    A number followed by a unit anywhere in the clause ("20 squares", "1200 square feet of
    carpet", "3 bedrooms of carpet"); else a bare number just before the component ("12
    windows"), which is a count (unit None).
    """
    for index, word in enumerate(words):
        if _is_number(word) and index + 1 < len(words):
            found = _unit_at(words, index + 1)
            if found is not None:
                return Decimal(word), found[0]
    for gap in range(0, _COUNT_GAP_WORDS + 1):
        index = mention_start - 1 - gap
        if index < 0:
            break
        if words[index].isdigit():
            if any(w in _PUNCTUATION or w in _BOUNDARY_WORDS for w in words[index:mention_start]):
                break
            return Decimal(words[index]), None
    return None


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


def find_mentions(words: Sequence[str]) -> list[Mention]:
    """The catalogue components named in ``words``, longest phrase first, not overlapping."""
    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        for size in range(min(_MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            key = _PHRASES.get(tuple(words[i : i + size]))
            if key is not None:
                mentions.append(Mention(" ".join(words[i : i + size]), key, i, i + size))
                i += size
                break
        else:
            i += 1
    return mentions


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
        linear ft prices anything in a convertible unit; "3 bedrooms" of carpet does not.
        """
        if self.quantity is None:
            return None
        if self.unit is None:
            return (self.quantity, self.book_unit) if self.book_unit in _COUNT_UNITS else None
        if self.unit in {u.value for u in CostUnit}:
            return self.quantity, self.unit
        return None


def _components_in(sentence: Sentence) -> list[Finding]:
    words = tokenize(sentence.text)
    mentions = find_mentions(words)
    if not mentions:
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
    timestamp = int(sentence.start) if sentence.start is not None else None
    findings = []
    listed: list[bool] = []  # the clause is the bare name in a list ("the furnace and ...")
    for mention, (lo, hi) in zip(mentions, _clause_bounds(words, mentions), strict=True):
        # The component's own words are not cues ("new roof" phrase aside, a "window" is not
        # a grade), so grade the clause with the mention blanked out.
        local = list(words[lo:hi])
        for index in range(mention.start - lo, mention.end - lo):
            local[index] = "_"
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
        if not cues and mention.start > 0 and words[mention.start - 1] in _ABSENT_WORDS:
            # "there's no water heater": nothing to grade, so one must be put in.
            cues.append(Cue(f"{words[mention.start - 1]} {mention.phrase}", Condition.poor))
        listed.append(all(w == "_" or w in _PUNCTUATION or w in _LIST_WORDS for w in local))
        condition, confidence = decide(cues)
        quantity = find_quantity(list(words[lo:hi]), mention.start - lo, mention.end - lo)
        entry = CATALOGUE_BY_KEY[mention.key]
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
    return findings


def _merge(first: Finding, later: Finding) -> Finding:
    """One finding per component: cues pooled and decided again, notes kept in order."""
    cues = first.cues + later.cues
    condition, confidence = decide(cues)
    notes = first.notes if later.notes in first.notes else f"{first.notes} {later.notes}"
    return replace(
        first,
        condition=condition,
        confidence=confidence,
        quantity=first.quantity if first.quantity is not None else later.quantity,
        unit=first.unit if first.quantity is not None else later.unit,
        notes=notes,
        cues=cues,
        timestamp_seconds=first.timestamp_seconds,
    )


def extract_conditions(segments: Iterable[Segment]) -> list[Finding]:
    """Every catalogue component the narration mentions, with condition, quantity and timing.

    A component named in several sentences gives one finding (its cues pooled), in the order
    first mentioned.
    """
    by_key: dict[str, Finding] = {}
    for sentence in split_sentences(segments):
        for finding in _components_in(sentence):
            earlier = by_key.get(finding.component_key)
            by_key[finding.component_key] = finding if earlier is None else _merge(earlier, finding)
    return list(by_key.values())


def extract_from_text(text: str) -> list[Finding]:
    """``extract_conditions`` over plain text (one untimed segment)."""
    return extract_conditions([Segment(start=None, end=None, text=text)])
