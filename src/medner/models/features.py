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
    context_affixes: bool = Field(
        True, description="Also give the ±1 words' 3-suffix and shape as features."
    )
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


def normalise(word: str) -> str:
    """Lower-case with every digit replaced by 0: ``4.7`` and ``3.2`` share features."""
    return _DIGITS.sub("0", word.lower())


def word_shape(word: str) -> str:
    """``Xxxxx`` style shape with character classes, then runs squeezed: ``HbA1c`` -> ``XxXdx``."""
    return _SQUEEZE.sub(r"\1", word.translate(_SHAPE_MAP))


class FeatureExtractor:
    """Turns sentences of words into lists of CRF attribute strings."""

    def __init__(self, config: FeatureConfig, clusters: dict[str, str] | None = None) -> None:
        self.config = config
        self.clusters = clusters if config.clusters else None
        self._offsets = [o for o in range(-config.window, config.window + 1)]
        self._cache: dict[str, tuple[list[str], ...]] = {}
        self._allowed: frozenset[str] | None = None
        self._max_cache = 500_000

    def restrict(self, attributes: frozenset[str] | None) -> None:
        """Emit only these attributes (those the trained model has weights for)."""
        self._allowed = attributes
        self._cache.clear()

    def _word_features(self, word: str) -> tuple[list[str], ...]:
        cfg = self.config
        norm = normalise(word)
        low = word.lower()
        shape = word_shape(word)
        center = [f"w={norm}", f"sh={shape}"]
        center += [f"p{n}={low[:n]}" for n in cfg.prefixes if len(low) > n]
        center += [f"s{n}={low[-n:]}" for n in cfg.suffixes if len(low) > n]
        if word.isupper() and any(c.isalpha() for c in word):
            center.append("upper")
        if word[:1].isupper() and word[1:].islower():
            center.append("title")
        if any(c.isdigit() for c in word):
            center.append("digit")
        if "-" in word:
            center.append("hyphen")
            center += [f"part={p}" for p in normalise(word).split("-") if p]
        if not any(c.isalnum() for c in word):
            center.append("punct")
        center.append(f"len={min(len(word), 8)}")
        cluster = self.clusters.get(low) if self.clusters else None
        if cluster is not None:
            center += [f"c{n}={cluster[:n]}" for n in cfg.cluster_prefixes]
        per_offset: list[list[str]] = []
        for o in self._offsets:
            if o == 0:
                feats = center
            else:
                feats = [f"{o}:w={norm}"]
                if abs(o) == 1:
                    if cfg.context_affixes:
                        feats += [f"{o}:s3={low[-3:]}", f"{o}:sh={shape}"]
                    if cluster is not None:
                        feats += [f"{o}:c{n}={cluster[:n]}" for n in cfg.context_cluster_prefixes]
            if self._allowed is not None:
                feats = [f for f in feats if f in self._allowed]
            per_offset.append(feats)
        return tuple(per_offset)

    def sentence_features(self, words: Sequence[str]) -> list[list[str]]:
        """One list of attribute strings per word of the sentence."""
        cache = self._cache
        if len(cache) > self._max_cache:
            cache.clear()
        table = []
        for w in words:
            entry = cache.get(w)
            if entry is None:
                entry = self._word_features(w)
                cache[w] = entry
            table.append(entry)
        n = len(words)
        window = self.config.window
        center_index = window
        bigrams = self.config.bigrams
        norms = [normalise(w) for w in words] if bigrams else []
        allowed = self._allowed
        out: list[list[str]] = []
        for i in range(n):
            feats = ["bias"]
            feats += table[i][center_index]
            for k, o in enumerate(self._offsets):
                if o == 0:
                    continue
                j = i + o
                if 0 <= j < n:
                    feats += table[j][k]
                elif o == -1:
                    feats.append("BOS")
                elif o == 1:
                    feats.append("EOS")
            if bigrams:
                left = f"b-1={norms[i - 1] if i else '<s>'}|{norms[i]}"
                right = f"b+1={norms[i]}|{norms[i + 1] if i + 1 < n else '</s>'}"
                if allowed is None or left in allowed:
                    feats.append(left)
                if allowed is None or right in allowed:
                    feats.append(right)
            out.append(feats)
        return out
