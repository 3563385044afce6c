"""Every JSON response carries the headers of docs/reference.md §3 ("Cache and security
headers"): answers of routes behind Starlette's router, of the fast lane, of the error renderer,
and of the refusals sent before routing."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import RP, admin_token, bearer, dcr_path, rat_of, register

pytestmark = pytest.mark.anyio

JSON_TYPE = {"Content-Type": "application/json"}
JSON_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
}


def assert_json_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json", response.text
    for name, value in JSON_HEADERS.items():
        assert response.headers.get_list(name) == [value], (name, response.status_code)


async def test_router_answers_carry_the_json_headers(client: httpx.AsyncClient) -> None:
    token = await admin_token(client)
    responses = [
        await client.get("/health"),
        await client.get("/openapi.json"),
        await client.get("/realms/open/.well-known/openid-configuration"),
        await client.get("/realms/open/protocol/openid-connect/certs"),
        await client.get("/admin/realms/open/clients", headers=bearer(token)),
    ]
    assert [response.status_code for response in responses] == [200] * len(responses)
    for response in responses:
        assert_json_headers(response)


async def test_fast_lane_answers_carry_the_json_headers(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    read = await client.get(
        f"{dcr_path()}/{registered['client_id']}", headers=bearer(rat_of(registered))
    )
    assert read.status_code == 200
    created = await client.post(dcr_path(), json={"redirect_uris": [RP]})
    assert created.status_code == 201
    for response in (created, read):
        assert_json_headers(response)


async def test_error_answers_carry_the_json_headers(client: httpx.AsyncClient) -> None:
    responses = [
        (404, await client.get("/no/such/path")),
        (405, await client.delete("/health")),
        (401, await client.get(f"{dcr_path()}/some-client")),  # fast lane, no token
        (415, await client.post(dcr_path(), content=b"{}")),  # fast lane, no content type
        (400, await client.post(dcr_path(), content=b"[]", headers=JSON_TYPE)),  # fast lane
        (415, await client.post("/realms/open/protocol/openid-connect/token")),
    ]
    for status, response in responses:
        assert response.status_code == status, response.text
        assert_json_headers(response)


@pytest.mark.parametrize("path", ["/health", dcr_path()], ids=["router", "fast-lane"])
async def test_refusals_before_routing_carry_the_json_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    too_long = await client.get(path + "?q=" + "a" * 9000)
    too_large = await client.get(path, headers={"X-Big": "b" * 17000})
    assert (too_long.status_code, too_large.status_code) == (414, 431)
    assert_json_headers(too_long)
    assert_json_headers(too_large)
