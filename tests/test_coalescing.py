"""CoalescingTransport: what one step of the event loop writes reaches the socket as one write,
in order, and nothing written is lost or held past that step (app/web/coalescing.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from app.web.coalescing import FLUSH_BYTES, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The socket's side: every write it is handed, and whether it was closed or aborted."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        assert not self.closed, "a write after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def _next_turn() -> None:
    await asyncio.sleep(0)


def test_a_head_and_body_written_in_one_step_go_out_as_one_write() -> None:
    async def scenario() -> list[bytes]:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert socket_side.writes == []  # held until the step ends
        assert transport.get_write_buffer_size() == 40
        await _next_turn()
        return socket_side.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_writes_of_separate_steps_stay_separate_and_in_order() -> None:
    async def scenario() -> list[bytes]:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())
        transport.write(b"first")
        await _next_turn()
        transport.writelines([b"sec", b"ond"])
        transport.write(b"")  # nothing to send schedules nothing
        await _next_turn()
        await _next_turn()
        return socket_side.writes

    assert asyncio.run(scenario()) == [b"first", b"second"]


def test_close_sends_what_was_written_before_it() -> None:
    async def scenario() -> RecordingTransport:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        transport.close()
        assert transport.is_closing()
        await _next_turn()  # the queued flush finds nothing left and writes nothing more
        return socket_side

    socket_side = asyncio.run(scenario())
    assert socket_side.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"]
    assert socket_side.closed


def test_abort_drops_what_is_held_and_a_closed_socket_gets_no_write() -> None:
    async def scenario() -> RecordingTransport:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())
        transport.write(b"never sent")
        transport.abort()
        await _next_turn()
        return socket_side

    socket_side = asyncio.run(scenario())
    assert socket_side.aborted
    assert socket_side.writes == []


def test_a_large_body_is_handed_on_at_once_for_the_sockets_flow_control() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())
        transport.write(b"h" * 100)
        transport.write(b"b" * FLUSH_BYTES)
        during = [len(w) for w in socket_side.writes]
        transport.write(b"tail")
        await _next_turn()
        return during, [len(w) for w in socket_side.writes]

    during, after = asyncio.run(scenario())
    assert during == [100 + FLUSH_BYTES]  # before the step ended
    assert after == [100 + FLUSH_BYTES, 4]
