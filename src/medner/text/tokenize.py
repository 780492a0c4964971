"""Offset-preserving tokenization for clinical and biomedical text.

One tokenizer serves training and inference: corpora are read into text plus character spans
and re-tokenized here, so the model sees the same token boundaries on a corpus sentence as on a
raw note. A token is a ``(start, end)`` pair of code-point offsets into the text, so
``text[start:end]`` is always the token.

Choices, with the clinical cases they serve:

- dotted abbreviations stay whole: ``b.i.d.``, ``e.g.``, ``Dr.``, ``pt.``, ``Tab.``;
- decimals and grouped numbers stay whole (``4.7``, ``1,000``), and a number is split from a
  unit glued to it (``500mg`` -> ``500`` ``mg``), ordinals stay whole (``3rd``);
- hyphenated words stay whole (``non-Hodgkin``, ``23-year-old``, ``Roux-en-Y``), as in BioText;
- slashes always split (``HTN/DM`` -> ``HTN`` ``/`` ``DM``; ``mg/kg`` -> ``mg`` ``/`` ``kg``)
  so that each side can be an entity;
- letters followed by digits stay whole (``DM2``, ``BRCA1``, ``H1N1``), except a duration's
  ``x`` (``x5days`` -> ``x`` ``5`` ``days``);
- prescription shorthand keeps its parts apart where they mean different things
  (``K/C/O`` -> ``K`` ``/`` ``C`` ``/`` ``O``; ``Tab.Dolo`` -> ``Tab`` ``.`` ``Dolo``) and whole
  where it is one thing (a dosing schedule ``1-0-1`` is one token);
- every other non-space character is a token of its own.
"""

from __future__ import annotations

import re

# Abbreviations that keep their final period (matched case-insensitively). Units (``mg.``,
# ``cm.``) and common words (``no.``) are left out on purpose: in notes they end sentences far
# more often than they abbreviate.
ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "pt",
        "pts",
        "vs",
        "approx",
        "tab",
        "tabs",
        "cap",
        "caps",
        "inj",
        "syp",
        "syr",
        "fig",
        "figs",
        "al",
        "st",
        "hx",
        "dx",
        "tx",
        "rx",
        "sx",
        "fx",
        "cf",
        "temp",
        "resp",
    }
)

_ABBREV_ALT = "|".join(sorted((re.escape(a) for a in ABBREVIATIONS), key=len, reverse=True))

_TOKEN_RE = re.compile(
    r"""
      (?:[^\W\d_]\.){2,}(?![^\W_])                 # dotted abbreviations: b.i.d. e.g. U.S.
    | (?i:(?<![^\W_])(?:"""
    + _ABBREV_ALT
    + r""")\.)(?=\s|$|[,;:)\]])                      # listed abbreviations: Dr. pt. Tab.
    | [^\W_]+(?:-[^\W_]+)+                          # hyphenated words: non-Hodgkin, 2-D
    | \d+(?:st|nd|rd|th)(?![^\W_])                   # ordinals: 3rd, 10th
    | \d+(?:[.,]\d+)+                                # decimals and grouped numbers: 4.7, 1,000
    | (?<![^\W_])[xX](?=\d)                         # a duration's x: x5days -> x 5 days
    | \d+                                            # integers (a glued unit becomes a word)
    | [^\W\d_]+(?:\d+[^\W\d_]*)*                     # words, with trailing digits: DM2, BRCA1
    | \S                                             # anything else, one character at a time
    """,
    re.VERBOSE,
)


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Token spans of ``text[start:end]`` as offsets into ``text``.

    Args:
        text: the whole note (offsets always refer to it).
        start: where to begin, for example a sentence start.
        end: where to stop; the end of the text by default.

    Returns:
        ``(start, end)`` pairs in order, never overlapping, never empty, never spanning space.
    """
    stop = len(text) if end is None else end
    return [m.span() for m in _TOKEN_RE.finditer(text, start, stop)]
