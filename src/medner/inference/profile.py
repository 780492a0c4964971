"""The profile of a note: numbers only, never its text (the definitions, documented in
:mod:`medner.monitoring.profile`, which also writes a model's reference profile). It lives here,
beside the one extraction path, so that the API, ``medner extract`` and the Spark job compute
the same numbers."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

VOCABULARY_FILE = "vocabulary.txt"
_SPACED = str.maketrans({c: " " for c in string.punctuation})
_DIGITS = string.digits.encode()
_CAPITALS = string.ascii_uppercase.encode()
OOV_SAMPLE = 200


def words(text: str) -> list[str]:
    """Lower-cased words: ASCII punctuation becomes a space, then whitespace splits (C-level
    string methods: the profile's cost is a small share of extraction)."""
    return text.translate(_SPACED).lower().split()


def note_profile(
    text: str,
    entities: Sequence[Mapping[str, Any]],
    labels: Iterable[str],
    vocabulary: frozenset[str] | None = None,
) -> dict[str, float]:
    """The numbers of one note (``oov_share`` only with a vocabulary)."""
    n = len(text)
    found = words(text)
    ascii_ = text.encode("ascii", "ignore")
    a = len(ascii_)
    profile: dict[str, float] = {
        "length_chars": float(n),
        "length_words": float(len(found)),
        # counted by bytes methods in C, not by a Python loop over the characters
        "digit_share": (a - len(ascii_.translate(None, _DIGITS))) / n if n else 0.0,
        "upper_share": (a - len(ascii_.translate(None, _CAPITALS))) / n if n else 0.0,
        "non_ascii_share": (n - a) / n if n else 0.0,
    }
    if vocabulary is not None:
        # at most OOV_SAMPLE words, evenly spaced through the note: a long note's share is
        # estimated, not counted, so profiling stays a small share of extraction
        sample = found[:: max(1, len(found) // OOV_SAMPLE)]
        known = sum(map(vocabulary.__contains__, sample))
        profile["oov_share"] = (len(sample) - known) / len(sample) if sample else 0.0
    counts = Counter(str(e["label"]) for e in entities)
    for label in labels:
        profile[f"{label}_per_1k"] = 1000 * counts.get(label, 0) / n if n else 0.0
    return {k: round(v, 6) for k, v in profile.items()}


def read_vocabulary(model_dir: Path) -> frozenset[str] | None:
    path = model_dir / VOCABULARY_FILE
    if not path.is_file():
        return None
    return frozenset(path.read_text(encoding="utf-8").split())
