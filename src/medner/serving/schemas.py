"""Request and response bodies of the API (its OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_NOTE_ID = 256  # the predictions table's note_id column


def _lone_surrogate(value: str) -> int | None:
    """Offset of the first lone surrogate (JSON "\\ud800" decodes to one; UTF-8 cannot hold
    it), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


# the error statuses a guarded route documents (bodies are {"detail": reason})
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the key lacks the scope"},
    413: {"description": "body or note text too large"},
    422: {"description": "invalid JSON or schema; names the field"},
    429: {"description": "rate limit; see Retry-After"},
}
EXAMPLE_NOTE = "Known case of hypertension. Asthma, treated with inhaled budesonide."


class ExtractRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": EXAMPLE_NOTE, "note_id": "rx-1042"}]},
    )

    text: str = Field(description="The note, as written. Offsets of entities index into it.")
    note_id: str | int | None = Field(None, description="Your id of the note, echoed back.")
    metadata: dict[str, Any] | None = Field(
        None, description="Free-form context (specialty, date...); not used for extraction."
    )

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, text: str) -> str:
        if (at := _lone_surrogate(text)) is not None:
            raise ValueError(f"lone surrogate at character {at}: send valid Unicode")
        return text

    @field_validator("note_id")
    @classmethod
    def _storable_id(cls, note_id: str | int | None) -> str | int | None:
        if isinstance(note_id, str):
            if len(note_id) > MAX_NOTE_ID:
                raise ValueError(f"longer than {MAX_NOTE_ID} characters")
            if "\x00" in note_id:
                raise ValueError("contains a NUL character")
            if (at := _lone_surrogate(note_id)) is not None:
                raise ValueError(f"lone surrogate at character {at}: send valid Unicode")
        return note_id


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": [{"text": EXAMPLE_NOTE, "note_id": 1}]}]},
    )

    notes: list[ExtractRequest] = Field(description="Notes to extract from, in order.")


class ConceptOut(BaseModel):
    system: str = Field(description="ICD-10-CM, generic-drug or abbreviation.")
    code: str | None = Field(description="The code (ICD-10-CM; DrugBank for a drug), or null.")
    name: str = Field(description="ICD-10-CM title, generic name, expansion, or 'unknown'.")
    expansion: str | None = Field(None, description="What shorthand or a lay word stood for.")
    candidates: list[list[str]] | None = Field(
        None, description="A disease's best ICD-10-CM codes, [code, title], best first (3)."
    )


class EntityOut(BaseModel):
    start: int = Field(description="Offset of the first character (Unicode code points).")
    end: int = Field(description="Offset after the last character.")
    text: str = Field(description="note[start:end]")
    label: str = Field(description="DISEASE, TREATMENT (or CHEMICAL).")
    confidence: float = Field(description="Lowest per-token marginal probability of the span.")
    # optional, additive: present only when the request asks for them (?fields=...)
    assertion: str | None = Field(
        None,
        description="present, absent, possible, history, family or planned (fields=assertion).",
    )
    concept: ConceptOut | None = Field(
        None, description="What the mention names (fields=concept); null when nothing is known."
    )
    treats: list[int] | None = Field(
        None, description="On a TREATMENT: indices of the diseases it is given for (fields=links)."
    )


class ModelRef(BaseModel):
    name: str
    version: str


class ExtractResponse(BaseModel):
    note_id: str | int | None
    entities: list[EntityOut]
    model: ModelRef
    timing_ms: float = Field(description="Time spent extracting, in milliseconds.")


class BatchResponse(BaseModel):
    results: list[ExtractResponse]
    model: ModelRef
    timing_ms: float


class ModelInfo(BaseModel):
    name: str
    version: str
    source: str | None = Field(
        description="What was loaded: a models:/ reference, or (to admin keys only) the "
        "server's model directory."
    )
    backend: str
    labels: list[str]
    metrics: dict[str, Any]


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_new: int | None = Field(
        None, ge=0, description="New validated notes needed (default: the retrain config's)."
    )
    dry_run: bool = Field(False, description="Say what would be done; change nothing.")


class Alert(BaseModel):
    """One alert of an Alertmanager webhook (the fields medner reads; the rest are kept)."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="firing or resolved")
    labels: dict[str, str] = Field(default_factory=dict)


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body (version 4): medner reads ``alerts``."""

    model_config = ConfigDict(extra="allow")

    alerts: list[Alert] = Field(default_factory=list, max_length=1000)


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Directory or models:/ URI; default: the same.")
