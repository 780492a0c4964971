from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from medner.cli.main import app
from medner.errors import ConfigError
from medner.evaluation.evaluate import evaluate_model
from medner.models import load_model
from medner.models.abbreviations import (
    carry_abbreviations,
    carry_across_documents,
    find_definitions,
)
from medner.models.base import set_decoding
from medner.models.crf import CRFModel
from medner.models.tagging import sentence_token_spans
from medner.types import Document, Entity

NOTE = "k/c/o chronic kidney disease (CKD) and gout. CKD stage 3, CKDs and XCKD are words."


def entity(text: str, surface: str, label: str = "DISEASE", conf: float = 0.9) -> Entity:
    start = text.index(surface)
    return Entity(start, start + len(surface), surface, label, conf)


def by_sentence(text: str, entities: list[Entity]) -> list[list[Entity]]:
    out: list[list[Entity]] = []
    for tokens in sentence_token_spans(text):
        a, b = tokens[0][0], tokens[-1][1]
        out.append([e for e in entities if a <= e.start and e.end <= b])
    return out


def test_a_tagged_long_form_carries_its_label_to_every_free_mention() -> None:
    found = by_sentence(NOTE, [entity(NOTE, "chronic kidney disease", conf=0.8)])
    sentences = sentence_token_spans(NOTE)
    assert len(sentences) == 2
    (definition,) = find_definitions(NOTE, sentences, found)
    assert (definition.short, definition.label, definition.confidence) == ("CKD", "DISEASE", 0.8)
    carried = carry_abbreviations(NOTE, sentences, found)
    texts = [[(e.text, e.start, e.confidence) for e in s] for s in carried]
    first, second = NOTE.index("CKD"), NOTE.index("CKD stage")
    # the parenthesis itself and the later whole-word mention; "CKDs" and "XCKD" are other words
    assert texts == [
        [("chronic kidney disease", 6, 0.8), ("CKD", first, 0.8)],
        [("CKD", second, 0.8)],
    ]
    for sentence in carried:
        assert all(NOTE[e.start : e.end] == e.text for e in sentence)


def test_nothing_is_carried_without_a_tagged_matching_long_form() -> None:
    sentences = sentence_token_spans(NOTE)
    assert carry_abbreviations(NOTE, sentences, by_sentence(NOTE, [])) == [[], []]
    # the entity must end at the parenthesis: "gout" is tagged, but it is no long form of CKD
    gout = by_sentence(NOTE, [entity(NOTE, "gout")])
    assert carry_abbreviations(NOTE, sentences, gout) == gout
    # letters that do not spell the short form: not a definition
    text = "She has renal failure (CKD). CKD again."
    found = by_sentence(text, [entity(text, "renal failure")])
    assert find_definitions(text, sentence_token_spans(text), found) == []


def test_a_mention_an_entity_already_covers_is_left_alone() -> None:
    text = "Diabetes mellitus (DM) noted. DM nephropathy is known."
    nephropathy = entity(text, "DM nephropathy", conf=0.7)
    found = by_sentence(text, [entity(text, "Diabetes mellitus"), nephropathy])
    carried = carry_abbreviations(text, sentence_token_spans(text), found)
    assert carried[1] == [nephropathy]
    assert [e.text for e in carried[0]] == ["Diabetes mellitus", "DM"]


def test_neighbouring_documents_give_context() -> None:
    texts = [
        "Schwartz - Jampel syndrome ( SJS ) is rare .",
        "Nothing here .",
        "Two SJS patients were seen .",
    ]
    predictions = [[entity(texts[0], "Schwartz - Jampel syndrome")], [], []]
    sentences = [sentence_token_spans(t) for t in texts]
    alone = carry_across_documents(texts, sentences, predictions, 1)
    assert alone[2] == []  # the definition is two documents away
    near = carry_across_documents(texts, sentences, predictions, 2)
    assert [(e.text, e.start, e.end) for e in near[2]] == [("SJS", 4, 7)]
    assert [e.text for e in near[0]] == ["Schwartz - Jampel syndrome", "SJS"]
    assert near[1] == []


def documents(texts: list[str], gold: list[list[str]]) -> list[Document]:
    return [
        Document(f"d{i}", t, [entity(t, s, conf=1.0) for s in spans])
        for i, (t, spans) in enumerate(zip(texts, gold, strict=True))
    ]


