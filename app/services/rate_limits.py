"""A realm's rate limits (`rate_limits`): anonymous registrations per client address, token
requests per client, console sign-ins per address and account. Fixed windows counted in the
database, one atomic statement a request, so the limit holds across every process sharing it."""

from __future__ import annotations

import hashlib

from app.config.realm_models import RealmConfig
from app.errors import TooManyRequests
from app.metrics import RATE_LIMITED
from app.store.queries import Store

LONGEST_WINDOW = 86400  # counters older than this are swept


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def check(self, realm: RealmConfig, kind: str, subject: str, now: int) -> None:
        """Count this request; 429 too_many_requests once the realm's limit of `kind` for
        `subject` is used up in the current window (nothing is counted without a limit)."""
        limit = realm.rate_limits.limit(kind)
        if limit is None:
            return
        allowed, seconds = limit
        window_start = now - now % seconds
        # hashed: a subject (an address, a client id, an account) is no secret, but keys stay
        # short and of one shape whatever a caller sends
        key = hashlib.sha256(f"{realm.name}\0{kind}\0{subject}".encode()).hexdigest()
        hits = await self._store.count_hit(key, window_start)
        if hits > allowed:
            RATE_LIMITED.labels(realm.name, kind).inc()
            retry = window_start + seconds - now
            raise TooManyRequests(
                f"Too many requests: at most {allowed} per {seconds} s; retry in {retry} s", retry
            )
