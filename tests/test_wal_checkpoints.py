"""SQLite's log is copied back by the checkpointer's thread (app/store/wal_checkpoints.py): a
serving connection never checkpoints in a commit, the log does not grow without bound while
writers keep committing, and every committed row is there afterwards."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.store.database import SqliteDatabase, WriterLock
from app.store.wal_checkpoints import BACKSTOP_PAGES, WalCheckpointer

PAGE = 4096


def _database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # no backstop: the thread alone bounds the log
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    return conn


@pytest.mark.anyio
async def test_a_started_database_s_connections_leave_checkpoints_to_the_thread(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(str(tmp_path / "registrar.db"))
    db.create_schema()  # opens a connection before start
    await db.start()
    try:
        async with db.read() as tx:
            assert await tx.one("PRAGMA wal_autocheckpoint") == (BACKSTOP_PAGES,)

        def other_thread() -> object:
            return db._connection().execute("PRAGMA wal_autocheckpoint").fetchone()

        holder: list[object] = []
        worker = threading.Thread(target=lambda: holder.append(other_thread()))
        worker.start()
        worker.join()
        assert holder == [(BACKSTOP_PAGES,)]
    finally:
        await db.stop()


@pytest.mark.anyio
async def test_what_is_committed_is_copied_back_by_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "registrar.db"
    db = SqliteDatabase(str(path))
    db.create_schema()
    await db.start()
    try:
        for n in range(200):
            async with db.write() as tx:
                await tx.run(
                    "INSERT INTO revoked_token (jti, realm, expires_at) VALUES (?, ?, ?)",
                    (f"jti-{n}", "open", 2_000_000_000),
                )
        # the database file alone, without its log, holds every row once all is copied back
        deadline = time.monotonic() + 10
        while (rows := _rows_in_file_alone(path, tmp_path / "copy.db")) != 200:
            assert time.monotonic() < deadline, f"{rows} of 200 rows copied back"
            time.sleep(0.05)
    finally:
        await db.stop()


def test_the_log_stays_bounded_while_writers_keep_committing(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    writer = _database(path)
    lock = WriterLock(Path(str(path) + ".writer-lock"))
    checkpoints = WalCheckpointer(str(path), lock, interval=0.01, max_log_pages=50)
    stop = threading.Event()
    committed = 0

    def write() -> None:
        nonlocal committed
        while not stop.is_set() and committed < 20_000:  # bounded
            with lock:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("INSERT INTO t (body) VALUES (?)", ("x" * 900,))
                writer.execute("COMMIT")
            committed += 1
            time.sleep(0.0002)  # a request's own work between two commits

    largest = 0
    checkpoints.start()
    writing = threading.Thread(target=write)
    writing.start()
    try:
        for _ in range(150):  # about 1.5 s of sustained commits
            time.sleep(0.01)
            wal = Path(str(path) + "-wal")
            if wal.exists():
                largest = max(largest, wal.stat().st_size)
    finally:
        stop.set()
        writing.join()
        checkpoints.stop()
    assert committed > 200, committed
    # the log starts over instead of growing with every commit: about 1 KB of row per commit
    # would have made it at least `committed` KB long
    assert largest < 400 * PAGE, (largest, committed)
    assert largest < committed * 1000, (largest, committed)
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (committed,)
    reader.close()
    writer.close()
    lock.close()


def _rows_in_file_alone(path: Path, copy: Path) -> int:
    copy.write_bytes(path.read_bytes())  # no -wal beside the copy
    conn = sqlite3.connect(copy)
    try:
        found = conn.execute("SELECT count(*) FROM revoked_token").fetchone()
        return int(found[0])
    except sqlite3.DatabaseError:  # caught mid-copy: try again
        return -1
    finally:
        conn.close()
        copy.unlink()
