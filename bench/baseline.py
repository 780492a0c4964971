"""The course notebook's recipe, kept as the baseline medner is measured against.

Features: lower-cased word, last 3 and last 2 characters, upper/title/digit flags, and the same
for the words either side (sklearn-crfsuite style dictionaries); a CRF with c1 = c2 = 0.1,
100 iterations, IO-style labels. It runs on medner's sentences and tokens, so only the model
differs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pycrfsuite

from medner.data import read_corpus
from medner.models.tagging import decode_tags, encode_document, sentence_token_spans
from medner.types import Entity


def word2features(sent: list[str], i: int) -> dict[str, Any]:
    word = sent[i]
    features: dict[str, Any] = {
        "bias": 1.0,
        "word.lower()": word.lower(),
        "word[-3:]": word[-3:],
        "word[-2:]": word[-2:],
        "word.isupper()": word.isupper(),
        "word.istitle()": word.istitle(),
        "word.isdigit()": word.isdigit(),
    }
    if i > 0:
        w = sent[i - 1]
        features.update(
            {
                "-1:word.lower()": w.lower(),
                "-1:word.istitle()": w.istitle(),
                "-1:word.isupper()": w.isupper(),
            }
        )
    else:
        features["BOS"] = True
    if i < len(sent) - 1:
        w = sent[i + 1]
        features.update(
            {
                "+1:word.lower()": w.lower(),
                "+1:word.istitle()": w.istitle(),
                "+1:word.isupper()": w.isupper(),
            }
        )
    else:
        features["EOS"] = True
    return features


def sent2features(sent: list[str]) -> list[dict[str, Any]]:
    return [word2features(sent, i) for i in range(len(sent))]


class BaselineModel:
    """Notebook features + CRF, with medner's sentence splitting and tokenization."""

    def __init__(self, weights: bytes) -> None:
        self._weights = weights  # crfsuite reads the model in place: keep the bytes alive
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open_inmemory(self._weights)

    def predict(self, text: str) -> list[Entity]:
        entities: list[Entity] = []
        for tokens in sentence_token_spans(text):
            words = [text[s:e] for s, e in tokens]
            tags = self.tagger.tag(sent2features(words))
            if any(t != "O" for t in tags):
                entities += decode_tags(text, tokens, tags)
        return entities


def train_baseline(train_path: Path) -> BaselineModel:
    trainer = pycrfsuite.Trainer(verbose=False)
    for doc in read_corpus(train_path):
        for ts in encode_document(doc, "BIO"):
            words = [doc.text[s:e] for s, e in ts.tokens]
            trainer.append(sent2features(words), ts.tags)
    trainer.set_params(
        {"c1": 0.1, "c2": 0.1, "max_iterations": 100, "feature.possible_transitions": True}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline.crfsuite"
        trainer.train(str(path))
        return BaselineModel(path.read_bytes())
