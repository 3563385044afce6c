"""Rows read again and again, kept per process while the database has not changed (SQLite).

A registration read, a token request and an introspection each read one client's row, and a
busy client's row is the same row thousands of times a second. On SQLite a process can tell
exactly whether anything was committed since it last looked: `PRAGMA data_version` changes
when any other connection (another worker, another thread) commits, and the database counts
the commits of its own connection (`SqliteDatabase.unchanged_reads`). Asking costs a third of
reading the row. Every value here was read after the stamp it is kept under was taken, so a
commit in between only makes the next look empty the cache: an answer from the cache is what
a read at that moment would have returned, and every guarantee about what a read sees after a
write (a rotated registration access token, a deleted or disabled client) holds as without it.

PostgreSQL has no such stamp; its reads are batched instead (app/store/batching.py).
"""

from __future__ import annotations

from typing import Any

# a bound on memory, not a working set: past it the cache starts over
MAX_ENTRIES = 4096


def remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep `value` (read after the cache was checked) under `key`, in a cache of at most
    MAX_ENTRIES (also the bound of app.auth.secret_box's opened secrets)."""
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[key] = value
