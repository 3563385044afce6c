"""Realm files (docs/reference.md §2): loading, FILE:LINE errors, `${VAR}`, defaults, hot reload."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import app.config.realms
from app.config.realm_models import (
    DEFAULT_PROTOCOL_MAPPER_TYPES,
    AllowedClientScopes,
    AllowedProtocolMappers,
    ClientDisabled,
    ConsentRequired,
    FullScopeDisabled,
    MaxClients,
    RealmConfig,
    TrustedHosts,
)
from app.config.realms import RealmFileError, RealmRegistry, check_realms, load_realm

FIXTURES = Path(__file__).parent / "realms"
EXAMPLES = Path(__file__).parent.parent / "realms"
KEYCLOAK_MAPPERS = (
    "oidc-full-name-mapper",
    "oidc-sha256-pairwise-sub-mapper",
    "oidc-address-mapper",
    "saml-user-property-mapper",
    "oidc-usermodel-property-mapper",
    "saml-role-list-mapper",
    "saml-user-attribute-mapper",
    "oidc-usermodel-attribute-mapper",
)


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> RealmConfig:
    return load_realm(write(tmp_path, "r.yaml", text), environ or {})


# --- load errors: one row per kind, content -> (line, message fragment) ------------------

POLICY = "registration:\n  anonymous:\n"

LOAD_ERRORS = [
    pytest.param("", 1, "the file is empty", id="empty-file"),
    pytest.param("# only a comment\n", 1, "the file is empty", id="comments-only"),
    pytest.param("- a\n- b\n", 1, "a realm file is a mapping", id="top-level-list"),
    pytest.param("\n\njust text\n", 3, "a realm file is a mapping", id="top-level-scalar"),
    pytest.param("enabled: true\nscopes: [a, b\n", 3, "expected ',' or ']'", id="bad-yaml"),
    pytest.param("enabled: true\n\tscopes: 1\n", 2, "cannot start any token", id="tab"),
    pytest.param("a: 1\n---\nb: 2\n", 2, "expected a single document", id="two-documents"),
    pytest.param("enabled: true\nscopes: \x07\n", 2, "special characters", id="control-char"),
    pytest.param(
        "enabled: !!python/object:os.system x\n", 1, "could not determine a constructor", id="tag"
    ),
    pytest.param("enabled: true\nscopes: {}\nenabled: no\n", 3, "duplicate key enabled", id="dup"),
    pytest.param("enabled: true\nfoo: 1\n", 2, "foo: unknown key 'foo'", id="key"),
    pytest.param(
        "enabld: true\n", 1, "enabld: unknown key 'enabld' (did you mean 'enabled'?)", id="typo"
    ),
    pytest.param(
        "registration:\n  anonymous:\n    - type: max-clients\n      max-client: 5\n",
        4,
        "unknown key 'max-client' (did you mean 'max-clients'?)",
        id="policy-key-typo",
    ),
    pytest.param("name: other\n", 1, "name: a realm is named by its file", id="name-key"),
    pytest.param("enabled: maybe\n", 1, "enabled: expected true or false", id="bool"),
    pytest.param("registration: 5\n", 1, "registration: expected a mapping", id="reg"),
    pytest.param(
        "registration:\n  foo: 1\n", 2, "registration.foo: unknown key 'foo'", id="registration-key"
    ),
    pytest.param(
        POLICY + "    - type: consent-required\n    - type: nope\n",
        4,
        "registration.anonymous[1]: unknown policy type 'nope' (one of: trusted-hosts,",
        id="policy-type",
    ),
    pytest.param(
        POLICY + "    - max-clients: 5\n",
        3,
        "registration.anonymous[0]: a policy needs a `type`",
        id="policy-without-type",
    ),
    pytest.param(
        POLICY + "    - trusted-hosts\n",
        3,
        "registration.anonymous[0]: expected a mapping of keys to values",
        id="policy-not-mapping",
    ),
    pytest.param(
        POLICY + "    - type: scope\n    - type: max-clients\n      max-clients: lots\n",
        5,
        "registration.anonymous[1].max-clients: expected a whole number",
        id="max-clients-type",
    ),
    pytest.param(
        POLICY + "    - type: max-clients\n      max-clients: 0\n",
        4,
        "max-clients: must be at least 1",
        id="max-clients-zero",
    ),
    pytest.param(
        POLICY + "    - type: trusted-hosts\n      trusted-hosts: [a]\n      colour: red\n",
        5,
        "registration.anonymous[0].colour: unknown key 'colour'",
        id="policy-key",
    ),
    pytest.param(
        POLICY + "    - type: trusted-hosts\n      trusted-hosts: [a]\n"
        "      client-uris-must-match: maybe\n",
        5,
        "registration.anonymous[0].client-uris-must-match: expected true or false",
        id="trusted-hosts-key-named-like-type",
    ),
    pytest.param(
        POLICY + "    - type: trusted-hosts\n"
        "      host-sending-registration-request-must-match: false\n"
        "      client-uris-must-match: false\n",
        3,
        "registration.anonymous[0]: At least one of hosts verification or client URIs",
        id="trusted-hosts-both-off",
    ),
    pytest.param(
        "registration:\n  anonymous: 5\n", 2, "registration.anonymous: expected a list", id="set"
    ),
    pytest.param(
        "service_accounts:\n  - client_id: bot\n    secret: ${NOPE}\n",
        3,
        "environment variable NOPE is not set",
        id="unset-variable",
    ),
    pytest.param(
        "scopes:\n  default: [openid, 'a b']\n", 2, "'a b' is not a valid scope", id="scope-token"
    ),
    pytest.param(
        'scopes:\n  optional: ["x\\"y"]\n', 2, "is not a valid scope name", id="scope-quote"
    ),
    pytest.param(
        "scopes:\n  default: [openid]\n  restricted: [admin, openid]\n",
        3,
        "scopes.restricted: scope 'openid' is listed twice",
        id="scope-twice-across",
    ),
    pytest.param(
        "scopes:\n  optional: [a, a]\n", 2, "scope 'a' is listed twice", id="scope-twice-within"
    ),
    pytest.param(
        "scopes:\n  extra: [a]\n", 2, "scopes.extra: unknown key 'extra'", id="scopes-key"
    ),
    pytest.param(
        "service_accounts:\n  - client_id: bot\n    roles: [create-client]\n",
        2,
        "service_accounts[0].secret: this key is required",
        id="secret-missing",
    ),
    pytest.param(
        "service_accounts:\n  - client_id: bot\n    secret: ''\n",
        3,
        "secret: must not be empty",
        id="secret-empty",
    ),
    pytest.param(
        "service_accounts:\n  - client_id: bot\n    secret: s\n    roles: [admin]\n",
        4,
        "roles[0]: expected one of: manage-clients, view-clients, create-client, view-events, "
        "view-users or manage-users",
        id="role",
    ),
    pytest.param(
        "service_accounts:\n  - {client_id: a, secret: s}\n  - {client_id: a, secret: t}\n",
        1,
        "service account 'a' is listed twice",
        id="service-account-twice",
    ),
    pytest.param(
        "trusted_issuers:\n  - issuer: /realms/corp\n    jwks_uri: https://x/certs\n",
        2,
        "trusted_issuers[0].issuer: '/realms/corp' is not an absolute http(s) URL",
        id="issuer-relative",
    ),
    pytest.param(
        "trusted_issuers:\n  - issuer: https://x\n",
        2,
        "trusted_issuers[0]: give exactly one of jwks_uri and jwks",
        id="issuer-no-keys",
    ),
    pytest.param(
        "trusted_issuers:\n  - issuer: https://x\n    jwks_uri: https://x/c\n    jwks: {keys: []}",
        2,
        "give exactly one of jwks_uri and jwks",
        id="issuer-both-keys",
    ),
    pytest.param(
        "trusted_issuers:\n  - issuer: https://x\n    jwks: {kty: RSA}\n",
        3,
        "jwks: a JWK Set has a `keys` list",
        id="jwks-without-keys",
    ),
    pytest.param("1: x\n", 1, "1: Keys should be strings", id="int-key"),
    pytest.param(
        "compat:\n  indigo_iam: true\n  keycloak: true\n",
        3,
        "compat.keycloak: unknown key 'keycloak'",
        id="compat-key",
    ),
    pytest.param(
        "compat:\n  indigo_iam: sometimes\n",
        2,
        "compat.indigo_iam: expected true or false",
        id="compat-indigo-iam",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), LOAD_ERRORS)
def test_load_error_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    with pytest.raises(RealmFileError) as caught:
        load_text(tmp_path, text)
    err = caught.value
    assert (err.path, err.line) == (tmp_path / "r.yaml", line), str(err)
    assert fragment in err.message
    assert str(err) == f"{tmp_path / 'r.yaml'}:{line}: {err.message}"


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", b"enabled: true\nscopes: {}\n# caf\xe9\n")
    with pytest.raises(RealmFileError, match=r"r\.yaml:3: not valid UTF-8"):
        load_realm(path, {})


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "\ufeffenabled: false\n".encode())
    assert load_realm(path, {}).enabled is False


@pytest.mark.parametrize("stem", ["-dash", "has space", "a" * 65, "é"])
def test_bad_realm_name_is_an_error_at_line_1(tmp_path: Path, stem: str) -> None:
    with pytest.raises(RealmFileError, match=r":1: realm name .* does not match"):
        load_realm(write(tmp_path, f"{stem}.yaml", "{}\n"), {})


def test_directory_named_like_a_realm_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    with pytest.raises(RealmFileError, match=r"x\.yaml:1: cannot read"):
        load_realm(tmp_path / "x.yaml", {})


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing")
    with pytest.raises(RealmFileError, match=r"gone\.yaml:1: cannot read: No such file"):
        load_realm(tmp_path / "gone.yaml", {})


def test_cyclic_yaml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(RealmFileError, match=r"r\.yaml:1: scopes"):
        load_text(tmp_path, "scopes: &a {default: [*a]}\n")


# --- ${VAR} --------------------------------------------------------------------------------


def test_variables_expand_inside_any_string(tmp_path: Path) -> None:
    realm = load_realm(FIXTURES / "good" / "full.yaml", {"ADMIN_SECRET": "s1", "CI_SECRET": "s2"})
    assert [a.secret for a in realm.service_accounts] == ["s1", "prefix-s2-suffix"]


def test_a_value_with_colon_space_stays_a_string(tmp_path: Path) -> None:
    text = "service_accounts:\n  - client_id: bot\n    secret: ${S}\n"
    realm = load_text(tmp_path, text, {"S": "a: b\nroles: [manage-clients]"})
    assert realm.service_accounts[0].secret == "a: b\nroles: [manage-clients]"
    assert realm.service_accounts[0].roles == ()


def test_an_expanded_value_is_not_expanded_again(tmp_path: Path) -> None:
    # the anchored node is reached twice (anchor and alias) and must be expanded once
    text = (
        "service_accounts:\n  - {client_id: a, secret: &s '${S}'}\n  - {client_id: b, secret: *s}\n"
    )
    realm = load_text(tmp_path, text, {"S": "${T}"})
    assert [a.secret for a in realm.service_accounts] == ["${T}", "${T}"]


def test_a_variable_can_fill_a_number_or_a_list_item(tmp_path: Path) -> None:
    text = POLICY + "    - type: max-clients\n      max-clients: ${N}\n"
    text += "scopes:\n  restricted:\n    - ${SCOPE}\n"  # in [...] it would need quotes (YAML)
    realm = load_text(tmp_path, text, {"N": "7", "SCOPE": "admin"})
    assert realm.registration.anonymous == (MaxClients(max_clients=7),)
    assert realm.scopes.restricted == ("admin",)


def test_keys_and_malformed_references_are_left_alone(tmp_path: Path) -> None:
    text = "service_accounts:\n  - {client_id: '$HOME', secret: '${1X} $${Y'}\n"
    realm = load_text(tmp_path, text, {})
    assert realm.service_accounts[0].client_id == "$HOME"
    assert realm.service_accounts[0].secret == "${1X} $${Y"


# --- defaults and shapes ------------------------------------------------------------------


def test_a_file_without_policy_sets_gets_keycloaks_defaults() -> None:
    realm = load_realm(FIXTURES / "good" / "minimal.yaml", {})
    optional = ("address", "phone", "offline_access")
    assert realm.name == "minimal"
    assert realm.enabled is True
    assert realm.registration.rotate_registration_access_token is True
    assert realm.registration.anonymous == (
        TrustedHosts(),
        ConsentRequired(),
        FullScopeDisabled(),
        MaxClients(max_clients=200),
        AllowedProtocolMappers(),
        AllowedClientScopes(allowed_client_scopes=optional),
    )
    assert realm.registration.authenticated == (
        AllowedProtocolMappers(),
        AllowedClientScopes(allowed_client_scopes=optional),
    )
    anonymous_hosts = realm.registration.anonymous[0]
    assert isinstance(anonymous_hosts, TrustedHosts)
    assert anonymous_hosts.trusted_hosts == ()
    assert anonymous_hosts.host_sending_registration_request_must_match
    assert anonymous_hosts.client_uris_must_match
    assert DEFAULT_PROTOCOL_MAPPER_TYPES == KEYCLOAK_MAPPERS
    assert realm.all_scopes == ("openid", "profile", "email", *optional)
    assert (realm.service_accounts, realm.trusted_issuers) == ((), ())


def test_default_policy_names_are_keycloaks() -> None:
    names = [
        p.name for p in load_realm(FIXTURES / "good" / "minimal.yaml", {}).registration.anonymous
    ]
    assert names == [
        "Trusted Hosts",
        "Consent Required",
        "Full Scope Disabled",
        "Max Clients Limit",
        "Allowed Protocol Mapper Types",
        "Allowed Client Scopes",
    ]
    assert ClientDisabled().name == "Client Disabled"


def test_default_allowed_scopes_follow_the_realms_optional_scopes(tmp_path: Path) -> None:
    realm = load_text(tmp_path, "scopes:\n  optional: [phone]\nregistration:\n  anonymous: []\n")
    assert realm.registration.anonymous == ()
    assert realm.registration.authenticated[-1] == AllowedClientScopes(
        allowed_client_scopes=("phone",)
    )


def test_full_fixture_loads_every_section() -> None:
    realm = load_realm(FIXTURES / "good" / "full.yaml", {"ADMIN_SECRET": "a", "CI_SECRET": "c"})
    assert realm.enabled is False
    assert realm.registration.rotate_registration_access_token is False
    hosts, templates = realm.registration.anonymous
    assert isinstance(hosts, TrustedHosts) and hosts.name == "Local only"
    # Keycloak's old provider id is the same policy
    assert isinstance(templates, AllowedClientScopes)
    assert templates.allowed_client_scopes == ("openid", "address")
    assert templates.allow_default_scopes is False
    assert realm.registration.authenticated == (
        ClientDisabled(),
        AllowedProtocolMappers(allowed_protocol_mapper_types=("oidc-full-name-mapper",)),
    )
    assert realm.all_scopes == ("openid", "profile", "address", "admin.read", "urn:example:write")
    assert realm.service_accounts[0].roles == ("manage-clients", "view-clients")
    assert realm.trusted_issuers[0].jwks is None
    assert realm.trusted_issuers[1].jwks == {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}


def test_allowed_client_templates_accepts_its_old_config_key(tmp_path: Path) -> None:
    text = POLICY + "    - type: allowed-client-templates\n      allowed-client-templates: [x]\n"
    (policy,) = load_text(tmp_path, text).registration.anonymous
    assert policy == AllowedClientScopes(
        type="allowed-client-templates", allowed_client_scopes=("x",)
    )


def test_compat_indigo_iam_is_off_unless_the_file_turns_it_on(tmp_path: Path) -> None:
    assert load_text(tmp_path, "{}\n").compat.indigo_iam is False
    assert load_text(tmp_path, "compat:\n  indigo_iam: true\n").compat.indigo_iam is True


def test_models_are_frozen(tmp_path: Path) -> None:
    realm = load_text(tmp_path, "{}\n")
    with pytest.raises(ValueError, match="frozen"):
        realm.enabled = False  # type: ignore[misc]
    assert isinstance(realm.scopes.default, tuple)


@pytest.mark.parametrize("name", ["demo", "open"])
def test_example_realms_load_cleanly(name: str) -> None:
    realm = load_realm(EXAMPLES / f"{name}.yaml", {})
    assert realm.name == name
    assert check_realms(EXAMPLES, {}) == []


def test_open_example_trusts_loopback_and_any_redirect_host() -> None:
    hosts = load_realm(EXAMPLES / "open.yaml", {}).registration.anonymous[0]
    assert isinstance(hosts, TrustedHosts)
    assert set(hosts.trusted_hosts) == {"127.0.0.1", "::1", "localhost"}
    assert hosts.client_uris_must_match is False


# --- check_realms ---------------------------------------------------------------------------


def test_check_realms_reports_every_problem_in_every_file_sorted() -> None:
    bad = FIXTURES / "bad"
    lines = [str(e) for e in check_realms(bad, {})]
    assert lines == [
        f"{bad / 'a-unknown-key.yaml'}:2: registraton: unknown key 'registraton' "
        "(did you mean 'registration'?)",
        f"{bad / 'b-unset-variable.yaml'}:3: environment variable UNSET_IN_TESTS is not set",
        f"{bad / 'c-policy-problems.yaml'}:1: enabled: expected true or false",
        f"{bad / 'c-policy-problems.yaml'}:5: registration.authenticated[0].max-clients: "
        "expected a whole number",
        f"{bad / 'c-policy-problems.yaml'}:6: registration.authenticated[1]: At least one of "
        "hosts verification or client URIs validation must be enabled",
        f"{bad / 'd-empty.yaml'}:1: the file is empty; a realm file is a mapping",
        f"{bad / 'e bad name.yaml'}:1: realm name 'e bad name' does not match "
        "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    ]


def test_check_realms_of_good_files_is_empty() -> None:
    assert check_realms(FIXTURES / "good", {"ADMIN_SECRET": "a", "CI_SECRET": "c"}) == []


def test_check_realms_of_a_missing_directory_is_one_error(tmp_path: Path) -> None:
    (err,) = check_realms(tmp_path / "nowhere", {})
    assert str(err) == f"{tmp_path / 'nowhere'}:1: cannot read the realms directory: " + (
        "No such file or directory"
    )


def test_check_realms_ignores_other_and_hidden_files(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "not: [yaml")
    write(tmp_path, ".#demo.yaml", "not: [yaml")
    write(tmp_path, "demo.yaml.orig", "not: [yaml")
    assert check_realms(tmp_path, {}) == []


# --- RealmRegistry ------------------------------------------------------------------------


def touch(path: Path, text: str) -> None:
    """Rewrite a file with a new mtime, so the registry's stat signature changes."""
    st = path.stat() if path.exists() else None
    path.write_text(text)
    if st is not None:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_registry_is_empty_and_not_loaded_before_the_first_reload(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "{}\n")
    registry = RealmRegistry(tmp_path, {})
    assert (registry.loaded, registry.names(), registry.get("a")) == (False, [], None)
    assert registry.reload() == []
    assert registry.loaded
    assert registry.names() == ["a"]


