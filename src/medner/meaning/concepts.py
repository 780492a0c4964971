"""Normalisation: which drug a treatment is, which disease a disease mention names.

- **Drugs.** A TREATMENT written as a brand or a generic gets ``{"system": "generic-drug",
  "code": DrugBank id or null, "name": generic}``. Lookups, in order: the team's Indian brand
  table (``resources/prescriptions.yaml``: every brand with its main ingredient, and the
  generics), then the drug dictionary of the ``drug-named-entity-recognition`` package
  (DrugBank, MeSH, NHS names and brand variants), each first with the whole name and then
  without its trailing strength or variant (``Dolo 650`` → ``dolo``, ``Pan D`` → ``pan``);
  then, for a mention written as a prescription, the closest name of either with a similarity
  of at least ``FUZZY_THRESHOLD`` (typing slips: ``Azithromicin``). A name none of these
  knows, written as a prescription (``Tab. X``, ``X 1-0-1``), is ``"name": "unknown"``: never a
  guess under the threshold. A drug class or procedure the shorthand table knows (``OHA``,
  ``PTCA``) gets its expansion (``"system": "abbreviation"``); any other treatment has no
  concept.
- **Diseases.** A DISEASE gets ``{"system": "ICD-10-CM", "code", "name"}``: the best ICD-10-CM
  code and its title, found by the words of the mention after shorthand (``HTN`` →
  hypertension, ``resources/abbreviations_in.tsv``), Hinglish and Indian-English words
  (``bukhar`` → fever, ``resources/lay_terms_in.tsv``) and British spelling (``anaemia``) are
  turned into ICD-10-CM's wording; ``"expansion"`` when the mention was shorthand or a lay word,
  and ``"candidates"``: the best three ``[code, title]``. With no candidate, ``code`` is null.

Codes are candidates for a coder, not coding: docs/meaning.md says what they are good for.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from medner.data.vocabulary import abbreviations, drug_dictionary, icd_module

INDEX_FORMAT = 3  # bump when IcdIndex's arrays change
FUZZY_THRESHOLD = 0.84  # chosen on prescription dev (docs/meaning.md)
LAY_TERMS_FILE = "lay_terms_in.tsv"
_TOKEN = re.compile(r"[a-z0-9]+")
STOP = frozenset(
    ["of", "the", "and", "or", "in", "with", "to", "a", "an", "by", "due", "on", "at", "as", "for"]
)
# words of ICD-10-CM titles that do not make a title less fitting for a plain mention
NEUTRAL = STOP | frozenset(
    [
        "unspecified",
        "other",
        "essential",
        "primary",
        "without",
        "complications",
        "complication",
        "specified",
        "elsewhere",
        "classified",
        "site",
        "nos",
        "not",
        "mentioned",
        "unqualified",
        "acute",
    ]
)
_SPELLING = (
    ("haem", "hem"),
    ("aem", "em"),
    ("oea", "ea"),
    ("oes", "es"),
    ("paed", "ped"),
    ("leuc", "leuk"),
    ("isation", "ization"),
    ("tumour", "tumor"),
    ("oedema", "edema"),
    ("coeliac", "celiac"),
    ("ischaem", "ischem"),
    ("orrhoea", "orrhea"),
    ("rhoea", "rhea"),
)


@dataclass(frozen=True, slots=True)
class Concept:
    """What a mention names: a system, a code (or ``None``) and a name."""

    system: str
    code: str | None
    name: str
    expansion: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "code": self.code, "name": self.name}
        if self.expansion is not None:
            out["expansion"] = self.expansion
        if self.candidates:
            out["candidates"] = [list(c) for c in self.candidates]
        return out


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def american(text: str) -> str:
    """British medical spelling in ICD-10-CM's (American) form."""
    out = text.lower()
    for british, us in _SPELLING:
        out = out.replace(british, us)
    return out


def tokens(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(american(text))]


# -- the tables ----------------------------------------------------------------------------------
@cache
def lay_terms() -> dict[str, str]:
    """The team's Hinglish and Indian-English words with their English wording."""
    text = resources.files("medner.resources").joinpath(LAY_TERMS_FILE).read_text("utf-8")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            term, english = line.split("\t")
            out[term.lower()] = english
    return out


