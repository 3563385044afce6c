"""The authorization endpoint and its pages (docs/reference.md §6), black-box in-process:
what is refused with an HTML 400 and no redirect, what goes back to the client with `error`,
`state` and `iss` (RFC 9207), the login page, the session cookie, consent and CSRF."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from app.auth import passwords
from app.main import create_app
from tests.helpers import admin, clients_path, register
from tests.inprocess import make_settings
from tests.signin_flow import (
    CALLBACK,
    PASSWORD,
    auth_params,
    auth_path,
    form_of,
    people_realms,
    pkce,
    post_form,
    public_client,
    redirect_query,
    sign_in,
)

pytestmark = pytest.mark.anyio
ISS = "http://testserver/realms/people"


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return people_realms(tmp_path)


async def test_signing_in_gives_a_code_with_state_and_iss(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    page = await client.get(auth_path(), params=auth_params(registered["client_id"], challenge))
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert page.text.count('type="submit"') == 1
    assert "Notes App" in page.text
    done = await post_form(client, page, username="alice", password=PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"].startswith(CALLBACK + "?")
    query = redirect_query(done)
    assert query["state"] == "st-123" and query["iss"] == ISS and len(query["code"]) >= 32
    cookie = done.headers["set-cookie"]
    assert "registrar_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Path=/realms/people/" in cookie and "Secure" not in cookie
    # signed in: the next request goes straight back with a new code
    again = await client.get(auth_path(), params=auth_params(registered["client_id"], challenge))
    assert again.status_code == 302
    assert redirect_query(again)["code"] != query["code"]


async def test_post_to_the_authorization_endpoint_works_as_get(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    page = await client.post(auth_path(), data=auth_params(registered["client_id"], challenge))
    assert page.status_code == 200 and 'name="password"' in page.text


@pytest.mark.parametrize(
    "username,password", [("alice", "wrong"), ("mallory", PASSWORD), ("mallory", "wrong")]
)
async def test_a_wrong_username_or_password_says_the_same(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    page = await client.get(auth_path(), params=auth_params(registered["client_id"], challenge))
    again = await post_form(client, page, username=username, password=password)
    assert again.status_code == 200
    assert "Invalid username or password." in again.text
    assert "registrar_session" not in again.headers.get("set-cookie", "")
    form_of(again)  # the same login form, to try again


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://rp.example.org:8443/cb",  # another port on a non-loopback host
        "https://rp.example.org/cb/more",  # an added path
        "https://rp.example.org/CB",  # case change
        "https://RP.example.org/cb",
        "https://rp.example.org\\@evil.example/cb",  # backslash
        "https://evil.example\\.rp.example.org/cb",
        "https://user@rp.example.org/cb",  # userinfo
        "https://rp.example.org@evil.example/cb",
        "https://rp.example.org/%63b",  # percent-encoding
        "https://rp.example.org/cb?x=1",
        "https://rp.example.org/cb#frag",
        "http://rp.example.org/cb",
        "http://127.0.0.1:9/other",  # a loopback port may change, not the path
        "http://localhost:8123/callback",  # nor the host
        "",
    ],
)
async def test_an_unregistered_redirect_uri_gets_an_html_400_and_no_redirect(
    client: httpx.AsyncClient, redirect_uri: str
) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    params = auth_params(registered["client_id"], challenge, redirect_uri=redirect_uri)
    page = await client.get(auth_path(), params=params)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "location" not in page.headers
    assert "redirect_uri" in page.text


async def test_a_loopback_redirect_may_use_another_port(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    params = auth_params(
        registered["client_id"], challenge, redirect_uri="http://127.0.0.1:50111/callback"
    )
    done = await sign_in(client, params)
    assert done.headers["location"].startswith("http://127.0.0.1:50111/callback?code=")


@pytest.mark.parametrize("client_id", ["", "no-such-client", "x" * 300])
async def test_an_unknown_client_gets_an_html_400(
    client: httpx.AsyncClient, client_id: str
) -> None:
    page = await client.get(auth_path(), params=auth_params(client_id, pkce()[1]))
    assert page.status_code == 400 and "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("field", ["nonce", "state", "scope", "login_hint"])
async def test_a_nul_in_a_parameter_gets_an_html_400_before_sign_in(
    client: httpx.AsyncClient, field: str
) -> None:
    # PostgreSQL refuses a NUL in the text the code stores: refused up front, never a 500
    registered = await public_client(client)
    params = {**auth_params(registered["client_id"], pkce()[1]), field: "a\x00b"}
    page = await client.get(auth_path(), params=params)
    assert page.status_code == 400 and "location" not in page.headers
    assert "NUL" in page.text
    # signed in already, the same request still gets no code
    done = await sign_in(client, auth_params(registered["client_id"], pkce()[1]))
    assert "code" in redirect_query(done)
    again = await client.get(auth_path(), params=params)
    assert again.status_code == 400 and "location" not in again.headers


async def test_a_disabled_client_cannot_sign_anyone_in(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    path = f"{clients_path('people')}/{registered['client_id']}"
    auth = await admin(client, "people")
    assert (await client.put(path, json={"enabled": False}, headers=auth)).status_code == 204
    page = await client.get(auth_path(), params=auth_params(registered["client_id"], pkce()[1]))
    assert page.status_code == 400 and "location" not in page.headers
    assert "disabled" in page.text


@pytest.mark.parametrize(
    "change,error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "openid admin.write"}, "invalid_scope"),
        ({"resource": "not-absolute"}, "invalid_target"),
        ({"resource": "https://api.example.org/#x"}, "invalid_target"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "select_account"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example.org/req"}, "request_uri_not_supported"),
    ],
)
async def test_bad_requests_of_a_known_client_go_back_with_error_state_and_iss(
    client: httpx.AsyncClient, change: dict[str, str], error: str
) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1], **change)
    response = await client.get(auth_path(), params=params)
    assert response.status_code == 302
    assert response.headers["location"].startswith(CALLBACK + "?")
    query = redirect_query(response)
    assert query["error"] == error and query["error_description"]
    assert query["state"] == "st-123" and query["iss"] == ISS


async def test_a_public_client_must_use_pkce(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    response = await client.get(auth_path(), params=auth_params(registered["client_id"], None))
    assert redirect_query(response)["error"] == "invalid_request"


async def test_a_repeated_parameter_is_refused(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params: list[tuple[str, str | int | float | bool | None]] = [
        *auth_params(registered["client_id"], pkce()[1]).items(),
        ("state", "two"),
    ]
    response = await client.get(auth_path(), params=params)
    assert redirect_query(response)["error"] == "invalid_request"


async def test_prompt_none_without_a_session_is_login_required(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1], prompt="none")
    response = await client.get(auth_path(), params=params)
    query = redirect_query(response)
    assert query["error"] == "login_required"
    assert query["state"] == "st-123" and query["iss"] == ISS


async def test_prompt_login_asks_again_despite_a_session(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    _, challenge = pkce()
    await sign_in(client, auth_params(registered["client_id"], challenge))
    params = auth_params(registered["client_id"], challenge, prompt="login")
    page = await client.get(auth_path(), params=params)
    assert page.status_code == 200 and 'name="password"' in page.text
    done = await post_form(client, page, username="alice", password=PASSWORD)
    assert "code" in redirect_query(done)
    none = await client.get(auth_path(), params={**params, "prompt": "none"})
    assert "code" in redirect_query(none)


async def test_the_login_form_needs_its_csrf_value(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    page = await client.get(auth_path(), params=auth_params(registered["client_id"], pkce()[1]))
    action, hidden = form_of(page)
    forged = {**hidden, "csrf": "x" * 43, "username": "alice", "password": PASSWORD}
    refused = await client.post(action, data=forged)
    assert refused.status_code == 400 and "location" not in refused.headers
    missing = {k: v for k, v in forged.items() if k != "csrf"}
    assert (await client.post(action, data=missing)).status_code == 400
    # a browser without the cookie (another site's form)
    client.cookies.clear()
    assert (await client.post(action, data={**hidden, "username": "alice"})).status_code == 400


async def test_a_realm_without_login_says_nobody_can_sign_in(client: httpx.AsyncClient) -> None:
    registered = await register(client, "open", token_endpoint_auth_method="none", scope="openid")
    params = auth_params(registered["client_id"], pkce()[1], scope="openid")
    params["redirect_uri"] = registered["redirect_uris"][0]
    page = await client.get(auth_path("open"), params=params)
    assert page.status_code == 200
    assert "Nobody can sign in" in page.text and 'name="password"' not in page.text


# --- consent -------------------------------------------------------------------------------


async def test_consent_is_asked_once_then_remembered(client: httpx.AsyncClient) -> None:
    registered = await public_client(client, "consenting")
    params = auth_params(registered["client_id"], pkce()[1])
    page = await sign_in(client, params, "consenting")
    assert page.status_code == 200
    assert "Notes App" in page.text and "rp.example.org" in page.text
    for scope in ("openid", "profile", "email"):
        assert f"<code>{scope}</code>" in page.text
    assert 'name="accept"' in page.text and 'name="cancel"' in page.text
    done = await post_form(client, page, accept="yes")
    query = redirect_query(done)
    assert "code" in query and query["iss"] == "http://testserver/realms/consenting"
    again = await client.get(auth_path("consenting"), params=params)
    assert "code" in redirect_query(again)
    # prompt=consent asks again; more scopes than granted ask again too
    forced = await client.get(auth_path("consenting"), params={**params, "prompt": "consent"})
    assert forced.status_code == 200 and 'name="accept"' in forced.text


async def test_cancel_on_consent_is_access_denied(client: httpx.AsyncClient) -> None:
    registered = await public_client(client, "consenting")
    page = await sign_in(client, auth_params(registered["client_id"], pkce()[1]), "consenting")
    done = await post_form(client, page, cancel="yes")
    query = redirect_query(done)
    assert query["error"] == "access_denied" and query["state"] == "st-123"
    assert query["iss"] == "http://testserver/realms/consenting"


async def test_the_consent_form_needs_its_csrf_value(client: httpx.AsyncClient) -> None:
    registered = await public_client(client, "consenting")
    page = await sign_in(client, auth_params(registered["client_id"], pkce()[1]), "consenting")
    action, hidden = form_of(page)
    refused = await client.post(action, data={**hidden, "csrf": "y" * 43, "accept": "yes"})
    assert refused.status_code == 400 and "location" not in refused.headers
    missing = {k: v for k, v in hidden.items() if k != "csrf"}
    assert (await client.post(action, data={**missing, "accept": "yes"})).status_code == 400


async def test_prompt_none_without_consent_is_consent_required(client: httpx.AsyncClient) -> None:
    registered = await public_client(client, "consenting")
    params = auth_params(registered["client_id"], pkce()[1])
    await sign_in(client, params, "consenting")
    response = await client.get(auth_path("consenting"), params={**params, "prompt": "none"})
    assert redirect_query(response)["error"] == "consent_required"


# --- logout --------------------------------------------------------------------------------

LOGOUT = "/realms/people/protocol/openid-connect/logout"
AFTER = "https://rp.example.org/signed-out"


async def test_logout_ends_the_session_and_goes_back_to_a_registered_uri(
    client: httpx.AsyncClient,
) -> None:
    registered = await public_client(client, post_logout_redirect_uris=[AFTER])
    params = auth_params(registered["client_id"], pkce()[1])
    await sign_in(client, params)
    signed_in = await client.get(auth_path(), params={**params, "prompt": "none"})
    assert "code" in redirect_query(signed_in)
    out = await client.get(
        LOGOUT,
        params={
            "client_id": registered["client_id"],
            "post_logout_redirect_uri": AFTER,
            "state": "bye",
        },
    )
    assert out.status_code == 302 and out.headers["location"] == AFTER + "?state=bye"
    assert "registrar_session=" in out.headers["set-cookie"]
    after = await client.get(auth_path(), params={**params, "prompt": "none"})
    assert redirect_query(after)["error"] == "login_required"


async def test_logout_without_a_redirect_shows_a_page(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1])
    await sign_in(client, params)
    out = await client.get(LOGOUT)
    assert out.status_code == 200 and "signed out" in out.text
    after = await client.get(auth_path(), params={**params, "prompt": "none"})
    assert redirect_query(after)["error"] == "login_required"


@pytest.mark.parametrize(
    "params",
    [
        {"post_logout_redirect_uri": AFTER},  # no client named
        {"post_logout_redirect_uri": "https://evil.example/", "client_id": "{client}"},
        {"post_logout_redirect_uri": AFTER + "/x", "client_id": "{client}"},
        {"post_logout_redirect_uri": AFTER, "client_id": "nobody"},
        {"post_logout_redirect_uri": AFTER, "id_token_hint": "not.a.token"},
    ],
)
async def test_logout_to_an_unregistered_uri_is_an_html_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    registered = await public_client(client, post_logout_redirect_uris=[AFTER])
    query = {k: v.replace("{client}", registered["client_id"]) for k, v in params.items()}
    out = await client.get(LOGOUT, params=query)
    assert out.status_code == 400 and "location" not in out.headers
    assert out.headers["content-type"].startswith("text/html")


async def test_logout_names_the_client_by_its_id_token(client: httpx.AsyncClient) -> None:
    registered = await public_client(client, post_logout_redirect_uris=[AFTER])
    verifier, challenge = pkce()
    done = await sign_in(client, auth_params(registered["client_id"], challenge))
    code = redirect_query(done)["code"]
    tokens = await client.post(
        "/realms/people/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": registered["client_id"],
            "code_verifier": verifier,
        },
    )
    hint = tokens.json()["id_token"]
    out = await client.get(
        LOGOUT, params={"id_token_hint": hint, "post_logout_redirect_uri": AFTER}
    )
    assert out.status_code == 302 and out.headers["location"] == AFTER


# --- discovery -----------------------------------------------------------------------------


async def test_discovery_names_the_sign_in_endpoints(client: httpx.AsyncClient) -> None:
    body = (await client.get("/realms/people/.well-known/openid-configuration")).json()
    oidc = f"{ISS}/protocol/openid-connect"
    assert body["authorization_endpoint"] == f"{oidc}/auth"
    assert body["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert body["revocation_endpoint"] == f"{oidc}/revoke"
    assert body["end_session_endpoint"] == f"{oidc}/logout"
    assert body["response_types_supported"] == ["code"]
    assert body["response_modes_supported"] == ["query", "form_post"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["subject_types_supported"] == ["public"]
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"sub", "nonce", "auth_time", "email", "name"} <= set(body["claims_supported"])
    assert body["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "refresh_token", "client_credentials"} == set(
        body["grant_types_supported"]
    )
    assert "none" in body["token_endpoint_auth_methods_supported"]
    for name in ("authorization_endpoint", "userinfo_endpoint", "end_session_endpoint"):
        answer = await client.get(body[name].removeprefix("http://testserver"))
        assert answer.status_code != 404, name
    revoke = await client.post(body["revocation_endpoint"].removeprefix("http://testserver"))
    assert revoke.status_code != 404


# --- cookie and password check details ---------------------------------------------------


async def test_the_session_cookie_is_secure_behind_an_https_public_url(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, realms_dir, sqlite_url).model_copy(
        update={"public_url": "https://login.example.org"}
    )
    application = create_app(settings, scheduler=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://login.example.org"
        ) as http:
            registered = await public_client(http)
            done = await sign_in(http, auth_params(registered["client_id"], pkce()[1]))
            assert redirect_query(done)["iss"] == "https://login.example.org/realms/people"
            cookies = done.headers.get_list("set-cookie")
            session = next(c for c in cookies if c.startswith("registrar_session="))
            assert "Secure" in session and "HttpOnly" in session


async def test_an_unknown_user_costs_one_argon2_check_like_a_known_one(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work either way, so the time taken does not tell a wrong username from a wrong
    password."""
    calls: list[str] = []
    real = passwords._HASHER

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            calls.append(hashed)
            return real.verify(hashed, password)

    monkeypatch.setattr(passwords, "_HASHER", Counting())
    registered = await public_client(client)
    for username in ("alice", "mallory"):
        page = await client.get(auth_path(), params=auth_params(registered["client_id"], pkce()[1]))
        await post_form(client, page, username=username, password="wrong")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


