"""The transformer backend on the CPU, trained on a tiny corpus: it learns, its spans are valid,
it saves and loads to the same predictions, and long sentences are tagged in windows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medner.errors import ConfigError, ModelLoadError
from medner.evaluation.metrics import score_entities
from medner.models import load_model
from medner.models.transformer import TransformerConfig, TransformerModel, train_transformer
from medner.training.config import load_config
from medner.training.train import train
from medner.types import Document
from tests.conftest import TINY_SENTENCES, make_document

FAST = TransformerConfig(epochs=30, learning_rate=3e-4, batch_size=6, warmup=0.0, device="cpu")


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)]


@pytest.fixture(scope="module")
def model(docs: list[Document]) -> TransformerModel:
    return train_transformer(docs, FAST)


def test_it_learns_the_training_sentences(model: TransformerModel, docs: list[Document]) -> None:
    predicted = [model.predict(d.text) for d in docs]
    assert score_entities([d.entities for d in docs], predicted).micro.f1 >= 0.9
    assert model.labels == ["DISEASE", "TREATMENT"]


def test_spans_are_valid_on_unseen_text(model: TransformerModel) -> None:
    note = (
        "ALLERGIES: none.  Patient with asthma and hypertension was started on lisinopril "
        "and inhaled budesonide; aspirin was stopped. " + "word " * 250 + "then stroke."
    )
    entities = model.predict(note)
    end = 0
    for e in entities:
        assert note[e.start : e.end] == e.text
        assert e.start >= end and 0.0 < e.confidence <= 1.0
        end = e.end
    assert model.predict("") == []
    assert [len(s) for s in model.predict_by_sentence("   ")] == []


def test_save_and_load_give_the_same_predictions(
    model: TransformerModel, docs: list[Document], tmp_path: Path
) -> None:
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.backend == "transformer"
    for d in docs:
        assert loaded.predict(d.text) == model.predict(d.text)


def test_medner_train_trains_the_transformer_backend(tmp_path: Path) -> None:
    corpus = tmp_path / "tiny.jsonl"
    from medner.data import write_jsonl

    write_jsonl([make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)], corpus)
    config = load_config(
        None,
        [
            "backend=transformer",
            "transformer.epochs=2",
            "transformer.device=cpu",
            "transformer.early_stopping=2",
        ],
    )
    result = train([corpus], tmp_path / "model", config, [corpus])
    assert (tmp_path / "model/encoder/config.json").is_file()
    assert "dev" in result.metrics
    saved = json.loads((tmp_path / "model/config.json").read_text())
    assert len(saved["metadata"]["epoch_selection"][0]["dev_f1_by_epoch"]) == 2
    card = (tmp_path / "model/MODEL_CARD.md").read_text()
    assert "Early stopping on dev (seed 13): kept epoch" in card
    assert "fine-tuned MiniLM-L6 encoder" in card
    assert "- Encoder: `builtin:all-minilm-l6-v2`" in card

    # sequential transfer: a new model fine-tunes from this model's encoder, and its card says so
    config = load_config(
        None,
        [
            "backend=transformer",
            "transformer.epochs=1",
            "transformer.device=cpu",
            f"transformer.encoder={tmp_path / 'model/encoder'}",
        ],
    )
    train([corpus], tmp_path / "next", config)
    card = (tmp_path / "next/MODEL_CARD.md").read_text()
    assert (
        f"- Encoder: `{tmp_path / 'model/encoder'}`: the encoder of the model "
        f"`{tmp_path / 'model'}`, fine-tuned for DISEASE, TREATMENT on `{corpus}` "
        "from `builtin:all-minilm-l6-v2`"
    ) in card


def test_an_ensemble_averages_its_members_and_saves_them(
    docs: list[Document], tmp_path: Path
) -> None:
    config = FAST.model_copy(update={"epochs": 3, "ensemble": 2})
    ensemble = train_transformer(docs, config)
    assert len(ensemble.members) == 2
    single = ensemble.first_members(1)
    assert len(single.members) == 1 and single.config.ensemble == 1
    ensemble.save(tmp_path / "e")
    assert (tmp_path / "e/member_1/encoder/config.json").is_file()
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, TransformerModel) and len(loaded.members) == 2
    for d in docs:
        assert loaded.predict(d.text) == ensemble.predict(d.text)


# -- ONNX Runtime ---------------------------------------------------------------------------
def test_onnx_export_predicts_what_torch_predicts(
    model: TransformerModel, docs: list[Document], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from medner.cli.main import app

    model.save(tmp_path / "m")
    result = CliRunner().invoke(app, ["export-onnx", str(tmp_path / "m"), "--int8"])
    assert result.exit_code == 0, result.output
    assert "model.onnx" in result.output and "model.int8.onnx" in result.output
    assert load_config_json(tmp_path / "m")["onnx"]["files"] == ["model.onnx", "model.int8.onnx"]
    texts = [d.text for d in docs] + ["Aspirin for the stroke and insulin for diabetes ."]
    monkeypatch.setenv("MEDNER_TRANSFORMER_RUNTIME", "onnx")
    onnx = load_model(tmp_path / "m")
    assert isinstance(onnx, TransformerModel) and onnx.runtime == "onnx" and not onnx.members
    for text in texts:
        expected, got = model.predict(text), onnx.predict(text)
        assert [(e.start, e.end, e.label) for e in got] == [
            (e.start, e.end, e.label) for e in expected
        ]
        assert all(
            abs(a.confidence - b.confidence) < 1e-4 for a, b in zip(got, expected, strict=True)
        )
    # auto: the fastest exported runtime on a machine without a GPU; int8 still learns the set
    monkeypatch.setenv("MEDNER_TRANSFORMER_RUNTIME", "auto")
    int8 = load_model(tmp_path / "m")
    assert isinstance(int8, TransformerModel) and int8.runtime == "onnx-int8"
    predicted = [int8.predict(d.text) for d in docs]
    assert score_entities([d.entities for d in docs], predicted).micro.f1 >= 0.9
    with pytest.raises(ModelLoadError, match="no torch weights"):
        int8.save(tmp_path / "again")


def load_config_json(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((path / "config.json").read_text())
    return config


def test_runtime_setting_errors_are_clear(
    model: TransformerModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from medner.cli.main import app

    model.save(tmp_path / "m")
    result = CliRunner().invoke(app, ["export-onnx", "models/crf-does-not-exist"])
    assert result.exit_code == 2 and "not a medner model directory" in result.output
    monkeypatch.setenv("MEDNER_TRANSFORMER_RUNTIME", "tensorrt")
    with pytest.raises(ConfigError, match="choose one of auto, torch, onnx, onnx-int8"):
        load_model(tmp_path / "m")
    monkeypatch.setenv("MEDNER_TRANSFORMER_RUNTIME", "onnx-int8")
    with pytest.raises(ModelLoadError, match=r"medner export-onnx .* --int8"):
        load_model(tmp_path / "m")
    monkeypatch.setenv("MEDNER_TRANSFORMER_RUNTIME", "auto")  # nothing exported: torch
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TransformerModel) and loaded.runtime == "torch"


def test_separately_trained_models_combine_into_an_ensemble(
    model: TransformerModel, docs: list[Document], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from medner.cli.main import app
    from medner.data import write_jsonl

    model.save(tmp_path / "a")
    model.save(tmp_path / "b")
    dev = tmp_path / "dev.jsonl"
    write_jsonl(docs, dev)
    args = ["ensemble", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "e")]
    result = CliRunner().invoke(app, [*args, "--dev", str(dev)])
    assert result.exit_code == 0, result.output
    ensemble = load_model(tmp_path / "e")
    assert isinstance(ensemble, TransformerModel) and len(ensemble.members) == 2
    assert ensemble.config.ensemble == 2
    for d in docs:  # two copies of one model average to that model
        assert ensemble.predict(d.text) == model.predict(d.text)
    # the ensemble is scored on dev, and its card names each member
    single = score_entities([d.entities for d in docs], [model.predict(d.text) for d in docs])
    metrics = json.loads((tmp_path / "e/metrics.json").read_text())
    assert metrics["dev"]["micro"]["f1"] == pytest.approx(single.micro.f1)
    card = (tmp_path / "e/MODEL_CARD.md").read_text()
    assert "## Members (2; per-word probabilities averaged" in card
    assert f"- `{tmp_path / 'a'}` (seed 13): trained on" in card
    assert f"- `{dev}` (sha256" not in card and "| **micro** |" in card
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    one = CliRunner().invoke(app, ["ensemble", str(tmp_path / "a"), "-o", str(tmp_path / "f")])
    assert one.exit_code == 2 and "at least two" in one.output
    missing = ["--dev", str(tmp_path / "no-such.tsv")]
    bad_dev = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "g"), *missing])
    assert bad_dev.exit_code == 2 and "no-such.tsv" in bad_dev.output
    assert not (tmp_path / "g").exists()


def test_early_stopping_keeps_the_best_dev_epoch(docs: list[Document]) -> None:
    from medner.evaluation.evaluate import dev_f1, evaluate_model

    dev = docs[: len(docs) // 2]
    # a learning rate high enough that dev F1 falls after an early peak (seeded, so it does)
    config = FAST.model_copy(update={"epochs": 5, "early_stopping": 2, "learning_rate": 2e-3})
    model = train_transformer(docs, config, dev=dev, dev_score=dev_f1)
    (record,) = model.metadata["epoch_selection"]
    scores = record["dev_f1_by_epoch"]
    best = record["best_epoch"]
    assert best == scores.index(max(scores)) + 1
    assert scores[-1] < max(scores)  # the last epoch was worse, so keeping the best matters
    assert len(scores) == best + 2 < 5  # stopped after two epochs without a better score
    assert evaluate_model(model, dev).scores.micro.f1 == pytest.approx(max(scores), abs=1e-6)


def test_early_stopping_without_dev_data_is_a_clear_error(docs: list[Document]) -> None:
    with pytest.raises(ConfigError, match="early_stopping needs dev data"):
        train_transformer(docs, FAST.model_copy(update={"early_stopping": 2}))


def test_abbreviations_setting_carries_a_tagged_long_form(
    model: TransformerModel, tmp_path: Path
) -> None:
    from medner.models.abbreviations import carry_abbreviations
    from medner.models.base import set_decoding
    from medner.models.tagging import sentence_token_spans

    model.save(tmp_path / "m")
    set_decoding(tmp_path / "m", tmp_path / "abbr", abbreviations=True)
    carrying = load_model(tmp_path / "abbr")
    text = "Patients with diabetes mellitus ( DM ) received metformin daily . DM was stable ."
    plain = model.predict_by_sentence(text)
    assert ("diabetes mellitus", "DISEASE") in [(e.text, e.label) for s in plain for e in s]
    found = carrying.predict_by_sentence(text)
    assert found == carry_abbreviations(text, sentence_token_spans(text), plain)
    assert ("DM", text.rindex("DM")) in [(e.text, e.start) for e in found[1]]


def test_context_windows_read_neighbouring_words_within_reach() -> None:
    from medner.models.transformer import _with_context

    sentences = [["a", "b"], ["c", "d", "e"], ["f"]]
    assert list(_with_context(sentences, 96, 0)) == [
        (0, 0, ["a", "b"], [], []),
        (1, 0, ["c", "d", "e"], [], []),
        (2, 0, ["f"], [], []),
    ]
    # one note: up to 2 words on either side, across its sentences
    assert [(b, w, a) for _, _, w, b, a in _with_context(sentences, 96, 2)] == [
        ([], ["a", "b"], ["c", "d"]),
        (["a", "b"], ["c", "d", "e"], ["f"]),
        (["d", "e"], ["f"], []),
    ]
    # long sentences in windows of 2 words: each window reads the words around it
    assert [(k, i, w, b, a) for k, i, w, b, a in _with_context([["a", "b", "c"]], 2, 1)] == [
        (0, 0, ["a", "b"], [], ["c"]),
        (0, 2, ["c"], ["b"], []),
    ]
    # documents (groups) read only those at most `reach` away
    groups = [0, 1, 2]
    assert [(b, a) for *_, b, a in _with_context(sentences, 96, 5, groups, 0)] == [
        ([], []),
        ([], []),
        ([], []),
    ]
    assert [(b, a) for *_, b, a in _with_context(sentences, 96, 5, groups, 1)] == [
        ([], ["c", "d", "e"]),
        (["a", "b"], ["f"]),
        (["c", "d", "e"], []),
    ]
    with pytest.raises(ValueError, match="must not decrease"):
        list(_with_context(sentences, 96, 1, [1, 0, 2], 1))


def test_training_tags_only_the_window_not_its_context() -> None:
    from medner.models.transformer import _examples

    docs = [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES[:2])]
    plain = _examples(docs, "BIO", 96, 0)
    framed = _examples(docs, "BIO", 96, 3)
    assert [(w, t) for w, t, _ in framed] != [(w, t) for w, t, _ in plain]
    for (words, tags, skip), (own, own_tags, none) in zip(framed, plain, strict=True):
        assert none == 0 and tags == own_tags
        assert words[skip : skip + len(tags)] == own
    assert framed[0][0][-3:] == ["Asthma", "was", "treated"] and framed[0][2] == 0
    assert framed[1][0][:3] == ["metformin", "daily", "."] and framed[1][2] == 3


CUES = {"DISEASE": "The diagnosis follows .", "TREATMENT": "The prescription follows ."}
NONCE = ["zorblax", "quimet", "tarvin", "belosk", "drupane", "kelvox"]


def _cued_documents() -> list[Document]:
    """Pairs of one-sentence documents where only the first says what the second's nonce
    word is: no model that reads a sentence alone can tag them all."""
    docs = []
    for i, word in enumerate(NONCE * 2):
        label = "DISEASE" if (i + i // len(NONCE)) % 2 == 0 else "TREATMENT"
        docs.append(make_document(2 * i, CUES[label], []))
        docs.append(make_document(2 * i + 1, f"The patient has {word} now .", [(word, label)]))
    return docs


def test_context_words_learn_from_the_neighbouring_sentence(tmp_path: Path) -> None:
    from medner.data import write_jsonl
    from medner.evaluation.evaluate import evaluate_model

    docs = _cued_documents()
    corpus = tmp_path / "cued.jsonl"
    write_jsonl(docs, corpus)
    settings = {"context_words": 6, "epochs": 25, "learning_rate": 3e-4, "batch_size": 6}
    overrides = ["backend=transformer", "transformer.device=cpu", "transformer.warmup=0.0"]
    config = load_config(None, overrides + [f"transformer.{k}={v}" for k, v in settings.items()])
    result = train([corpus], tmp_path / "m", config, [corpus])
    model = result.model
    # dev, one sentence per document, is read as running text: every entity is found
    assert result.metrics["dev"]["micro"]["f1"] == 1.0
    assert result.metrics["dev"]["context"] == len(docs)
    card = (tmp_path / "m/MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Reads up to 6 words" in card and "read as running text" in card
    assert evaluate_model(model, docs, context=1).scores.micro.f1 == 1.0
    # alone, the same sentence cannot say which label: at most one of the two readings is right
    assert evaluate_model(model, docs).scores.micro.f1 < 0.8
    # in one note, the earlier sentence is the context; the setting is saved with the model
    loaded = load_model(tmp_path / "m")
    for label, cue in CUES.items():
        note = f"{cue} The patient has quimet now ."
        assert [(e.text, e.label) for e in loaded.predict(note)] == [("quimet", label)]
