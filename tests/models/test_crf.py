from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medner.errors import ModelLoadError
from medner.models import load_model
from medner.models.crf import CRFModel
from medner.models.features import FeatureConfig, FeatureExtractor, normalise, word_shape
from medner.types import Document
from tests.conftest import TINY_CONFIG, train_tiny


def test_overfit_save_load_identical_predictions(
    tmp_path: Path, tiny_docs: list[Document], tiny_model: CRFModel
) -> None:
    for doc in tiny_docs:
        assert [e.key for e in tiny_model.predict(doc.text)] == [e.key for e in doc.entities]
    tiny_model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.labels == ["DISEASE", "TREATMENT"]
    for doc in tiny_docs:
        assert loaded.predict(doc.text) == tiny_model.predict(doc.text)
    # unseen text too: same spans and the same confidences
    note = "Known case of asthma on budesonide, also stroke treated with aspirin."
    assert loaded.predict(note) == tiny_model.predict(note)


def test_bioes_backend_overfits(tiny_docs: list[Document]) -> None:
    model = train_tiny(tiny_docs, TINY_CONFIG.model_copy(update={"scheme": "BIOES"}))
    for doc in tiny_docs:
        assert [e.key for e in model.predict(doc.text)] == [e.key for e in doc.entities]


def test_confidences_are_probabilities(tiny_model: CRFModel) -> None:
    entities = tiny_model.predict("Patients with asthma received metformin daily .")
    assert entities
    assert all(0.0 < e.confidence <= 1.0 for e in entities)


def test_load_rejects_other_feature_version(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m/config.json").read_text())
    config["feature_version"] = -1
    (tmp_path / "m/config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="feature version -1"):
        load_model(tmp_path / "m")


def test_load_rejects_non_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a medner model directory"):
        load_model(tmp_path)


def test_restricted_features_give_identical_predictions(tiny_model: CRFModel) -> None:
    """Dropping attributes the model has no weight for must not change any prediction."""
    text = "Stroke patients with hypertension got lisinopril and aspirin ; none had asthma ."
    restricted = tiny_model.predict(text)
    tiny_model.features.restrict(None)
    try:
        assert tiny_model.predict(text) == restricted
    finally:
        tiny_model.features.restrict(tiny_model._known_attributes)


def test_feature_helpers() -> None:
    assert normalise("HbA1c 7.5") == "hba0c 0.0"
    assert word_shape("HbA1c") == "XxXdx"
    assert word_shape("Metformin") == "Xx"
    extractor = FeatureExtractor(FeatureConfig(clusters=False, window=1))
    first, second = extractor.sentence_features(["Aspirin", "works"])
    assert "w=aspirin" in first and "BOS" in first and "1:w=works" in first
    assert "-1:w=aspirin" in second and "EOS" in second and "b-1=aspirin|works" in second


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            list("abcdeHTNDM /.,:-\n0123456789é") + ["asthma ", "aspirin ", "stroke ", "Dr. "]
        ),
        max_size=120,
    ).map("".join)
)
def test_predicted_entities_slice_the_note_and_never_overlap(
    tiny_model: CRFModel, note: str
) -> None:
    last_end = 0
    for e in tiny_model.predict(note):
        assert note[e.start : e.end] == e.text
        assert e.start >= last_end and e.end > e.start
        last_end = e.end
