"""Log lines: one format for every logger, text or JSON (REGISTRAR_LOG_FORMAT), and the request
a line belongs to (its id, realm, method and path), carried in a context variable so that every
line logged while a request is served names it. Never a secret: only what is given here."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any, NamedTuple

from app.jsonio import dumps

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class RequestContext(NamedTuple):
    """Made for every request and read only when a line is logged: the realm is worked out
    from the path then, not per request."""

    request_id: str
    method: str
    path: str

    @property
    def realm(self) -> str | None:
        for prefix in ("/realms/", "/admin/realms/"):
            if self.path.startswith(prefix):
                return self.path[len(prefix) :].split("/", 1)[0] or None
        return None


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "current_request", default=None
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's id, realm, method
    and path while a request is served, and the access line's status and duration."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime(DATE_FORMAT, time.localtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = current_request.get()
        if request is not None:
            line["request_id"] = request.request_id
            line["method"], line["path"] = request.method, request.path
            if request.realm is not None:
                line["realm"] = request.realm
        for name in ("status", "duration_ms"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return dumps(line).decode()


def configure(level: str, json_lines: bool) -> None:
    """The root logger, once per process: every library's lines in one format."""
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # every scheduler run would otherwise log twice a second at INFO
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
