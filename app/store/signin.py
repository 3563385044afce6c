"""The queries of signing users in: sessions, consents, authorization codes, grant families and
refresh tokens. Every token is stored as its SHA-256 digest only (docs/reference.md §6).

One use of a code and one rotation of a refresh token are conditional UPDATEs: of two racing
redemptions exactly one changes the row, so the other is seen as a replay.

On PostgreSQL the statements every code flow makes (its session read, its code's insert and
use, its grant family's insert) are batched per realm (app.store.batching): concurrent sign-ins
share round trips and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store.batching import KeyedBatcher
from app.store.database import Database
from app.store.queries import array_literal, json_rows


@dataclass(frozen=True)
class SessionRow:
    username: str
    auth_time: int
    expires_at: int


@dataclass(frozen=True)
class CodeRow:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    scope: str
    nonce: str | None
    resource_json: str
    username: str
    auth_time: int
    expires_at: int
    used_at: int
    family_id: str | None


@dataclass(frozen=True)
class RefreshRow:
    family_id: str
    client_id: str
    username: str
    scope: str
    resource_json: str
    auth_time: int
    expires_at: int
    rotated: bool


@dataclass(frozen=True)
class NewRefresh:
    digest: str
    family_id: str
    client_id: str
    username: str
    scope: str
    resource_json: str
    auth_time: int
    expires_at: int


CODE_MEMORY = 86400  # seconds a used or expired code is remembered
_CODE_COLUMNS = (
    "client_id, redirect_uri, code_challenge, scope, nonce, resource_json, username, "
    "auth_time, expires_at, used_at, family_id"
)
_REFRESH_COLUMNS = (
    "family_id, client_id, username, scope, resource_json, auth_time, expires_at, rotated"
)

_INSERT_FAMILY = (
    "INSERT INTO grant_family (family_id, realm, client_id, username, revoked, expires_at, "
    "auth_time) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (family_id) DO NOTHING"
)
_INSERT_REFRESH = (
    f"INSERT INTO refresh_token (token_digest, realm, {_REFRESH_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _refresh_params(realm: str, new: NewRefresh) -> tuple[Any, ...]:
    return (
        new.digest, realm, new.family_id, new.client_id, new.username, new.scope,
        new.resource_json, new.auth_time, new.expires_at, False,
    )  # fmt: skip


# PostgreSQL: the codes issued by concurrent authorizations of one realm, in one statement
_INSERT_CODES_PG = (
    f"INSERT INTO authorization_code (code_digest, realm, {_CODE_COLUMNS}) SELECT "
    "r->>0, ?, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::integer, "
    "(r->>9)::integer, (r->>10)::integer, r->>11 FROM jsonb_array_elements(?::jsonb) AS r"
)


# PostgreSQL: the first uses of several codes of one realm, in one statement. Two uses of one
# code in a batch match its row twice; PostgreSQL updates it once, with one of them, and
# RETURNING shows whose family id it took: that use won, the other is a replay
_REDEEM_CODES_PG = (
    "UPDATE authorization_code AS a SET used_at = v.used_at, family_id = v.family_id "
    "FROM unnest(?::text[], ?::text[], ?::integer[]) AS v(code_digest, family_id, used_at) "
    "WHERE a.code_digest = v.code_digest AND a.realm = ? AND a.used_at = 0 "
    f"RETURNING a.code_digest, {', '.join('a.' + c for c in _CODE_COLUMNS.split(', '))}"
)
# PostgreSQL: the grant families of several first code uses of one realm, with their first
# refresh tokens, in one statement
_INSERT_FAMILIES_PG = (
    "WITH family AS (INSERT INTO grant_family (family_id, realm, client_id, username, revoked, "
    "expires_at, auth_time) SELECT r->>0, ?, r->>1, r->>2, false, (r->>3)::integer, "
    "(r->>4)::integer FROM jsonb_array_elements(?::jsonb) AS r "
    "ON CONFLICT (family_id) DO NOTHING) "
    f"INSERT INTO refresh_token (token_digest, realm, {_REFRESH_COLUMNS}) SELECT "
    "r->>0, ?, r->>1, r->>2, r->>3, r->>4, r->>5, (r->>6)::integer, (r->>7)::integer, false "
    "FROM jsonb_array_elements(?::jsonb) AS r"
)


@dataclass(frozen=True)
class NewFamily:
    """A grant family to store (revoked false), and its first refresh token if any."""

    family_id: str
    client_id: str
    username: str
    expires_at: int
    auth_time: int
    first_refresh: NewRefresh | None


def _code_params(code: CodeRow) -> tuple[Any, ...]:
    """A code's columns, in the order of _CODE_COLUMNS."""
    return (
        code.client_id, code.redirect_uri, code.code_challenge, code.scope, code.nonce,
        code.resource_json, code.username, code.auth_time, code.expires_at, code.used_at,
        code.family_id,
    )  # fmt: skip


