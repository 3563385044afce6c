"""Limits a hostile or broken client runs into, against a real server: request head size,
request-target length, slow bodies, slow or silent request heads, idle keep-alive connections
and the connection cap."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.live import LiveServer, running_server

pytestmark = pytest.mark.live

LIMITS = {
    "REGISTRAR_MAX_HEADER_BYTES": "4096",
    "REGISTRAR_MAX_URL_BYTES": "1024",
    "REGISTRAR_BODY_TIMEOUT": "1",
    "REGISTRAR_KEEP_ALIVE_TIMEOUT": "1",
    "REGISTRAR_MAX_CONNECTIONS": "8",
    "REGISTRAR_HEADER_TIMEOUT": "2.5",
}
HEADER_TIMEOUT = 2.5
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
DCR = "/realms/open/clients-registrations/openid-connect"


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, sqlite_url, extra_env=LIMITS) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _exchange(server: LiveServer, raw: bytes) -> bytes:
    with _connect(server) as sock:
        sock.sendall(raw)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    """One whole response: the head, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _health_if(server: LiveServer, status: int) -> bytes:
    """GET /health on a new connection: the response if it has `status`, else b\"\"."""
    response = _exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    return response if _status(response) == status else b""


def _error(response: bytes) -> str:
    """The `error` of a raw response's JSON error body (with a non-empty error_description)."""
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\ncontent-type: application/json" in head.lower(), head
    parsed = json.loads(body)
    assert isinstance(parsed.get("error_description"), str) and parsed["error_description"]
    error: str = parsed["error"]
    return error


def test_oversized_request_headers_get_431(server: LiveServer) -> None:
    raw = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 8000 + b"\r\n\r\n"
    response = _exchange(server, raw)
    assert _status(response) == 431
    assert _error(response) == "invalid_request"


def test_overlong_request_target_gets_414(server: LiveServer) -> None:
    raw = b"GET /realms/open/" + b"x" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    response = _exchange(server, raw)
    assert _status(response) == 414
    assert _error(response) == "invalid_request"


