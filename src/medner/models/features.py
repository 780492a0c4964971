"""CRF features for a sentence of words, computed fast enough for real-time extraction.

Everything that depends on one word alone (its normalised form, affixes, shape, flags and word
cluster) is computed once per word type and cached, already prefixed for each window offset the
token can be seen from. A token's feature list is then a concatenation of cached lists plus two
bigrams. At inference the cache can be restricted to the attributes the trained model knows, so
the tagger never hashes a string it would ignore.

``FEATURE_VERSION`` changes whenever the features of a word change, so that a saved model is
never used with features it was not trained on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

FEATURE_VERSION = 3

_DIGITS = re.compile(r"\d")
_SHAPE_MAP = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "X" * 26 + "x" * 26 + "d" * 10,
)
_SQUEEZE = re.compile(r"(.)\1+")


class FeatureConfig(BaseModel):
    """Which features the CRF sees."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(2, ge=0, le=3, description="Words either side whose forms are features.")
    prefixes: list[int] = Field(default=[3, 4], description="Prefix lengths of the current word.")
    suffixes: list[int] = Field(
        default=[2, 3, 4], description="Suffix lengths of the current word."
    )
    shape: bool = Field(True, description="Word shape (Xxdd...) of the current word.")
    flags: bool = Field(
        True, description="Upper-case, title-case, digit, hyphen and punctuation flags and length."
    )
    context_affixes: bool = Field(True, description="The ±1 words' 3-suffixes as features.")
    context_shape: bool = Field(True, description="The ±1 words' shapes as features.")
    bigrams: bool = Field(True, description="Word bigrams (-1,0) and (0,+1) as features.")
    clusters: bool = Field(
        True, description="Word-cluster path prefixes (learned from unlabelled text) as features."
    )
    cluster_prefixes: list[int] = Field(
        default=[4, 8, 12, 20], description="Bit-path prefix lengths of the cluster features."
    )
    context_cluster_prefixes: list[int] = Field(
        default=[8], description="Bit-path prefix lengths of the ±1 words' cluster features."
    )
    lexicon: bool = Field(
        False,
        description="Vocabulary kinds of the word and of the ±1 and ±2 words (drug name, "
        "ICD-10-CM word, shorthand for a dosage form, a frequency, a disease...): "
        "medner.data.vocabulary. Off in models trained before it existed.",
    )


def normalise(word: str) -> str:
    """Lower-case with every digit replaced by 0: ``4.7`` and ``3.2`` share features."""
    return _DIGITS.sub("0", word.lower())


def word_shape(word: str) -> str:
    """``Xxxxx`` style shape with character classes, then runs squeezed: ``HbA1c`` -> ``XxXdx``."""
    return _SQUEEZE.sub(r"\1", word.translate(_SHAPE_MAP))


class FeatureExtractor:
    """Turns sentences of words into lists of CRF attribute strings."""

    def __init__(
        self,
        config: FeatureConfig,
        clusters: dict[str, str] | None = None,
        lexicon: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.clusters = clusters if config.clusters else None
        self.lexicon = lexicon if config.lexicon else None
        self._offsets = list(range(-config.window, config.window + 1))
        self._cache: dict[str, tuple[list[str], ...]] = {}
        self._allowed: frozenset[str] | None = None
        self._max_cache = 500_000
        self._left_pad = self._padding(-1)
        self._right_pad = self._padding(1)

    def restrict(self, attributes: frozenset[str] | None) -> None:
        """Emit only these attributes (those the trained model has weights for)."""
        self._allowed = attributes
        self._cache.clear()

    def _word_features(self, word: str) -> tuple[list[str], ...]:
        cfg = self.config
        norm = normalise(word)
        low = word.lower()
        shape = word_shape(word)
        center = [f"w={norm}"]
        if cfg.shape:
            center.append(f"sh={shape}")
        center += [f"p{n}={low[:n]}" for n in cfg.prefixes if len(low) > n]
        center += [f"s{n}={low[-n:]}" for n in cfg.suffixes if len(low) > n]
        if cfg.flags:
            if word.isupper() and any(c.isalpha() for c in word):
                center.append("upper")
            if word[:1].isupper() and word[1:].islower():
                center.append("title")
            if any(c.isdigit() for c in word):
                center.append("digit")
            if "-" in word:
                center.append("hyphen")
            if not any(c.isalnum() for c in word):
                center.append("punct")
            center.append(f"len={min(len(word), 8)}")
        if "-" in word:
            center += [f"part={p}" for p in norm.split("-") if p]
        cluster = self.clusters.get(low) if self.clusters else None
        if cluster is not None:
            center += [f"c{n}={cluster[:n]}" for n in cfg.cluster_prefixes]
        kinds = self.lexicon.get(low, "").split(",") if self.lexicon is not None else []
        kinds = [k for k in kinds if k]
        center += [f"lex={k}" for k in kinds]
        per_offset: list[list[str]] = []
        for o in self._offsets:
            if o == 0:
                feats = center
            else:
                feats = [f"{o}:w={norm}"]
                if abs(o) == 1:
                    if cfg.context_affixes:
                        feats.append(f"{o}:s3={low[-3:]}")
                    if cfg.context_shape:
                        feats.append(f"{o}:sh={shape}")
                    if cluster is not None:
                        feats += [f"{o}:c{n}={cluster[:n]}" for n in cfg.context_cluster_prefixes]
                    feats += [f"{o}:lex={k}" for k in kinds]
                else:  # two words away: the shorthand around a name (a form before, a dose after)
                    feats += [f"{o}:lex={k}" for k in kinds if k.startswith("abbr-")]
            if self._allowed is not None:
                feats = [f for f in feats if f in self._allowed]
            per_offset.append(feats)
        per_offset.append([norm])  # last: the normalised form, for bigrams
        return tuple(per_offset)

    def _padding(self, side: int) -> tuple[list[str], ...]:
        """A pseudo-word beyond the sentence edge: ``BOS``/``EOS`` seen from the next word."""
        per_offset: list[list[str]] = []
        for o in self._offsets:
            per_offset.append(
                ["BOS"] if side < 0 and o == -1 else ["EOS"] if side > 0 and o == 1 else []
            )
        per_offset.append(["<s>" if side < 0 else "</s>"])
        return tuple(per_offset)

    def sentence_features(self, words: Sequence[str]) -> list[list[str]]:
        """One list of attribute strings per word of the sentence."""
        cache = self._cache
        if len(cache) > self._max_cache:
            cache.clear()
        pad = max(self.config.window, 1)
        entries = [self._left_pad] * pad
        for word in words:
            entry = cache.get(word)
            if entry is None:
                entry = self._word_features(word)
                cache[word] = entry
            entries.append(entry)
        entries += [self._right_pad] * pad
        # (column of per-offset feature lists, shift from the token's index into ``entries``)
        shifts = [([e[k] for e in entries], pad + o) for k, o in enumerate(self._offsets)]
        norms = [e[-1][0] for e in entries]
        allowed = self._allowed
        bigrams = self.config.bigrams
        out: list[list[str]] = []
        for i in range(len(words)):
            feats = ["bias"]
            for column, shift in shifts:
                feats += column[i + shift]
            if bigrams:
                j = i + pad
                left = f"b-1={norms[j - 1]}|{norms[j]}"
                right = f"b+1={norms[j]}|{norms[j + 1]}"
                if allowed is None or left in allowed:
                    feats.append(left)
                if allowed is None or right in allowed:
                    feats.append(right)
            out.append(feats)
        return out
