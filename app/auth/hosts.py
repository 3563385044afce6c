"""Host name resolution for the trusted-hosts policy, cached: a request costs no DNS lookup."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

CACHE_SECONDS = 60.0


class CachingResolver:
    """hostname -> its IP addresses (IPv4 and IPv6), remembered for a minute; failures too."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str) -> frozenset[str]:
        host = host.strip("[]").lower()
        try:
            return frozenset({str(ipaddress.ip_address(host))})
        except ValueError:
            pass
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = _lookup(host)
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[host] = (now + CACHE_SECONDS, addresses)
        return addresses


def _lookup(host: str) -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos)