def test_registry_picks_up_edit_add_and_remove(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "{}\n")
    write(tmp_path, "b.yaml", "{}\n")
    registry = RealmRegistry(tmp_path, {})
    registry.reload()
    touch(tmp_path / "a.yaml", "enabled: false\n")
    write(tmp_path, "c.yaml", "{}\n")
    (tmp_path / "b.yaml").unlink()
    assert registry.reload() == []
    assert registry.names() == ["a", "c"]
    a = registry.get("a")
    assert a is not None and a.enabled is False  # a disabled realm is still there
    assert registry.get("b") is None


def test_a_failing_edit_keeps_the_realm_as_last_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "a.yaml", "enabled: false\n")
    registry = RealmRegistry(tmp_path, {})
    registry.reload()
    before = registry.get("a")
    touch(tmp_path / "a.yaml", "enabled: [oops\n")
    with caplog.at_level(logging.ERROR, logger="registrar.realms"):
        (err,) = registry.reload()
    assert registry.get("a") is before
    assert err.path == tmp_path / "a.yaml" and err.line == 2
    assert caplog.messages == [str(err)]
    touch(tmp_path / "a.yaml", "enabled: true\n")
    assert registry.reload() == []
    a = registry.get("a")
    assert a is not None and a.enabled is True


def test_a_file_that_never_loaded_stays_absent(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "enabled: maybe\n")
    registry = RealmRegistry(tmp_path, {})
    assert [e.line for e in registry.reload()] == [1]
    assert registry.get("a") is None and registry.loaded


