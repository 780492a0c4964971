"""Batch extraction on Spark: the extraction path the API uses, over millions of notes, into
tables.

PySpark is an optional dependency (``pip install medner[batch]``) imported only here, never by
``import medner``.
"""
