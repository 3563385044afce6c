"""Property-based tests (hypothesis) of client metadata and of the registration endpoints.

(a) app.rules.client_metadata.validate_client_metadata on any JSON object: a JSON-serialisable
    dict of
    understood members that validates to itself, or InvalidClientMetadata / InvalidRedirectUri,
    never anything else.
(b) POST, GET and PUT of RFC 7591 / 7592 (and the token and introspection endpoints) through
    HTTP in-process, with any JSON (or non-JSON) body and any Authorization, Content-Type and
    Content-Length header: a 2xx, or a 4xx with a JSON {error, error_description}; never a 500
    (the transport raises app exceptions). A client stored by a 201 or 200 reads back as it was
    answered, and its metadata re-validates to itself.

Values are what the JSON parser can produce: no lone surrogates, no NaN, integers within 64
bits (orjson reads larger ones as floats).
"""

from __future__ import annotations

import ipaddress
import json
import string
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from ada_url import idna_to_ascii, parse_url
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.errors import InvalidClientMetadata, InvalidRedirectUri
from app.jsonio import dumps, loads
from app.rules.client_metadata import (
    LOCALIZABLE_MEMBERS,
    UNDERSTOOD_MEMBERS,
    validate_client_metadata,
)
from tests.helpers import (
    ERROR_CODES,
    JSON,
    RP,
    access_token,
    admin_token,
    assert_error,
    basic,
    bearer,
    client_path,
    dcr_path,
    initial_access_token,
    token_path,
    updatable,
)

pytestmark = [pytest.mark.anyio, pytest.mark.fuzz]

# max_examples per HTTP test: the Hypothesis profile's (tests/profiles.py); five times as many on
# the pure model
EXAMPLES = settings().max_examples
HTTP = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVER_MEMBERS = (
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
)

# --- strategies -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, drawn in proportion to its weight (st.one_of favours the
    branches with the most to explore)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(pool))).flatmap(lambda index: pool[index])


# values a member accepts, or nearly, by kind of member: so that the checks past the first are
# reached too, and some requests succeed
GOOD_URIS = (
    RP,
    "http://127.0.0.1:8080/cb",
    "http://localhost/cb",
    "http://[::1]:9/cb",
    "https://rp.example.org/cb?q=1",
    "https://é.example.org/cb",
)
ODD_URIS = (  # valid for some members only, or for none
    "http://rp.example.org/cb",
    "com.example.app:/cb",
    "https://rp.example.org/cb#fragment",
    "https://rp.example.org:99999/",
    "http://[::1",
    "https://",
    "/relative/cb",
    "javascript:alert(1)",
    "data:text/html,x",
)
GRANTS = (
    "authorization_code",
    "implicit",
    "client_credentials",
    "refresh_token",
    "password",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "unknown",
)
RESPONSES = ("code", "token", "id_token", "code id_token", "id_token token", "code  token", "none")
SCOPES = ("", " ", "openid", "openid profile", "openid\u2003email", "address phone", "admin.write")
JWKS: tuple[JSON, ...] = (
    {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE"}]},
    {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "x5c": ["MII"], "key_ops": ["verify"]}]},
    {"keys": [{"kty": "oct", "k": "c2VjcmV0", "ext": True, "size": 1.5}]},
    {"keys": [{"kty": 1}]},
    {"keys": [{"kty": "oct", "k": {"nested": True}}]},
    {"keys": []},
)
uri = weighted((3, st.sampled_from(GOOD_URIS)), (1, st.sampled_from(ODD_URIS)))
text = st.sampled_from(("RS256", "ES256", "none", "RSA-OAEP", "A128GCM", "n")) | st.text(max_size=8)


def enum(*values: str) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


KINDS: dict[str, st.SearchStrategy[Any]] = {
    "redirect_uris": st.lists(uri, min_size=1, max_size=3),
    "request_uris": st.lists(uri, max_size=2),
    "post_logout_redirect_uris": st.lists(uri, max_size=2),
    "grant_types": st.lists(enum(*GRANTS), max_size=3),
    "response_types": st.lists(enum(*RESPONSES), max_size=3),
    "token_endpoint_auth_method": enum(
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none", "basic"
    ),
    "application_type": enum("web", "native", "desktop"),
    "subject_type": enum("public", "pairwise", "random"),
    "scope": enum(*SCOPES),
    "jwks": st.sampled_from(JWKS),
    "default_max_age": st.integers(min_value=-1, max_value=2**31),
    "contacts": st.lists(text, max_size=2),
    "default_acr_values": st.lists(text, max_size=2),
}
for _member in UNDERSTOOD_MEMBERS - set(KINDS):
    if _member.endswith("_uri"):
        KINDS[_member] = uri
    elif _member.endswith(("_required", "_time", "_access_tokens")):
        KINDS[_member] = st.booleans()
    else:
        KINDS[_member] = text
