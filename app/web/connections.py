"""The HTTP connection itself: a request head must arrive within `header_timeout` seconds.

uvicorn closes idle keep-alive connections and the app times out slow bodies (408), but neither
limits the request head: a socket that sends nothing, or trickles one header line at a time,
would stay open for as long as its sender likes, and enough of them hold uvicorn's connection
limit so that every newcomer gets a 503 (slowloris). This protocol closes such a connection.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import RequestTimeout
from app.jsonio import dumps
from app.web.coalescing import CoalescingTransport
from app.web.requests import JSON_RAW_HEADERS, NO_STORE


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on every request head: from the moment the
    connection opens, and on a kept-alive connection from the first byte of the next request,
    to the end of the head. Past it the connection is closed, with a 408 if part of a head came.
    """

    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = False  # part of a head arrived since the timer was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # a response's head and body in one write (app/web/coalescing.py)
        super().connection_made(CoalescingTransport(transport, self.loop))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self._waiting_for_head():
            super().data_received(data)
        elif self._head_timer is not None:
            self._head_bytes = True
            super().data_received(data)
        else:
            # a kept-alive connection's next request begins; a timer is set only if these
            # bytes do not complete its head (they almost always do)
            super().data_received(data)
            if self._waiting_for_head() and not self.transport.is_closing():
                self._arm()
                self._head_bytes = True

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        # a request in progress (its body, or its response) is the body timeout's business
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._head_bytes = False
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            # RFC 9110 §15.5.9: 408, the server "did not receive a complete request message
            # within the time that it was prepared to wait"
            self.transport.write(_timeout_response(self.head_timeout))
        self.transport.close()


@functools.cache
def _timeout_response(seconds: float) -> bytes:
    """A 408 as the app's errors look (JSON, no-store, the JSON headers), and Connection: close."""
    exc = RequestTimeout(f"The request head did not arrive within {seconds:g} s")
    body = dumps({"error": exc.error, "error_description": exc.description})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]
    headers += JSON_RAW_HEADERS
    headers.append((b"connection", b"close"))
    head = b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(
        k + b": " + v + b"\r\n" for k, v in headers
    )
    return head + b"\r\n" + body


def protocol(head_timeout: float) -> type[asyncio.Protocol]:
    """What `uvicorn.run(http=...)` takes: the protocol class with its deadline bound. A partial
    of a module-level class, so it pickles for `--workers N` (uvicorn spawns its workers); uvicorn
    only calls it, as it would the class."""
    return cast(
        type[asyncio.Protocol], functools.partial(HeadTimeoutProtocol, head_timeout=head_timeout)
    )
