"""What a mention means, through the API: only on request, the same as `medner extract
--meaning` writes, and an old client sees exactly the JSON it saw before."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from medner.inference import extract_file
from medner.inference.notes import Note
from medner.models import load_model
from medner.serving.service import build_app
from tests.serving.conftest import EXTRACT, make_settings

RX_NOTE = (
    "C/o fever x 3 days, cough. vomiting: nil\nNo h/o DM. K/C/O HTN\nDx: ?URTI\n"
    "Rx:\nTab. Dolo 650 1-0-1 x 5 days\nTab. Xyzzol 40 OD\nAdv: steam inhalation"
)
OLD_KEYS = {"start", "end", "text", "label", "confidence"}


def test_an_old_client_sees_the_same_json_and_new_fields_come_on_request(
    default_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(default_model_dir, tmp_path, max_chars=10_000)
    with TestClient(build_app(settings)) as client:
        plain = client.post("/v1/extract", json={"text": RX_NOTE}, headers=EXTRACT)
        asked = client.post(
            "/v1/extract?fields=assertion,concept,links", json={"text": RX_NOTE}, headers=EXTRACT
        )
        batch = client.post(
            "/v1/extract/batch?fields=assertion",
            json={"notes": [{"text": RX_NOTE, "note_id": 7}]},
            headers=EXTRACT,
        )
        wrong = client.post("/v1/extract?fields=icd", json={"text": RX_NOTE}, headers=EXTRACT)
    assert plain.status_code == asked.status_code == batch.status_code == 200, asked.text
    body = plain.json()
    # the response an old client gets: the same keys at every level as before these fields
    assert set(body) == {"note_id", "entities", "model", "timing_ms"} and body["note_id"] is None
    assert body["entities"] and all(set(e) == OLD_KEYS for e in body["entities"])
    assert body["entities"] == [e.to_dict() for e in load_model(default_model_dir).predict(RX_NOTE)]

    entities = asked.json()["entities"]
    assert [{k: e[k] for k in OLD_KEYS} for e in entities] == body["entities"]
    by_text = {e["text"]: e for e in entities}
    assert by_text["fever"]["assertion"] == "present"
    assert by_text["vomiting"]["assertion"] == "absent"
    assert by_text["DM"]["assertion"] == "absent"
    assert by_text["URTI"]["assertion"] == "possible"
    assert by_text["HTN"]["concept"]["code"] == "I10"
    assert by_text["Dolo 650"]["concept"] == {
        "system": "generic-drug", "code": "DB00316", "name": "paracetamol",
    }  # fmt: skip
    assert by_text["Xyzzol 40"]["concept"]["name"] == "unknown"
    urti = entities.index(by_text["URTI"])
    assert by_text["Dolo 650"]["treats"] == [urti]
    assert "treats" not in by_text["fever"]  # only treatments treat

    only = batch.json()["results"][0]["entities"]
    assert all(set(e) == OLD_KEYS | {"assertion"} for e in only)
    assert wrong.status_code == 422 and "icd" in wrong.json()["detail"]


def test_the_api_gives_what_medner_extract_meaning_writes(
    default_model_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    fields = ("assertion", "concept", "links")
    extract_file(load_model(default_model_dir), [Note("n", RX_NOTE)], output, meaning=fields)
    written = json.loads(output.read_text())["entities"]
    settings = make_settings(default_model_dir, tmp_path, max_chars=10_000)
    with TestClient(build_app(settings)) as client:
        r = client.post(
            "/v1/extract?fields=assertion,concept,links", json={"text": RX_NOTE}, headers=EXTRACT
        )
    assert r.json()["entities"] == written
    for e in written:  # offsets still index the note
        assert RX_NOTE[e["start"] : e["end"]] == e["text"]
