"""One socket write per response: uvicorn writes a response's head and its body separately.

uvicorn's httptools protocol calls `transport.write` once for the status line and headers and
once more for the body, and uvloop sends each at once: two syscalls and two TCP segments per
answer, and a client that wakes for the head, finds no body, and sleeps again. On a loaded
machine that second wake-up cost the client and the server a context switch each per request
(the head's write was a tenth of a token request's time in a profile of a live worker).
`CoalescingTransport` keeps what is written during one step of the event loop and hands it to
the socket as one write on the loop's next turn (a callback queued with the first write), so
nothing waits longer than the callbacks already ready. Past `FLUSH_BYTES` it writes at once,
so a large or streamed body meets the socket's own flow control (pause_writing) as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

FLUSH_BYTES = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """A connection's transport whose writes within one loop turn go out as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand what was written so far to the socket (a no-op when nothing waits)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        # what was written before close() still goes out, as with the socket's own buffer
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._pending_bytes = [], 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._pending_bytes + self._transport.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()
