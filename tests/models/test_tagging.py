from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medner.models.tagging import decode_tags, encode_document
from medner.text import tokenize
from medner.types import Document, Entity


def test_encode_then_decode_restores_entities() -> None:
    text = "Aspirin for unstable angina and HTN/DM."
    ents = [
        Entity(0, 7, "Aspirin", "TREATMENT"),
        Entity(12, 27, "unstable angina", "DISEASE"),
        Entity(32, 35, "HTN", "DISEASE"),
        Entity(36, 38, "DM", "DISEASE"),
    ]
    for scheme in ("BIO", "BIOES"):
        (sentence,) = encode_document(Document("x", text, ents), scheme)
        assert decode_tags(text, sentence.tokens, sentence.tags) == ents


def test_bioes_tags() -> None:
    text = "unstable angina and HTN"
    ents = [Entity(0, 15, "unstable angina", "DISEASE"), Entity(20, 23, "HTN", "DISEASE")]
    (sentence,) = encode_document(Document("x", text, ents), "BIOES")
    assert sentence.tags == ["B-DISEASE", "E-DISEASE", "O", "S-DISEASE"]


def test_entity_across_sentence_boundary_is_kept_in_training() -> None:
    text = "Pain in the ant. Tibialis muscle."
    ent = Entity(12, 25, "ant. Tibialis", "DISEASE")
    sentences = list(encode_document(Document("x", text, [ent])))
    assert len(sentences) == 1
    assert decode_tags(text, sentences[0].tokens, sentences[0].tags) == [ent]


def test_misaligned_entity_is_dropped_not_fatal() -> None:
    text = "hypertension"
    (sentence,) = encode_document(Document("x", text, [Entity(0, 5, "hyper", "DISEASE")]))
    assert sentence.tags == ["O"]


def test_decode_confidence_is_weakest_token() -> None:
    text = "a b c"
    tokens = tokenize(text)
    (ent,) = decode_tags(text, tokens, ["B-DISEASE", "I-DISEASE", "O"], [0.9, 0.6, 1.0])
    assert ent.confidence == 0.6 and ent.text == "a b"


TAGS = st.sampled_from(
    ["O", "B-DISEASE", "I-DISEASE", "E-DISEASE", "S-DISEASE", "B-TREATMENT", "I-TREATMENT"]
)


@given(st.lists(TAGS, min_size=1, max_size=30), st.integers(min_value=0, max_value=3))
def test_any_tag_sequence_decodes_to_exact_disjoint_spans(tags: list[str], pad: int) -> None:
    text = " " * pad + " ".join(f"w{i}" for i in range(len(tags)))
    tokens = tokenize(text)
    entities = decode_tags(text, tokens, tags)
    last_end = -1
    for e in entities:
        assert text[e.start : e.end] == e.text
        assert e.start >= last_end
        last_end = e.end
