"""Events under Keycloak's names (CLIENT_REGISTER, CLIENT_INFO, CLIENT_UPDATE, CLIENT_DELETE and
their _ERROR twins) for realms with `events.enabled`: recorded without slowing the request (kept
in memory and written in batches every FLUSH_SECONDS, and at shutdown), read back by admins with
Keycloak's filters, kept for the realm's retention. An event never holds a secret or token: only
the names, ids, address and error code given here."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping
from typing import Any

from app.auth.callers import Caller
from app.auth.roles import TO_VIEW_EVENTS, require_admin
from app.config.realm_models import RealmConfig
from app.errors import InvalidRequest, RegistrarError
from app.jsonio import dumps, loads
from app.rules.numbers import whole_number
from app.services.periodic import PeriodicFlush
from app.store.queries import EventQuery, EventRow, Store
from app.store.schema import CLIENT_ID_LENGTH

FLUSH_SECONDS = 0.5
MAX_BUFFER = 10_000  # past this many unwritten events, the oldest are dropped (and logged)
DEFAULT_PAGE = 100
MAX_PAGE = 1000

log = logging.getLogger("registrar.events")


class EventLog(PeriodicFlush):
    interval = FLUSH_SECONDS

    def __init__(self, store: Store) -> None:
        self._store = store
        self._buffer: list[EventRow] = []

    def record(
        self,
        realm: RealmConfig,
        kind: str,
        caller: Caller | None,
        client_id: str | None,
        error: str | None = None,
        details: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> None:
        """Note an event of an events-enabled realm; written within FLUSH_SECONDS. The user is
        `user_id`, else the signed-in person or the client a bearer token names."""
        if not realm.events.enabled:
            return
        if len(self._buffer) >= MAX_BUFFER:
            log.warning("event buffer full: dropping the oldest event")
            del self._buffer[0]
        user = user_id
        if user is None and caller is not None and caller.kind == "bearer":
            user = caller.user or caller.subject
        self._buffer.append(
            EventRow(
                realm=realm.name,
                time=int(time.time() * 1000),
                type=kind,
                client_id=client_id[:CLIENT_ID_LENGTH] if client_id else None,
                user_id=user or None,
                ip_address=caller.host or None if caller is not None else None,
                error=error,
                details_json=dumps(dict(details)).decode() if details else None,
            )
        )

    def recording(
        self, realm: RealmConfig, kind: str, caller: Caller | None, client_id: str | None
    ) -> Recording:
        """Record `kind` when the block succeeds, its _ERROR twin (with the code) when it
        raises an API error."""
        return Recording(self, realm, kind, caller, client_id)

    async def flush(self) -> None:
        rows, self._buffer = self._buffer, []
        try:
            await self._store.insert_events(rows)
        except Exception:  # the database away: keep them for the next flush
            self._buffer[:0] = rows[-MAX_BUFFER:]
            raise

    async def list_events(
        self, realm: RealmConfig, caller: Caller, query: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """`GET /admin/realms/{realm}/events`: Keycloak's EventRepresentation, newest first,
        filtered by `type` (repeatable), `client`, `dateFrom` and `dateTo` (yyyy-MM-dd, or
        epoch milliseconds), paged by `first` and `max`."""
        require_admin(caller, TO_VIEW_EVENTS)
        await self.flush()  # what was recorded before this request is listed
        raw_types = query.get("type")
        types = tuple(raw_types) if isinstance(raw_types, list | tuple) else ()
        wanted = EventQuery(
            types=types,
            client_id=query.get("client") or None,
            time_from=_time(query.get("dateFrom"), "dateFrom", end_of_day=False),
            time_to=_time(query.get("dateTo"), "dateTo", end_of_day=True),
            first=_count(query.get("first"), "first", 0),
            limit=min(_count(query.get("max"), "max", DEFAULT_PAGE), MAX_PAGE),
        )
        return [_representation(row) for row in await self._store.list_events(realm.name, wanted)]

    async def sweep(self, realms: list[RealmConfig], now: int) -> None:
        """Forget each events-enabled realm's events older than its retention."""
        for realm in realms:
            if realm.events.enabled:
                before = (now - realm.events.retention_seconds) * 1000
                await self._store.sweep_events(realm.name, before)


def _representation(row: EventRow) -> dict[str, Any]:
    shown: dict[str, Any] = {"time": row.time, "type": row.type, "realmId": row.realm}
    for name, value in (
        ("clientId", row.client_id),
        ("userId", row.user_id),
        ("ipAddress", row.ip_address),
        ("error", row.error),
    ):
        if value is not None:
            shown[name] = value
    if row.details_json:
        shown["details"] = loads(row.details_json)
    return shown


def _count(raw: object, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    value = whole_number(str(raw), max_digits=9)
    if value is None:
        raise InvalidRequest(f"Query parameter {name} must be a non-negative whole number")
    return value


def _time(raw: object, name: str, end_of_day: bool) -> int | None:
    """A yyyy-MM-dd day (its start, or its end for dateTo), or epoch milliseconds."""
    if raw is None or raw == "":
        return None
    text = str(raw)
    millis = whole_number(text, max_digits=15)
    if millis is not None:
        return millis
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"Query parameter {name} must be yyyy-MM-dd or epoch ms") from exc
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
    millis = int(start.timestamp() * 1000)
    return millis + 86_399_999 if end_of_day else millis


class Recording:
    """Events.recording's block (a class, not @contextlib.contextmanager: the token endpoint
    and introspection enter one per request, and a generator per use costs several times more)."""

    __slots__ = ("events", "realm", "kind", "caller", "client_id")

    def __init__(
        self,
        events: EventLog,
        realm: RealmConfig,
        kind: str,
        caller: Caller | None,
        client_id: str | None,
    ) -> None:
        self.events, self.realm, self.kind = events, realm, kind
        self.caller, self.client_id = caller, client_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if exc is None:
            self.events.record(self.realm, self.kind, self.caller, self.client_id)
        elif isinstance(exc, RegistrarError):
            error_kind = f"{self.kind}_ERROR"
            self.events.record(self.realm, error_kind, self.caller, self.client_id, exc.error)
