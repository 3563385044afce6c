"""response_mode=form_post (OAuth 2.0 Form Post Response Mode): the code, `state` and `iss` go
to the client in an HTML form the browser posts — by script, or by its visible button without
one — and never in the URL; errors after the client is known go the same way."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest

from tests.signin_flow import (
    CALLBACK,
    PASSWORD,
    auth_params,
    auth_path,
    oidc_path,
    people_realms,
    pkce,
    post_form,
    public_client,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return people_realms(tmp_path)


def posted_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The auto-submitting form: its action and fields."""
    assert page.status_code == 200 and "location" not in page.headers, page.text
    action = re.findall(r'<form method="post" action="([^"]*)"', page.text)
    assert len(action) == 1
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    return html.unescape(action[0]), {k: html.unescape(v) for k, v in fields}


async def test_the_code_is_posted_to_the_client(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    verifier, challenge = pkce()
    params = auth_params(registered["client_id"], challenge, response_mode="form_post")
    login = await client.get(auth_path(), params=params)
    done = await post_form(client, login, username="alice", password=PASSWORD)
    action, fields = posted_form(done)
    assert action == CALLBACK
    assert fields["state"] == "st-123" and fields["iss"] == "http://testserver/realms/people"
    assert set(fields) == {"code", "state", "iss"}
    # works without script: a visible submit button; with script: only this page's nonce runs
    assert re.search(r'<button type="submit">Continue</button>', done.text)
    csp = done.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in done.text
    assert "form-action 'self' https://rp.example.org" in csp
    assert done.headers["cache-control"] == "no-store"
    tokens = await client.post(
        oidc_path("token"),
        data={
            "grant_type": "authorization_code", "code": fields["code"],
            "client_id": registered["client_id"], "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text


async def test_a_signed_in_user_gets_the_form_at_once(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(registered["client_id"], pkce()[1])
    login = await client.get(auth_path(), params=params)
    await post_form(client, login, username="alice", password=PASSWORD)
    again = await client.get(auth_path(), params={**params, "response_mode": "form_post"})
    action, fields = posted_form(again)
    assert action == CALLBACK and fields["code"]


async def test_errors_of_a_known_client_are_posted_too(client: httpx.AsyncClient) -> None:
    registered = await public_client(client)
    params = auth_params(
        registered["client_id"], pkce()[1], response_mode="form_post", prompt="none"
    )
    action, fields = posted_form(await client.get(auth_path(), params=params))
    assert action == CALLBACK
    assert fields["error"] == "login_required" and fields["state"] == "st-123"
    bad = auth_params(registered["client_id"], pkce()[1], response_mode="form_post", scope="x")
    _, fields = posted_form(await client.get(auth_path(), params=bad))
    assert fields["error"] == "invalid_scope" and fields["iss"] == "http://testserver/realms/people"


async def test_query_stays_the_default_and_other_modes_are_refused(
    client: httpx.AsyncClient,
) -> None:
    registered = await public_client(client)
    login = await client.get(auth_path(), params=auth_params(registered["client_id"], pkce()[1]))
    done = await post_form(client, login, username="alice", password=PASSWORD)
    assert done.status_code == 303 and "code=" in done.headers["location"]
    params = auth_params(registered["client_id"], pkce()[1], response_mode="fragment")
    refused = await client.get(auth_path(), params=params)
    assert refused.status_code == 302 and "error=invalid_request" in refused.headers["location"]


async def test_discovery_advertises_form_post(client: httpx.AsyncClient) -> None:
    body = (await client.get("/realms/people/.well-known/openid-configuration")).json()
    assert body["response_modes_supported"] == ["query", "form_post"]