def test_reload_swaps_in_a_new_dict(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "{}\n")
    registry = RealmRegistry(tmp_path, {})
    registry.reload()
    old = registry._realms  # private on purpose: the swap is the guarantee under test
    snapshot = dict(old)
    write(tmp_path, "b.yaml", "{}\n")
    registry.reload()
    assert registry._realms is not old
    assert old == snapshot  # a reader holding the old dict saw no half reload


def test_an_unchanged_directory_reads_no_file_and_logs_nothing_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "a.yaml", "{}\n")
    write(tmp_path, "bad.yaml", "enabled: maybe\n")
    registry = RealmRegistry(tmp_path, {})
    registry.reload()
    loads: list[Path] = []
    real_load = app.config.realms._load

    def counting_load(path: Path, environ: object) -> object:
        loads.append(path)
        return real_load(path, {})

    monkeypatch.setattr(app.config.realms, "_load", counting_load)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="registrar.realms"):
        errors = registry.reload()
    assert loads == [] and caplog.messages == []
    assert [e.path.name for e in errors] == ["bad.yaml"]  # still reported, not re-logged
    touch(tmp_path / "a.yaml", "enabled: false\n")
    registry.reload()
    assert loads == [tmp_path / "a.yaml"]


def test_a_missing_directory_keeps_the_realms_and_does_not_raise(tmp_path: Path) -> None:
    realms_dir = tmp_path / "realms"
    realms_dir.mkdir()
    write(realms_dir, "a.yaml", "{}\n")
    registry = RealmRegistry(realms_dir, {})
    registry.reload()
    (realms_dir / "a.yaml").unlink()
    realms_dir.rmdir()
    (err,) = registry.reload()
    assert "cannot read the realms directory" in err.message
    assert registry.names() == ["a"]