TAGGED = [
    f"{member}#{tag}" for member in sorted(LOCALIZABLE_MEMBERS) for tag in ("fr", "ja-Jpan-JP")
]
ODD_NAMES = ["client_name#", "client_name#not a tag", "scope#fr", *SERVER_MEMBERS]


def member_value(name: str) -> st.SearchStrategy[Any]:
    """Mostly a value of the member's kind, sometimes any JSON value at all."""
    return weighted((6, KINDS.get(name.partition("#")[0], json_values)), (1, json_values))


typed_metadata = st.lists(
    st.sampled_from(sorted(UNDERSTOOD_MEMBERS) + TAGGED + ODD_NAMES), unique=True, max_size=6
).flatmap(lambda names: st.fixed_dictionaries({name: member_value(name) for name in names}))
unknown_members = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
metadata = weighted(
    # a valid core under the drawn members, and members nobody understands
    (
        3,
        st.builds(
            lambda drawn, unknown: {**unknown, "redirect_uris": [RP], **drawn},
            typed_metadata,
            unknown_members,
        ),
    ),
    (1, typed_metadata),
    (1, unknown_members),
)

header_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=40
)  # what an HTTP server lets through in a header value


jws_like = st.builds(
    "{} {}.{}.{}".format,
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic"]),
    *[st.text(string.ascii_letters + string.digits + "-_", max_size=30)] * 3,
)
authorizations = weighted(
    (3, st.just("<admin>")),  # placeholders headers_for() swaps for real tokens
    (3, st.just("<rat>")),
    (2, st.none()),
    (1, st.sampled_from(["<iat>", "<viewer>", "<creator>"])),
    (1, header_text),
    (1, st.builds("Bearer {}".format, header_text)),
    (1, jws_like),
)
content_types = weighted(
    (6, st.just("application/json")),
    (1, st.sampled_from(["application/json; charset=utf-8", "APPLICATION/JSON", "<none>"])),
    (1, st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])),
    (1, header_text),
)
bodies = st.one_of(
    metadata.map(lambda value: json.dumps(value, ensure_ascii=False).encode()),
    metadata.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value, ensure_ascii=False).encode()),
    st.binary(max_size=40),
)

# --- (a) the metadata model ---------------------------------------------------------------


def understood(member: str) -> bool:
    """A member RFC 7591 §2 / OIDC DCR §2 defines, language-tagged or not."""
    base, tagged, _ = member.partition("#")
    return base in (LOCALIZABLE_MEMBERS if tagged else UNDERSTOOD_MEMBERS)


@settings(max_examples=5 * EXAMPLES, deadline=None, database=None)
@given(raw=metadata)
def test_validated_metadata_is_json_and_validates_to_itself(raw: JSON) -> None:
    try:
        validated = validate_client_metadata(raw)
    except (InvalidClientMetadata, InvalidRedirectUri) as exc:
        event(f"refused: {exc.error}")
        assert exc.description
        return
    event("valid")
    assert loads(dumps(validated)) == validated  # what the store writes, it reads back
    assert validate_client_metadata(validated) == validated
    assert all(understood(member) for member in validated)
    assert set(validated) <= set(raw) | {
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "application_type",
        "id_token_encrypted_response_enc",
        "userinfo_encrypted_response_enc",
        "request_object_encryption_enc",
    }  # nothing the client did not send but the defaults


# a URI made of the characters that parsers disagree on: backslashes, "@", "%", dots that
# IDNA maps ("。"), letters it maps (fullwidth, soft hyphen), brackets, a tab
hostile_uris = st.builds(
    "{}{}".format,
    st.sampled_from(["https://", "http://", "https:", "https:/", "myapp://", "http://127.0.0.1"]),
    st.text("ae.-_:/\\@%25*[]?#0x17\t\u00ad\u3002\uff45\u00e9", max_size=24),
)


def _host(text: str) -> str | ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return idna_to_ascii(text).decode().lower()


