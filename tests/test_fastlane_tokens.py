"""The token and introspection endpoints answer through the fast lane (app.web.fastlane) exactly as
through Starlette's router and middleware: the same requests both ways, the answers compared
(tests/test_fastlane.py does the same for registration)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.helpers import service_token, token_path
from tests.test_fastlane import comparable, is_hot

pytestmark = pytest.mark.anyio

INTROSPECT = token_path() + "/introspect"
FORM = {"content-type": "application/x-www-form-urlencoded"}
# members that differ between two answers to the same request
MINTED = {"access_token", "jti", "iat", "exp"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {credentials}"}


ADMIN = basic("admin", "admin-secret")
# name: (expected status, path, headers, body)
CASES: dict[str, tuple[int, str, dict[str, str], bytes]] = {
    "token 200": (200, token_path(), {**FORM, **ADMIN}, b"grant_type=client_credentials"),
    "token with a scope 200": (
        200,
        token_path(),
        {**FORM, **ADMIN},
        b"grant_type=client_credentials&scope=profile",
    ),
    "wrong secret 401": (
        401,
        token_path(),
        {**FORM, **basic("admin", "wrong")},
        b"grant_type=client_credentials",
    ),
    "no client 401": (401, token_path(), FORM, b"grant_type=client_credentials"),
    "other grant 400": (400, token_path(), {**FORM, **ADMIN}, b"grant_type=password"),
    "repeated parameter 400": (
        400,
        token_path(),
        {**FORM, **ADMIN},
        b"grant_type=client_credentials&grant_type=client_credentials",
    ),
    "form as JSON 415": (415, token_path(), {**ADMIN}, b'{"grant_type": "client_credentials"}'),
    "unknown realm 404": (404, token_path("nowhere"), {**FORM, **ADMIN}, b"grant_type=x"),
    "headers over the limit 431": (431, token_path(), {**FORM, "x-pad": "p" * 20_000}, b""),
    "introspect active 200": (200, INTROSPECT, {**FORM, **ADMIN}, b"token={token}"),
    "introspect garbage 200": (200, INTROSPECT, {**FORM, **ADMIN}, b"token=not.a.token"),
    "introspect without token 400": (400, INTROSPECT, {**FORM, **ADMIN}, b""),
    "introspect unauthenticated 401": (401, INTROSPECT, FORM, b"token={token}"),
}


def without_minted(answer: httpx.Response) -> tuple[int, dict[str, str], object]:
    status, headers, body = comparable(answer)
    if isinstance(body, dict):
        body = {k: ("…" if k in MINTED else v) for k, v in body.items()}
    return status, headers, body


@pytest.mark.parametrize("name", list(CASES))
async def test_the_fast_lane_answers_tokens_as_the_router_does(
    lane_and_router: tuple[httpx.AsyncClient, httpx.AsyncClient], name: str
) -> None:
    lane, router = lane_and_router
    status, path, headers, body = CASES[name]
    token = await service_token(lane)
    content = body.replace(b"{token}", token.encode())
    through_lane = await lane.post(path, headers=headers, content=content)
    through_router = await router.post(path, headers=headers, content=content)
    assert through_lane.status_code == status, through_lane.text
    assert without_minted(through_lane) == without_minted(through_router)
    if name == "introspect active 200":
        assert through_lane.json()["active"] is True


async def test_the_token_endpoints_are_hot() -> None:
    assert is_hot("POST", token_path())
    assert is_hot("POST", INTROSPECT)
    assert not is_hot("GET", token_path())
    assert not is_hot("POST", token_path() + "/introspect/x")
    assert not is_hot("POST", "/realms//protocol/openid-connect/token")