@cache
def expansions() -> dict[str, dict[str, str]]:
    """``{kind: {shorthand: expansion}}`` from the team's shorthand table."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for a in abbreviations():
        out[a.kind][a.short.lower()] = a.expansion
    return dict(out)


@cache
def brand_table() -> dict[str, str]:
    """The team's Indian brand table: ``{brand or generic (lower-case): generic}``."""
    source = resources.files("medner.resources").joinpath("prescriptions.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where it is built
    data = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)
    brands = list(data["brands_common"])
    generics = list(data["generics_common"])
    for specialty in data["specialties"].values():
        brands += specialty["brands"]
        generics += specialty["generics"]
    table = {str(g["name"]).lower(): str(g["name"]).lower() for g in generics}
    table.update({str(b["name"]).lower(): str(b["generic"]) for b in brands})
    return table


@cache
def _drug_dictionary() -> tuple[dict[str, str], dict[str, str | None], dict[str, bool]]:
    """The drug dictionary: variant → canonical, canonical → DrugBank id, variant → is brand."""
    data = drug_dictionary()
    variants = {
        str(k).lower(): str(v[0]).lower() for k, v in data["drug_variant_to_canonical"].items()
    }
    ids = {str(k).lower(): v.get("drugbank_id") for k, v in data["drug_canonical_to_data"].items()}
    brand = {
        str(k).lower(): bool(v.get("is_brand"))
        for k, v in data["drug_variant_to_variant_data"].items()
    }
    return variants, ids, brand


@cache
def _fuzzy_pool() -> dict[str, list[str]]:
    """Names to match typing slips against, by first letter: the brand table and the dictionary's
    one-word names."""
    variants, _, _ = _drug_dictionary()
    names = set(brand_table()) | {v for v in variants if " " not in v and len(v) >= 4}
    pool: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names):
        pool[name[0]].append(name)
    return dict(pool)


# -- drugs ---------------------------------------------------------------------------------------
def _drug_key(text: str) -> list[str]:
    words = [w for w in re.split(r"[\s\-]+", text.lower().strip(" .,")) if w]
    keys = []
    while words:
        keys.append(" ".join(words))
        words = words[:-1]
        if len(keys) > 3:
            break
    return keys


def _known_drug(key: str) -> Concept | None:
    table = brand_table()
    variants, ids, is_brand = _drug_dictionary()
    if key in table:
        generic = table[key]
        canonical = variants.get(generic)
        return Concept("generic-drug", ids.get(canonical) if canonical else None, generic)
    if key in variants:
        canonical = variants[key]
        name = (
            canonical if is_brand.get(key, False) or (key not in ids and key != canonical) else key
        )
        return Concept("generic-drug", ids.get(canonical), name)
    return None


@lru_cache(maxsize=65536)
def normalise_drug(text: str, threshold: float = FUZZY_THRESHOLD) -> Concept | None:
    """The generic a drug mention names, or ``None`` when no table knows it (``threshold``
    over 1 turns the typing-slip match off)."""
    keys = _drug_key(text)
    for key in keys:
        if len(key) >= 2 and (concept := _known_drug(key)) is not None:
            return concept
    if not keys:
        return None
    # a typing slip: the closest known name, on the mention without its strength
    word = next((k for k in reversed(keys) if len(k) >= 4), keys[0])
    if threshold > 1:
        return None  # fuzzy matching off
    pool = [n for n in _fuzzy_pool().get(word[0], []) if abs(len(n) - len(word)) <= 2]
    close = difflib.get_close_matches(word, pool, n=1, cutoff=threshold)
    if close:
        return _known_drug(close[0])
    return None


def normalise_treatment(
    text: str, drug_like: bool, threshold: float = FUZZY_THRESHOLD
) -> Concept | None:
    """A TREATMENT's concept: its generic drug, its expansion, ``unknown`` for a drug-like
    mention no table knows, else ``None``."""
    short = expansions().get("treatment", {}).get(text.lower().strip())
    if short is not None:
        drug = _known_drug(short.lower())  # "PCM" → paracetamol
        if drug is not None:
            return drug
        return Concept("abbreviation", None, short, expansion=short)
    # a typing slip is looked for only in what is written as a prescription
    drug = normalise_drug(text, threshold if drug_like else 2.0)
    if drug is not None:
        return drug
    if drug_like:
        return Concept("generic-drug", None, "unknown")
    return None


