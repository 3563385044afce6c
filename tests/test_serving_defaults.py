"""Safe defaults for a server others can reach (docs/reference.md §1): `registrar serve` on a
non-loopback address needs a public URL, and the Docker image ships no realm whose service
account secret is printed in the README."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import uvicorn
import yaml

from app import cli
from app.cli import main
from tests.helpers import TEST_SECRET_KEY

ROOT = Path(__file__).parent.parent


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[uvicorn.Config]:
    """`registrar serve` in-process up to uvicorn, which is only recorded: the configurations
    it would have run."""
    calls: list[uvicorn.Config] = []
    monkeypatch.setattr(cli, "run_server", calls.append)
    monkeypatch.setattr(os, "environ", {"REGISTRAR_SECRET_KEY": TEST_SECRET_KEY})
    monkeypatch.chdir(tmp_path)  # no config/registrar.yaml of the project
    (tmp_path / "realms").mkdir()
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "registrar.example.org"])
def test_serving_beyond_loopback_without_a_public_url_is_refused(
    uvicorn_runs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert main(["serve", "--host", host]) == 2
    assert uvicorn_runs == []
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and message.startswith("registrar: --public-url"), message
    assert "REGISTRAR_PUBLIC_URL" in message and host in message
    assert not Path("data").exists()  # refused before anything was made


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "LOCALHOST"])
def test_loopback_serves_without_a_public_url(
    uvicorn_runs: list[uvicorn.Config], host: str
) -> None:
    assert main(["serve", "--host", host]) == 0
    assert [config.host for config in uvicorn_runs] == [host]


def test_beyond_loopback_serves_with_a_public_url(uvicorn_runs: list[uvicorn.Config]) -> None:
    os.environ["REGISTRAR_PUBLIC_URL"] = "https://registrar.example.org"
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert [config.host for config in uvicorn_runs] == ["0.0.0.0"]


# --- the Docker image, read from the Dockerfile (no engine runs the tests) ------------------


def instructions() -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return [(word, _arguments(rest)) for word, rest in found]


def _arguments(rest: str) -> list[str]:
    if rest.startswith("["):  # exec form
        parsed: list[str] = yaml.safe_load(rest)
        return parsed
    return shlex.split(rest)


def copied_files() -> list[Path]:
    """Every file of the repository a COPY or ADD puts into the image."""
    files: list[Path] = []
    for word, arguments in instructions():
        if word in ("COPY", "ADD"):
            sources = [arg for arg in arguments[:-1] if not arg.startswith("--")]
            for source in sources:
                path = ROOT / source
                files += sorted(path.rglob("*")) if path.is_dir() else [path]
    return [path for path in files if path.is_file()]


def published_secrets(path: Path) -> list[str]:
    """The literal service account secrets of a realm file (`${VAR}` ones are not literal)."""
    realm = yaml.safe_load(path.read_text())
    if not isinstance(realm, dict):
        return []
    accounts = realm.get("service_accounts") or []
    secrets = [str(account.get("secret", "")) for account in accounts]
    return [secret for secret in secrets if secret and not secret.startswith("${")]


def test_the_image_ships_no_realm_with_a_secret() -> None:
    copied = copied_files()
    assert ROOT / "app" / "cli.py" in copied  # the walk sees what COPY copies
    realm_files = [path for path in copied if path.suffix in (".yaml", ".yml")]
    shipped = {str(path.relative_to(ROOT)): published_secrets(path) for path in realm_files}
    assert {name: found for name, found in shipped.items() if found} == {}


def test_the_image_is_given_its_public_url() -> None:
    """The image listens beyond loopback, so it needs a public URL: in its command, or asked of
    whoever runs it in the README's Docker section (the server refuses to start without)."""
    command = [
        arg for word, args in instructions() if word in ("ENTRYPOINT", "CMD") for arg in args
    ]
    environment = " ".join(" ".join(args) for word, args in instructions() if word == "ENV")
    assert "REGISTRAR_HOST=0.0.0.0" in environment or "0.0.0.0" in command
    readme = (ROOT / "README.md").read_text()
    docker_section = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "--public-url" in command or "-e REGISTRAR_PUBLIC_URL=https://" in docker_section


def test_the_build_context_leaves_local_state_out() -> None:
    """`docker build .` must not send the virtualenv, the database or the secret key along."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", "data", "*.key", ".git"):
        assert entry in ignored, entry


def test_the_port_comes_from_registrar_port() -> None:
    words = instructions()
    environment = " ".join(" ".join(args) for word, args in words if word == "ENV")
    assert "REGISTRAR_PORT=8080" in environment
    command = [arg for word, args in words if word in ("ENTRYPOINT", "CMD") for arg in args]
    assert "--port" not in command  # serve reads REGISTRAR_PORT itself
    health = " ".join(" ".join(args) for word, args in words if word == "HEALTHCHECK")
    assert "REGISTRAR_PORT" in health
