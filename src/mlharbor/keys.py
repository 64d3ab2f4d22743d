"""API keys with scopes: created once (the secret is shown once), stored hashed.

A key looks like ``mlh_<prefix>_<secret>``. The prefix finds the row; the secret is checked
against its SHA-256 in constant time. Secrets are 32 random bytes, so a fast hash is enough.

A browser signs in with a key and gets a session instead: a random id for its cookie, of
which only the SHA-256 is stored, with the key it stands for and an expiry. Signing out
deletes it; revoking the key ends all of its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.errors import AuthenticationError, InvalidInputError, NotFoundError
from mlharbor.store.db import transaction
from mlharbor.store.orm import ApiKey, UiSession, utcnow


class Scope(StrEnum):
    READ = "read"
    PREDICT = "predict"
    TRAIN = "train"
    ADMIN = "admin"


@dataclass(frozen=True)
class KeyInfo:
    """A key's public description (never its secret)."""

    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: Scope) -> bool:
        """Whether this key may act with ``scope``.

        ``admin`` may do everything; ``train`` may also read, since training starts from
        reading datasets and insights.
        """
        if Scope.ADMIN in self.scopes or scope in self.scopes:
            return True
        return scope is Scope.READ and Scope.TRAIN in self.scopes


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.name,
        row.prefix,
        [Scope(s) for s in row.scopes],
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: list[str]) -> list[Scope]:
    """Validate scope names; ``InvalidInputError`` lists the valid ones."""
    out = []
    for s in scopes:
        try:
            out.append(Scope(s.strip().lower()))
        except ValueError:
            valid = ", ".join(x.value for x in Scope)
            raise InvalidInputError(f"unknown scope {s!r}; valid scopes: {valid}", field="scopes")
    if not out:
        raise InvalidInputError("a key needs at least one scope", field="scopes")
    return sorted(set(out), key=list(Scope).index)


class KeyService:
    """Create, verify, list and revoke API keys."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create(self, name: str, scopes: list[str]) -> tuple[KeyInfo, str]:
        """A new key and its secret token (shown once; only its hash is stored)."""
        parsed = parse_scopes(scopes)
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        with transaction(self.sessions) as session:
            row = ApiKey(
                name=name[:128] or "key",
                prefix=prefix,
                secret_hash=_hash(secret),
                scopes=[s.value for s in parsed],
            )
            session.add(row)
            session.flush()
            return _info(row), f"mlh_{prefix}_{secret}"

    def verify(self, token: str) -> KeyInfo:
        """The key a token belongs to; ``AuthenticationError`` if none or revoked."""
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != "mlh":
            raise AuthenticationError("the API key is malformed; keys look like mlh_xxxx_…")
        with transaction(self.sessions) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
                raise AuthenticationError("the API key is not valid")
            if row.revoked_at is not None:
                raise AuthenticationError("the API key was revoked")
            row.last_used_at = utcnow()
            return _info(row)

    def list(self) -> list[KeyInfo]:
        with self.sessions() as session:
            return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, key_id: int) -> KeyInfo:
        with transaction(self.sessions) as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                raise NotFoundError(f"API key {key_id} does not exist")
            row.revoked_at = row.revoked_at or utcnow()
            session.execute(delete(UiSession).where(UiSession.key_id == key_id))
            return _info(row)

    def start_session(self, key: KeyInfo, ttl_seconds: float) -> str:
        """A new browser session for ``key``: the id for its cookie (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with transaction(self.sessions) as session:
            # Sessions that ran out are swept here, the one moment a new row is written.
            session.execute(delete(UiSession).where(UiSession.expires_at < now))
            session.add(
                UiSession(
                    token_hash=_hash(token),
                    key_id=key.id,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        return token

    def verify_session(self, token: str) -> KeyInfo:
        """The key a browser session stands for; ``AuthenticationError`` once it has ended."""
        with transaction(self.sessions) as session:
            found = session.execute(
                select(UiSession, ApiKey)
                .join(ApiKey, ApiKey.id == UiSession.key_id)
                .where(UiSession.token_hash == _hash(token.strip()))
            ).first()
            if found is None:
                raise AuthenticationError("the browser session has ended; sign in again")
            row, key = found
            now = utcnow()
            if key.revoked_at is not None:
                raise AuthenticationError("the API key of this browser session was revoked")
            if row.expires_at <= now:
                raise AuthenticationError("the browser session expired; sign in again")
            row.last_used_at = key.last_used_at = now
            return _info(key)

    def end_session(self, token: str) -> None:
        """Sign a browser out: its session id is no longer accepted."""
        with transaction(self.sessions) as session:
            session.execute(delete(UiSession).where(UiSession.token_hash == _hash(token.strip())))
