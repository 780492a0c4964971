from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medner.errors import ModelLoadError
from medner.models import load_model
from medner.models.crf import SENTENCE_CACHE_SIZE, CRFModel, train_crf
from medner.models.features import FeatureConfig, FeatureExtractor, normalise, word_shape
from medner.models.tagging import encode_document
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
    tiny_model.sentence_cache_size = 0
    restricted = tiny_model.predict(text)
    tiny_model.features.restrict(None)
    try:
        assert tiny_model.predict(text) == restricted
    finally:
        tiny_model.features.restrict(tiny_model._known_attributes)
        tiny_model.sentence_cache_size = SENTENCE_CACHE_SIZE


def test_sentence_cache_changes_nothing_but_speed(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    cached = load_model(tmp_path / "m")
    uncached = load_model(tmp_path / "m")
    assert isinstance(uncached, CRFModel)
    uncached.sentence_cache_size = 0
    notes = [
        "Known asthma. On budesonide. Known asthma.",
        "x Known asthma. On budesonide.",  # same sentences at other offsets
        "Stroke treated with aspirin. Known asthma.",
    ] * 2
    for note in notes:
        assert cached.predict(note) == uncached.predict(note)
    assert isinstance(cached, CRFModel) and len(cached._sentence_cache) == 4


def test_feature_helpers() -> None:
    assert normalise("HbA1c 7.5") == "hba0c 0.0"
    assert word_shape("HbA1c") == "XxXdx"
    assert word_shape("Metformin") == "Xx"
    extractor = FeatureExtractor(FeatureConfig(clusters=False, window=1))
    first, second = extractor.sentence_features(["Aspirin", "works"])
    assert "w=aspirin" in first and "BOS" in first and "1:w=works" in first
    assert "-1:w=aspirin" in second and "EOS" in second and "b-1=aspirin|works" in second


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [*"abcdeHTNDM /.,:-\n0123456789é", "asthma ", "aspirin ", "stroke ", "Dr. "]
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


def test_posterior_decoder_respects_bioes_validity() -> None:
    from medner.models.tagging import PosteriorDecoder

    tags = ["O", "B-D", "I-D", "E-D", "S-D"]
    decoder = PosteriorDecoder(tags, 0.0)
    # per-token argmax would be O, I-D, E-D (invalid: I after O); the best valid path differs
    table = [[0.6, 0.3, 0.0, 0.0, 0.1], [0.1, 0.0, 0.8, 0.0, 0.1], [0.2, 0.0, 0.0, 0.8, 0.0]]
    path = [tags[i] for i in decoder.decode(table)]
    assert path == ["B-D", "I-D", "E-D"]
    # with a large O penalty an uncertain single token becomes an entity
    assert [tags[i] for i in PosteriorDecoder(tags, 3.0).decode([[0.7, 0.0, 0.0, 0.0, 0.3]])] == [
        "S-D"
    ]
    assert [tags[i] for i in decoder.decode([[0.7, 0.0, 0.0, 0.0, 0.3]])] == ["O"]


def test_o_penalty_trades_precision_for_recall(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    text = "Patients with gout and asthma took colchicine , aspirin and budesonide ."
    plain = load_model(tmp_path / "m").predict(text)
    config = json.loads((tmp_path / "m/config.json").read_text())
    config["config"]["o_penalty"] = 5.0
    (tmp_path / "m/config.json").write_text(json.dumps(config))
    eager = load_model(tmp_path / "m").predict(text)
    non_o_tokens = lambda ents: sum(len(e.text.split()) for e in ents)  # noqa: E731
    assert non_o_tokens(eager) > non_o_tokens(plain)


def test_lexicon_features_are_saved_with_the_model(
    tmp_path: Path, tiny_docs: list[Document]
) -> None:
    """A model keeps the lexicon it was trained with: serving needs no vocabulary package."""
    features = TINY_CONFIG.features.model_copy(update={"lexicon": True})
    config = TINY_CONFIG.model_copy(update={"features": features})
    lexicon = {"asthma": "icd", "budesonide": "drug", "tab": "abbr-form"}
    sentences = [
        ([d.text[s:e] for s, e in ts.tokens], ts.tags)
        for d in tiny_docs
        for ts in encode_document(d, config.scheme)
    ]
    model = train_crf(sentences, config, lexicon=lexicon)
    extractor = FeatureExtractor(features, lexicon=lexicon)
    feats = extractor.sentence_features(["Tab", "budesonide", "for", "asthma"])
    assert "lex=drug" in feats[1] and "-1:lex=abbr-form" in feats[1]
    assert "2:lex=icd" not in feats[1]  # two words away: only the shorthand kinds
    assert "1:lex=drug" in feats[0] and "-2:lex=abbr-form" in feats[2]
    assert not any("lex=" in f for f in FeatureExtractor(features).sentence_features(["Tab"])[0])
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "lexicon.tsv").read_text().splitlines()[0] == "asthma\ticd"
    loaded = load_model(tmp_path / "m")
    for doc in tiny_docs:
        assert loaded.predict(doc.text) == model.predict(doc.text)
    (tmp_path / "m" / "lexicon.tsv").unlink()
    with pytest.raises(ModelLoadError, match=r"lexicon\.tsv is missing"):
        load_model(tmp_path / "m")


def test_headings_are_never_entities(tiny_model: CRFModel) -> None:
    """Issue 22: an entity inside a section heading is dropped, whatever the tagger said."""
    text = "ASTHMA: Asthma was treated with budesonide ."
    found = tiny_model.predict(text)
    assert all(e.start >= text.index(":") for e in found), found
