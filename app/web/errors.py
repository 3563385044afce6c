"""The one place an error becomes a response: `{"error": ..., "error_description": ...}` for
the error tree of app.errors, Starlette's own 404 / 405, and the store's DatabaseUnavailable
(503). Every error response is no-store and carries web.requests' JSON_HEADERS. An unexpected
exception stays a loud 500."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from app.errors import RegistrarError, ServiceUnavailable
from app.jsonio import dumps
from app.store.errors import DatabaseUnavailable
from app.web.requests import JSON_RAW_HEADERS, NO_STORE, JsonResponse

_STARLETTE_ERRORS = {404: "not_found", 405: "invalid_request"}
# what the handlers of create_app catch; everything else is a 500
HANDLED = (RegistrarError, HTTPException, DatabaseUnavailable)


def api_error(exc: Exception) -> RegistrarError | None:
    """The API error an exception stands for; None for an unexpected one."""
    if isinstance(exc, RegistrarError):
        return exc
    if isinstance(exc, DatabaseUnavailable):
        return ServiceUnavailable(exc.description)
    return None


# what a page (the console) catches to show an error with its status, as the API would answer
PAGE_ERRORS = (RegistrarError, DatabaseUnavailable)


def page_error(exc: RegistrarError | DatabaseUnavailable) -> RegistrarError:
    found = api_error(exc)
    assert found is not None  # every member of PAGE_ERRORS maps
    return found


def _body(error: str, description: str) -> bytes:
    return dumps({"error": error, "error_description": description})


async def error_response(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for HANDLED, and the fast lane's."""
    found = api_error(exc)
    if found is not None:
        status, body, headers = (
            found.status_code,
            _body(found.error, found.description),
            found.headers(),
        )
    elif isinstance(exc, HTTPException):  # Starlette's own 404 / 405
        error = _STARLETTE_ERRORS.get(exc.status_code, "invalid_request")
        status, body, headers = exc.status_code, _body(error, exc.detail), dict(exc.headers or {})
    else:
        raise exc
    headers.update(NO_STORE)
    return JsonResponse(body, status_code=status, headers=headers)


async def refuse(send: Send, exc: RegistrarError) -> None:
    """Answer before routing (request limits, the in-flight cap) and close the connection:
    the same body and headers as error_response, written straight to the ASGI `send`."""
    body = _body(exc.error, exc.description)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]
    headers += JSON_RAW_HEADERS
    headers.append((b"connection", b"close"))
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