def test_registry_survives_a_directory_named_like_a_realm(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    write(tmp_path, "a.yaml", "{}\n")
    registry = RealmRegistry(tmp_path, {})
    (err,) = registry.reload()
    assert "cannot read" in err.message
    assert registry.names() == ["a"]


def test_registry_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRAR_TEST_SECRET", "from-env")
    write(
        tmp_path,
        "a.yaml",
        "service_accounts:\n  - client_id: a\n    secret: ${REGISTRAR_TEST_SECRET}\n",
    )
    registry = RealmRegistry(tmp_path)
    assert registry.reload() == []
    a = registry.get("a")
    assert a is not None and a.service_accounts[0].secret == "from-env"


# --- the same bytes load once per process ----------------------------------------------------


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parsed: list[Path] = []
    real_parse = app.config.realms._parse

    def counting_parse(path: Path, raw: bytes, environ: object) -> object:
        parsed.append(path)
        return real_parse(path, raw, environ)  # type: ignore[arg-type]

    monkeypatch.setattr(app.config.realms, "_parse", counting_parse)
    return parsed


def test_a_file_with_the_same_bytes_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "service_accounts:\n  - client_id: bot\n    secret: ${S}\n"
    first = load_realm(write(tmp_path, "twice.yaml", text), {"S": "one"})
    parsed = _count_parses(monkeypatch)
    (tmp_path / "other").mkdir()
    again = load_realm(write(tmp_path / "other", "twice.yaml", text), {"S": "one"})
    assert parsed == [] and again == first
    # another value of a variable the file names, other bytes or another name: parsed anew
    changed = load_realm(tmp_path / "other" / "twice.yaml", {"S": "two"})
    assert changed.service_accounts[0].secret == "two"
    load_realm(write(tmp_path, "twice.yaml", text + "\n"), {"S": "one"})
    load_realm(write(tmp_path, "thrice.yaml", text), {"S": "one"})
    assert len(parsed) == 3


def test_a_file_with_errors_is_reported_at_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _count_parses(monkeypatch)
    for directory in (tmp_path / "a", tmp_path / "b", tmp_path / "a"):
        directory.mkdir(exist_ok=True)
        path = write(directory, "bad.yaml", "enabled: true\nenabled: false\n")
        with pytest.raises(RealmFileError) as caught:
            load_realm(path, {})
        assert (caught.value.path, caught.value.line) == (path, 2)
    assert len(parsed) == 3
