"""Real `registrar serve` processes on 127.0.0.1, for the tests marked `live` (races, restarts,
limits, the browser): `scripts/test --fast` leaves those out, so start_server refuses to run
in a test without the mark."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import TEST_SECRET_KEY, wait_until

# set by conftest before each test's fixtures: whether the test is marked `live`
_in_live_test = False


def allow_servers(allowed: bool) -> None:
    global _in_live_test
    _in_live_test = allowed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A `registrar serve` child process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    tmp_path: Path,
    realms_dir: Path,
    database_url: str,
    workers: int = 1,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> LiveServer:
    """Start a server and wait (60 s at most) until /health answers 200."""
    if not _in_live_test:
        raise RuntimeError(
            "start_server in a test not marked `live`: add pytest.mark.live (the module's "
            "pytestmark) so that scripts/test --fast leaves it out"
        )
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    env = {
        **os.environ,
        "REGISTRAR_SECRET_KEY": TEST_SECRET_KEY,
        "REGISTRAR_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "REGISTRAR_REALM_POLL_INTERVAL": "0.5",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--realms-dir",
        str(realms_dir),
        "--database-url",
        database_url,
        "--public-url",
        url,
        "--workers",
        str(workers),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(url, process, log)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            return httpx.get(url + "/health", timeout=1).status_code == 200
        return False

    try:
        wait_until(healthy, timeout=60, what=f"{url}/health to answer 200", interval=0.1)
    except AssertionError as exc:
        server.stop(kill=True)
        raise RuntimeError(f"server did not become healthy:\n{log.read_text()}") from exc
    return server


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    realms_dir: Path,
    database_url: str,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """start_server, stopped on the way out whatever happened."""
    server = start_server(tmp_path, realms_dir, database_url, workers, extra_env=extra_env)
    try:
        yield server
    finally:
        server.stop()
