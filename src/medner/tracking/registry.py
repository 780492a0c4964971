"""The model registry: register a run's model, ``models:/`` URIs, the promotion gate, listing.

A registered model (``medner`` by default) has versions; the alias ``champion`` marks the one
in production and ``challenger`` the latest candidate. ``promote`` moves ``champion`` only
through the gate: on the same fixed test set(s), the candidate's strict micro-F1 must not drop
below the champion's, and no label's F1 may drop by more than ``tolerance``; given reviewed
notes of the platform's own (``live``), the candidate must also gain there beyond the noise.
``force`` with a reason overrides, and the reason is recorded on the version.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medner.errors import MednerError, ModelLoadError
from medner.evaluation.evaluate import evaluate_model
from medner.evaluation.metrics import bootstrap_f1
from medner.models.base import NerModel, load_model
from medner.models.refs import is_registry_ref
from medner.tracking.runs import MODEL_ARTIFACT, RunInfo, quiet_mlflow
from medner.tracking.store import configure, model_cache_dir
from medner.types import Document

DEFAULT_NAME = "medner"
CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_TOLERANCE = 0.01
MICRO = "micro"
LIVE = "micro (live gain)"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def registry_client() -> Any:
    from mlflow import MlflowClient

    configure()
    return MlflowClient()


def version_of(client: Any, uri: str) -> tuple[str, str]:
    """``(name, version)`` named by ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    from mlflow.exceptions import MlflowException

    match = _URI.match(uri)
    if match is None:
        raise ModelLoadError(
            f"{uri!r} is not a registry URI: use models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    name = match["name"]
    try:
        if match["alias"]:
            mv = client.get_model_version_by_alias(name, match["alias"])
        else:
            mv = client.get_model_version(name, match["version"])
    except MlflowException as exc:
        cause = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"{uri}: the registry at {client.tracking_uri} did not give this model version "
            f"({cause}); run `make pipeline`, or `medner models` to list versions"
        ) from exc
    return name, str(mv.version)


def resolve_model_dir(ref: str | Path) -> Path:
    """A local model directory for a directory path or a ``models:/`` URI (downloaded once
    per version into the model cache; versions never change, so the cache never goes stale)."""
    if not is_registry_ref(ref):
        return Path(ref)
    import mlflow

    client = registry_client()
    name, version = version_of(client, str(ref))
    target = model_cache_dir() / name / version
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, quiet_mlflow():
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=tmp
        )
        found = _medner_dir(Path(local))
        if found is None:
            raise ModelLoadError(f"models:/{name}/{version} holds no medner model directory")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(found), target)
    return target


def _medner_dir(pyfunc_dir: Path) -> Path | None:
    """The medner model directory inside a downloaded pyfunc model (named in its MLmodel)."""
    from mlflow.models import Model

    try:
        flavor = Model.load(str(pyfunc_dir)).flavors["python_function"]
        found = pyfunc_dir / flavor["artifacts"][MODEL_ARTIFACT]["path"]
    except (OSError, KeyError, TypeError):
        return None
    return found if (found / "config.json").is_file() else None


def load_model_ref(ref: str | Path) -> NerModel:
    """Load a model from a directory or a ``models:/`` URI."""
    return load_model(resolve_model_dir(ref))


def register(run: RunInfo, name: str = DEFAULT_NAME) -> str:
    """Register the run's logged model as a new version of ``name``, alias ``challenger``;
    returns the version."""
    import mlflow

    if run.model_uri is None:
        raise MednerError(f"run {run.run_id} logged no model (train with tracking on)")
    client = registry_client()
    with quiet_mlflow():
        mv = mlflow.register_model(run.model_uri, name, tags={"run_id": run.run_id})
        version = str(mv.version)
        client.set_registered_model_alias(name, CHALLENGER, version)
    return version


@dataclass(slots=True)
class GateRow:
    """One compared score: a label's F1 (or micro F1) on one test set."""

    dataset: str
    label: str
    champion: float | None
    candidate: float
    delta: float | None
    allowed_drop: float
    ok: bool


