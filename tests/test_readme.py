"""The README's walk-through and admin flow work when pasted as they are into a shell, with
`BASE` set to the server's address, against the example realms that `scripts/serve` serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from tests.inprocess import make_settings
from tests.live import LiveServer, start_server

ROOT = Path(__file__).parent.parent
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def walkthrough() -> str:
    """The shell blocks from "Walk-through with curl" up to the CLI's, in order."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Walk-through with curl")
    end = readme.index("The same with the CLI", start)
    return "\n".join(SHELL_BLOCK.findall(readme[start:end]))


@pytest.fixture
def examples_server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    realms = tmp_path / "example-realms"
    shutil.copytree(ROOT / "realms", realms)
    server = start_server(tmp_path, realms, sqlite_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_the_walkthrough_runs_as_pasted(examples_server: LiveServer) -> None:
    script = walkthrough()
    assert script.count("BASE=http://127.0.0.1:8080") == 1, "BASE is set once, at the top"
    script = script.replace("BASE=http://127.0.0.1:8080", f"BASE={examples_server.url}")
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout  # curl prints bodies without a newline: look for each answer in order
    answers = [
        '"client_name":"my app"',  # the registration, echoed
        '"client_name":"my app v2"',  # not printed: the PUT's answer goes into PUT=…
        "204\n",  # the DELETE
        '"error":"invalid_token"',  # the RAT of a deleted client
        '"client_name":"billing"',  # registered with the initial access token
        '"remainingCount":1',  # the initial access token, once used
        '"clientId"',  # the admin's list of the realm's clients
    ]
    assert answers[1] not in out
    del answers[1]
    positions = [out.find(answer) for answer in answers]
    assert -1 not in positions, out
    assert positions == sorted(positions), out


@pytest.mark.live
def test_keycloaks_three_formats_run_as_pasted(examples_server: LiveServer) -> None:
    """The "Keycloak's three formats" blocks, run after the walk-through in the same shell."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Keycloak's three formats")
    section = "\n".join(SHELL_BLOCK.findall(readme[start : readme.index("## HTTP API", start)]))
    script = (walkthrough() + "\n" + section).replace(
        "BASE=http://127.0.0.1:8080", f"BASE={examples_server.url}"
    )
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout[done.stdout.index('"clientId":"myclient"') :]
    answers = [
        '"registrationAccessToken"',  # the representation provider's 201
        '"client_id":"myclient"',  # the same client as OpenID Connect metadata
        '"resource":"myclient","credentials":{"secret"',  # its adapter configuration
        '"clientId":"https://sp.example.org/shibboleth"',  # the SAML client
        '"protocol":"saml"',
    ]
    positions = [out.find(answer) for answer in answers]
    assert -1 not in positions, out
    assert positions[:3] == sorted(positions[:3]), out


@pytest.mark.anyio
async def test_the_indigo_example_realm_accepts_this_machine(tmp_path: Path) -> None:
    """The INDIGO section's realm file, as printed, registers a client from 127.0.0.1."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## INDIGO IAM path") :]
    block = section.split("```yaml\n# realms/iam.yaml\n", 1)[1].split("```", 1)[0]
    realms = tmp_path / "realms"
    realms.mkdir()
    (realms / "iam.yaml").write_text(block)
    settings = make_settings(tmp_path, realms, f"sqlite:///{tmp_path}/registrar.db")
    application = create_app(settings.model_copy(update={"default_realm": "iam"}), scheduler=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = {"client_name": "indigo", "redirect_uris": ["https://rp.example.org/cb"]}
            answer = await http.post("/iam/api/client-registration", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["dynamically_registered"] is True


def test_the_operations_realm_loads(tmp_path: Path) -> None:
    """The Operations section's realm file, as printed, is a valid realm using every setting."""
    from app.config.realms import load_realm

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operations") :]
    block = section.split("```yaml\n# realms/public.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "public.yaml").write_text(block)
    realm = load_realm(tmp_path / "public.yaml", {})
    assert realm.cors.allowed_origins == ("https://app.example.org",)
    assert realm.rate_limits.limit("token") == (600, 60)
    assert realm.events.enabled and realm.client_expiry.unused_seconds == 90 * 86400
