"""Sentence splitting for clinical notes, as character spans of the original text.

Boundaries, in the forms MTSamples-style notes use:

- after ``.``, ``!`` or ``?`` followed by space and an upper-case letter, digit or bracket,
  unless the period belongs to an abbreviation token (``Dr.``, ``b.i.d.``) or a decimal;
- before a section heading (``,HISTORY OF PRESENT ILLNESS:``) and after its colon;
- before a numbered list item (``, ,1.  Left atrial enlargement``);
- at a blank line, and at a line break followed by a list item or heading.

A sentence span never starts or ends with white space or the ``,`` separators of the export
format, so spans are tight around their text.
"""

from __future__ import annotations

import itertools
import re

from medner.text.tokenize import ABBREVIATIONS

# Candidate boundary positions; each match's ``end()`` (or group ``cut``) is where a new
# sentence may begin.
_HEADING = r"(?=[A-Z0-9/&()'\-]*[A-Z])[A-Z0-9][A-Z0-9/&()'\-]*(?:[ \t]+[A-Z0-9/&()'\-]+)*[ \t]*:"
_BOUNDARY_RE = re.compile(
    r"""
      (?P<stop>[.!?]+["')\]]*)(?=\s+["'(\[]?[A-Z0-9])     # end punctuation, then a capital
    | (?P<stop2>[.!?]+)(?=,+\s*[A-Z0-9])                   # MTSamples: 'done.,NEXT'
    | (?:^|(?<=[,\n]))[ \t]*(?="""
    + _HEADING
    + r""")     # before a heading
    | (?<=:)(?=[\s,]*[^\s,])(?<=[A-Z]:)                    # after a heading's colon
    | (?<=[\s,])(?=\d{1,2}\.\s+[A-Z])                      # before a numbered list item
    | \n[ \t]*\n                                           # blank line
    | \n(?=[ \t]*(?:[-*\u2022]|\d{1,2}[.)])\s)             # line break before a list item
    """,
    re.VERBOSE,
)
_HEADING_RE = re.compile(_HEADING)
_LIST_NUMBER_RE = re.compile(r"(?:^|(?<=[\s,]))\d{1,2}$")
_WORD_BEFORE_RE = re.compile(r"([^\W\d_][\w.]*)\.?$")
_TRIM = " \t\r\n,"


def _is_abbreviation_period(text: str, dot: int) -> bool:
    """Whether the period at ``dot`` belongs to an abbreviation rather than ending a sentence."""
    m = _WORD_BEFORE_RE.search(text, max(0, dot - 20), dot)
    if m is None:
        return False
    word = m.group(1)
    if "." in word:  # b.i.d, e.g  (the last period is ``dot`` itself)
        return True
    return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _is_heading_colon(text: str, colon: int) -> bool:
    """Whether the colon at ``colon`` closes an upper-case section heading."""
    line_start = max(
        text.rfind(",", 0, colon), text.rfind("\n", 0, colon), text.rfind(".", 0, colon)
    )
    head = text[line_start + 1 : colon + 1].strip()
    return bool(head) and _HEADING_RE.fullmatch(head) is not None and any(c.isalpha() for c in head)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a note as ``(start, end)`` offsets into ``text``.

    Spans are in order, never overlap, and are trimmed of white space and ``,`` separators;
    text made only of those characters yields no sentence.
    """
    cuts = [0]
    for m in _BOUNDARY_RE.finditer(text):
        stop = m.group("stop") or m.group("stop2")
        if stop is not None:
            dot = m.start()
            if stop.startswith(".") and (
                _is_abbreviation_period(text, dot)
                or _LIST_NUMBER_RE.search(text, max(0, dot - 3), dot) is not None
                or (
                    dot > 0
                    and text[dot - 1].isdigit()
                    and dot + 1 < len(text)
                    and text[dot + 1].isdigit()
                )
            ):
                continue
            cuts.append(m.end())
        elif m.group(0).startswith("\n"):
            cuts.append(m.end())
        elif m.start() > 0 and text[m.start() - 1] == ":":
            if _is_heading_colon(text, m.start() - 1):
                cuts.append(m.start())
        else:
            cuts.append(m.start())
    cuts.append(len(text))

    spans: list[tuple[int, int]] = []
    last = 0
    for a, b in itertools.pairwise(cuts):
        a = max(a, last)
        if b <= a:
            continue
        while a < b and text[a] in _TRIM:
            a += 1
        while b > a and text[b - 1] in _TRIM:
            b -= 1
        if b > a:
            spans.append((a, b))
            last = b
    return spans
