"""GET /metrics: Prometheus' text format, every worker's counts together (app.metrics)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.metrics import CONTENT_TYPE, exposition


async def metrics(request: Request) -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE)


ROUTES: list[BaseRoute] = [Route("/metrics", metrics, methods=["GET"])]
