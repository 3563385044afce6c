"""The SQLite database and the files SQLite and the server make beside it are owner-only
(0600), like the secret key file (docs/reference.md §1 "Databases"): they hold sealed secrets,
token digests and the realms' sealed signing keys."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import register

pytestmark = pytest.mark.anyio


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a service (022): files are world-readable unless made
    otherwise. Requested before the app starts."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_database_files_are_owner_only(
    usual_umask: None, sqlite_url: str, client: httpx.AsyncClient
) -> None:
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    await register(client)  # a write: SQLite has made its -wal and -shm files by now
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    files.append(Path(f"{database}.writer-lock"))
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in files}
    assert modes == {path.name: "0o600" for path in files}
