"""Links: which disease each treatment of a prescription is given for.

Rules read from the note's structure, in the order docs/annotation.md ("Links") gives them:

1. **Said**: a treatment followed on its line by ``for``, ``in view of``, ``to treat`` or
   ``against`` and a disease (``Tab. Dolo 650 SOS for fever``) is linked to the diseases named
   there, and only to them.
2. **The same phrase of the history**: ``K/C/O HTN, DM on OHA``, ``s/p PTCA for CAD``: a
   treatment in a sentence or line that names present or past diseases before it is linked to
   them.
3. **The prescription**: any other treatment (the Rx, advice and plan sections) is linked to
   the diagnoses (``Dx:``, ``Impression:``) that are present or possible; in a note without a
   diagnosis, to the present complaints (the present diseases before the first treatment that
   are not in the history).

Absent, family and (outside rule 2) history mentions are never linked. A link is a pair of
indices into the note's entity list: ``(treatment, disease)``.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence

from medner.text.sections import Heading, find_headings, section_of

DIAGNOSIS_SECTIONS = frozenset(
    [
        "dx",
        "diagnosis",
        "diagnoses",
        "final diagnosis",
        "provisional diagnosis",
        "prov. dx",
        "prov dx",
        "impression",
        "imp",
        "assessment",
        "d/d",
        "ddx",
        "differential diagnosis",
        "diagnosis -",
        "dx -",
    ]
)
LINKABLE = frozenset({"present", "possible"})
_SAID = re.compile(r"\b(?:for|in view of|to treat|against|because of|given for)\b", re.I)
_HISTORY = re.compile(
    r"(?<![\w/])(?:k/c/o|kco|k\.c\.o\.|h/o|known case of|known c/o|pmh|past h/o|old case of|"
    r"s/p|status post)(?![\w/])",
    re.I,
)
_CUT = re.compile(r"\n|;|(?<=[a-z0-9)\]])\.(?=\s+[A-Za-z(])")


def _segments(text: str) -> list[tuple[int, int]]:
    cuts = [0, *(m.end() for m in _CUT.finditer(text)), len(text)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _segment_of(segments: list[tuple[int, int]], offset: int) -> int:
    """The index of the segment ``offset`` falls in (segments are contiguous, in order)."""
    return max(0, bisect.bisect_right(segments, (offset, float("inf"))) - 1)


def link_entities(
    text: str,
    entities: Sequence[tuple[int, int, str, str]],
    headings: list[Heading] | None = None,
    complaints_fallback: bool = True,
    history_phrase: bool = True,
) -> list[tuple[int, int]]:
    """The links of one note: ``(treatment index, disease index)`` pairs, in order, from its
    entities as ``(start, end, label, assertion)``."""
    headings = find_headings(text) if headings is None else headings
    segments = _segments(text)
    where = [_segment_of(segments, e[0]) for e in entities]
    history_segment = {i for i, (a, b) in enumerate(segments) if _HISTORY.search(text[a:b])}
    diseases = [i for i, e in enumerate(entities) if e[2] == "DISEASE"]
    treatments = [i for i, e in enumerate(entities) if e[2] == "TREATMENT"]
    diagnoses = [
        i
        for i in diseases
        if entities[i][3] in LINKABLE and section_of(headings, entities[i][0]) in DIAGNOSIS_SECTIONS
    ]
    first_treatment = entities[treatments[0]][0] if treatments else len(text)
    complaints = [
        i
        for i in diseases
        if entities[i][3] == "present"
        and entities[i][0] < first_treatment
        and where[i] not in history_segment
        and i not in diagnoses
    ]
    links: list[tuple[int, int]] = []
    for t in treatments:
        start, end = entities[t][0], entities[t][1]
        seg = where[t]
        # 1. said on its line: "... for fever"
        next_treatment = min(
            (entities[o][0] for o in treatments if entities[o][0] > start and where[o] == seg),
            default=segments[seg][1],
        )
        said = _SAID.search(text, end, next_treatment)
        if said:
            named = [
                d
                for d in diseases
                if said.end() <= entities[d][0] < next_treatment
                and where[d] == seg
                and entities[d][3] in LINKABLE | {"history"}
            ]
            if named:
                links.extend((t, d) for d in named)
                continue
        # 2. the history phrase: "K/C/O HTN, DM on OHA", "s/p PTCA for CAD"
        if history_phrase and seg in history_segment:
            same = [
                d
                for d in diseases
                if where[d] == seg
                and entities[d][0] < start
                and entities[d][3] in LINKABLE | {"history"}
            ]
            if same:
                links.extend((t, d) for d in same)
            continue
        # 3. the prescription: the diagnoses, else the complaints
        targets = diagnoses or (complaints if complaints_fallback else [])
        links.extend((t, d) for d in targets)
    return links
