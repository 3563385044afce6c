"""Every request is timed (app.metrics) and gets an id, echoed as X-Request-Id (the caller's
own, when it sent a sane one), named by every log line written while it is served (app.logs),
and, with REGISTRAR_ACCESS_LOG, one access line when it is answered: method, path, status and
duration. Ids are a process
prefix and a counter: unique, and cheaper than a random UUID on the hot path."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import RequestContext, current_request
from app.metrics import REQUESTS, labelled, route_of

access_log = logging.getLogger("registrar.access")

_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIdLayer:
    def __init__(self, app: ASGIApp, log_access: bool) -> None:
        self.app = app
        self.log_access = log_access
        self._prefix = f"{os.getpid():x}-"
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = self._id_of(scope)
        path: str = scope["path"]
        context = RequestContext(request_id, scope["method"], path)
        token = current_request.set(context)
        started = time.perf_counter()
        status = 0
        raw_id = request_id.encode("ascii")

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", raw_id)],
                }
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            seconds = time.perf_counter() - started
            labelled(REQUESTS, route_of(path), str(status)).observe(seconds)
            if self.log_access:
                duration = round(seconds * 1000, 2)
                access_log.info(
                    "%s %s %s %.2f ms",
                    scope["method"],
                    path,
                    status,
                    duration,
                    extra={"status": status, "duration_ms": duration},
                )
            current_request.reset(token)

    def _id_of(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
        return f"{self._prefix}{next(self._counter):x}"