def test_set_decoding_turns_it_on_for_a_saved_model(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    text = "Patients with diabetes mellitus ( DM ) received metformin daily . DM was stable ."
    base = load_model(tmp_path / "m").predict(text)
    assert ("diabetes mellitus", "DISEASE") in [(e.text, e.label) for e in base]
    assert "DM" not in [e.text for e in base]

    changed = set_decoding(tmp_path / "m", tmp_path / "abbr", abbreviations=True)
    assert changed == {"abbreviations": {"from": False, "to": True}}
    config = json.loads((tmp_path / "abbr/config.json").read_text())
    assert config["config"]["abbreviations"] is True
    assert config["metadata"]["decoding_changed"][0]["source"] == str(tmp_path / "m")
    assert (tmp_path / "abbr/model.crfsuite").read_bytes() == (
        tmp_path / "m/model.crfsuite"
    ).read_bytes()
    model = load_model(tmp_path / "abbr")
    found = [(e.text, e.label, e.start) for e in model.predict(text)]
    long_form = next(e for e in base if e.text == "diabetes mellitus")
    assert ("DM", "DISEASE", text.index("DM")) in found
    assert ("DM", "DISEASE", text.rindex("DM")) in found
    assert all(e.confidence == long_form.confidence for e in model.predict(text) if e.text == "DM")

    # scored on a corpus stored one sentence per document: the context carries it over
    docs = documents(
        ["Patients with diabetes mellitus ( DM ) received metformin daily .", "DM was stable ."],
        [["diabetes mellitus", "DM"], ["DM"]],
    )
    without = evaluate_model(model, docs).scores.micro
    with_context = evaluate_model(model, docs, context=1)
    assert with_context.scores.micro.recall > without.recall
    assert with_context.to_dict()["context"] == 1
    with pytest.raises(ConfigError, match="carries abbreviations"):
        evaluate_model(load_model(tmp_path / "m"), docs, context=1)


def test_set_decoding_errors(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    with pytest.raises(ConfigError, match="no decoding setting"):
        set_decoding(tmp_path / "m", tmp_path / "out")
    with pytest.raises(ConfigError, match="no decoding setting beam"):
        set_decoding(tmp_path / "m", tmp_path / "out", beam=3)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="exists"):
        set_decoding(tmp_path / "m", tmp_path / "taken", abbreviations=True)


def test_set_decoding_cli(tmp_path: Path, tiny_model: CRFModel) -> None:
    tiny_model.save(tmp_path / "m")
    (tmp_path / "m/MODEL_CARD.md").write_text("# Model card\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "copy"
    result = runner.invoke(
        app, ["set-decoding", str(tmp_path / "m"), "-o", str(out), "--abbreviations"]
    )
    assert result.exit_code == 0, result.output
    assert "abbreviations: False -> True" in result.output
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Decoding changed after training" in card
    assert "`abbreviations`: False -> True" in card
    assert json.loads((out / "config.json").read_text())["config"]["abbreviations"] is True
    result = runner.invoke(app, ["set-decoding", str(tmp_path / "m"), "-o", str(out)])
    assert result.exit_code != 0
    assert "no decoding setting" in result.output
    assert "Traceback" not in result.output


WORDS = ["chronic", "kidney", "disease", "(", ")", "CKD", "CKD2", "k", "d", ".", "and", "DM"]


@given(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 3)), max_size=6),
)
def test_carrying_only_adds_valid_non_overlapping_entities(
    words: list[str], spans: list[tuple[int, int]]
) -> None:
    definition = "Chronic kidney disease ( CKD ) ."
    text = definition + "\n\n" + " ".join(words)
    sentences = sentence_token_spans(text)
    assert text[sentences[0][0][0] : sentences[0][-1][1]] == definition
    # the first sentence's long form is tagged; arbitrary non-overlapping token spans of the
    # others are the model's other entities
    found: list[list[Entity]] = [[Entity(0, 22, "Chronic kidney disease", "DISEASE", 0.9)]]
    for tokens in sentences[1:]:
        mine: list[Entity] = []
        for first, length in spans:
            if first >= len(tokens):
                continue
            last = min(len(tokens) - 1, first + length)
            a, b = tokens[first][0], tokens[last][1]
            if all(b <= e.start or e.end <= a for e in mine):
                mine.append(Entity(a, b, text[a:b], "DISEASE", 0.5))
        found.append(sorted(mine, key=lambda e: e.start))
    carried = carry_abbreviations(text, sentences, found)
    assert len(carried) == len(found)
    free = [
        a
        for tokens, before in zip(sentences, found, strict=True)
        for a, b in tokens
        if text[a:b] == "CKD" and not any(e.start < b and a < e.end for e in before)
    ]
    assert sorted(e.start for s in carried for e in s if e.text == "CKD") == sorted(
        free + [e.start for s in found for e in s if e.text == "CKD"]
    )
    for before, after, tokens in zip(found, carried, sentences, strict=True):
        assert set(before) <= set(after)
        starts, ends = {a for a, _ in tokens}, {b for _, b in tokens}
        for e in after:
            assert text[e.start : e.end] == e.text
            assert e.start in starts and e.end in ends
        for left, right in itertools.pairwise(after):
            assert left.end <= right.start
