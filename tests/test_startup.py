"""What `registrar serve` says when it starts: every line timestamped in one format, the
database (no password), the realms, where to go; a port in use is one line before anything
starts; a new secret key file is announced; a command that only reads makes no key."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import pytest

from app.auth.secret_box import SecretKeyError, load_secret_key
from app.cli import main
from tests.live import LiveServer

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} [A-Z]+ [\w.]+: ")


@pytest.mark.live
def test_start_up_says_what_the_server_does(live_server: LiveServer) -> None:
    log = live_server.log.read_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "the server says something"
    untimed = [line for line in lines if not TIMESTAMPED.match(line)]
    assert not untimed, untimed
    assert re.search(r"database sqlite:///\S+registrar\.db", log)
    assert re.search(r"realms from \S+: .*\bopen\b", log)
    assert "hidden" not in log.split("realms from", 1)[1].splitlines()[0]  # disabled: not listed
    assert f"listening on {live_server.url}" in log
    assert f"consoles at {live_server.url}/realms/REALM/console/" in log
    assert "realm 'open' loaded from" in log


def test_a_port_in_use_is_one_line_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be created here
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", "--host", "127.0.0.1", "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"registrar: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in err
    assert list(tmp_path.iterdir()) == []


def test_a_new_secret_key_file_is_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="registrar.secrets")
    key_file = tmp_path / "data" / "secret.key"
    load_secret_key(None, key_file)
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert any(str(key_file) in message and "back it up" in message for message in caplog.messages)
    caplog.clear()
    load_secret_key(None, key_file)  # found: nothing to announce
    assert not caplog.messages


def test_a_reading_command_makes_no_key(tmp_path: Path) -> None:
    missing = tmp_path / "data" / "secret.key"
    with pytest.raises(SecretKeyError, match="does not exist"):
        load_secret_key(None, missing, create=False)
    assert list(tmp_path.iterdir()) == []
