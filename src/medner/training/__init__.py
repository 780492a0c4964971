"""Training: configuration, data preparation, and the ``train`` entry point."""
