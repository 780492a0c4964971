"""API keys with scopes: stored hashed (SHA-256 of a 256-bit random key), never in clear.

Keys come from ``MEDNER_API_KEYS`` (``"key:scope+scope,key2:scope"``, for development and tests)
and from a keys file that ``medner keys create`` appends to. A key is identified in logs and
metrics by its id (``k_`` + 8 hex digits of its hash), never by the key itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from medner.errors import ConfigError

SCOPES = frozenset({"extract", "admin", "review"})
KEY_PREFIX = "mk_"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A known key: its hash, its id for logs, its scopes."""

    sha256: str
    scopes: frozenset[str]

    @property
    def key_id(self) -> str:
        return "k_" + self.sha256[:8]


def _scopes(raw: Iterable[str], where: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in raw if s.strip())
    unknown = scopes - SCOPES
    if not scopes or unknown:
        raise ConfigError(
            f"{where}: scopes must be some of {', '.join(sorted(SCOPES))}"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
        )
    return scopes


def parse_env_keys(spec: str) -> list[ApiKey]:
    """Keys from ``"key:scope+scope,key2:scope"``."""
    keys = []
    for n, item in enumerate(filter(None, (p.strip() for p in spec.split(","))), start=1):
        key, sep, scopes = item.partition(":")
        if not sep or not key:
            raise ConfigError(f"MEDNER_API_KEYS entry {n}: expected key:scope[+scope]")
        keys.append(ApiKey(hash_key(key), _scopes(scopes.split("+"), f"MEDNER_API_KEYS entry {n}")))
    return keys


def read_keys_file(path: Path) -> list[ApiKey]:
    """Keys from a keys file (``{"keys": [{"sha256", "scopes", "created"}]}``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["keys"]
        return [
            ApiKey(str(e["sha256"]), _scopes(e["scopes"], f"{path} key {i}"))
            for i, e in enumerate(entries, start=1)
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a medner keys file ({exc})") from exc


def create_key(path: Path, scopes: Iterable[str]) -> tuple[str, ApiKey]:
    """A new random key with ``scopes``, appended (hashed) to the keys file; returns the key in
    clear (shown once) and its record."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(hash_key(key), _scopes(scopes, "--scope"))
    entries = []
    if path.exists():
        entries = json.loads(path.read_text(encoding="utf-8")).get("keys", [])
    entries.append(
        {
            "id": record.key_id,
            "sha256": record.sha256,
            "scopes": sorted(record.scopes),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": entries}, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return key, record


def dev_key() -> tuple[str, ApiKey]:
    """A throw-away key with every scope, for development mode."""
    key = KEY_PREFIX + "dev_" + secrets.token_urlsafe(24)
    return key, ApiKey(hash_key(key), SCOPES)


class KeyStore:
    """Looks keys up by their hash."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_hash = {k.sha256: k for k in keys}

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, presented: str) -> ApiKey | None:
        return self._by_hash.get(hash_key(presented))
