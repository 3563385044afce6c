"""The queries of signing in at an upstream provider: sign-ins under way (taken once, by the
digest of their `state`) and the users who signed in that way (docs/reference.md §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store.database import Database


@dataclass(frozen=True)
class BrokerLoginRow:
    alias: str
    browser_digest: str
    nonce: str
    verifier_sealed: str
    request_text: str
    expires_at: int


@dataclass(frozen=True)
class BrokeredUserRow:
    sub: str
    alias: str
    upstream_issuer: str
    upstream_sub: str
    username: str
    email: str | None
    name: str | None
    created_at: int
    last_login_at: int


_USER_COLUMNS = (
    "sub, alias, upstream_issuer, upstream_sub, username, email, name, created_at, last_login_at"
)


class BrokerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_login(self, realm: str, state_digest: str, row: BrokerLoginRow) -> None:
        await self.db.write_one(
            "INSERT INTO broker_login (state_digest, realm, alias, browser_digest, nonce, "
            "verifier_sealed, request_text, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state_digest, realm, row.alias, row.browser_digest, row.nonce,
                row.verifier_sealed, row.request_text, row.expires_at,
            ),
        )  # fmt: skip

    async def take_login(self, realm: str, state_digest: str) -> BrokerLoginRow | None:
        """The sign-in under way with this state, removed in the same statement: of two
        callbacks carrying one state, only one gets it."""
        rows = await self.db.write_returning(
            "DELETE FROM broker_login WHERE state_digest = ? AND realm = ? "
            "RETURNING alias, browser_digest, nonce, verifier_sealed, request_text, expires_at",
            (state_digest, realm),
        )
        if not rows:
            return None
        found = rows[0]
        return BrokerLoginRow(
            str(found[0]), str(found[1]), str(found[2]), str(found[3]), str(found[4]),
            int(found[5]),
        )  # fmt: skip

    async def record_user(self, realm: str, user: BrokeredUserRow) -> None:
        """Insert the user, or refresh what the upstream said of them at this sign-in."""
        await self.db.write_one(
            f"INSERT INTO brokered_user (realm, {_USER_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (realm, sub) DO UPDATE SET username = excluded.username, "
            "email = excluded.email, name = excluded.name, "
            "last_login_at = excluded.last_login_at",
            (
                realm, user.sub, user.alias, user.upstream_issuer, user.upstream_sub,
                user.username, user.email, user.name, user.created_at, user.last_login_at,
            ),
        )  # fmt: skip

    async def get_user(self, realm: str, sub: str) -> BrokeredUserRow | None:
        if len(sub) > 200 or "\x00" in sub:
            return None
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {_USER_COLUMNS} FROM brokered_user WHERE realm = ? AND sub = ?",
                (realm, sub),
            )
        )
        return _user(found) if found else None

    async def list_users(self, realm: str) -> list[BrokeredUserRow]:
        """The realm's brokered users, by username (for an admin's list of users)."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {_USER_COLUMNS} FROM brokered_user WHERE realm = ? ORDER BY username, sub",
                (realm,),
            )
        )
        return [_user(row) for row in rows]

    async def sweep(self, now: int) -> int:
        """Forget sign-ins that were never finished; idempotent."""
        return await self.db.write_one("DELETE FROM broker_login WHERE expires_at <= ?", (now,))


def _user(row: tuple[Any, ...]) -> BrokeredUserRow:
    return BrokeredUserRow(
        str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), row[5], row[6],
        int(row[7]), int(row[8]),
    )  # fmt: skip