@settings(max_examples=5 * EXAMPLES, deadline=None, database=None)
@given(text=hostile_uris)
def test_an_accepted_redirect_uri_has_one_host_for_browsers_and_rfc_3986(text: str) -> None:
    """What the trusted-hosts policy reads is where a browser goes (docs/reference.md §3)."""
    try:
        validate_client_metadata({"redirect_uris": [text]})
    except (InvalidClientMetadata, InvalidRedirectUri):
        event("refused")
        return
    event("accepted")
    browser, rfc = parse_url(text)["hostname"], urlsplit(text).hostname or ""
    assert _host(browser) == _host(rfc) if browser or rfc else True
    assert "\\" not in text and "%" not in rfc and "@" not in urlsplit(text).netloc


# --- (b) through HTTP -----------------------------------------------------------------------


def assert_answer(response: httpx.Response, success: int, *, in_hypothesis: bool = True) -> None:
    """A success, or a 4xx with an RFC-shaped JSON error whose code fits its status; a 500 never
    gets this far."""
    if in_hypothesis:
        event(f"HTTP {response.status_code}")  # shown by pytest --hypothesis-show-statistics
    assert response.status_code == success or 400 <= response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json", response.headers
        body = response.json()
        assert body.get("error") in ERROR_CODES.get(response.status_code, ()), body
        assert isinstance(body.get("error_description"), str), body


async def headers_for(
    http: httpx.AsyncClient, authorization: str | None, content_type: str | None, rat: str = ""
) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    if authorization in ("<admin>", "<viewer>", "<creator>"):
        account = authorization.strip("<>")
        reply = await access_token(http, client_id=account)
        authorization = f"Bearer {reply.json()['access_token']}"
    elif authorization == "<iat>":
        authorization = f"Bearer {await initial_access_token(http)}"
    elif authorization == "<rat>":
        authorization = f"Bearer {rat or 'none'}"
    if authorization is not None:
        headers[b"Authorization"] = authorization.encode()
    if content_type is not None and content_type != "<none>":
        headers[b"Content-Type"] = content_type.encode()
    return headers


def metadata_of(body: JSON) -> JSON:
    return {k: v for k, v in body.items() if k not in SERVER_MEMBERS}


