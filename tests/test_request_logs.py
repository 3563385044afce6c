"""Request ids and log lines: every answer carries X-Request-Id (the caller's own when sane);
with REGISTRAR_LOG_FORMAT=json every line a server writes is one JSON object, its access lines
name the request id, realm, method, path, status and duration, and none holds a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server
from tests.helpers import dcr_path

pytestmark = pytest.mark.anyio

BODY = {"client_name": "logged", "redirect_uris": ["https://rp.example.org/cb"]}


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    registered = await client.post(dcr_path(), json=BODY)  # the fast lane
    routed = await client.get("/realms/open/.well-known/openid-configuration")
    refused = await client.get("/realms/nowhere/.well-known/openid-configuration")
    ids = [r.headers["x-request-id"] for r in (registered, routed, refused)]
    assert len(set(ids)) == 3
    given = await client.get("/health", headers={"X-Request-Id": "trace-42.a_b"})
    assert given.headers["x-request-id"] == "trace-42.a_b"
    insane = await client.get("/health", headers={"X-Request-Id": "a b<script>"})
    assert insane.headers["x-request-id"] != "a b<script>"


@pytest.fixture
def json_server(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    env = {"REGISTRAR_LOG_FORMAT": "json", "REGISTRAR_ACCESS_LOG": "true"}
    server = start_server(tmp_path, realms_dir, sqlite_url, extra_env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_json_lines_name_the_request_and_hold_no_secret(json_server: LiveServer) -> None:
    answer = httpx.post(json_server.url + dcr_path(), json=BODY, timeout=10)
    assert answer.status_code == 201
    registered = answer.json()
    request_id = answer.headers["x-request-id"]
    json_server.stop()  # every line written
    lines = [line for line in json_server.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    access = [r for r in records if r.get("request_id") == request_id]
    assert len(access) == 1
    assert access[0] | {"time": None} == access[0] | {
        "time": None,
        "method": "POST",
        "path": dcr_path(),
        "realm": "open",
        "status": 201,
    }
    assert access[0]["duration_ms"] >= 0
    text = "\n".join(lines)
    for secret in (registered["client_secret"], registered["registration_access_token"]):
        assert secret not in text
