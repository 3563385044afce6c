"""Client ids: UUIDv7 (RFC 9562 §5.7), time-ordered; token ids: UUIDv4 (§5.4).

A new client's id sorts after every older one, so its row goes at the end of the primary-key
index: the pages a registration writes stay the same few hot ones however many clients are
stored. With random (v4) ids each insert lands on a random page of an index that outgrows
every cache, and registration latency climbs with the number of clients. The id is no secret
(the registration access token guards the client) and `client_id_issued_at` already tells its
time; 74 random bits keep ids of one millisecond apart.
"""

from __future__ import annotations

import os
import time

_VERSION_7 = 0x7 << 76
_VERSION_4 = 0x4 << 76
_VERSION_BITS = 0xF << 76
_VARIANT_RFC = 0b10 << 62
_VARIANT_BITS = 0b11 << 62


def new_client_id() -> str:
    """unix_ts_ms (48 bits) | ver 7 (4) | rand_a (12) | var 0b10 (2) | rand_b (62)"""
    millis = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    return uuid_text(millis << 80 | _VERSION_7 | rand_a << 64 | _VARIANT_RFC | rand_b)


def random_uuid() -> str:
    """A random UUID (version 4): 122 bits from the OS CSPRNG, as uuid.uuid4() makes."""
    rand = int.from_bytes(os.urandom(16), "big")
    return uuid_text(rand & ~(_VERSION_BITS | _VARIANT_BITS) | _VERSION_4 | _VARIANT_RFC)


def uuid_text(value: int) -> str:
    """A 128-bit value in the UUID's text form (RFC 9562 §4): what str(uuid.UUID(int=value))
    gives, without building the object (a token or a client is made every request)."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
