"""SQLite's write-ahead log is copied back into the database by a thread of its own.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that commit
copies the pages and waits for the database file's fsync, on the serving event loop and under the
writer lock, so every request of both workers waits with it. Under a registration load (2
workers, 16 connections) that was most of the p99 (10-22 ms, against 5-7 ms without) and nearly
all of the p99.9, and it grows with whatever slows the disk: a busy machine, a bulk load.

Here every `interval` seconds this thread runs a PASSIVE checkpoint, which copies what was
committed so far without stopping readers or writers (sqlite3 releases the GIL meanwhile). The
log starts over only when a writer finds it all copied and nobody reading it, which writers that
keep overlapping the copies never do; so when the log holds more than `max_log_pages` this thread
takes the writer lock for a RESTART checkpoint: it copies the little left since the last round
and waits for readers to leave the log, and the next writer starts it over. The serving
connections checkpoint only past BACKSTOP_PAGES (wal_autocheckpoint), which this thread keeps the
log well below: should it fall behind, the log is still bounded, as with SQLite's default.
Durability is SQLite's own either way: a committed transaction is in the log until it is copied.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger("registrar.database")

INTERVAL_SECONDS = 0.2
MAX_LOG_PAGES = 4000  # about 16 MB of log with 4 KiB pages
BACKSTOP_PAGES = 10_000  # a commit checkpoints itself past this (SQLite's default: 1,000)


class WalCheckpointer:
    def __init__(
        self,
        path: str,
        writer_lock: contextlib.AbstractContextManager[None],
        interval: float = INTERVAL_SECONDS,
        max_log_pages: int = MAX_LOG_PAGES,
    ) -> None:
        self._path = path
        self._writer_lock = writer_lock
        self._interval = interval
        self._max_log_pages = max_log_pages
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="sqlite-wal-checkpoints", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=30)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            while not self._stopping.wait(self._interval):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """One round: (pages in the log, pages copied so far) after it."""
        log_pages, copied = _checkpoint(conn, "PASSIVE")
        if log_pages > self._max_log_pages:
            # the log did not start over (a writer's transaction overlapped the last copy): with
            # no writer in between, copy the rest and have the next writer start it over
            with self._writer_lock:
                log_pages, copied = _checkpoint(conn, "RESTART")
        return log_pages, copied


def _checkpoint(conn: sqlite3.Connection, mode: str) -> tuple[int, int]:
    # (busy, pages in the log, pages copied); -1s when the database is not in WAL mode
    row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(row[1]), int(row[2])
