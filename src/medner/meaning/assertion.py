"""Assertion: whether a mention is present, absent, possible, history, family or planned.

A trigger-and-scope rule set in the manner of ConText (Harkema et al., 2009) and medspaCy's
``context`` component: a trigger phrase names a category and a direction, and modifies the
mentions in its scope. The phrases (``resources/assertion_triggers.yaml``) are written for this
project (docs/annotation.md), with the forms of Indian e-prescriptions that the textbook rule
sets miss (medspaCy #155, #232; negspacy #44; MedCAT #230):

- list-style negation: ``Denies A, B and C``, ``No h/o DM, asthma``, ``negative for ...``
  (the scope runs to the end of the sentence or line, across commas);
- negation after the mention: ``fever: nil``, ``vomiting - no``, ``cough -ve``;
- ``N/K/C/O DM`` (not a known case of) absent; ``K/C/O HTN`` present (a known, chronic
  condition); ``N/K/A/D/A`` (no known allergy or drug allergy) names no mention and stops
  nothing;
- ``?UTI``, ``R/O dengue``, ``s/o`` (suggestive of) possible; ``s/p CABG``, ``old case of
  TB`` history; ``F/H/O``, ``FH:``, ``... in father`` family; ``Plan: RCT``, ``posted for``
  planned.

A trigger's scope ends at a newline, the end of a sentence, ``;``, a section heading, a
terminating word (``but``, ``however``, ``except``) or a marker of a present mention (``c/o``,
``K/C/O``, ``presents with``). Short triggers (``no``, ``?``, ``likely``) also end at a comma.
A mention inside a family-history section is ``family``; a medicine written after its dosage
form (``Tab. X``) is being prescribed, so not ``planned``. Where several categories apply the
most specific wins: absent, family, possible, planned, history, then present.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from medner.text.sections import Heading, find_headings, section_of

PRIORITY = ("absent", "family", "possible", "planned", "history")

TRIGGERS_FILE = "assertion_triggers.yaml"


def _load_rules() -> dict[str, Any]:
    source = resources.files("medner.resources").joinpath(TRIGGERS_FILE)
    rules: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    return rules


_RULES = _load_rules()
# (phrase, category, scope): a forward trigger modifies the mentions after it
FORWARD: tuple[tuple[str, str, str], ...] = tuple(
    (str(phrase), category, scope)
    for category, scopes in _RULES["forward"].items()
    for scope, phrases in scopes.items()
    for phrase in phrases
)
# (phrase, category): a backward trigger modifies the mention just before it
BACKWARD: tuple[tuple[str, str], ...] = tuple(
    (str(phrase), category)
    for category, phrases in _RULES["backward"].items()
    for phrase in phrases
)
PSEUDO: tuple[str, ...] = tuple(str(p) for p in _RULES["pseudo"])
TERMINATE: tuple[str, ...] = tuple(str(p) for p in _RULES["terminate"])

FAMILY_SECTIONS = frozenset({"family history", "fh", "fhx", "family hx"})
HISTORY_SECTIONS = frozenset({"past surgical history", "surgical history"})
DOSAGE_FORM = re.compile(
    r"(?<![\w/])(?:tab|tabs|cap|caps|syp|syr|susp|inj|oint|crm|t|cream|gel|lotion|drops|sachet|"
    r"inhaler|spray|e/d)\.?:?\s*$",
    re.IGNORECASE,
)
DOSING = re.compile(
    r"^[^,.\n]{0,24}?(?<![\w/])(?:od|bd|tds|qid|hs|sos|bid|tid|stat|\d+\s*(?:mg|ml|mcg|g|gm|iu)"
    r"|\d(?:/\d)?-\d(?:/\d)?-\d(?:/\d)?|once daily|twice daily|thrice daily|at night)(?![\w/])",
    re.IGNORECASE,
)
_WORDY = re.compile(r"\w")
_AFTER_COMMA = frozenset({"resolved", "(resolved)", "ruled out", "excluded"})
_CLAUSE_ENDS = (",", ":", ";", " and ", " & ", " with ", " + ", " / ")
_DONE_BEFORE = re.compile(r"(?<![\w/])h/o\s*$", re.IGNORECASE)


def _phrase_pattern(phrases: Sequence[str]) -> str:
    """One regular expression for all the phrases, as a trie of their characters (a long
    alternation of phrases is slow in Python's ``re``): the longest phrase at a position wins;
    a phrase that starts or ends with a letter or digit must start or end on a word boundary;
    a space matches any run of spaces or tabs (never a newline)."""
    trie: dict[str, Any] = {}
    for phrase in set(phrases):
        node = trie
        for ch in phrase.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, Any], last: str) -> str:
        children = [
            (r"[ \t]+" if ch == " " else re.escape(ch)) + pattern(child, ch)
            for ch, child in sorted(node.items())
            if ch
        ]
        if "" in node:  # a phrase may end here, after any longer one has been tried
            children.append(r"(?![\w/])" if _WORDY.match(last) else "")
        return children[0] if len(children) == 1 else "(?:" + "|".join(children) + ")"

    wordy = {ch: child for ch, child in trie.items() if _WORDY.match(ch)}
    other = {ch: child for ch, child in trie.items() if not _WORDY.match(ch)}
    return r"(?<![\w/])" + pattern(wordy, "") + "|" + pattern(other, "")


_FORWARD_KIND = {p: (c, s) for p, c, s in FORWARD}
_BACKWARD_KIND = dict(BACKWARD)
_SPECIAL = {p: "pseudo" for p in PSEUDO} | {p: "terminate" for p in TERMINATE}
_ALL = _SPECIAL.keys() | _FORWARD_KIND.keys() | _BACKWARD_KIND.keys()
_TRIGGER_RE = re.compile(_phrase_pattern(sorted(_ALL)), re.IGNORECASE)
# hard boundaries: a newline, the end of a sentence (a full stop after a word that is not a
# shorthand such as "Tab." or "Prov.")
_BOUNDARY_RE = re.compile(r"\n|(?<=[A-Za-z0-9)\]])\.(?=\s|$)")
_NOT_AN_END = re.compile(
    r"(?:^|[^\w/])(?:prov|tab|tabs|cap|syp|syr|susp|inj|oint|dr|mr|mrs|ms|vs|adv|pt|approx|"
    r"dx|t|k\.c\.o|e\.g|i\.e|st|wt|ht|temp|max|min|sr|etc)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Match:
    """A trigger phrase found in a note."""

    start: int
    end: int
    phrase: str  # lower-cased, single-spaced


def find_triggers(text: str) -> list[Match]:
    """Every trigger, pseudo-trigger and terminator in ``text``, left to right."""
    return [
        Match(m.start(), m.end(), " ".join(m.group(0).lower().split()))
        for m in _TRIGGER_RE.finditer(text)
    ]


def _overlaps(spans: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    i = bisect.bisect_right(spans, (start, float("inf"))) - 1
    return any(s < end and start < e for s, e in spans[max(0, i) : i + 2])


def _boundaries(text: str, headings: Sequence[Heading]) -> list[int]:
    cuts = [
        m.start()
        for m in _BOUNDARY_RE.finditer(text)
        if m.group() == "\n" or not _NOT_AN_END.search(text[max(0, m.start() - 8) : m.start()])
    ]
    cuts.extend(h.start for h in headings)  # a heading's own trigger ("Plan:", "FH:") counts
    return sorted(cuts)


@dataclass(slots=True)
class NoteContext:
    """What the rules read of one note, computed once for all its mentions."""

    text: str
    triggers: list[Match]
    cuts: list[int]
    headings: list[Heading]

    @classmethod
    def of(
        cls,
        text: str,
        headings: list[Heading] | None = None,
        spans: Sequence[tuple[int, int]] = (),
    ) -> NoteContext:
        """The context of ``text``; a trigger inside one of the ``spans`` (the note's mentions:
        ``not feeding well``) is part of a name, not a trigger."""
        headings = find_headings(text) if headings is None else headings
        triggers = find_triggers(text)
        if spans:
            inside = sorted(spans)
            triggers = [m for m in triggers if not _overlaps(inside, m.start, m.end)]
        return cls(text, triggers, _boundaries(text, headings), headings)

    def ending(self, after: int, by: int) -> list[Match]:
        """The triggers that end after ``after`` and by ``by`` (triggers do not overlap, so
        their starts and ends are both in order)."""
        lo = bisect.bisect_right(self.triggers, after, key=lambda m: m.end)
        hi = bisect.bisect_right(self.triggers, by, key=lambda m: m.end)
        return self.triggers[lo:hi]

    def segment(self, start: int, end: int) -> tuple[int, int]:
        """The sentence-like segment around ``[start, end)``."""
        i = bisect.bisect_right(self.cuts, start) - 1
        left = self.cuts[i] if i >= 0 else 0
        j = bisect.bisect_left(self.cuts, end)
        right = self.cuts[j] if j < len(self.cuts) else len(self.text)
        return left, right


def modifiers(context: NoteContext, start: int, end: int) -> list[tuple[str, str, int]]:
    """The triggers that modify the mention ``[start, end)``: ``(category, phrase, distance)``
    with the distance in characters between the trigger and the mention."""
    text = context.text
    left, right = context.segment(start, end)
    found: list[tuple[str, str, int]] = []
    # a trigger may straddle the segment's start: "Prov. Dx:" is a heading found at "Dx"
    before = context.ending(left, start)
    # forward triggers: walk back from the mention; a terminator ends the search
    for m in reversed(before):
        kind = _SPECIAL.get(m.phrase)
        if kind == "terminate":
            break
        if kind == "pseudo" or m.phrase not in _FORWARD_KIND:
            continue
        category, scope = _FORWARD_KIND[m.phrase]
        between = text[m.end : start]
        if scope == "clause" and any(mark in between for mark in _CLAUSE_ENDS):
            continue
        found.append((category, m.phrase, start - m.end))
    # backward triggers: right after the mention, before the next comma or mention boundary
    after = [m for m in context.ending(end, right) if end <= m.start]
    for m in after:
        between = text[end : m.start]
        if (
            ("," in between and m.phrase not in _AFTER_COMMA)
            or "." in between
            or len(between.split()) > 2
            or (_SPECIAL.get(m.phrase) == "terminate")
        ):
            break
        backward = _BACKWARD_KIND.get(m.phrase)
        if backward is None:
            continue
        # a bare "no"/"nil" after a mention needs a separator: "fever: nil", "cough - no"
        if m.phrase in ("no", "nil", "none", "neg", "?") and not re.fullmatch(
            r"\s*[:\-–=]?\s*|\s*\(\s*", between
        ):
            continue
        if m.phrase in ("no", "none") and not re.search(r"[:\-–=]", between):
            continue
        found.append((backward, m.phrase, m.start - end))
        break
    return found


def prescribed(text: str, start: int, end: int) -> bool:
    """Whether a treatment is written as a prescription: after its dosage form (``Tab.``) or
    before a dose or frequency (``5 mg``, ``BD``, ``1-0-1``)."""
    return bool(
        DOSAGE_FORM.search(text[max(0, start - 12) : start]) or DOSING.search(text[end : end + 40])
    )


def assert_mention(context: NoteContext, start: int, end: int, label: str = "DISEASE") -> str:
    """The assertion of the mention ``[start, end)`` of ``context.text``."""
    categories = {c for c, _, _ in modifiers(context, start, end)}
    if label != "TREATMENT":
        categories.discard("planned")  # only a treatment is planned
    elif "planned" in categories and prescribed(context.text, start, end):
        categories.discard("planned")  # "Plan: Tab. Dolo 650 BD": prescribed now
    if label == "TREATMENT" and _DONE_BEFORE.search(context.text[max(0, start - 8) : start]):
        categories.add("history")  # "H/o PTCA": a procedure done before
    for category in PRIORITY:
        if category in categories:
            return category
    section = section_of(context.headings, start)
    if section in FAMILY_SECTIONS:
        return "family"
    if section in HISTORY_SECTIONS and label == "TREATMENT":
        return "history"
    return "present"


def assert_entities(
    text: str, spans: Sequence[tuple[int, int, str]], headings: list[Heading] | None = None
) -> list[str]:
    """The assertion of each ``(start, end, label)`` span of ``text``, in order."""
    context = NoteContext.of(text, headings, [(s, e) for s, e, _ in spans])
    return [assert_mention(context, s, e, label) for s, e, label in spans]
