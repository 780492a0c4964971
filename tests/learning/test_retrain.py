"""``medner retrain`` end to end on a small loop (issue 20, item 2): validated notes reach the
reviewed dataset once each, a candidate is chosen, trained, logged, registered and gated, and
the gate refuses a candidate that loses a fixed-test label, saying why."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from medner.cli.main import app
from medner.data.documents import load_documents
from medner.inference import Note
from medner.learning.dataset import read_manifest, read_notes
from medner.learning.retrain import RetrainConfig, retrain
from medner.models import load_model
from medner.review import import_notes, next_task, queue_engine, submit
from medner.tracking.registry import CHAMPION, LIVE, promote, register, registry_client
from medner.tracking.runs import log_training_run
from medner.training.config import load_config
from medner.training.train import train
from medner.types import Document
from tests.conftest import DATA, biotext_subset

pytestmark = pytest.mark.slow
FAST = ["crf.max_iterations=50"]


def _champion(name: str, train_path: Path, out: Path) -> str:
    trained = train([train_path], out, load_config(None, FAST))
    run = log_training_run(out, {}, [train_path], [], trained.metrics)
    version = register(run, name)
    assert promote(version, [train_path], name).promoted  # the first version
    return version


def _review_all(engine: sa.Engine, gold: dict[str, Document]) -> int:
    """Simulated validators: each note's gold entities, submitted through the queue."""
    done = 0
    while (task := next_task(engine, f"sim{done % 3}")) is not None:
        entities = [e.to_dict() for e in gold[str(task.note_id)].entities]
        submit(engine, f"sim{done % 3}", task.id, entities, seconds_active=30.0)
        done += 1
    return done


@pytest.fixture
def loop(tmp_path: Path) -> tuple[sa.Engine, RetrainConfig, str]:
    base = biotext_subset(DATA / "biotext/train", tmp_path / "base/train", 300)
    # the fixed test: prescription notes like the reviewed ones (on BioText test, whether 60
    # prescriptions help a 300-sentence model is a matter of luck; the next test covers a
    # candidate that loses a fixed-test label)
    test = tmp_path / "base/test.jsonl"
    lines = (DATA / "prescriptions/dev.jsonl").read_text(encoding="utf-8").splitlines()
    test.write_text("\n".join(lines[:100]) + "\n", encoding="utf-8")
    name = f"retrain-{tmp_path.name}"
    base_sent = base.with_name("train_sent")
    champion = _champion(name, base_sent, tmp_path / "champion")
    engine = queue_engine(f"sqlite:///{tmp_path / 'store.db'}")
    notes = load_documents([DATA / "prescriptions/train.jsonl"])[:60]
    model_dir = tmp_path / "champion"
    import_notes(
        engine, load_model(model_dir), model_dir, [Note(d.id, d.text) for d in notes],
        audit_share=0.5, double_share=0.0,
    )  # fmt: skip
    assert _review_all(engine, {str(d.id): d for d in notes}) == 60
    config = RetrainConfig(
        base=[str(base_sent)],
        dev=[],
        test=[str(test)],
        dataset=tmp_path / "reviewed",
        output=tmp_path / "runs",
        min_new=50,
        holdout_share=0.3,
        min_holdout=5,
        dev_share=0.2,
        oversample=[1, 3],
        set=FAST,
        name=name,
        tolerance=0.5,  # this test is about the live gain; the next one about a lost label
        bootstrap=200,
    )
    yield engine, config, champion
    engine.dispose()


