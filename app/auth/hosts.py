"""Host name resolution for the trusted-hosts policy: looked up off the event loop, remembered.

The policies are pure and ask a Resolver synchronously; so the registration service first
prefetches the names its policy set may ask about (`prefetch`, lookups in worker threads with a
timeout), and the policies then read the cache only (`__call__` never blocks). A request never
holds the event loop on DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable

CACHE_SECONDS = 60.0
LOOKUP_TIMEOUT = 5.0  # a lookup slower than this counts as unknown, for this request
MAX_ENTRIES = 4096


class CachingResolver:
    """hostname -> its IP addresses (IPv4 and IPv6), remembered for a minute; failures too."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str) -> frozenset[str]:
        """The addresses of `host` as last looked up (none if never): never blocks."""
        host = _name(host)
        literal = _literal(host)
        if literal is not None:
            return literal
        cached = self._cache.get(host)
        return cached[1] if cached is not None else frozenset()

    async def prefetch(self, hosts: Iterable[str]) -> None:
        """Look up, in worker threads and together, the names not freshly cached."""
        now = time.monotonic()
        missing = {
            name
            for name in map(_name, hosts)
            if _literal(name) is None and not self._fresh(name, now)
        }
        if missing:
            await asyncio.gather(*(self._look_up(name) for name in missing))

    def _fresh(self, host: str, now: float) -> bool:
        cached = self._cache.get(host)
        return cached is not None and cached[0] > now

    async def _look_up(self, host: str) -> None:
        try:
            addresses = await asyncio.wait_for(asyncio.to_thread(_lookup, host), LOOKUP_TIMEOUT)
        except TimeoutError:
            addresses = frozenset()
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[host] = (time.monotonic() + CACHE_SECONDS, addresses)


def _name(host: str) -> str:
    return host.strip("[]").lower()


def _literal(host: str) -> frozenset[str] | None:
    try:
        return frozenset({str(ipaddress.ip_address(host))})
    except ValueError:
        return None


def _lookup(host: str) -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos)
