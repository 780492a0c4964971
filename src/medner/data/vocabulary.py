"""Vocabularies the models read, loaded offline from pinned packages and medner's resources.

- **Drug names**: the dictionary of the ``drug-named-entity-recognition`` package (MIT, Fast Data
  Science; about 107,000 names and brand variants of 20,000 generics, from DrugBank, MeSH,
  Wikipedia and the NHS). Read from the package's data file, never through its finder (which can
  call a web service).
- **Disease words**: the descriptions of ICD-10-CM, April 2026 release (CDC, public domain), as
  shipped in the ``simple-icd-10-cm`` package (MIT).
- **Indian clinical shorthand**: ``resources/abbreviations_in.tsv``, written by the medner team
  (abbreviation, expansion, kind: disease, treatment, dosage form, frequency, ...).

``build_lexicon()`` turns them into what the CRF's lexicon features look up: each lower-cased
word with its kinds (``drug``, ``icd``, ``abbr-<kind>``). A trained model keeps its lexicon in
its own directory, so the packages are needed to train, not to serve.
"""

from __future__ import annotations

import bz2
import importlib.metadata
import importlib.util
import pickle
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from medner.errors import ConfigError

ABBREVIATIONS_FILE = "abbreviations_in.tsv"
# words too common in notes to count as a vocabulary hit on their own
_COMMON = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "done",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "left",
        "right",
        "more",
        "most",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "without",
        "you",
        "your",
        "unspecified",
        "specified",
        "elsewhere",
        "classified",
        "initial",
        "encounter",
        "subsequent",
        "sequela",
        "site",
        "part",
        "type",
        "due",
        "other",
        "unspecified",
        "region",
        "bilateral",
        "level",
        "multiple",
        "single",
        "stage",
        "degree",
        "complete",
        "incomplete",
        "without",
        "with",
        "age",
    ]
)
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:-[^\W_]+)*")


@dataclass(frozen=True)
class Abbreviation:
    short: str
    expansion: str
    kind: str


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the {name!r} package is not installed (it ships a vocabulary medner trains with)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def versions() -> dict[str, str]:
    """Provenance: the version of each vocabulary source."""
    out = {"abbreviations": "medner " + _medner_version()}
    for dist in ("drug-named-entity-recognition", "simple-icd-10-cm"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _medner_version() -> str:
    import medner

    return medner.__version__


def drug_dictionary() -> dict[str, Any]:
    """The drug dictionary's data file, as the package ships it (``drug_variant_to_canonical``,
    ``drug_canonical_to_data``, ``drug_variant_to_variant_data``). Not cached: each user keeps
    what it needs of it."""
    path = _package_dir("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(path, "rb") as f:
        data: dict[str, Any] = pickle.load(f)  # the package's own file, pinned in the constraints
    return data


@cache
def drug_names() -> frozenset[str]:
    """Every drug name and brand variant of the drug dictionary, lower-cased."""
    return frozenset(str(name).lower() for name in drug_dictionary()["drug_variant_to_canonical"])


@cache
def icd_descriptions() -> tuple[str, ...]:
    """The description of every ICD-10-CM code (chapter, block and diagnosis codes)."""
    folder = _package_dir("simple_icd_10_cm") / "data"
    tabular = sorted(folder.glob("icd10c-tabular-*.xml"))
    if not tabular:
        raise ConfigError(f"no ICD-10-CM tabular file in {folder}")
    root = ET.parse(tabular[-1]).getroot()
    return tuple(desc.text for desc in root.iter("desc") if desc.text)


@cache
def icd_module() -> Any:
    """The ``simple_icd_10_cm`` package (imported quietly: it reads its own data with
    ``importlib.resources``' deprecated functions)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

    return simple_icd_10_cm


@cache
def abbreviations() -> tuple[Abbreviation, ...]:
    """The team's table of Indian clinical shorthand."""
    text = resources.files("medner.resources").joinpath(ABBREVIATIONS_FILE).read_text("utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ConfigError(
                f"{ABBREVIATIONS_FILE} line {number}: expected 3 tab-separated fields"
            )
        rows.append(Abbreviation(*parts))
    return tuple(rows)


def build_lexicon() -> dict[str, str]:
    """``word -> kinds`` (comma-separated, sorted) for the CRF's lexicon features.

    A word is ``drug`` when it is a one-word name in the drug dictionary, ``icd`` when it is a
    content word of some ICD-10-CM description, and ``abbr-KIND`` when it is in the shorthand
    table (slash forms are left to the tokenizer, which splits them).
    """
    kinds: dict[str, set[str]] = {}
    for name in drug_names():
        if " " not in name and len(name) >= 3 and name not in _COMMON and _WORD.fullmatch(name):
            kinds.setdefault(name, set()).add("drug")
    for description in icd_descriptions():
        for word in _WORD.findall(description.lower()):
            if len(word) >= 4 and word not in _COMMON:
                kinds.setdefault(word, set()).add("icd")
    for abbreviation in abbreviations():
        if "/" not in abbreviation.short and abbreviation.short.lower() not in _COMMON:
            kinds.setdefault(abbreviation.short.lower(), set()).add(f"abbr-{abbreviation.kind}")
    return {word: ",".join(sorted(k)) for word, k in sorted(kinds.items())}
