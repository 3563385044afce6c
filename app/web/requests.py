"""What every endpoint shares: the JSON response, body limits, realm, caller and clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.auth.callers import Credential, bearer_token
from app.config.realms import RealmConfig
from app.container import Services
from app.errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from app.jsonio import JsonDecodeError, dumps, loads

MAX_BODY = 64 * 1024
JSON_HEADERS = {"content-type": "application/json"}


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def now() -> int:
    return int(time.time())


def host_of(request: Request) -> str:
    return request.client.host if request.client else ""


def realm_of(request: Request) -> RealmConfig:
    return services_of(request).enabled_realm(request.path_params["realm"])


async def read_body(request: Request, media_types: tuple[str, ...]) -> bytes:
    """The request body, refusing a wrong content type (415) and more than 64 KiB (413)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in media_types:
        raise UnsupportedMediaType(f"Content-Type must be {' or '.join(media_types)}")
    declared = request.headers.get("content-length", "")
    # isascii: str.isdigit() is true of "²" (a latin-1 header byte), which int() refuses
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY} bytes")
    timeout = services_of(request).settings.body_timeout
    try:
        async with asyncio.timeout(timeout):
            return await _read_capped(request)
    except TimeoutError as exc:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} s") from exc


async def _read_capped(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"The request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, ("application/json",))
    try:
        value = loads(body)
    except JsonDecodeError as exc:
        raise InvalidRequest("The request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return value


async def credential_of(request: Request, realm: RealmConfig) -> Credential:
    """Verify the request's token, if any."""
    token = bearer_token(request.headers.get("authorization"))
    return await services_of(request).credential(realm, token, now())
