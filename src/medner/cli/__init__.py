"""The ``medner`` command line: thin wrappers around the typed functions of each stage."""
