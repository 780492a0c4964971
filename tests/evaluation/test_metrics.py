from __future__ import annotations

import pytest

from medner.evaluation import score_entities, token_weighted_f1
from medner.types import Document, Entity

D, T = "DISEASE", "TREATMENT"


def ent(start: int, end: int, label: str) -> Entity:
    return Entity(start, end, "x" * (end - start), label)


def test_strict_scores_hand_computed() -> None:
    gold = [[ent(0, 5, D), ent(10, 15, T)], [ent(0, 3, D), ent(5, 9, D)]]
    pred = [
        [ent(0, 5, D), ent(10, 15, D)],  # 1 TP (D); a label error: FP for D, FN for T
        [ent(0, 4, D), ent(5, 9, D)],  # boundary error: FP + FN for D; 1 TP (D)
    ]
    scores = score_entities(gold, pred)
    # D: tp=2, fp=2, fn=1 ; T: tp=0, fp=0, fn=1
    d = scores.per_label[D]
    assert (d.tp, d.fp, d.fn, d.support) == (2, 2, 1, 3)
    assert d.precision == pytest.approx(0.5)
    assert d.recall == pytest.approx(2 / 3)
    assert d.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    t = scores.per_label[T]
    assert (t.precision, t.recall, t.f1, t.support) == (0.0, 0.0, 0.0, 1)
    # micro: tp=2, fp=2, fn=2
    assert scores.micro.precision == pytest.approx(0.5)
    assert scores.micro.recall == pytest.approx(0.5)
    assert scores.micro.f1 == pytest.approx(0.5)
    assert scores.macro_f1 == pytest.approx(d.f1 / 2)


def test_perfect_and_empty() -> None:
    gold = [[ent(0, 2, D)], []]
    assert score_entities(gold, gold).micro.f1 == 1.0
    empty = score_entities([[]], [[]])
    assert empty.micro.f1 == 0.0 and empty.per_label == {}


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="1 gold documents but 2 predicted"):
        score_entities([[]], [[], []])


def test_json_shape_matches_design() -> None:
    scores = score_entities([[ent(0, 2, D)]], [[ent(0, 2, D)]]).to_dict()
    assert set(scores["micro"]) == {"precision", "recall", "f1"}
    assert set(scores["per_label"][D]) == {"precision", "recall", "f1", "support"}


def test_token_weighted_f1_hand_computed() -> None:
    # tokens: a b c d ; gold D on "b c"; predicted D on "c d"
    doc = Document(
        "x", "a b c d", [Entity(2, 5, "b c", D)], tokens=[(0, 1), (2, 3), (4, 5), (6, 7)]
    )
    pred = [[Entity(4, 7, "c d", D)]]
    # gold: O D D O ; pred: O O D D
    # O: tp=1, fp=1 (b), fn=1 (d) -> f1 0.5, support 2 ; D: tp=1, fp=1, fn=1 -> f1 0.5, support 2
    assert token_weighted_f1([doc], pred) == pytest.approx(0.5)
    assert token_weighted_f1([doc], [doc.entities]) == pytest.approx(1.0)


def test_token_f1_flatters_where_strict_f1_does_not() -> None:
    """The reason medner reports strict F1 first: a boundary error costs one token of four."""
    doc = Document(
        "x", "a b c d", [Entity(0, 5, "a b c", D)], tokens=[(0, 1), (2, 3), (4, 5), (6, 7)]
    )
    pred = [[Entity(0, 3, "a b", D)]]
    assert score_entities([doc.entities], pred).micro.f1 == 0.0
    assert token_weighted_f1([doc], pred) > 0.7


def test_bootstrap_intervals_hold_the_estimate_and_repeat() -> None:
    from medner.evaluation.metrics import bootstrap_f1

    gold = [[Entity(0, 4, "gout", "DISEASE")], [Entity(0, 7, "aspirin", "TREATMENT")]] * 30
    predicted = [[Entity(0, 4, "gout", "DISEASE")], []] * 20 + [[], []] * 10
    point = score_entities(gold, predicted)
    ci = bootstrap_f1(gold, predicted, samples=500)
    assert ci == bootstrap_f1(gold, predicted, samples=500)  # seeded
    low, high = ci["micro"]
    assert low <= point.micro.f1 <= high and high - low > 0
    assert ci["TREATMENT"] == (0.0, 0.0)  # never found: no resample finds it either
    low_d, high_d = ci["DISEASE"]
    assert low_d <= point.per_label["DISEASE"].f1 <= high_d
    assert bootstrap_f1([], []) == {}
