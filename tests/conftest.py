"""Shared fixtures: tiny hand-made corpora, and the repository's shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

from medner.models.crf import CRFConfig, CRFModel, train_crf
from medner.models.features import FeatureConfig
from medner.models.tagging import encode_document
from medner.types import Document, Entity

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"

TINY_SENTENCES = [
    (
        "Patients with diabetes mellitus received metformin daily .",
        [("diabetes mellitus", "DISEASE"), ("metformin", "TREATMENT")],
    ),
    (
        "Asthma was treated with inhaled budesonide .",
        [("Asthma", "DISEASE"), ("inhaled budesonide", "TREATMENT")],
    ),
    (
        "Hypertension responds to lisinopril in most adults .",
        [("Hypertension", "DISEASE"), ("lisinopril", "TREATMENT")],
    ),
    (
        "We gave aspirin to patients with stroke .",
        [("aspirin", "TREATMENT"), ("stroke", "DISEASE")],
    ),
    ("The weather was mild and the clinic was quiet .", []),
    (
        "Radiotherapy reduced recurrence of breast cancer .",
        [("Radiotherapy", "TREATMENT"), ("breast cancer", "DISEASE")],
    ),
]


def make_document(i: int, text: str, spans: list[tuple[str, str]]) -> Document:
    entities = []
    cursor = 0
    for surface, label in spans:
        start = text.index(surface, cursor)
        entities.append(Entity(start, start + len(surface), surface, label))
        cursor = start + len(surface)
    entities.sort(key=lambda e: e.start)
    return Document(id=f"tiny:{i}", text=text, entities=entities)


@pytest.fixture
def tiny_docs() -> list[Document]:
    return [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)]


TINY_CONFIG = CRFConfig(c1=0.0, c2=0.01, max_iterations=100, features=FeatureConfig(clusters=False))


def train_tiny(docs: list[Document], config: CRFConfig = TINY_CONFIG) -> CRFModel:
    sentences = [
        ([d.text[s:e] for s, e in ts.tokens], ts.tags)
        for d in docs
        for ts in encode_document(d, config.scheme)
    ]
    return train_crf(sentences, config)


@pytest.fixture(scope="session")
def tiny_model() -> CRFModel:
    docs = [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)]
    return train_tiny(docs)


@pytest.fixture(scope="session")
def biotext_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model, trained exactly as `medner train` trains it, on BioText train."""
    from medner.training.train import train

    out = tmp_path_factory.mktemp("models") / "biotext"
    train([DATA / "biotext/train_sent"], out)
    return out
