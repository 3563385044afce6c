"""Each worker listens on a socket of its own (app/web/listeners.py): the connections of one
client land on every worker, the supervisor's own socket holds the port without taking any, and
a second server cannot start on a port in use. The live tests read /proc: the server runs on
Linux, where SO_REUSEPORT spreads connections (app/web/listeners.py)."""

from __future__ import annotations

import os
import pickle
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.web.listeners import SharedPortSocket
from tests.helpers import wait_until
from tests.live import LiveServer, running_server

SOCKET_INODE = re.compile(r"socket:\[(\d+)\]")


def test_a_worker_given_the_supervisor_s_socket_opens_its_own_on_the_same_address() -> None:
    with SharedPortSocket.bind_to("127.0.0.1", 0) as hold:
        address = hold.getsockname()
        with pickle.loads(pickle.dumps(hold)) as first, pickle.loads(pickle.dumps(hold)) as second:
            assert type(first) is socket.socket
            assert first.fileno() != hold.fileno()
            assert first.getsockname() == second.getsockname() == address
            first.listen()
            second.listen()
            # the supervisor's socket never listens: connections go to the workers' sockets
            with socket.create_connection(address, timeout=5) as connection:
                assert connection.getpeername() == address


def test_the_supervisor_s_socket_takes_no_connection() -> None:
    with SharedPortSocket.bind_to("127.0.0.1", 0) as hold:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(hold.getsockname(), timeout=5).close()


def test_a_port_held_by_another_server_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SharedPortSocket.bind_to("127.0.0.1", 0) as hold:
        listener = pickle.loads(pickle.dumps(hold))  # as a running worker of another server
        listener.listen()
        with listener:
            port = str(hold.getsockname()[1])
            assert main(["serve", "--host", "127.0.0.1", "--port", port, "--workers", "2"]) == 2
    assert "cannot listen on" in capsys.readouterr().err


def _children(server: LiveServer) -> list[int]:
    """The workers, and whatever helper process multiprocessing started beside them."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            match = SOCKET_INODE.fullmatch(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
        if match:
            inodes.add(match.group(1))
    return inodes


def _sockets_to(port: int, state: str) -> set[str]:
    """Inodes of the server's sockets on `port` in `state` (/proc/net/tcp's hex code; IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


@pytest.fixture
def two_workers(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, sqlite_url, workers=2) as server:
        yield server


@pytest.mark.live
def test_one_client_s_connections_land_on_every_worker(two_workers: LiveServer) -> None:
    _assert_spread(two_workers)


@pytest.mark.live
def test_a_worker_killed_is_replaced_on_a_socket_of_its_own(two_workers: LiveServer) -> None:
    before = set(_children(two_workers))
    victim = next(pid for pid in before if _is_worker(pid))
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: (
            victim not in _children(two_workers)
            and sum(_is_worker(pid) for pid in _children(two_workers)) == 2
        ),
        timeout=60,
        what="uvicorn to start a worker in place of the killed one",
    )
    wait_until(lambda: _listening(two_workers) == 2, timeout=60, what="both workers to listen")
    _assert_spread(two_workers)


def _is_worker(pid: int) -> bool:
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:  # gone meanwhile
        return False


def _listening(server: LiveServer) -> int:
    """How many of the server's processes listen on its port (one socket each)."""
    port = int(server.url.rsplit(":", 1)[1])
    listening = _sockets_to(port, "0A")  # TCP_LISTEN
    return sum(bool(_socket_inodes(pid) & listening) for pid in _children(server))


def _assert_spread(server: LiveServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    children = _children(server)
    clients = [httpx.Client(base_url=server.url, timeout=10) for _ in range(32)]
    try:
        for client in clients:  # 32 kept-alive connections, opened one after another
            assert client.get("/health").status_code == 200
        established = _sockets_to(port, "01")  # TCP_ESTABLISHED
        per_process = [len(_socket_inodes(pid) & established) for pid in children]
        assert sum(per_process) == 32, per_process
        # by a hash of each connection's address: all 32 on one worker has odds of 2^-31
        assert sum(count > 0 for count in per_process) == 2, per_process
    finally:
        for client in clients:
            client.close()
