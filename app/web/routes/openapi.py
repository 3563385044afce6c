"""GET /openapi.json: the OpenAPI 3.1 description of the whole HTTP API (docs/reference.md §3).

The document is app/openapi.json, installed as package data; tests/test_openapi.py keeps it and
the routes in step, and tests/test_schemathesis.py checks live responses against it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.web.requests import JsonResponse


@cache
def document() -> bytes:
    """The document's bytes, read once from the installed package."""
    return files("app").joinpath("openapi.json").read_bytes()


async def openapi(request: Request) -> Response:
    return JsonResponse(document())


ROUTES: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
