"""The review page in a real browser (issue 19): Debian's Chromium driven by Selenium with
Debian's chromium-driver, against a real `medner serve`. Keyboard only: sign in, then review
three imported notes (accept a span, reject one, relabel one, resize one, add one), submit
each, and find exactly those events and validated entities in the database."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from medner.inference import Note
from medner.models import load_model
from medner.review import import_notes, queue_engine
from medner.review.accounts import add_reviewer
from tests.serving.conftest import Server, running_server

PASSWORD = "correct horse battery"
NOTES = [
    "Asthma was treated with inhaled budesonide , case one .",  # accept, then submit
    "😀 Hypertension responds to lisinopril , case two .",  # emoji: offsets in code points
    "Pneumonia was treated with antibiotics , case three .\r\nमधुमेह नहीं ।",  # CRLF, Devanagari
]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
    reason="Debian's chromium and chromium-driver are needed (.ci/run installs them)",
)


@pytest.fixture
def server(model_dir: Path, tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    engine = queue_engine(url)
    add_reviewer(engine, "asha", PASSWORD)
    notes = [Note(f"n{i}", text) for i, text in enumerate(NOTES)]
    import_notes(engine, load_model(model_dir), model_dir, notes, audit_share=0, double_share=0)
    engine.dispose()
    with running_server(model_dir, tmp_path, api_keys="ek:extract") as s:
        yield s


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,768"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _keys(driver: object, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()  # type: ignore[arg-type]


def _wait_text(driver: object, element_id: str, text: str) -> None:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(  # type: ignore[arg-type]
        ec.text_to_be_present_in_element(("id", element_id), text)
    )


def test_a_validator_reviews_three_notes_with_the_keyboard_only(
    server: Server, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser
    driver.get(f"{server.base}/review")  # type: ignore[attr-defined]
    _wait_text(driver, "login", "Sign in")
    _keys(driver, "asha" + Keys.TAB + PASSWORD + Keys.ENTER)
    _wait_text(driver, "who", "asha")
    shots = Path(os.environ.get("MEDNER_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / "review-note.png"))  # type: ignore[attr-defined]
    seen = []
    for _ in range(3):
        _wait_text(driver, "meta", "task")
        meta = driver.find_element("id", "meta").text  # type: ignore[attr-defined]
        seen.append(meta)
        note = driver.find_element("id", "note").text  # type: ignore[attr-defined]
        if "case one" in note:
            _keys(driver, "a")  # accept the first span
            _keys(driver, "j" + "x")  # reject the second
        elif "case two" in note:
            _keys(driver, "l")  # relabel the first span
            _keys(driver, "]")  # and extend its end by a token
        else:
            _keys(driver, "n")  # a new one-token span after the first
            _keys(driver, "l")  # as a TREATMENT
        _keys(driver, Keys.ENTER)
        _wait_text(driver, "status", "saved")
    _wait_text(driver, "empty", "queue is empty")
    driver.save_screenshot(str(shots / "review-done.png"))  # type: ignore[attr-defined]
    assert len(set(seen)) == 3

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'predictions.db'}")
    with engine.connect() as conn:
        events = conn.execute(
            sa.text(
                "SELECT t.text, e.action, e.before, e.after FROM review_events e "
                "JOIN review_tasks t ON t.id = e.task_id ORDER BY e.id"
            )
        ).all()
        reviews = {
            r.text: json.loads(r.entities) if isinstance(r.entities, str) else r.entities
            for r in conn.execute(
                sa.text(
                    "SELECT t.text, r.entities FROM reviews r"
                    " JOIN review_tasks t ON t.id = r.task_id"
                )
            )
        }
    engine.dispose()
    by_note: dict[str, list[str]] = {}
    for text, action, _before, _after in events:
        by_note.setdefault(text, []).append(action)
    assert set(reviews) == set(NOTES)
    one, two, three = (by_note[t] for t in NOTES)
    assert one[:2] == ["accept", "reject"] and one[-1] == "submit"
    assert two[:2] == ["relabel", "resize"] and two[-1] == "submit"
    assert three[:2] == ["add", "relabel"] and three[-1] == "submit"
    for text, entities in reviews.items():
        for e in entities:
            assert text[e["start"] : e["end"]] == e["text"]  # exact, emoji included
    pairs = {t: [(e["text"], e["label"]) for e in es] for t, es in reviews.items()}
    assert pairs[NOTES[0]] == [("Asthma", "DISEASE")]  # budesonide rejected
    assert pairs[NOTES[1]][0] == ("Hypertension responds", "TREATMENT")  # relabelled, resized
    assert ("was", "TREATMENT") in pairs[NOTES[2]] and ("Pneumonia", "DISEASE") in pairs[NOTES[2]]
