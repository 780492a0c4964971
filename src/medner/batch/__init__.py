"""Batch extraction on Spark: the engine the API uses, over millions of notes, into tables.

PySpark is an optional dependency (``pip install medner[batch]``) imported only here, never by
``import medner``.
"""
