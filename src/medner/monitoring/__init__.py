"""Monitoring the model in production without storing note text: a numeric profile of every
note, the same profile of the training data, and drift statistics between them
(docs/monitoring.md)."""