async def assert_stored_as_answered(http: httpx.AsyncClient, answered: JSON) -> None:
    """GET returns what the 201 / 200 said, and the stored metadata is valid as it is."""
    rat = answered.get("registration_access_token")
    token = rat or await admin_token(http)
    read = await http.get(client_path(answered), headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.text
    assert read.json() == answered
    stored = metadata_of(read.json())
    assert all(understood(member) for member in stored)
    assert validate_client_metadata(stored) == stored


async def registered_client(http: httpx.AsyncClient) -> JSON:
    response = await http.post(dcr_path(), json={"redirect_uris": [RP]})
    assert response.status_code == 201, response.text
    registered: JSON = response.json()
    return registered


async def remove(http: httpx.AsyncClient, registered: JSON) -> None:
    """Delete a client an example made: max-clients of the realm counts every client."""
    token = await admin_token(http)
    response = await http.delete(client_path(registered), headers=bearer(token))
    assert response.status_code == 204, response.text


@HTTP
@given(
    body=bodies,
    authorization=authorizations,
    content_type=content_types,
    # latin-1 text, digits above all ("²" is a digit to str.isdigit): an ASGI server may
    # hand header bytes over as they came
    content_length=weighted(
        (6, st.none()),
        (1, st.text(st.sampled_from("0123456789²³¹"), min_size=1, max_size=8)),
        (1, st.text(st.characters(max_codepoint=0xFF), max_size=8)),
    ),
)
async def test_registration_answers_201_or_a_json_4xx(
    client: httpx.AsyncClient,
    body: bytes,
    authorization: str | None,
    content_type: str | None,
    content_length: str | None,
) -> None:
    headers = await headers_for(client, authorization, content_type)
    if content_length is not None:
        headers[b"Content-Length"] = content_length.encode("latin-1")
    response = await client.post(dcr_path(), content=body, headers=headers)
    assert_answer(response, 201)
    if response.status_code == 201:
        await assert_stored_as_answered(client, response.json())
        await remove(client, response.json())


@HTTP
@given(
    body=bodies,
    update=weighted((1, st.none()), (1, metadata)),
    authorization=authorizations,
    content_type=content_types,
)
async def test_update_answers_200_or_a_json_4xx(
    client: httpx.AsyncClient,
    body: bytes,
    update: JSON | None,
    authorization: str | None,
    content_type: str | None,
) -> None:
    registered = await registered_client(client)
    if update is not None:
        # a well-formed update (what the client got, less the read-only members) changed by
        # the drawn members, in place of the drawn body
        body = dumps({**updatable(registered), **update})
    rat = registered["registration_access_token"]
    headers = await headers_for(client, authorization, content_type, rat)
    response = await client.put(client_path(registered), content=body, headers=headers)
    assert_answer(response, 200)
    if response.status_code == 200:
        await assert_stored_as_answered(client, response.json())
    await remove(client, registered)


@HTTP
@given(
    # "/" left out: a path ending in one is redirected (test_trailing_slash_is_not_redirected)
    client_id=st.none()
    | st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=70),
    authorization=authorizations,
    content_type=content_types,
)
async def test_read_answers_200_or_a_json_4xx(
    client: httpx.AsyncClient,
    client_id: str | None,
    authorization: str | None,
    content_type: str | None,
) -> None:
    registered = await registered_client(client)
    rat = registered["registration_access_token"]
    headers = await headers_for(client, authorization, content_type, rat)
    path = client_path(registered)
    if client_id is not None:
        path = f"{dcr_path()}/{quote(client_id, safe='')}"
    response = await client.get(path, headers=headers)
    assert_answer(response, 200)
    if response.status_code == 200:
        assert response.json()["client_id"] in (registered["client_id"], client_id)
    await remove(client, registered)


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
form_names = st.sampled_from(["grant_type", "scope", "client_id", "client_secret", "token", "x"])
form_values = st.sampled_from(
    ["client_credentials", "password", "openid", "admin", "admin-secret", ""]
) | st.text(max_size=20)
forms = weighted(
    (1, st.lists(st.tuples(form_names, form_values), max_size=5).map(urlencode)),
    # a valid core, then at most one more parameter
    (
        1,
        st.lists(st.tuples(st.sampled_from(["scope", "token"]), form_values), max_size=1).map(
            lambda pairs: urlencode([("grant_type", "client_credentials"), *pairs])
        ),
    ),
).map(str.encode)
token_authorizations = weighted(
    (4, st.just(basic("admin", "admin-secret"))),
    (1, st.sampled_from([None, basic("nobody", "nobody-secret"), basic("admin", "wrong")])),
    # ASCII only: non-ASCII Basic credentials are a 500 (test_non_ascii_basic_credentials)
    (1, st.builds("Basic {}".format, ascii_text)),
    (1, ascii_text),
)
form_types = weighted(
    (6, st.just("application/x-www-form-urlencoded")),
    (1, st.sampled_from(["application/json", "<none>", "multipart/form-data"])),
    (1, header_text),
)
TOKEN_PATHS = [token_path(), token_path() + "/introspect"]


@pytest.mark.parametrize("path", TOKEN_PATHS)
@HTTP
@given(
    body=weighted((4, forms), (1, st.binary(max_size=40))),
    authorization=token_authorizations,
    content_type=form_types,
)
async def test_token_endpoints_answer_200_or_a_json_4xx(
    client: httpx.AsyncClient,
    path: str,
    body: bytes,
    authorization: str | None,
    content_type: str | None,
) -> None:
    headers = await headers_for(client, authorization, content_type)
    response = await client.post(path, content=body, headers=headers)
    assert_answer(response, 200)


@pytest.mark.parametrize("path", TOKEN_PATHS)
async def test_non_ascii_basic_credentials_are_a_401(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path,
        content=b"grant_type=client_credentials&token=x",
        headers={
            b"Authorization": "Basic é".encode("latin-1"),
            b"Content-Type": b"application/x-www-form-urlencoded",
        },
    )
    assert_answer(response, 200, in_hypothesis=False)
    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "path",
    [
        "/realms/open/clients-registrations/openid-connect/",
        "/realms/open/clients-registrations/openid-connect/%2F",
        "/admin/realms/open/clients/",
    ],
)
async def test_trailing_slash_is_not_redirected(client: httpx.AsyncClient, path: str) -> None:
    """docs/reference.md §3: every answer is a success or a JSON error, here a 404 or 405."""
    response = await client.get(path, headers=bearer(await admin_token(client)))
    assert_answer(response, 200, in_hypothesis=False)
