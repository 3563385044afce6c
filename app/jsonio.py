"""JSON at the edge: orjson for speed, plain Python values in and out."""

from __future__ import annotations

from typing import Any

import orjson


class JsonDecodeError(ValueError):
    """The bytes are not one JSON document."""


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def canonical_dumps(value: Any) -> bytes:
    """One spelling of a value: keys sorted, no spaces (for digests of equal documents)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonDecodeError(str(exc)) from exc
