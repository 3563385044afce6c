"""Client ids are RFC 9562 UUIDv7: version 7, RFC variant, ordered by creation time, unique."""

from __future__ import annotations

import time
import uuid

from app.store.ids import new_client_id


def test_ids_are_version_7_with_the_rfc_variant() -> None:
    parsed = uuid.UUID(new_client_id())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_the_timestamp_is_the_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_client_id())
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_later_ids_sort_after_earlier_ones() -> None:
    first = new_client_id()
    time.sleep(0.002)  # the point: the next id is made in a later millisecond
    assert new_client_id() > first  # the text form sorts like the number


def test_ids_do_not_repeat() -> None:
    made = [new_client_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