# -- diseases ------------------------------------------------------------------------------------
@dataclass(slots=True)
class IcdIndex:
    """ICD-10-CM codes, searchable by the words of their titles and inclusion terms
    (``Anorexia`` includes ``Loss of appetite``; ``Acute pharyngitis, unspecified`` includes
    ``Sore throat (acute) NOS``). Each title or term is an *entry*; the arrays are per entry."""

    codes: list[str]
    titles: list[str]
    postings: dict[str, np.ndarray]  # word -> entry indices
    idf: dict[str, float]
    leaf: np.ndarray  # the default billable code (index) each entry stands for
    content: np.ndarray  # words of the entry that are not NEUTRAL
    penalty: np.ndarray  # what the entry's length and a residual "other" cost it
    in_context: np.ndarray  # the entry is in a chapter for a context (pregnancy, newborn...)
    code_length: np.ndarray  # per code
    # chapters for a context a plain mention does not name: pregnancy (O), the newborn (P),
    # factors influencing health status (Z), external causes (V-Y)
    context_chapters = frozenset("OPZVWXY")

    @classmethod
    def build(cls) -> IcdIndex:
        icd = icd_module()
        codes = [c for c in icd.get_all_codes(True) if icd.is_category(c) or icd.is_subcategory(c)]
        position = {c: i for i, c in enumerate(codes)}
        titles = [icd.get_description(c) for c in codes]
        default = [position[_default_leaf(icd, c)] for c in codes]
        postings: dict[str, list[int]] = defaultdict(list)
        leaf: list[int] = []
        content: list[int] = []
        penalty: list[float] = []
        in_context: list[bool] = []
        for i, code in enumerate(codes):
            for phrase in (titles[i], *icd.get_inclusion_term(code)):
                words = frozenset(tokens(phrase)) - STOP
                for w in words:
                    postings[w].append(len(leaf))
                leaf.append(default[i])
                content.append(sum(w not in NEUTRAL for w in words))
                # a residual category ("Other ...") is not the default
                penalty.append(0.01 * len(words) + (0.4 if "other" in words else 0.0))
                in_context.append(code[0] in cls.context_chapters)
        n = len(leaf)
        return cls(
            codes,
            titles,
            {w: np.asarray(p, dtype=np.int32) for w, p in postings.items()},
            {w: math.log(n / len(p)) for w, p in postings.items()},
            np.asarray(leaf, dtype=np.int32),
            np.asarray(content, dtype=np.float64),
            np.asarray(penalty, dtype=np.float64),
            np.asarray(in_context, dtype=bool),
            np.asarray([len(c) for c in codes], dtype=np.int32),
        )

    def search(self, query: str, k: int = 3) -> list[tuple[str, str, float]]:
        """The ``k`` best billable ``(code, title, score)`` for ``query``: a match on a category
        stands for its default code (the unspecified one). An entry scores the share of the
        query's weight (idf) it covers, less 0.6 for each other word it has that is not
        NEUTRAL, less 0.5 in a context chapter the query does not name, less its penalty."""
        q = [w for w in dict.fromkeys(tokens(query)) if w not in STOP and w in self.idf]
        if not q:
            return []
        weight = {w: self.idf[w] * (0.3 if w in MODIFIERS else 1.0) for w in q}
        total = sum(weight.values())
        n = len(self.leaf)
        cover = np.zeros(n)
        matched = np.zeros(n)  # query words of the entry that are not NEUTRAL
        for w in q:
            cover[self.postings[w]] += weight[w]
            if w not in NEUTRAL:
                matched[self.postings[w]] += 1
        found = np.flatnonzero(cover)
        score = (
            cover[found] / total * 10
            - 0.6 * (self.content[found] - matched[found])
            - self.penalty[found]
        )
        if not any(w in CONTEXT_WORDS for w in q):
            score -= 0.5 * self.in_context[found]
        leaves = self.leaf[found]
        code_length = self.code_length[leaves]
        out: list[tuple[str, str, float]] = []
        for j in np.lexsort((leaves, code_length, -score)):
            i = int(leaves[j])
            if all(self.codes[i] != c for c, _, _ in out):
                out.append((self.codes[i], self.titles[i], round(float(score[j]), 3)))
                if len(out) == k:
                    break
        return out

    def save(self, path: Path) -> None:
        words = sorted(self.postings)
        lengths = [len(self.postings[w]) for w in words]
        # a name of its own: two processes building at once must not write one file
        tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp.npz")
        np.savez(
            tmp,
            codes=_packed(self.codes),
            titles=_packed(self.titles),
            words=_packed(words),
            indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            indices=np.concatenate([self.postings[w] for w in words]).astype(np.int32),
            idf=np.asarray([self.idf[w] for w in words]),
            leaf=self.leaf,
            content=self.content,
            penalty=self.penalty,
            in_context=self.in_context,
            code_length=self.code_length,
        )
        tmp.replace(path)  # whole or not at all

    @classmethod
    def load(cls, path: Path) -> IcdIndex:
        with np.load(path, allow_pickle=False) as f:
            words = _unpacked(f["words"])
            indptr, indices, idf = f["indptr"], f["indices"], f["idf"]
            return cls(
                _unpacked(f["codes"]),
                _unpacked(f["titles"]),
                {w: indices[indptr[i] : indptr[i + 1]] for i, w in enumerate(words)},
                {w: float(idf[i]) for i, w in enumerate(words)},
                f["leaf"],
                f["content"],
                f["penalty"],
                f["in_context"],
                f["code_length"],
            )


