"""Client ids are RFC 9562 UUIDv7: version 7, RFC variant, ordered by creation time, unique."""

from __future__ import annotations

import time
import uuid

from app.store.ids import new_client_id, random_uuid, uuid_text


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


def test_the_text_form_is_the_uuid_modules() -> None:
    for value in (0, 1, (1 << 128) - 1, 0x0123456789ABCDEF0123456789ABCDEF):
        assert uuid_text(value) == str(uuid.UUID(int=value))
    made = new_client_id()
    assert str(uuid.UUID(made)) == made


def test_token_ids_are_random_version_4_uuids() -> None:
    made = [random_uuid() for _ in range(2_000)]
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    assert len(set(made)) == len(made)
    # every one of the 122 random bits is set in some id and clear in another
    ones = 0
    zeros = 0
    for text in made:
        value = uuid.UUID(text).int
        ones |= value
        zeros |= ~value
    fixed = (0xF << 76) | (0b11 << 62)
    assert (ones & zeros) | fixed == (1 << 128) - 1