def test_a_body_that_never_arrives_gets_408(server: LiveServer) -> None:
    head = (
        f"POST {DCR} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(head + b'{"client_name"')  # then nothing more
        response = _read_response(sock)
    assert _status(response) == 408
    assert _error(response) == "invalid_request"
    assert time.monotonic() - started < 5


def _post_in_parts(server: LiveServer, parts: list[bytes], pause: float) -> bytes:
    """A registration whose body comes in `parts`, `pause` seconds apart, after the head."""
    body = b"".join(parts)
    head = (
        f"POST {DCR} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as sock:
        sock.sendall(head)
        for part in parts:
            time.sleep(pause)
            sock.sendall(part)
        return _read_response(sock)


BODY_PARTS = [b'{"client_name": "slow", ', b'"redirect_uris": ', b'["https://rp.example.org/cb"]}']


def test_a_body_in_parts_within_the_timeout_is_read_whole(server: LiveServer) -> None:
    # each part waits for its bytes: none has arrived when the body is first read
    response = _post_in_parts(server, BODY_PARTS, pause=0.2)
    assert _status(response) == 201, response
    assert json.loads(response.partition(b"\r\n\r\n")[2])["client_name"] == "slow"


def test_the_body_timeout_bounds_the_whole_body_not_each_part(server: LiveServer) -> None:
    # every part comes within the 1 s timeout of the one before, the last one 1.5 s in
    response = _post_in_parts(server, BODY_PARTS, pause=0.5)
    assert _status(response) == 408, response
    assert _error(response) == "invalid_request"


def test_idle_keep_alive_connections_are_closed(server: LiveServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(_read_response(sock)) == 200
        idle = time.monotonic()
        sock.settimeout(5)  # the deadline; the keep-alive timeout is 1 s
        try:
            closed = sock.recv(1) == b""  # blocks until the server closes (or sends)
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        idled = time.monotonic() - idle
    assert closed, "the idle connection was still open after 5 s"
    assert idled > 0.5, f"closed after {idled:.2f} s: not for being idle"


def test_connections_past_the_cap_get_503(server: LiveServer) -> None:
    head = (
        f"POST {DCR} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    with contextlib.ExitStack() as open_sockets:
        held = [open_sockets.enter_context(_connect(server)) for _ in range(8)]
        for sock in held:
            sock.sendall(head)  # requests in progress, bodies pending
        refused = wait_until(
            lambda: _health_if(server, 503), timeout=5, what="a request past the cap to get 503"
        )
        assert _error(refused) == "temporarily_unavailable"
        assert b"retry-after: 1" in refused.lower()
    wait_until(lambda: _health_if(server, 200), timeout=5, what="the closed connections to count")


def test_silent_and_trickling_request_heads_are_closed(server: LiveServer) -> None:
    """Sockets that send nothing, and sockets that send one header line a second and never end
    the head, are closed after header_timeout (a 408 to those that sent part of a head); a
    normal client is served meanwhile."""
    silent = [_connect(server) for _ in range(3)]
    trickling = [_connect(server) for _ in range(3)]
    opened = time.monotonic()
    for sock in trickling:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    received = {sock: b"" for sock in silent + trickling}
    closed_at: dict[socket.socket, float] = {}
    served: list[int] = []
    next_line = opened + 1
    try:
        while len(closed_at) < len(received) and time.monotonic() < opened + HEADER_TIMEOUT + 5:
            if time.monotonic() >= next_line:
                next_line += 1
                for sock in trickling:
                    if not received[sock] and sock not in closed_at:
                        with contextlib.suppress(OSError):  # closed under our feet
                            sock.sendall(b"X-Slow: 1\r\n")
            if len(served) < 3:
                served.append(_status(_exchange(server, HEALTH)))
            still_open = [sock for sock in received if sock not in closed_at]
            for sock in select.select(still_open, [], [], 0.1)[0]:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                received[sock] += chunk
                if not chunk:
                    closed_at[sock] = time.monotonic()
    finally:
        for sock in received:
            sock.close()
    assert served == [200, 200, 200]
    assert len(closed_at) == len(received), "connections left open past the head timeout"
    waited = sorted(at - opened for at in closed_at.values())
    assert HEADER_TIMEOUT - 0.5 < waited[0] and waited[-1] < HEADER_TIMEOUT + 2, waited
    assert all(received[sock] == b"" for sock in silent)
    for sock in trickling:
        assert _status(received[sock]) == 408
        assert b"invalid_request" in received[sock]


def test_silent_sockets_cannot_hold_the_connection_limit(server: LiveServer) -> None:
    """Twice max_connections silent sockets fill uvicorn's connection limit (every newcomer
    gets its plain-text 503) only until header_timeout closes them."""
    held = [_connect(server) for _ in range(16)]
    started = time.monotonic()
    try:
        time.sleep(0.3)
        statuses = [_status(_exchange(server, HEALTH))]
        while statuses[-1] != 200 and time.monotonic() < started + HEADER_TIMEOUT + 3:
            time.sleep(0.2)
            statuses.append(_status(_exchange(server, HEALTH)))
    finally:
        for sock in held:
            sock.close()
    assert statuses[0] == 503  # the limit was held
    assert statuses[-1] == 200, statuses


def test_a_kept_alive_connection_cannot_trickle_its_next_head(server: LiveServer) -> None:
    """After a response, the next request's head has header_timeout from its first byte: lines
    sent more often than the keep-alive timeout do not keep the connection open."""
    with _connect(server) as sock:
        sock.sendall(HEALTH)
        assert _status(_read_response(sock)) == 200
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        reply = b""
        with contextlib.suppress(OSError):  # a line sent after the close may be reset
            while time.monotonic() < started + HEADER_TIMEOUT + 3:
                if select.select([sock], [], [], 0.5)[0]:
                    reply = _read_response(sock)
                    break
                sock.sendall(b"X-Slow: 1\r\n")  # every 0.5 s, inside the 1 s keep-alive
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert waited < HEADER_TIMEOUT + 1.5
