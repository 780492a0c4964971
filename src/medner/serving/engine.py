"""The model behind the API, and where it runs: worker processes (default) or threads.

``processes``: each worker of the API hands notes to ``concurrency`` extraction processes
(spawned, each with its own copy of the model), so tagging never holds the event loop's GIL:
the loop parses, validates and answers requests on one core while the model tags on another.
``threads``: ``concurrency`` copies of the model in the API process, each used by one thread at
a time: no extra processes (tests, small deployments), but tagging and the event loop share the
GIL.

A reload builds the new model (new processes, or new copies) first, then swaps the reference.
Requests in flight finish on the model they started with; the old processes stop once they are
idle. Nothing fails and nothing waits for the load.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio

from medner.errors import MednerError, ModelLoadError
from medner.inference.extract import entity_records
from medner.inference.profile import read_vocabulary
from medner.models.base import NerModel, load_model, model_version, read_model_config
from medner.models.refs import is_registry_ref

Mode = Literal["processes", "threads"]
_PROCESS_MODEL: NerModel | None = None  # the model of an extraction process


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Exit this extraction process once the API process that started it is gone (kill -9
    leaves no one to stop it; it would hold its model, and the resource tracker, forever)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _process_init(directory: str) -> None:
    global _PROCESS_MODEL
    # Ctrl-C reaches the whole process group: the API process stops these processes itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watcher = threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    )
    watcher.start()
    _PROCESS_MODEL = load_model(Path(directory))


def _process_predict(texts: list[str]) -> list[list[dict[str, Any]]]:
    assert _PROCESS_MODEL is not None
    return [entity_records(_PROCESS_MODEL, t) for t in texts]


@dataclass(slots=True)
class Loaded:
    """One loaded model and its runners."""

    name: str
    version: str
    source: str
    directory: Path
    info: dict[str, Any]
    vocabulary: frozenset[str] | None = None  # for the notes' profile (medner.monitoring)
    replicas: asyncio.Queue[NerModel] | None = None
    pool: ProcessPoolExecutor | None = None

    def close(self, wait: bool = False) -> None:
        """Stop the extraction processes once their current work is done: now (``wait``) or in
        the background (after a swap, so the reload returns at once)."""
        if self.pool is None:
            return
        if wait:
            self.pool.shutdown(wait=True)
        else:
            threading.Thread(target=self.pool.shutdown, kwargs={"wait": True}).start()


def resolve(source: str, default_name: str) -> tuple[str, str, Path]:
    """(name, version, local directory) of a model directory or a ``models:/`` URI."""
    if is_registry_ref(source):
        from medner.tracking.registry import registry_client, resolve_model_dir, version_of

        try:
            name, version = version_of(registry_client(), source)
            return name, version, resolve_model_dir(f"models:/{name}/{version}")
        except MednerError:
            raise
        except Exception as exc:  # the tracking server is down, slow or refuses us
            cause = (str(exc).splitlines() or [""])[0][:300]
            raise ModelLoadError(
                f"{source}: the registry did not answer ({type(exc).__name__}: {cause})"
            ) from exc
    directory = Path(source)
    read_model_config(directory)  # a clear error if it is not a model directory
    return default_name, model_version(directory), directory


def _info(directory: Path) -> dict[str, Any]:
    config = read_model_config(directory)
    metrics_file = directory / "metrics.json"
    return {
        "backend": str(config.get("backend")),
        "labels": list(config.get("labels", [])),
        "metrics": json.loads(metrics_file.read_text()) if metrics_file.is_file() else {},
    }


def _start_pool(directory: Path, size: int) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(
        max_workers=size,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_process_init,
        initargs=(str(directory),),
    )
    # start every process and load its model now, not on the first request
    futures = [pool.submit(_process_predict, ["Asthma."]) for _ in range(size)]
    try:
        for f in futures:
            f.result(timeout=300)
    except Exception as exc:
        pool.shutdown(wait=False, cancel_futures=True)
        raise MednerError(f"extraction processes failed to load {directory}: {exc}") from exc
    return pool


class ModelHolder:
    """The current model: load, swap, extract."""

    def __init__(
        self, default_source: str, default_name: str, concurrency: int, mode: Mode
    ) -> None:
        self.default_source = default_source
        self.default_name = default_name
        self.concurrency = concurrency
        self.mode = mode
        self.current: Loaded | None = None
        self._lock = asyncio.Lock()

    def _build(self, source: str) -> Loaded:
        name, version, directory = resolve(source, self.default_name)
        loaded = Loaded(
            name, version, source, directory, _info(directory), read_vocabulary(directory)
        )
        if self.mode == "processes":
            loaded.pool = _start_pool(directory, self.concurrency)
        else:
            loaded.replicas = asyncio.Queue()
            for _ in range(self.concurrency):
                loaded.replicas.put_nowait(load_model(directory))
        return loaded

    async def load(self, source: str | None = None) -> Loaded:
        """Load ``source`` (default: what is served now) and swap it in."""
        async with self._lock:  # one reload at a time
            source = source or (self.current.source if self.current else self.default_source)
            loaded = await anyio.to_thread.run_sync(self._build, source)
            old, self.current = self.current, loaded
            if old is not None:
                old.close()
            return loaded

    async def extract(self, texts: list[str]) -> tuple[list[list[dict[str, Any]]], float, Loaded]:
        """Entity records of each text with the current model (``entity_records``, the path
        ``medner extract`` and the batch job take too); the milliseconds it took."""
        loaded = self.current
        if loaded is None:
            raise MednerError("no model loaded")
        started = time.perf_counter()
        if loaded.pool is not None:
            found = await asyncio.get_running_loop().run_in_executor(
                loaded.pool, _process_predict, texts
            )
        else:
            assert loaded.replicas is not None
            model = await loaded.replicas.get()
            try:
                found = await anyio.to_thread.run_sync(
                    lambda: [entity_records(model, t) for t in texts]
                )
            finally:
                loaded.replicas.put_nowait(model)
        return found, (time.perf_counter() - started) * 1000, loaded

    def close(self) -> None:
        """Stop the current model's processes (at shutdown)."""
        if self.current is not None:
            self.current.close(wait=True)
