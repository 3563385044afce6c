"""What every endpoint shares: the JSON response, body limits, realm, caller, clock, numbers in
request text, and the client configuration endpoint's dispatch by method."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from app.auth.callers import Caller, bearer_token
from app.config.realm_models import RealmConfig
from app.container import Container
from app.errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from app.jsonio import JsonDecodeError, dumps, loads
from app.rules.numbers import whole_number

MAX_BODY = 64 * 1024
# every response that carries a secret or a token, and every error response
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# every JSON response (docs/reference.md §3): a browser opening one must not sniff it into HTML
# or script, load anything it names, or show it inside another site's frame (clickjacking);
# X-Frame-Options for browsers older than CSP's frame-ancestors
JSON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
JSON_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in JSON_HEADERS.items()]
_JSON_TYPE = (b"content-type", b"application/json")
_NO_STORE_RAW = [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]


class JsonResponse(Response):
    """Every JSON answer of the API, success or error, with JSON_HEADERS."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # bytes are JSON already rendered (the error renderer, the OpenAPI document)
        return content if isinstance(content, bytes) else dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        # Starlette's init_headers, without its generality: every JsonResponse has a body and
        # this content type, and no caller sets Content-Length or Content-Type itself
        if headers is NO_STORE:
            raw = _NO_STORE_RAW.copy()  # the common case, encoded once
        elif headers:
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        else:
            raw = []
        if self.status_code >= 200 and self.status_code not in (204, 304):
            raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        raw.append(_JSON_TYPE)
        raw.extend(JSON_RAW_HEADERS)
        self.raw_headers = raw


def json_array(items: AsyncIterator[Any]) -> StreamingResponse:
    """A JSON array sent as its items come (a realm's every client), with JSON_HEADERS."""

    async def chunks() -> AsyncIterator[bytes]:
        separator = b"["
        async for item in items:
            yield separator + dumps(item)
            separator = b","
        yield b"[]" if separator == b"[" else b"]"

    response = StreamingResponse(chunks(), media_type="application/json")
    response.raw_headers.extend(JSON_RAW_HEADERS)
    return response


def container_of(request: Request) -> Container:
    # the app's attribute (app.web.fastlane.Registrar), not app.state's: State's __getattr__
    # costs more, and every request asks several times
    container: Container = request.app.container
    return container


def now() -> int:
    return int(time.time())


def host_of(request: Request) -> str:
    # the scope's pair, not request.client: that builds a named tuple on every call
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def realm_of(request: Request) -> RealmConfig:
    return container_of(request).enabled_realm(request.path_params["realm"])


async def read_body(request: Request, media_types: tuple[str, ...]) -> bytes:
    """The request body, refusing a wrong content type (415) and more than 64 KiB (413)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in media_types:
        raise UnsupportedMediaType(f"Content-Type must be {' or '.join(media_types)}")
    declared = whole_number(request.headers.get("content-length", ""))
    if declared is not None and declared > MAX_BODY:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY} bytes")
    timeout = container_of(request).settings.body_timeout
    try:
        return await _read_capped(request, asyncio.get_running_loop().time() + timeout)
    except TimeoutError as exc:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} s") from exc


async def _read_capped(request: Request, deadline: float) -> bytes:
    """The body's chunks until the last, each awaited under the deadline only when it has not
    arrived yet: a small body usually came with the head, and a timer per request costs more
    than the rest of reading it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await _received(request, deadline)
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"The request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _received(request: Request, deadline: float) -> Message:
    """The next message of the body: at once when it has arrived, else awaited by `deadline`."""
    attempt = request.receive()
    if isinstance(attempt, Coroutine):
        message = _arrived(attempt)
        if message is not None:
            return message
        attempt = request.receive()  # the first attempt was closed where it waited
    async with asyncio.timeout_at(deadline):
        return await attempt


def _arrived(attempt: Coroutine[Any, Any, Message]) -> Message | None:
    """What a receive() coroutine returns without waiting, or None when it would have to wait
    (the attempt is then closed where it waits, and receive() is awaited anew)."""
    try:
        attempt.send(None)
    except StopIteration as done:
        message: Message = done.value
        return message
    attempt.close()
    return None


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, ("application/json",))
    try:
        value = loads(body)
    except JsonDecodeError as exc:
        raise InvalidRequest("The request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return value


async def caller_of(request: Request, realm: RealmConfig) -> Caller:
    """Who is calling: the request's token, verified (401 if it is not good), and its address."""
    token = bearer_token(request.headers.get("authorization"))
    return await container_of(request).authenticator.caller(realm, token, host_of(request), now())


Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(read: Endpoint, update: Endpoint, delete: Endpoint) -> Endpoint:
    """RFC 7592 §2: the client configuration endpoint, one route whose method picks the work."""

    async def client_configuration(request: Request) -> Response:
        if request.method == "PUT":
            return await update(request)
        if request.method == "DELETE":
            return await delete(request)
        return await read(request)  # GET, and HEAD, which Starlette adds to GET

    return client_configuration
