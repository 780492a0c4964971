"""Shared fixtures: tiny hand-made corpora, and the repository's shipped data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.models.crf import CRFConfig, CRFModel, train_crf
from medner.models.features import FeatureConfig
from medner.models.tagging import encode_document
from medner.types import Document, Entity

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every run a test logs goes to a throw-away MLflow store, never to ./mlflow."""
    store = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        mp.setenv("MEDNER_MODEL_CACHE", str(store / "model-cache"))
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        yield


def biotext_subset(source: Path, target: Path, sentences: int, skip: int = 0) -> Path:
    """The first ``sentences`` sentences (after ``skip``) of a BioText pair, as a new pair."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("_sent", "_label"):
        blocks = source.with_name(source.name + suffix).read_text(encoding="utf-8").split("\n\n")
        picked = blocks[skip : skip + sentences]
        target.with_name(target.name + suffix).write_text(
            "\n\n".join(picked) + "\n", encoding="utf-8"
        )
    return target


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
def default_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The product default, trained as configs/experiments/prescriptions/crf.yaml trains it:
    the CRF with lexicon features on BioText train plus the prescription train split."""
    from medner.training.config import TrainConfig
    from medner.training.train import train

    out = tmp_path_factory.mktemp("models") / "default"
    config = TrainConfig()
    config.crf.features.lexicon = True
    train(
        [DATA / "biotext/train_sent", DATA / "prescriptions/train.jsonl"],
        out,
        config,
        dev_paths=[DATA / "prescriptions/dev.jsonl"],
    )
    return out


# -- the store: one test database on SQLite and one on PostgreSQL (started by .ci/run) --------
POSTGRES_ENV = "MEDNER_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"{POSTGRES_ENV} not set (run .ci/run, which starts PostgreSQL)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:10]}"  # a fresh schema per test, dropped after
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()