def _default_leaf(icd: Any, code: str) -> str:
    """The billable code a category stands for when nothing more is said: its unspecified
    child, step by step (``G40.9`` → ``G40.90`` → ``G40.909``; ``E11`` → ``E11.9``)."""

    def preference(child: str) -> int:
        title = icd.get_description(child).lower()
        return (
            2 * child.endswith("9")
            + child.endswith("0")
            + 2 * ("unspecified" in title)
            - 3 * (" with " in f" {title} " and "without" not in title)
        )

    while not icd.is_leaf(code):
        code = max(icd.get_children(code), key=lambda c: (preference(c), -len(c)))
    return code


def _packed(strings: list[str]) -> np.ndarray:
    """Strings as one array of UTF-8 bytes, newline-separated (a numpy string array would be
    as wide as the longest title)."""
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _unpacked(data: np.ndarray) -> list[str]:
    return data.tobytes().decode("utf-8").split("\n")


def _index_key() -> str:
    """What the index depends on: the ICD-10-CM release and how words are read and scored."""
    import hashlib
    import importlib.metadata

    source = repr((INDEX_FORMAT, sorted(STOP), sorted(NEUTRAL), _SPELLING, _stem("tests")))
    version = importlib.metadata.version("simple-icd-10-cm")
    return f"{version}-{hashlib.sha1(source.encode()).hexdigest()[:10]}"


_INDEX_LOCK = threading.Lock()


def icd_index() -> IcdIndex:
    """The ICD-10-CM index, loaded or built once per process (``_icd_index``)."""
    with _INDEX_LOCK:  # the API's threads: one of them builds it, the others wait
        return _icd_index()


@cache
def _icd_index() -> IcdIndex:
    """The ICD-10-CM index: built from the ``simple-icd-10-cm`` package once (some seconds) and
    kept under ``MEDNER_CACHE_DIR`` (default ``~/.cache/medner``) for the next process."""
    folder = Path(os.environ.get("MEDNER_CACHE_DIR") or Path.home() / ".cache" / "medner")
    path = folder / f"icd10cm-index-{_index_key()}.npz"
    if path.exists():
        try:
            return IcdIndex.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable: built again below
    index = IcdIndex.build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        index.save(path)
    except OSError:
        pass  # a read-only home: every process builds it
    return index


def disease_wording(text: str) -> tuple[str, str | None]:
    """The mention in ICD-10-CM's words, and the expansion used (``None`` when none was)."""
    key = " ".join(text.lower().split())
    if key in lay_terms():
        return lay_terms()[key], lay_terms()[key]
    diseases = expansions().get("disease", {})
    words = key.split()
    if any(w in diseases for w in words):
        expanded = " ".join(diseases.get(w, w) for w in words)
        expanded = lay_terms().get(expanded, expanded)
        return expanded, expanded
    if any(w in lay_terms() for w in words):
        expanded = " ".join(lay_terms().get(w, w) for w in words)
        return expanded, expanded
    return key, None


# words of a mention that say how much, not what: they count little in the match
MODIFIERS = frozenset(
    [
        "low",
        "high",
        "grade",
        "mild",
        "moderate",
        "severe",
        "recurrent",
        "persistent",
        "intermittent",
        "occasional",
        "generalised",
        "generalized",
        "excessive",
    ]
)
CONTEXT_WORDS = frozenset(
    [
        "pregnancy",
        "pregnant",
        "gestational",
        "newborn",
        "neonatal",
        "carrier",
        "history",
        "screening",
        "contact",
        "exposure",
        "encounter",
    ]
)
MIN_SCORE = 4.0  # a candidate must cover most of the mention's words


@lru_cache(maxsize=65536)
def normalise_disease(text: str) -> Concept:
    """A DISEASE mention's ICD-10-CM candidates."""
    wording, expansion = disease_wording(text)
    found = [c for c in icd_index().search(wording, 3) if c[2] >= MIN_SCORE]
    if not found:
        return Concept("ICD-10-CM", None, expansion or text, expansion=expansion)
    code, title, _ = found[0]
    return Concept(
        "ICD-10-CM",
        code,
        title,
        expansion=expansion,
        candidates=tuple((c, t) for c, t, _ in found),
    )
