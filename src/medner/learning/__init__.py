"""The learning loop: validated notes become training data, a gated candidate, a new champion
(``medner retrain``; docs/lifecycle.md)."""
