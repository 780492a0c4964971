"""``medner serve`` (the real-time API) and ``medner keys create`` (API keys)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from medner.cli.common import MODEL_HELP, app, err, fail
from medner.errors import ConfigError, MednerError

keys_app = typer.Typer(help="API keys of `medner serve`.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command("serve")
def serve_cli(
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (0: any free one).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes.")] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Model replicas per worker.")
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development mode: start without keys, print one.")
    ] = False,
) -> None:
    """Serve the extraction API (FastAPI on uvicorn). Settings: options, else MEDNER_* variables
    (MEDNER_API_KEYS, MEDNER_KEYS_FILE, MEDNER_DATABASE_URL, ...; docs/operations.md)."""
    import uvicorn
    from pydantic import ValidationError

    from medner.serving.auth import dev_key
    from medner.serving.logs import configure_json_logging
    from medner.serving.schemas import EXAMPLE_NOTE
    from medner.serving.service import build_app, load_keys
    from medner.serving.settings import ServeSettings
    from medner.store import migrate

    given: dict[str, Any] = {"model": model, "host": host, "port": port, "workers": workers}
    given |= {"concurrency": concurrency, "dev": dev or None}
    try:
        try:
            settings = ServeSettings.model_validate(
                {k: v for k, v in given.items() if v is not None}
            )
        except ValidationError as exc:
            raise ConfigError(f"invalid setting: {exc}") from exc
        keys = load_keys(settings)
        if not keys and not settings.dev:
            raise ConfigError(
                "no API keys: create one with `medner keys create --scope extract`, set "
                "MEDNER_API_KEYS, or start in development mode with --dev"
            )
        if settings.dev:
            key, _ = dev_key()
            extra = f"{key}:extract+admin"
            os.environ["MEDNER_API_KEYS"] = ",".join(filter(None, [settings.api_keys, extra]))
            settings = settings.model_copy(update={"api_keys": os.environ["MEDNER_API_KEYS"]})
            url = f"http://{settings.host}:{settings.port}"
            err.print(
                f"[bold yellow]development mode[/]: a key valid until this process ends:\n{key}"
            )
            err.print(f"serving {settings.model} at {url} (OpenAPI at {url}/docs). Try:")
            print(
                f"curl -s {url}/v1/extract -H 'Authorization: Bearer {key}' "
                f"-H 'Content-Type: application/json' -d '{json.dumps({'text': EXAMPLE_NOTE})}'",
                flush=True,
            )
        try:
            configure_json_logging()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if settings.prediction_log:  # once, before any worker starts (they only check it)
            migrate(settings.database_url)
        if settings.workers == 1:
            uvicorn.run(
                build_app(settings),
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
            )
        else:  # each worker builds the app from the environment
            for name, value in settings.model_dump().items():
                if value is not None:
                    os.environ[f"MEDNER_{name.upper()}"] = str(value)
            uvicorn.run(
                "medner.serving.service:app_from_env",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                log_config=None,
                access_log=False,
            )
    except MednerError as exc:
        fail(exc)


@keys_app.command("create")
def keys_create_cli(
    scope: Annotated[
        list[str], typer.Option("--scope", help="extract, admin or review (repeatable).")
    ],
    keys_file: Annotated[
        Path | None,
        typer.Option("--file", help="Keys file (default: MEDNER_KEYS_FILE or runs/api-keys.json)."),
    ] = None,
) -> None:
    """Create an API key: stored hashed in the keys file, printed once (stdout)."""
    from medner.serving.auth import create_key
    from medner.serving.settings import ServeSettings

    path = keys_file or ServeSettings().keys_file
    try:
        key, record = create_key(path, scope)
    except MednerError as exc:
        fail(exc)
    err.print(
        f"key {record.key_id} with scopes {', '.join(sorted(record.scopes))} added to {path}; "
        "it is shown only now:"
    )
    print(key)
