"""The fast lane (app.web.fastlane) answers exactly as Starlette's router and middleware would:
the same requests go through the app as served and through Starlette's own __call__, which
skips the lane, and the answers are compared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from app.web.fastlane import HOT_ROUTES
from tests.helpers import JSON, bearer, dcr_path, rat_of, updatable

pytestmark = pytest.mark.anyio

Send_ = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
# members that differ between two registrations of the same body
MINTED = {
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "registration_access_token",
    "registration_client_uri",
}
BODY = {"client_name": "parity", "redirect_uris": ["https://rp.example.org/cb"]}


async def registered(http: httpx.AsyncClient) -> JSON:
    response = await http.post(dcr_path(), json=BODY)
    assert response.status_code == 201, response.text
    created: JSON = response.json()
    return created


def is_hot(method: str, path: str) -> bool:
    return any(route.match(method, path.split("/")) is not None for route in HOT_ROUTES)


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], object]:
    varying = ("content-length", "location", "x-request-id")
    headers = {k: v for k, v in response.headers.items() if k not in varying}
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: ("…" if k in MINTED else v) for k, v in body.items()}
    return response.status_code, headers, body


CASES: dict[str, tuple[int, str, str]] = {
    # name: (expected status, method, path) — the path is formatted with a client id
    "register 201": (201, "POST", dcr_path()),
    "read 200": (200, "GET", dcr_path() + "/{client_id}"),
    "read without a token 401": (401, "GET", dcr_path() + "/{client_id}"),
    "read with a wrong token 401": (401, "GET", dcr_path() + "/{client_id}"),
    "unknown realm 404": (404, "POST", dcr_path("nowhere")),
    "unknown realm read 404": (404, "GET", dcr_path("nowhere") + "/{client_id}"),
    "wrong content type 415": (415, "POST", dcr_path()),
    "body over 64 KiB 413": (413, "POST", dcr_path()),
    "headers over the limit 431": (431, "GET", dcr_path() + "/{client_id}"),
    "request target over the limit 414": (414, "GET", dcr_path() + "/" + "x" * 9000),
    "other method 405": (405, "PATCH", dcr_path() + "/{client_id}"),
    "update 200": (200, "PUT", dcr_path() + "/{client_id}"),
    "update with a wrong token 401": (401, "PUT", dcr_path() + "/{client_id}"),
    "update of another client 400": (400, "PUT", dcr_path() + "/{client_id}"),
    "update not JSON 400": (400, "PUT", dcr_path() + "/{client_id}"),
    "delete 204": (204, "DELETE", dcr_path() + "/{client_id}"),
    "delete without a token 401": (401, "DELETE", dcr_path() + "/{client_id}"),
}


def request_of(name: str, client: JSON) -> Send_:
    status, method, template = CASES[name]
    path = template.replace("{client_id}", str(client["client_id"]))
    headers: dict[str, str] = {}
    content: bytes | None = None
    if method == "POST":
        headers["content-type"] = "application/json"
        content = httpx.Request("POST", "/", json=BODY).content
    if method == "PUT":
        headers["content-type"] = "application/json"
        body = {**updatable(client), "client_name": "renamed"}
        if name.startswith("update of another client"):
            body["client_id"] = "someone-else"
        content = httpx.Request("PUT", "/", json=body).content
        if name.startswith("update not JSON"):
            content = b"{not json"
    if name.split()[0] in ("read", "update", "delete", "headers") and "token" not in name:
        headers.update(bearer(rat_of(client)))
    if name.startswith("read with a wrong token"):
        headers.update(bearer("not.a.token"))
    if name.startswith("wrong content type"):
        headers["content-type"] = "text/plain"
    if name.startswith("body over"):
        content = b'{"client_name": "' + b"x" * (65 * 1024) + b'"}'
    if name.startswith("headers over"):
        headers["x-padding"] = "p" * 20_000

    async def send(http: httpx.AsyncClient) -> httpx.Response:
        return await http.request(method, path, headers=headers, content=content)

    return send


@pytest.mark.parametrize("name", list(CASES))
async def test_the_fast_lane_answers_as_the_router_does(
    lane_and_router: tuple[httpx.AsyncClient, httpx.AsyncClient], name: str
) -> None:
    lane, router = lane_and_router
    # a client each: an update rotates the registration access token, a deletion ends the client
    through_lane = await request_of(name, await registered(lane))(lane)
    through_router = await request_of(name, await registered(router))(router)
    assert through_lane.status_code == CASES[name][0], through_lane.text
    assert comparable(through_lane) == comparable(through_router)


async def test_the_hot_routes_are_the_registration_routes() -> None:
    assert is_hot("POST", dcr_path())
    assert is_hot("GET", dcr_path() + "/some-client")
    assert is_hot("PUT", dcr_path() + "/some-client")
    assert is_hot("DELETE", dcr_path() + "/some-client")
    assert not is_hot("PATCH", dcr_path() + "/some-client")
    assert not is_hot("GET", dcr_path() + "/")  # an empty client id is no client id
    assert not is_hot("GET", dcr_path() + "/a/b")
    assert not is_hot("POST", "/realms//clients-registrations/openid-connect")
