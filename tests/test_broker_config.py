"""The realm file's `login.upstream` (docs/reference.md §6): what loads, its defaults, and what
is a load error with the line of the bad key; `${VAR}` in client_secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config.realms import RealmFileError, load_realm

UPSTREAM = """\
login:
  upstream:
    alias: corp
    issuer: https://idp.example.org/realms/corp
    client_id: registrar
    client_secret: ${CORP_CLIENT_SECRET}
"""


def realm_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corp.yaml"
    path.write_text(text)
    return path


def test_an_upstream_loads_with_keycloaks_defaults(tmp_path: Path) -> None:
    realm = load_realm(realm_file(tmp_path, UPSTREAM), {"CORP_CLIENT_SECRET": "s3cret"})
    assert realm.login is not None and realm.login.users == ()
    upstream = realm.login.upstream
    assert upstream is not None
    assert upstream.client_secret == "s3cret"
    assert upstream.scopes == ("openid", "profile", "email")
    assert upstream.username_claim == "preferred_username"
    assert upstream.label == "corp"  # no display_name: the alias


def test_an_unset_secret_variable_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(RealmFileError) as caught:
        load_realm(realm_file(tmp_path, UPSTREAM), {})
    assert caught.value.line == 6 and "CORP_CLIENT_SECRET" in str(caught.value)


@pytest.mark.parametrize(
    "line,replacement,line_number",
    [
        ("    alias: corp\n", "    alias: ../corp\n", 3),
        ("    issuer: https://idp.example.org/realms/corp\n", "    issuer: idp.example.org\n", 4),
        (
            "    issuer: https://idp.example.org/realms/corp\n",
            "    issuer: https://idp.example.org/realms/corp?x=1\n",
            4,
        ),
        ("    client_id: registrar\n", "    client_id: ''\n", 5),
        ("    client_id: registrar\n", "    client_id: registrar\n    scopes: [profile]\n", 6),
        ("    client_id: registrar\n", "    client_id: registrar\n    colour: blue\n", 6),
    ],
)
def test_a_bad_upstream_is_a_load_error_at_its_line(
    tmp_path: Path, line: str, replacement: str, line_number: int
) -> None:
    text = UPSTREAM.replace(line, replacement)
    with pytest.raises(RealmFileError) as caught:
        load_realm(realm_file(tmp_path, text), {"CORP_CLIENT_SECRET": "s"})
    assert caught.value.line == line_number, str(caught.value)
