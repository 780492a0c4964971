"""The review workbench's queue and record (``medner review``): docs/review.md."""

from medner.review.queue import (
    ExportSummary,
    ImportSummary,
    ReviewError,
    Task,
    export_reviews,
    import_notes,
    next_task,
    purge_text,
    queue_engine,
    submit,
    validate_entities,
)

__all__ = [
    "ExportSummary",
    "ImportSummary",
    "ReviewError",
    "Task",
    "export_reviews",
    "import_notes",
    "next_task",
    "purge_text",
    "queue_engine",
    "submit",
    "validate_entities",
]
