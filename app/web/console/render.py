"""Rendering of console pages: Jinja2 with autoescape on, and headers that keep pages private.

Every page may show a secret, so every response is no-store; a per-response nonce lets the one
inline style sheet and the copy-button script run under a strict Content-Security-Policy.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.responses import HTMLResponse, RedirectResponse

_ENV = Environment(loader=PackageLoader("app.web.console", "templates"), autoescape=True)


def utc(seconds: int | float | None) -> str:
    if not seconds:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


_ENV.filters["utc"] = utc


def page_headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _ENV.get_template(template).render(nonce=nonce, **context)
    return HTMLResponse(html, status_code=status_code, headers=page_headers(nonce))


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs the next page."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
