"""Honest evaluation: strict entity-level scores first, token-level scores beside them."""

from medner.evaluation.metrics import EntityScores, score_entities, token_weighted_f1

__all__ = ["EntityScores", "score_entities", "token_weighted_f1"]
