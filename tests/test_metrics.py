"""GET /metrics in Prometheus' text format: request durations by route and status,
registrations by realm and outcome, policy refusals; with two workers, both counted."""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server
from tests.helpers import dcr_path

BODY = {"redirect_uris": ["https://rp.example.org/cb"]}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when it is not there."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.anyio
async def test_metrics_count_requests_registrations_and_refusals(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    before = (await client.get("/metrics")).text
    assert (await client.post(dcr_path(), json=BODY)).status_code == 201
    assert (await client.post(dcr_path(), json={"redirect_uris": "x"})).status_code == 400
    assert (await stranger.post(dcr_path(), json=BODY)).status_code == 403  # trusted hosts
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = answer.text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    total = "registrar_client_registrations_total"
    assert grew(total, realm="open", outcome="created") == 1
    assert grew(total, realm="open", outcome="invalid_redirect_uri") == 1
    assert grew(total, realm="open", outcome="insufficient_scope") == 1
    assert grew("registrar_policy_refusals_total", realm="open", policy="Trusted Hosts") == 1
    count = "registrar_request_duration_seconds_count"
    assert grew(count, route="registration", status="201") == 1
    assert grew(count, route="registration", status="403") == 1
    assert not re.search(r'route="[^"]*[0-9a-f]{8}-', after), "no ids in route labels"


@pytest.fixture
def two_workers(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    server = start_server(tmp_path, realms_dir, sqlite_url, workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_metrics_add_up_every_worker(two_workers: LiveServer) -> None:
    url = two_workers.url + dcr_path()

    def register(_: int) -> httpx.Response:
        return httpx.post(url, json=BODY, timeout=30)  # a connection each

    answers: list[httpx.Response] = []
    workers: set[str] = set()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(10):  # bounded: until both workers have taken registrations
            answers += pool.map(register, range(40))
            # request ids start with the serving worker's process id
            workers = {a.headers["x-request-id"].split("-")[0] for a in answers}
            if len(workers) == 2:
                break
    assert {a.status_code for a in answers} == {201}
    assert len(workers) == 2, "the kernel gave every connection to one worker"
    text = httpx.get(two_workers.url + "/metrics", timeout=10).text
    total = "registrar_client_registrations_total"
    assert sample(text, total, realm="open", outcome="created") == len(answers)
