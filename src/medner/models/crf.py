"""The CRF backend (python-crfsuite): linear-chain CRF over medner's features.

A saved model is one directory:

- ``model.crfsuite``: the CRF weights;
- ``config.json``: backend, resolved configuration, labels, feature version, medner version;
- ``clusters.tsv``: the word clusters the features used (when enabled);
- ``lexicon.tsv``: the vocabulary kinds the features used (when enabled; ``word<TAB>kinds``);
- ``metrics.json``, ``MODEL_CARD.md``, ``environment.json``: written by training.

Loading checks the feature version, so features always match the weights.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pycrfsuite
from pydantic import BaseModel, ConfigDict, Field

import medner
from medner.errors import ModelLoadError
from medner.models.abbreviations import ABBREVIATIONS_SETTING, carry_abbreviations
from medner.models.base import MODEL_CONFIG_FILE, drop_headings, read_model_config
from medner.models.features import FEATURE_VERSION, FeatureConfig, FeatureExtractor
from medner.models.tagging import (
    PosteriorDecoder,
    TokenSpan,
    sentence_token_spans,
    spans_to_entities,
    tag_spans,
)
from medner.types import Entity

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.crfsuite"
SENTENCE_CACHE_SIZE = 100_000  # sentences whose entities are kept for reuse (0: no cache)
CLUSTERS_FILE = "clusters.tsv"
LEXICON_FILE = "lexicon.tsv"


class CRFConfig(BaseModel):
    """Training settings of the CRF backend."""

    model_config = ConfigDict(extra="forbid")

    algorithm: str = Field("lbfgs", description="crfsuite training algorithm.")
    c1: float = Field(0.02, ge=0, description="L1 regularisation (sparsity) coefficient.")
    c2: float = Field(0.3, ge=0, description="L2 regularisation coefficient.")
    max_iterations: int = Field(300, ge=1, description="Upper bound on optimiser iterations.")
    all_possible_transitions: bool = Field(
        True, description="Learn weights for transitions unseen in training (often negative)."
    )
    min_freq: int = Field(1, ge=0, description="Drop attributes seen fewer times than this.")
    scheme: Literal["BIO", "BIOES"] = Field("BIOES", description="Token tagging scheme.")
    decoding: Literal["viterbi", "posterior"] = Field(
        "posterior",
        description="'viterbi': the most probable tag sequence. 'posterior': the valid tag "
        "sequence with the highest sum of log marginal probabilities, O penalised by "
        "o_penalty (better entity F1 on BioText by cross-validation).",
    )
    o_penalty: float = Field(
        0.8,
        ge=0,
        description="Posterior decoding: subtracted from the log marginal of O at each token, "
        "trading precision for recall (chosen by 5-fold cross-validation on the training split, "
        "never on test).",
    )
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    abbreviations: bool = Field(False, description=ABBREVIATIONS_SETTING)


def read_clusters(path: Path) -> dict[str, str]:
    """Word clusters as ``word -> bit path`` from a ``path<TAB>word[<TAB>count]`` file."""
    clusters: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                clusters[parts[1]] = parts[0]
    return clusters


class _ProgressTrainer(pycrfsuite.Trainer):  # type: ignore[misc]
    """A crfsuite trainer that reports iterations to a callback instead of printing."""

    def __init__(self, on_iteration: Callable[[int, float], None] | None) -> None:
        super().__init__(verbose=True)
        self._callback = on_iteration

    def on_iteration(self, log: str, info: dict[str, Any]) -> None:
        if self._callback is not None:
            self._callback(int(info.get("num", 0)), float(info.get("loss", 0.0)))

    def on_start(self, log: str) -> None:
        pass

    def on_featgen_progress(self, log: str, percent: float) -> None:
        pass

    def on_featgen_end(self, log: str) -> None:
        pass

    def on_prepared(self, log: str) -> None:
        pass

    def on_prepare_error(self, log: str) -> None:
        logger.error("crfsuite: %s", log.strip())

    def on_optimization_end(self, log: str) -> None:
        pass

    def on_end(self, log: str) -> None:
        pass


class CRFModel:
    """A trained CRF entity extractor."""

    backend = "crf"

    def __init__(
        self,
        weights: Path,
        config: CRFConfig,
        clusters: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        sentence_cache_size: int = SENTENCE_CACHE_SIZE,
        lexicon: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.clusters = clusters
        self.lexicon = lexicon
        self.metadata: dict[str, Any] = metadata or {}
        self._weights_bytes = weights.read_bytes()
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(self._weights_bytes)
        info = self._tagger.info()
        self.tags: list[str] = list(self._tagger.labels())
        self.labels: list[str] = sorted({t[2:] for t in self.tags if t != "O"})
        self.features = FeatureExtractor(config.features, clusters, lexicon)
        self._decoder = PosteriorDecoder(self.tags, config.o_penalty)
        self._all_o_threshold = 1.0 / (1.0 + math.exp(-config.o_penalty))
        self._known_attributes = frozenset(info.attributes)
        self.sentence_cache_size = sentence_cache_size
        self._sentence_cache: dict[str, list[TokenSpan]] = {}
        self.features.restrict(self._known_attributes)

    # -- prediction ------------------------------------------------------------------------
    def _tag_words(self, words: list[str]) -> list[TokenSpan]:
        """Entity token spans of one sentence: a function of its words alone."""
        tagger = self._tagger
        xseq = self.features.sentence_features(words)
        if self.config.decoding == "viterbi":
            tags = tagger.tag(xseq)
            if all(t == "O" for t in tags):
                return []
            probs = [tagger.marginal(t, i) if t != "O" else 1.0 for i, t in enumerate(tags)]
            return tag_spans(tags, probs)
        tagger.set(xseq)
        marginal = tagger.marginal
        n = len(words)
        # If every token's P(O) exceeds 1 / (1 + e^-penalty), all-O is provably the best valid
        # sequence (each token's penalised O score beats any other tag's), so most sentences of
        # a note cost one marginal per token.
        if all(marginal("O", i) > self._all_o_threshold for i in range(n)):
            return []
        table = [[marginal(t, i) for t in self.tags] for i in range(n)]
        path = self._decoder.decode(table)
        return tag_spans([self.tags[k] for k in path], [table[i][k] for i, k in enumerate(path)])

    def predict(self, text: str) -> list[Entity]:
        """Entities of one note."""
        return [e for sentence in self.predict_by_sentence(text) for e in sentence]

    def predict_by_sentence(self, text: str) -> list[list[Entity]]:
        """Entities of one note, grouped by sentence (one list per sentence with tokens).

        Sentences are tagged from their words alone, so the result for a sentence seen before
        (headings, templates, copied text) is reused from a bounded in-memory cache: the output
        is identical, only faster. The cache lives in this process only.
        """
        cache = self._sentence_cache
        out: list[list[Entity]] = []
        sentences = sentence_token_spans(text)
        for tokens in sentences:
            words = [text[s:e] for s, e in tokens]
            if self.sentence_cache_size:
                key = "\x00".join(words)
                spans = cache.get(key)
                if spans is None:
                    spans = self._tag_words(words)
                    if len(cache) >= self.sentence_cache_size:
                        cache.clear()
                    cache[key] = spans
            else:
                spans = self._tag_words(words)
            out.append(spans_to_entities(text, tokens, spans) if spans else [])
        if self.config.abbreviations:
            out = carry_abbreviations(text, sentences, out)
        return drop_headings(text, out)

    def predict_many(self, texts: Iterable[str]) -> Iterator[list[Entity]]:
        """Entities of each note, lazily."""
        for text in texts:
            yield self.predict(text)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write weights, config and clusters into ``path`` (created if missing)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / WEIGHTS_FILE).write_bytes(self._weights_bytes)
        if self.clusters:
            with (path / CLUSTERS_FILE).open("w", encoding="utf-8") as fh:
                for word, bits in sorted(self.clusters.items()):
                    fh.write(f"{bits}\t{word}\n")
        if self.lexicon:
            with (path / LEXICON_FILE).open("w", encoding="utf-8") as fh:
                for word, kinds in sorted(self.lexicon.items()):
                    fh.write(f"{word}\t{kinds}\n")
        config = {
            "backend": self.backend,
            "medner_version": medner.__version__,
            "feature_version": FEATURE_VERSION,
            "labels": self.labels,
            "tags": self.tags,
            "config": self.config.model_dump(),
            "metadata": self.metadata,
        }
        (path / MODEL_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> CRFModel:
    """Load a CRF model directory written by :meth:`CRFModel.save`."""
    config = read_model_config(path)
    version = config.get("feature_version")
    if version != FEATURE_VERSION:
        raise ModelLoadError(
            f"{path}: model was trained with feature version {version}, this medner computes "
            f"version {FEATURE_VERSION}; retrain it with `medner train`"
        )
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelLoadError(f"{path}: missing {WEIGHTS_FILE}")
    crf_config = CRFConfig.model_validate(config["config"])
    clusters_path = path / CLUSTERS_FILE
    clusters = read_clusters(clusters_path) if clusters_path.is_file() else None
    if crf_config.features.clusters and clusters is None:
        raise ModelLoadError(
            f"{path}: the config uses word clusters but {CLUSTERS_FILE} is missing"
        )
    lexicon = None
    if crf_config.features.lexicon:
        lexicon_path = path / LEXICON_FILE
        if not lexicon_path.is_file():
            raise ModelLoadError(
                f"{path}: the config uses lexicon features but {LEXICON_FILE} is missing"
            )
        lexicon = read_lexicon(lexicon_path)
    return CRFModel(
        weights, crf_config, clusters, metadata=config.get("metadata", {}), lexicon=lexicon
    )


def read_lexicon(path: Path) -> dict[str, str]:
    """``word -> kinds`` from a ``word<TAB>kinds`` file."""
    lexicon: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            word, _, kinds = line.rstrip("\n").partition("\t")
            if word and kinds:
                lexicon[word] = kinds
    return lexicon


def train_crf(
    sentences: Sequence[tuple[list[str], list[str]]],
    config: CRFConfig,
    clusters: dict[str, str] | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    lexicon: dict[str, str] | None = None,
) -> CRFModel:
    """Train a CRF on ``(words, tags)`` sentences.

    Args:
        sentences: words and their BIO tags.
        config: training settings.
        clusters: word clusters, when ``config.features.clusters`` is on.
        lexicon: vocabulary kinds of words, when ``config.features.lexicon`` is on.
        on_iteration: called with ``(iteration, loss)`` after each optimiser iteration.
    """
    extractor = FeatureExtractor(config.features, clusters, lexicon)
    trainer = _ProgressTrainer(on_iteration)
    for words, tags in sentences:
        trainer.append(extractor.sentence_features(words), tags)
    trainer.select(config.algorithm)
    params: dict[str, Any] = {
        "max_iterations": config.max_iterations,
        "feature.possible_transitions": config.all_possible_transitions,
        "feature.minfreq": config.min_freq,
    }
    if config.algorithm == "lbfgs":
        params.update({"c1": config.c1, "c2": config.c2})
    elif config.algorithm in {"l2sgd"}:
        params["c2"] = config.c2
    trainer.set_params(params)
    tmp = Path(tempfile.mkdtemp(prefix="medner-crf-"))
    try:
        weights = tmp / WEIGHTS_FILE
        trainer.train(str(weights))
        return CRFModel(
            weights,
            config,
            clusters if config.features.clusters else None,
            lexicon=lexicon if config.features.lexicon else None,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
