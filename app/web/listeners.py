"""One listening socket per worker, so that the kernel spreads connections over the workers.

uvicorn's supervisor binds one socket and every worker accepts from it. Under load the worker
that wakes first accepts the whole backlog, and a client holding a few keep-alive connections
(a load balancer, a connection pool, wrk) often ends up with all of them on one worker while the
other idles: measured with 2 workers and 16 connections, reads ran at about 7,800 req/s on most
runs and 12,900 on the lucky ones. With SO_REUSEPORT each worker listens on a socket of its own,
bound to the same address, and Linux hands each new connection to one of them by a hash of its
address and port, so a pool's connections land on every worker.

The supervisor keeps a `SharedPortSocket`: bound with SO_REUSEPORT, never listening, so it
holds the port for as long as the server runs (a worker restarted by uvicorn binds beside it)
and receives no connections itself. Handed to a worker process, it arrives as a new socket on
the same address (its pickled form is the address, not the file descriptor), which uvicorn's
worker then listens on.

The price: connections the kernel queued on a worker's socket and that worker never accepted are
reset when it dies, where a shared socket would hand them to another worker. A killed worker is
replaced by uvicorn's supervisor on a socket of its own (tests/test_listeners.py).
"""

from __future__ import annotations

import socket
from typing import Any, TypeVar

# Linux and the BSDs; elsewhere the one shared socket of uvicorn's own supervisor is used
REUSE_PORT = getattr(socket, "SO_REUSEPORT", None)


def open_worker_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A socket bound to `address` with SO_REUSEPORT, for one worker to listen on."""
    return _bind_shared(socket.socket(family, socket.SOCK_STREAM), address)


class SharedPortSocket(socket.socket):
    """The supervisor's hold on the port; a worker given it gets its own socket instead."""

    @classmethod
    def bind_to(cls, host: str, port: int) -> SharedPortSocket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return _bind_shared(cls(family, socket.SOCK_STREAM), (host.strip("[]"), port))

    def __reduce__(self) -> tuple[Any, tuple[int, tuple[Any, ...]]]:
        # multiprocessing would pass the file descriptor on (one socket shared by every
        # worker); the address makes each worker open its own
        return open_worker_socket, (int(self.family), self.getsockname())


S = TypeVar("S", bound=socket.socket)


def _bind_shared(sock: S, address: tuple[Any, ...]) -> S:
    """`sock` bound to `address` beside the other sockets of this server (SO_REUSEPORT)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        assert REUSE_PORT is not None
        sock.setsockopt(socket.SOL_SOCKET, REUSE_PORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock
