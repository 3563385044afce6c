"""The command line a new operator meets: --version, help for a bare command, help texts that
name defaults and environment variables, settings errors that name where the bad value came
from (and never echo a password), and the example settings file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.config.settings import ENV_NAMES, Settings, SettingsError, load_settings

ROOT = Path(__file__).parent.parent


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("registrar ")


def test_a_bare_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: registrar")
    for command in ("serve", "realms", "iat"):
        assert command in out
    assert "docs/" not in out and "§" not in out  # speaks to the operator, not the code


def test_serve_help_names_defaults_and_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in ("host", "port", "realms_dir", "database_url", "public_url", "workers"):
        assert ENV_NAMES[name] in out, name
        assert "--" + name.replace("_", "-") in out, name
    assert "default: 8080" in out and "default: 127.0.0.1" in out
    assert "REGISTRAR_CONFIG" in out


def test_a_bad_variable_is_named_as_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^REGISTRAR_SWEEP_INTERVAL: .*\(got 'soon'\)"):
        load_settings(environ={"REGISTRAR_SWEEP_INTERVAL": "soon"})


def test_a_bad_flag_is_named_as_the_flag() -> None:
    with pytest.raises(SettingsError, match=r"^--port: "):
        load_settings(flags={"port": "eighty"}, environ={"REGISTRAR_PORT": "8080"})


def test_a_bad_value_in_the_config_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("max_connections: lots\n")
    with pytest.raises(SettingsError, match=rf"^{config}: max_connections: "):
        load_settings(environ={}, config_file=config)


def test_a_rejected_database_url_never_shows_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"REGISTRAR_DATABASE_URL": "postgres://app:hunter2@db/registrar"})
    assert "hunter2" not in str(raised.value)
    assert "app:***@db" in str(raised.value)


def test_the_example_settings_file_lists_every_setting_and_changes_nothing() -> None:
    example = ROOT / "config" / "registrar.yaml"
    assert yaml.safe_load(example.read_text()) is None  # every line is a comment
    text = example.read_text()
    for name, variable in ENV_NAMES.items():
        assert f"# {name}:" in text and variable in text, name
    assert load_settings(environ={}, config_file=example) == Settings()


def test_an_unreachable_database_is_named_with_its_cause_and_no_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRAR_SECRET_KEY", "q8Qk3mJm7yIYc4tB8v1P0t2XhC3lE6cT0wq9t2uL6sA")
    refused = "postgresql+psycopg://postgres:hunter2@127.0.0.1:9/registrar"
    assert main(["iat", "list", "--realm", "open", "--database-url", refused]) == 1
    err = capsys.readouterr().err
    assert "postgres:***@127.0.0.1:9/registrar" in err
    assert "Connection refused" in err
    assert "hunter2" not in err


APP_REALMS = ROOT / "tests" / "app_realms"


@pytest.mark.parametrize("command", [["list"], ["delete", "some-id"]])
def test_a_command_in_the_wrong_directory_creates_nothing(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    argv = ["iat", *command[:1], "--realm", "open", "--realms-dir", str(APP_REALMS), *command[1:]]
    assert main(argv) == 2  # no key here: said, not made
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("REGISTRAR_SECRET_KEY", "q8Qk3mJm7yIYc4tB8v1P0t2XhC3lE6cT0wq9t2uL6sA")
    assert main(argv) == 1  # no database here: said, not made
    assert f"no SQLite database at {tmp_path / 'data' / 'registrar.db'}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_realm_names_the_data_the_command_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGISTRAR_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("REGISTRAR_SECRET_KEY", raising=False)
    url = f"sqlite:///{tmp_path}/registrar.db"
    argv = ["iat", "create", "--realm", "nowhere", "--realms-dir", str(APP_REALMS)]
    assert main([*argv, "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert f"realm 'nowhere' is not loaded from {APP_REALMS}" in err
    assert f"database {url}" in err and f"secret key {tmp_path / 'secret.key'}" in err
