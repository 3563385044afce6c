"""Client ids: UUIDv7 (RFC 9562 §5.7), time-ordered.

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
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62


def new_client_id() -> str:
    """unix_ts_ms (48 bits) | ver 7 (4) | rand_a (12) | var 0b10 (2) | rand_b (62)"""
    millis = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=millis << 80 | _VERSION_7 | rand_a << 64 | _VARIANT_RFC | rand_b))
