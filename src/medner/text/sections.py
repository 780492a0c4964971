"""Section headings of a note: structure, never entities.

A heading is a short phrase at the start of a line (or of the note, or after ``.``, ``;`` or the
``,`` separators of the MTSamples export) followed by a colon, or by `` -`` for the headings
below; it is either a heading doctors write (``Dx:``, ``Rx:``, ``Chief complaints:``, ``Adv:``,
``O/E:``; case does not matter) or an upper-case phrase (``ALLERGIES:``, ``POSTOPERATIVE
DIAGNOSIS:``, ``ESTIMATED BLOOD LOSS:``). A line that is only ``Rx`` is a heading too.

The extraction path drops any entity inside a heading (docs/annotation.md): ``ANESTHESIA:``
heads a section; ``general anesthesia`` inside it is still a TREATMENT. ``section_of`` names the
section an offset falls in, for analytics and linking.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# headings as doctors write them, lower-cased, without the colon
KNOWN = frozenset(
    """
    dx|diagnosis|diagnoses|final diagnosis|provisional diagnosis|prov. dx|prov dx|impression|imp
    |assessment|d/d|ddx|differential diagnosis|rx|treatment|tx|medicines|medications|medication
    |prescription|advised rx|plan|treatment plan|advice|adv|adv.|instructions|general advice
    |investigations|inv|ix|adv inv|investigations advised|tests|lab|labs|o/e|on examination
    |examination|exam|vitals|gpe|findings|c/o|cc|chief complaints|chief complaint|complaints
    |presenting complaints|p/c|history|h/o|past history|pmh|past medical history|family history
    |fh|fhx|social history|allergies|allergy|follow up|follow-up|f/u|review|procedure|indications
    |history of present illness|hpi|also|note|remarks|diet|next visit|referral|medical history
    |surgical history|drug history|current medications|chief complaint -|complaints -
    """.replace("\n", "").split("|")
)
_KNOWN = frozenset(k.strip() for k in KNOWN if k.strip())
_PHRASE = r"[A-Za-z][A-Za-z0-9/&()' \-]{0,48}?"
_HEADING_RE = re.compile(
    r"(?:^|(?<=\n)|(?<=[.;,]))[ \t]*(?P<phrase>" + _PHRASE + r")[ \t]*(?P<mark>:|\s-(?=\s))",
    re.MULTILINE,
)
_BARE_RE = re.compile(r"(?:^|(?<=\n))[ \t]*(?P<phrase>Rx|RX|rx|Adv|Advice)[ \t]*(?=\n)")


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading's span (the phrase and its colon) and its name (lower-cased phrase)."""

    start: int
    end: int
    name: str


def _is_heading(phrase: str, mark: str) -> bool:
    name = phrase.strip().lower()
    if name in _KNOWN:
        return True
    if mark != ":":
        return False
    letters = [c for c in phrase if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and len(phrase.split()) <= 6


def find_headings(text: str) -> list[Heading]:
    """The headings of a note, in order."""
    out = []
    for m in _HEADING_RE.finditer(text):
        phrase = m.group("phrase")
        if _is_heading(phrase, m.group("mark").strip()):
            start = m.start("phrase")
            end = m.end("mark") if m.group("mark").strip() == ":" else m.end("phrase")
            out.append(Heading(start, end, phrase.strip().lower()))
    for m in _BARE_RE.finditer(text):
        out.append(Heading(m.start("phrase"), m.end("phrase"), m.group("phrase").lower()))
    out.sort(key=lambda h: h.start)
    return out


def inside_heading(headings: list[Heading], start: int, end: int) -> bool:
    """Whether the span ``[start, end)`` overlaps a heading."""
    i = bisect.bisect_right([h.start for h in headings], start) - 1
    return any(start < h.end and h.start < end for h in headings[max(0, i) : i + 2])


def section_of(headings: list[Heading], offset: int) -> str | None:
    """The name of the last heading before ``offset`` (``None`` before the first)."""
    i = bisect.bisect_right([h.start for h in headings], offset) - 1
    return headings[i].name if i >= 0 else None
