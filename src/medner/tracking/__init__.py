"""Experiment tracking and the model registry on MLflow: runs, the pyfunc model, the promotion
gate, and ``models:/`` URIs. Imports MLflow lazily: ``import medner`` never loads it."""