async def test_max_age_asks_again_for_an_older_sign_in(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1])
    await sign_in(client, params)
    recent = await client.get(auth_path(), params={**params, "max_age": "3600"})
    assert "code" in redirect_query(recent)
    # the clock moves on past max_age=0 within a second at most; wait for it
    await anyio.sleep(1.1)
    old = await client.get(auth_path(), params={**params, "max_age": "0", "prompt": "none"})
    assert redirect_query(old)["error"] == "login_required"
    page = await client.get(auth_path(), params={**params, "max_age": "0"})
    assert page.status_code == 200 and 'name="password"' in page.text
    done = await post_form(client, page, username="alice", password=PASSWORD)
    assert "code" in redirect_query(done)
    bad = await client.get(auth_path(), params={**params, "max_age": "-1"})
    assert redirect_query(bad)["error"] == "invalid_request"


async def test_login_hint_fills_in_the_username(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1], login_hint="alice")
    page = await client.get(auth_path(), params=params)
    assert 'name="username" value="alice"' in page.text


async def test_login_attempts_are_rate_limited_per_address_and_account(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    """rate_limits.sign_in slows password guessing: the third try within the window is a 429
    page, right password or not; another account is counted apart."""
    (realms_dir / "people.yaml").write_text(
        (realms_dir / "people.yaml").read_text() + "rate_limits:\n  sign_in: 2/day\n"
    )
    application = create_app(make_settings(tmp_path, realms_dir, sqlite_url), scheduler=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            registered = await public_client(http)
            params = auth_params(registered["client_id"], pkce()[1])
            page = await http.get(auth_path(), params=params)
            for _ in range(2):
                wrong = await post_form(http, page, username="alice", password="guess")
                assert wrong.status_code == 200
            limited = await post_form(http, page, username="alice", password=PASSWORD)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert "Too many requests" in limited.text
            assert "registrar_session" not in limited.headers.get("set-cookie", "")
            bob = await post_form(http, page, username="bob", password=PASSWORD)
            assert "code" in redirect_query(bob)
