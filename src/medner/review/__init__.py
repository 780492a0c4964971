"""The review workbench's queue and record (``medner review``): docs/review.md."""

from medner.review.queue import (
    ExportSummary,
    ImportSummary,
    ReviewError,
    Task,
    enqueue,
    export_reviews,
    import_notes,
    next_task,
    progress,
    purge_text,
    queue_engine,
    reprioritize,
    skip_task,
    submit,
    validate_entities,
)

__all__ = [
    "ExportSummary",
    "ImportSummary",
    "ReviewError",
    "Task",
    "enqueue",
    "export_reviews",
    "import_notes",
    "next_task",
    "progress",
    "purge_text",
    "queue_engine",
    "reprioritize",
    "skip_task",
    "submit",
    "validate_entities",
]
