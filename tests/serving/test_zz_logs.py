"""Last of the API tests: every note text sent by the whole API suite, checked against every
log line the suite caused (and the real servers' stderr). None may appear."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from medner.serving.service import build_app
from tests.serving.conftest import (
    ADMIN,
    EXTRACT,
    LOG_LINES,
    SENT_TEXTS,
    SERVER_LOGS,
    make_settings,
)

OWN_NOTE = "Quxitis of the pancreas, treated with zorbamab infusions"


def test_no_note_text_sent_by_the_suite_appears_in_any_log(model_dir: Path, tmp_path: Path) -> None:
    with TestClient(build_app(make_settings(model_dir, tmp_path, max_chars=30))) as client:
        client.post("/v1/extract", json={"text": OWN_NOTE}, headers=EXTRACT)  # 413
        client.post("/v1/extract", json={"text": OWN_NOTE[:30]}, headers=EXTRACT)
        client.post("/v1/extract", json={"text": OWN_NOTE}, headers=ADMIN)  # 403
    assert OWN_NOTE in SENT_TEXTS
    logged = "\n".join(LOG_LINES) + "".join(p.read_text() for p in SERVER_LOGS if p.exists())
    assert '"event": "request"' in logged  # the request log was captured
    # short texts ("", "Asthma .") could match a log line by chance; real notes cannot
    notes = sorted(t for t in SENT_TEXTS if len(t.strip()) >= 16)
    assert len(notes) >= 10, "the API suite should have sent many notes"
    leaked = [t for t in notes if t in logged]
    assert not leaked, f"{len(leaked)} note texts found in logs, e.g. {leaked[0][:40]!r}"