def test_a_retrain_adds_the_reviews_chooses_trains_registers_and_promotes(
    loop: tuple[sa.Engine, RetrainConfig, str],
) -> None:
    engine, config, champion = loop
    dry = retrain(engine, config, dry_run=True)
    assert (dry.status, dry.new_notes) == ("dry-run", 60)
    assert not (config.dataset / "notes.jsonl").exists()  # a dry run changes nothing

    result = retrain(engine, config)
    notes = read_notes(config.dataset)
    assert len(notes) == 60 and result.new_notes == 60
    assert read_manifest(config.dataset)["last_review_id"] == 60
    audit = sum(n["audit"] for n in notes)
    assert result.holdout_notes == math.ceil(audit * 0.3)
    assert result.train_notes == 60 - result.holdout_notes
    assert set(result.choice) == {"1", "3"} and result.oversample in (1, 3)
    # the newest audit notes are held out and never trained on
    held = sorted((n for n in notes if n["audit"]), key=lambda n: n["submitted_at"])
    held_ids = {n["id"] for n in held[-result.holdout_notes :]}
    trained_on = Path(result.model_dir).parent / "reviewed_train.jsonl"
    assert not held_ids & {json.loads(line)["id"] for line in trained_on.read_text().splitlines()}

    assert result.status == "promoted", result.reason
    live = [row for row in result.gate if row["label"] == LIVE]
    assert len(live) == 1 and live[0]["ok"] and live[0]["delta"] > -live[0]["allowed_drop"]
    client = registry_client()
    assert str(client.get_model_version_by_alias(config.name, CHAMPION).version) == result.version
    assert result.version != champion
    run = client.get_run(result.run_id)
    assert run.data.params["reviewed_notes"] == "60"
    inputs = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert "reviewed_train.jsonl" in inputs and "train_sent" in inputs  # dataset versions

    again = retrain(engine, config)
    assert (again.status, again.new_notes) == ("skipped", 0)
    assert "0 new validated notes; 50 needed" in again.reason


def test_the_gate_refuses_a_candidate_that_loses_a_fixed_test_label(tmp_path: Path) -> None:
    """Validators who strip every treatment from notes like the test set's: the candidate
    forgets treatments, and the gate says so."""
    base = biotext_subset(DATA / "biotext/train", tmp_path / "base/train", 300)
    test = biotext_subset(DATA / "biotext/train", tmp_path / "base/test", 150, skip=300)
    base_sent = base.with_name("train_sent")
    name = f"refuse-{tmp_path.name}"
    champion = _champion(name, base_sent, tmp_path / "champion")
    engine = queue_engine(f"sqlite:///{tmp_path / 'store.db'}")
    docs = load_documents([test.with_name("test_sent")])
    model_dir = tmp_path / "champion"
    import_notes(
        engine, load_model(model_dir), model_dir, [Note(f"t{i}", d.text) for i, d in
                                                   enumerate(docs)],
        audit_share=0.0, double_share=0.0,
    )  # fmt: skip
    gold = {
        f"t{i}": Document(d.id, d.text, [e for e in d.entities if e.label != "TREATMENT"])
        for i, d in enumerate(docs)
    }
    _review_all(engine, gold)
    config = RetrainConfig(
        base=[str(base_sent)], dev=[], test=[str(test.with_name("test_sent"))],
        dataset=tmp_path / "reviewed", output=tmp_path / "runs", min_new=10,
        oversample=[10], set=FAST, name=name, tolerance=0.01, bootstrap=0,
    )  # fmt: skip
    result = retrain(engine, config)
    engine.dispose()
    assert result.status == "refused"
    assert "TREATMENT" in result.reason and "refused against version" in result.reason
    assert "no live gain can be shown" in result.reason  # no audit notes: no hold-out either
    client = registry_client()
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == champion


def test_the_cli_says_what_a_dry_run_would_do(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"retrain:\n  dataset: {tmp_path / 'reviewed'}\n  min_new: 0\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    got = CliRunner().invoke(
        app, ["retrain", "--params", str(params), "--database-url", url, "--dry-run"]
    )
    assert got.exit_code == 0, got.output
    assert "dry-run" in got.output and "0 new validated notes" in got.output
    bad = CliRunner().invoke(
        app, ["retrain", "--params", str(params), "--database-url", url, "--set", "oops=1"]
    )
    assert bad.exit_code == 2 and "oops" in bad.output