def _family_texts(new: NewFamily) -> tuple[Any, ...]:
    refresh = new.first_refresh
    texts = (new.family_id, new.client_id, new.username)
    if refresh is None:
        return texts
    return (*texts, refresh.digest, refresh.scope, refresh.resource_json, refresh.username)


def _storable(values: tuple[Any, ...]) -> bool:
    """Whether every text can be stored in PostgreSQL: no NUL, nothing UTF-8 cannot encode."""
    for value in values:
        if isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


class SigninStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # PostgreSQL: every authorization reads its session and stores its code; concurrent
        # ones of a realm share a query and a statement (app.store.batching)
        self._session_reads: KeyedBatcher[str, str, SessionRow | None] = KeyedBatcher(
            self._get_sessions
        )
        self._code_inserts: KeyedBatcher[str, tuple[str, CodeRow], None] = KeyedBatcher(
            self._put_codes
        )
        # ... and every code exchange redeems its code and stores its grant family
        self._code_uses: KeyedBatcher[str, tuple[str, str, int], CodeRow | None] = KeyedBatcher(
            self._redeem_codes
        )
        self._family_inserts: KeyedBatcher[str, NewFamily, None] = KeyedBatcher(self._put_families)

    # --- sessions -----------------------------------------------------------------------------

    async def put_session(
        self, realm: str, digest: str, username: str, auth_time: int, expires_at: int
    ) -> None:
        await self.db.write_one(
            "INSERT INTO signin_session (id_digest, realm, username, auth_time, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest, realm, username, auth_time, expires_at),
        )

    async def get_session(self, realm: str, digest: str, now: int) -> SessionRow | None:
        if self.db.dialect == "postgresql":
            if "\x00" in digest:  # PostgreSQL refuses a NUL in text: such an id names nothing
                return None
            found_row = await self._session_reads.submit(realm, digest)
            # a session expires at `expires_at`: live only before it, as the query below asks
            return found_row if found_row is not None and found_row.expires_at > now else None
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                "SELECT username, auth_time, expires_at FROM signin_session "
                "WHERE id_digest = ? AND realm = ? AND expires_at > ?",
                (digest, realm, now),
            )
        )
        return SessionRow(str(found[0]), int(found[1]), int(found[2])) if found else None

    async def _get_sessions(self, realm: str, digests: list[str]) -> list[SessionRow | None]:
        """Several sessions of one realm by their id digests, in one query (PostgreSQL)."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                "SELECT id_digest, username, auth_time, expires_at FROM signin_session "
                "WHERE id_digest = ANY(?::text[]) AND realm = ?",
                (array_literal(digests), realm),
            )
        )
        found = {str(r[0]): SessionRow(str(r[1]), int(r[2]), int(r[3])) for r in rows}
        return [found.get(digest) for digest in digests]

    async def delete_session(self, realm: str, digest: str) -> None:
        await self.db.write_one(
            "DELETE FROM signin_session WHERE id_digest = ? AND realm = ?", (digest, realm)
        )

    async def sessions_of(self, realm: str, username: str, now: int) -> list[tuple[str, int, int]]:
        """A user's live sessions: (id digest, auth_time, expires_at), newest first."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                "SELECT id_digest, auth_time, expires_at FROM signin_session "
                "WHERE realm = ? AND username = ? AND expires_at > ? "
                "ORDER BY auth_time DESC, id_digest",
                (realm, username, now),
            )
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def end_session(self, realm: str, username: str, digest: str) -> bool:
        """End one of a user's sessions and revoke the grants issued under it (those of its
        sign-in, by auth_time), together; whether there was one."""
        async with self.db.write() as tx:
            found = await tx.one(
                "SELECT auth_time FROM signin_session WHERE id_digest = ? AND realm = ? "
                "AND username = ?",
                (digest, realm, username),
            )
            if found is None:
                return False
            await tx.run(
                "DELETE FROM signin_session WHERE id_digest = ? AND realm = ?", (digest, realm)
            )
            await tx.run(
                "UPDATE grant_family SET revoked = ? WHERE realm = ? AND username = ? "
                "AND auth_time = ?",
                (True, realm, username, int(found[0])),
            )
        return True

    async def usernames(self, realm: str, now: int) -> set[str]:
        """Everyone the realm has a live session, a consent or a grant of."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                "SELECT username FROM signin_session WHERE realm = ? AND expires_at > ? "
                "UNION SELECT username FROM signin_consent WHERE realm = ? "
                "UNION SELECT username FROM grant_family WHERE realm = ? AND expires_at > ?",
                (realm, now, realm, realm, now),
            )
        )
        return {str(r[0]) for r in rows}

    # --- consents -----------------------------------------------------------------------------

    async def consents_of(self, realm: str, username: str) -> list[tuple[str, str]]:
        """A user's consents: (client id, scope), by client id."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                "SELECT client_id, scope FROM signin_consent WHERE realm = ? AND username = ? "
                "ORDER BY client_id",
                (realm, username),
            )
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def withdraw(self, realm: str, username: str, client_id: str) -> bool:
        """Forget a user's consent to a client and revoke every grant issued to that client for
        that user, together; whether there was a consent."""
        async with self.db.write() as tx:
            removed = await tx.run(
                "DELETE FROM signin_consent WHERE realm = ? AND username = ? AND client_id = ?",
                (realm, username, client_id),
            )
            await tx.run(
                "UPDATE grant_family SET revoked = ? WHERE realm = ? AND username = ? "
                "AND client_id = ?",
                (True, realm, username, client_id),
            )
        return removed == 1

    async def granted_scope(self, realm: str, username: str, client_id: str) -> set[str]:
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                "SELECT scope FROM signin_consent WHERE realm = ? AND username = ? "
                "AND client_id = ?",
                (realm, username, client_id),
            )
        )
        return set(str(found[0]).split()) if found else set()

    async def grant(self, realm: str, username: str, client_id: str, scopes: set[str]) -> None:
        async with self.db.write() as tx:
            found = await tx.one(
                "SELECT scope FROM signin_consent WHERE realm = ? AND username = ? "
                "AND client_id = ?",
                (realm, username, client_id),
            )
            if found is None:
                await tx.run(
                    "INSERT INTO signin_consent (realm, username, client_id, scope) "
                    "VALUES (?, ?, ?, ?)",
                    (realm, username, client_id, " ".join(sorted(scopes))),
                )
            else:
                merged = " ".join(sorted(scopes | set(str(found[0]).split())))
                await tx.run(
                    "UPDATE signin_consent SET scope = ? WHERE realm = ? AND username = ? "
                    "AND client_id = ?",
                    (merged, realm, username, client_id),
                )

    # --- authorization codes ------------------------------------------------------------------

    async def put_code(self, realm: str, digest: str, code: CodeRow) -> None:
        columns = _code_params(code)
        if self.db.dialect == "postgresql" and _storable((digest, *columns)):
            await self._code_inserts.submit(realm, (digest, code))
            return
        # SQLite; or a text PostgreSQL would refuse, which fails here alone, not with a batch
        await self.db.write_one(
            f"INSERT INTO authorization_code (code_digest, realm, {_CODE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (digest, realm, *columns),
        )

    async def _put_codes(self, realm: str, codes: list[tuple[str, CodeRow]]) -> list[None]:
        """Several codes of one realm in one statement (PostgreSQL): all stored, or none (each
        digest is 256 random bits: no batch meets a taken one)."""
        rows = [(digest, *_code_params(code)) for digest, code in codes]
        await self.db.write_one(_INSERT_CODES_PG, (realm, json_rows(rows)))
        return [None] * len(codes)

    async def redeem_code(
        self, realm: str, digest: str, family_id: str, now: int
    ) -> tuple[CodeRow | None, bool]:
        """The code's row and whether this call redeemed it (the first use, before expiry);
        a replay gets the row with the family id its first use recorded, and False."""
        # one statement: of racing uses exactly one changes the row and gets it back
        if self.db.dialect == "postgresql" and _storable((digest, family_id)):
            first = await self._code_uses.submit(realm, (digest, family_id, now))
            if first is not None:
                return first, True
        else:
            won = await self.db.write_returning(
                "UPDATE authorization_code SET used_at = ?, family_id = ? "
                f"WHERE code_digest = ? AND realm = ? AND used_at = 0 RETURNING {_CODE_COLUMNS}",
                (now, family_id, digest, realm),
            )
            if won:
                return _code(won[0]), True
        # an unknown code, or a replay: the first use's change is committed (it made this
        # UPDATE miss), so this read sees the family id it recorded
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {_CODE_COLUMNS} FROM authorization_code "
                "WHERE code_digest = ? AND realm = ?",
                (digest, realm),
            )
        )
        return (_code(found) if found is not None else None), False

    async def _redeem_codes(
        self, realm: str, uses: list[tuple[str, str, int]]
    ) -> list[CodeRow | None]:
        """First uses of several codes of one realm (PostgreSQL): each use's row if it won."""
        rows = await self.db.write_returning(
            _REDEEM_CODES_PG,
            (
                array_literal(digest for digest, _, _ in uses),
                array_literal(family for _, family, _ in uses),
                array_literal(now for _, _, now in uses),
                realm,
            ),
        )
        won = {(str(row[0]), row[11]): _code(row[1:]) for row in rows}
        return [won.get((digest, family)) for digest, family, _ in uses]

    # --- grant families and refresh tokens ----------------------------------------------------

    async def put_family(
        self,
        realm: str,
        family_id: str,
        client_id: str,
        username: str,
        expires_at: int,
        auth_time: int = 0,
        first_refresh: NewRefresh | None = None,
    ) -> None:
        """Store a new grant family and, if given, its first refresh token, together (one
        batched statement on PostgreSQL, one transaction on SQLite)."""
        if first_refresh is not None:
            expires_at = max(expires_at, first_refresh.expires_at)
        # a replay of the code may have revoked the family before this first use stored it
        # (revoke_code_family): then it stays revoked
        family = (family_id, realm, client_id, username, False, expires_at, auth_time)
        new = NewFamily(family_id, client_id, username, expires_at, auth_time, first_refresh)
        if self.db.dialect == "postgresql" and _storable(_family_texts(new)):
            await self._family_inserts.submit(realm, new)
        # SQLite; or a text PostgreSQL would refuse, which fails here alone, not with a batch
        elif first_refresh is None:
            await self.db.write_one(_INSERT_FAMILY, family)
        else:
            async with self.db.write() as tx:
                await tx.run(_INSERT_FAMILY, family)
                await tx.run(_INSERT_REFRESH, _refresh_params(realm, first_refresh))

    async def _put_families(self, realm: str, families: list[NewFamily]) -> list[None]:
        """Several new grant families of one realm and their first refresh tokens, in one
        statement (PostgreSQL): all stored, or none."""
        refreshes = [
            _refresh_params(realm, new.first_refresh)
            for new in families
            if new.first_refresh is not None
        ]
        await self.db.write_one(
            _INSERT_FAMILIES_PG,
            (
                realm,
                json_rows(
                    (new.family_id, new.client_id, new.username, new.expires_at, new.auth_time)
                    for new in families
                ),
                realm,
                json_rows((row[0], *row[2:9]) for row in refreshes),
            ),
        )
        return [None] * len(families)

    async def revoke_code_family(self, realm: str, code: CodeRow, expires_at: int) -> None:
        """Revoke what a code's first use issued, whether or not that use has stored its
        family yet: racing uses of one code may get here first, and the family row this
        writes then keeps the first use's tokens revoked once it is stored."""
        await self.db.write_one(
            "INSERT INTO grant_family (family_id, realm, client_id, username, revoked, "
            "expires_at, auth_time) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (family_id) DO UPDATE SET revoked = excluded.revoked",
            (code.family_id, realm, code.client_id, code.username, True, expires_at,
             code.auth_time),
        )  # fmt: skip

    async def revoke_family(self, realm: str, family_id: str) -> None:
        await self.db.write_one(
            "UPDATE grant_family SET revoked = ? WHERE family_id = ? AND realm = ?",
            (True, family_id, realm),
        )

    async def family_live(self, realm: str, family_id: str) -> bool:
        if len(family_id) > 64 or "\x00" in family_id:
            return False
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                "SELECT revoked FROM grant_family WHERE family_id = ? AND realm = ?",
                (family_id, realm),
            )
        )
        return found is not None and not found[0]

    async def put_refresh(self, realm: str, new: NewRefresh) -> None:
        """Store a refresh token, and extend its family's life to its expiry, together."""
        async with self.db.write() as tx:
            await tx.run(_INSERT_REFRESH, _refresh_params(realm, new))
            await tx.run(
                "UPDATE grant_family SET expires_at = ? WHERE family_id = ? AND realm = ? "
                "AND expires_at < ?",
                (new.expires_at, new.family_id, realm, new.expires_at),
            )

    async def get_refresh(self, realm: str, digest: str) -> RefreshRow | None:
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {_REFRESH_COLUMNS} FROM refresh_token "
                "WHERE token_digest = ? AND realm = ?",
                (digest, realm),
            )
        )
        return _refresh(found) if found else None

    async def rotate_refresh(self, realm: str, digest: str) -> bool:
        """Mark a refresh token used; True only for the one call that did."""
        won = await self.db.write_one(
            "UPDATE refresh_token SET rotated = ? WHERE token_digest = ? AND realm = ? "
            "AND NOT rotated",
            (True, digest, realm),
        )
        return won == 1

    async def sweep(self, now: int) -> int:
        """Forget expired sessions, codes, refresh tokens and families; idempotent."""
        removed = 0
        for table in ("signin_session", "authorization_code", "refresh_token", "grant_family"):
            removed += await self.db.write_one(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))
        return removed


def _code(row: tuple[Any, ...]) -> CodeRow:
    return CodeRow(
        str(row[0]), str(row[1]), row[2], str(row[3]), row[4], str(row[5]), str(row[6]),
        int(row[7]), int(row[8]), int(row[9]), row[10],
    )  # fmt: skip


def _refresh(row: tuple[Any, ...]) -> RefreshRow:
    return RefreshRow(
        str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
        int(row[6]), bool(row[7]),
    )  # fmt: skip
