"""Validators and their sign-in: argon2id password hashes, a lock-out after repeated failures,
server-side sessions (the cookie holds a random token; the store keeps its SHA-256 and the
session's CSRF token)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from medner.errors import MednerError
from medner.review.queue import as_utc
from medner.store.tables import Reviewer, ReviewSession

ROLES = ("validator", "lead")
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD = 10
_HASHER = PasswordHasher()


class LockedOut(MednerError):
    """Too many failed sign-ins: the account waits until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins; try again after {until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True)
class SignedIn:
    reviewer: str
    role: str
    csrf: str


def add_reviewer(engine: Engine, name: str, password: str, role: str = "validator") -> None:
    """Create a validator (or a lead); its password is stored as an argon2id hash."""
    if role not in ROLES:
        raise MednerError(f"role {role!r}: use validator or lead")
    if not 1 <= len(name) <= 64 or not name.isprintable() or name.startswith("key:"):
        raise MednerError("a reviewer name is 1 to 64 printable characters, not 'key:...'")
    if len(password) < MIN_PASSWORD:
        raise MednerError(f"a password needs at least {MIN_PASSWORD} characters")
    with Session(engine) as session, session.begin():
        if session.execute(select(Reviewer.id).where(Reviewer.name == name)).first():
            raise MednerError(f"reviewer {name!r} exists already")
        session.add(
            Reviewer(
                name=name,
                role=role,
                password_hash=_HASHER.hash(password),
                failed_logins=0,
                created_at=datetime.now(UTC),
            )
        )


def sign_in(
    engine: Engine, name: str, password: str, now: datetime | None = None
) -> tuple[str, SignedIn] | None:
    """A new session (cookie token, and who signed in) for the right password; ``None`` for
    a wrong name or password; ``LockedOut`` after ``MAX_FAILED_LOGINS`` failures in a row."""
    now = now or datetime.now(UTC)
    with Session(engine) as session, session.begin():
        reviewer = session.execute(
            select(Reviewer).where(Reviewer.name == name).with_for_update()
        ).scalar_one_or_none()
        if reviewer is None:
            _HASHER.hash(password)  # the same work as for a real account: no timing oracle
            return None
        if reviewer.locked_until is not None and as_utc(reviewer.locked_until) > now:
            raise LockedOut(as_utc(reviewer.locked_until))
        try:
            _HASHER.verify(reviewer.password_hash, password)
        except (VerificationError, InvalidHashError):
            reviewer.failed_logins += 1
            if reviewer.failed_logins >= MAX_FAILED_LOGINS:
                reviewer.locked_until = now + LOCKOUT
                reviewer.failed_logins = 0
            return None
        reviewer.failed_logins = 0
        reviewer.locked_until = None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session.add(
            ReviewSession(
                token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                reviewer=reviewer.name,
                csrf=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        return token, SignedIn(reviewer.name, reviewer.role, csrf)


def session_of(engine: Engine, token: str, now: datetime | None = None) -> SignedIn | None:
    """Who a cookie token belongs to, while its session lasts."""
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(token.encode()).hexdigest()
    with Session(engine) as session:
        row = session.execute(
            select(ReviewSession, Reviewer.role)
            .join(Reviewer, Reviewer.name == ReviewSession.reviewer)
            .where(ReviewSession.token_sha256 == digest)
        ).first()
    if row is None or as_utc(row[0].expires_at) <= now:
        return None
    return SignedIn(row[0].reviewer, row[1], row[0].csrf)


def sign_out(engine: Engine, token: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with engine.begin() as conn:
        conn.execute(delete(ReviewSession).where(ReviewSession.token_sha256 == digest))