@dataclass(slots=True)
class GateDecision:
    """What ``promote`` decided, and why."""

    name: str
    version: str
    champion_version: str | None
    promoted: bool
    forced: bool
    reason: str
    rows: list[GateRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_scores(
    dataset: str,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    tolerance: float,
) -> list[GateRow]:
    """Rows of the gate for one test set: micro F1 may not drop at all, each label's F1 by at
    most ``tolerance`` (absolute, 0.01 = one point)."""
    rows = []
    labels = sorted(set(candidate["per_label"]) | set((champion or {}).get("per_label", {})))
    for label in [MICRO, *labels]:
        allowed = 0.0 if label == MICRO else tolerance

        def f1(scores: dict[str, Any] | None, label: str = label) -> float | None:
            if scores is None:
                return None
            if label == MICRO:
                return float(scores["micro"]["f1"])
            entry = scores["per_label"].get(label)
            return float(entry["f1"]) if entry else 0.0

        cand = f1(candidate) or 0.0
        champ = f1(champion)
        delta = None if champ is None else round(cand - champ, 6)
        ok = delta is None or delta >= -allowed - 1e-9
        rows.append(GateRow(dataset, label, champ, cand, delta, allowed, ok))
    return rows


def _why(row: GateRow) -> str:
    if row.label == LIVE and row.delta is None:
        return f"no live gain can be shown ({row.dataset})"
    if row.label == LIVE:
        return (
            f"live F1 {row.delta or 0:+.4f} on {row.dataset}, not beyond the hold-out's noise "
            f"(needs > {-row.allowed_drop:+.4f})"
        )
    return f"{row.label} {row.delta or 0:+.4f}"


def live_gain_row(
    dataset: str,
    candidate: NerModel,
    champion: NerModel,
    docs: Sequence[Document],
    bootstrap: int = 1000,
) -> GateRow:
    """The live-domain row of the gate: the candidate's micro F1 on ``docs`` must exceed the
    champion's by more than the half width of its own 95 % bootstrap interval (so a gain
    within the noise of a small hold-out does not promote). ``allowed_drop`` holds minus
    the gain required."""
    gold = [d.entities for d in docs]
    cand = evaluate_model(candidate, docs)
    champ = evaluate_model(champion, docs)
    lo, hi = bootstrap_f1(gold, cand.predictions, bootstrap).get("micro", (0.0, 1.0))
    half = (hi - lo) / 2
    delta = cand.scores.micro.f1 - champ.scores.micro.f1
    return GateRow(
        dataset,
        LIVE,
        round(champ.scores.micro.f1, 6),
        round(cand.scores.micro.f1, 6),
        round(delta, 6),
        -round(half, 6),
        delta > half,
    )


def promote(
    version: str,
    test_sets: Sequence[Path],
    name: str = DEFAULT_NAME,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    reason: str | None = None,
    live: Path | None = None,
    bootstrap: int = 1000,
    min_live: int | None = None,
) -> GateDecision:
    """Score the candidate and the champion on ``test_sets`` and move ``champion`` to the
    candidate if it passes the gate (or ``force`` with a ``reason``). The decision is recorded
    as tags on the candidate version either way.

    With ``live`` (reviewed notes of the platform's own, never trained on: the newest audit
    notes), the gate also asks the candidate to beat the champion's micro F1 there by more
    than the half width of the candidate's 95 % bootstrap interval (``live_gain_row``). With
    ``min_live``, that row is required whenever there is a champion: fewer held-out notes than
    ``min_live`` (or none) fail it, since no gain can be shown."""
    from mlflow.exceptions import MlflowException

    from medner.data.documents import load_documents

    if force and not reason:
        raise MednerError("--force needs --reason: say why the gate is overridden")
    if not test_sets:
        raise MednerError("the gate needs at least one test set")
    client = registry_client()
    _, version = version_of(client, f"models:/{name}/{version}")
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
        champion_version: str | None = str(champion.version)
    except MlflowException:
        champion_version = None
    if champion_version == version:
        raise MednerError(f"models:/{name}/{version} is already the champion")

    candidate = load_model_ref(f"models:/{name}/{version}")
    incumbent = load_model_ref(f"models:/{name}/{champion_version}") if champion_version else None
    rows: list[GateRow] = []
    for path in test_sets:
        docs = load_documents([path])
        cand_scores = evaluate_model(candidate, docs).to_dict()
        champ_scores = evaluate_model(incumbent, docs).to_dict() if incumbent else None
        rows += compare_scores(str(path), cand_scores, champ_scores, tolerance)
    if incumbent is not None and (live is not None or min_live is not None):
        docs = load_documents([live]) if live is not None else []
        if min_live is not None and len(docs) < max(min_live, 1):
            shown = f"{len(docs)} live hold-out notes, {max(min_live, 1)} needed"
            rows.append(GateRow(shown, LIVE, None, 0.0, None, 0.0, False))
        else:
            rows.append(live_gain_row(str(live), candidate, incumbent, docs, bootstrap))

    passed = all(r.ok for r in rows)
    failing = ", ".join(_why(r) for r in rows if not r.ok)
    if champion_version is None:
        why = "first version: no champion to compare with"
    elif passed:
        why = f"passed the gate against version {champion_version}"
    elif force:
        why = f"forced past the gate against version {champion_version} ({failing}): {reason}"
    else:
        why = f"refused against version {champion_version}: {failing}"
    promoted = passed or force
    decision = GateDecision(name, version, champion_version, promoted, force and not passed, why)
    decision.rows = rows

    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with quiet_mlflow():
        client.set_model_version_tag(name, version, "gate.decision", why)
        client.set_model_version_tag(name, version, "gate.time", stamp)
        client.set_model_version_tag(
            name, version, "gate.rows", json.dumps([asdict(r) for r in rows])
        )
        if promoted:
            client.set_registered_model_alias(name, CHAMPION, version)
            if champion_version:
                client.set_model_version_tag(name, version, "previous_champion", champion_version)
            if force:
                client.set_model_version_tag(name, version, "gate.forced_reason", str(reason))
            try:
                if str(client.get_model_version_by_alias(name, CHALLENGER).version) == version:
                    client.delete_registered_model_alias(name, CHALLENGER)
            except MlflowException:
                pass
    return decision


def list_versions(name: str = DEFAULT_NAME) -> list[dict[str, Any]]:
    """Every version of ``name``, newest first: version, aliases, run id, test metrics."""
    from mlflow.exceptions import MlflowException

    client = registry_client()
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException as exc:
        raise MednerError(f"cannot list models named {name!r}: {exc}") from exc
    out = []
    for found in sorted(versions, key=lambda v: int(v.version), reverse=True):
        mv = client.get_model_version(name, found.version)  # search results omit aliases
        metrics: dict[str, float] = {}
        if mv.run_id:
            run = client.get_run(mv.run_id)
            metrics = {
                k.removeprefix("test."): v
                for k, v in sorted(run.data.metrics.items())
                if k.startswith("test.")
            }
        out.append(
            {
                "version": int(mv.version),
                "aliases": sorted(mv.aliases),
                "run_id": mv.run_id,
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(
                    timespec="seconds"
                ),
                "gate": mv.tags.get("gate.decision"),
                "metrics": metrics,
            }
        )
    return out
