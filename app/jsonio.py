"""JSON at the edge: orjson for speed, plain Python values in and out."""

from __future__ import annotations

from typing import Any

import orjson


class JsonDecodeError(ValueError):
    """The bytes are not one JSON document."""


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonDecodeError(str(exc)) from exc
