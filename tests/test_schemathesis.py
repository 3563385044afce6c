"""schemathesis against a live `registrar serve`: every operation of app/openapi.json, with a
bounded number of generated requests each (schema-conforming and schema-violating), answers
no 500 and only what the description says: status code, content type, body schema, required
headers.

Generated requests mostly miss (a random realm, client id or token), so that the successful
paths are fuzzed too, hypothesis also draws per request whether to use the `open` realm, a
client or initial access token that exists, and which credential: an admin, viewer or creator
bearer, a client's registration access token, an initial access token, Basic service-account
credentials, or whatever schemathesis generated.

schemathesis's own pytest integration (`from_fixture` / `parametrize`) fails under pytest 9.2
(schemathesis 4.32 sets `Function._nodeid`, which pytest no longer has), so each operation is a
plain hypothesis test over `APIOperation.as_strategy`, the generation that integration uses.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import APP_REALMS, LiveServer, start_server
from tests.helpers import basic

pytestmark = pytest.mark.live

# per operation; REGISTRAR_FUZZ_EXAMPLES=1000 for a deeper run by hand
MAX_EXAMPLES = int(os.environ.get("REGISTRAR_FUZZ_EXAMPLES", "40"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
REALM = "open"
RP = "https://rp.example.org/cb"
DCR = "/realms/{realm}/clients-registrations/openid-connect"
# headers the HTTP server itself parses: a malformed one (negative generation makes them) is
# answered by uvicorn's own plain-text 400 before any route runs, outside the description
FRAMING_HEADERS = ("Content-Length", "Transfer-Encoding", "Host", "Connection")
DOCUMENT: dict[str, Any] = json.loads(files("app").joinpath("openapi.json").read_text())
# DELETEs last, so that the clients and initial access tokens they remove serve the others first
OPERATIONS = sorted(
    (
        (path, method.upper())
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    ),
    key=lambda operation: operation[1] == "DELETE",
)


@dataclass
class Live:
    """The server, its published description, and the credentials and ids that exist on it."""

    server: LiveServer
    schema: schemathesis.BaseSchema
    bearers: dict[str, str]  # service account → access token
    rats: dict[str, str]  # client_id → its current registration access token
    iat_ids: list[str]
    iat_token: str

    def credentials(self, security: list[dict[str, Any]], client_id: str) -> list[str | None]:
        """Authorization values worth trying, the likeliest to succeed repeated so hypothesis
        draws them more often; None keeps what schemathesis generated."""
        if {"basicAuth": []} in security:
            admin = basic("admin", "admin-secret")
            return [admin, admin, admin, basic("nobody", "nobody-secret"), None]
        if not security:
            return [None]
        admin = f"Bearer {self.bearers['admin']}"
        rat = self.rats.get(client_id) or next(iter(self.rats.values()))
        others = [self.bearers["viewer"], self.bearers["creator"], rat, self.iat_token]
        return [admin, admin, admin, *(f"Bearer {token}" for token in others), None]

    def aim(self, case: schemathesis.Case[Any], data: st.DataObject) -> None:
        """Point some generated requests at what exists, with credentials that work."""
        params = case.path_parameters
        if "realm" in params:
            params["realm"] = data.draw(st.sampled_from([REALM, REALM, params["realm"]]))
        client_id = ""
        if "client_id" in params:
            client_id = data.draw(st.sampled_from([*self.rats, params["client_id"]]))
            params["client_id"] = client_id
        if "id" in params:
            params["id"] = data.draw(st.sampled_from([*self.iat_ids, params["id"]]))
        if isinstance(case.body, dict) and case.operation.path.startswith(DCR):
            # a valid core under the generated members, so that some registrations succeed
            base: dict[str, Any] = {"redirect_uris": [RP]}
            if client_id:
                base["client_id"] = client_id
            if data.draw(st.booleans()):
                kept = data.draw(st.sets(st.sampled_from(sorted(case.body) or [""])))
                case.body = {**{k: v for k, v in case.body.items() if k in kept}, **base}
        for name in FRAMING_HEADERS:
            case.headers.pop(name, None)
        security = case.operation.definition.raw.get("security", [])
        authorization = data.draw(st.sampled_from(self.credentials(security, client_id)))
        if authorization is not None:
            case.headers["Authorization"] = authorization

    def note(self, case: schemathesis.Case[Any], response: schemathesis.Response) -> None:
        """Keep the RAT a successful PUT or an admin's regeneration made (a deleted client
        stays listed: what hypothesis draws from must not change between runs)."""
        client_id = case.path_parameters.get("client_id", "")
        if response.status_code != 200 or client_id not in self.rats:
            return
        rat = response.json().get("registration_access_token")  # None for an admin's PUT
        if case.operation.path.startswith(DCR) and rat:
            self.rats[client_id] = rat
        regenerated = response.json().get("registrationAccessToken")  # the admin's regeneration
        if case.operation.path.endswith("/registration-access-token") and regenerated:
            self.rats[client_id] = regenerated


def _token(http: httpx.Client, account: str) -> str:
    reply = http.post(
        f"/realms/{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(account, f"{account}-secret"),
    )
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["access_token"]
    return token


def _populate(server: LiveServer) -> Live:
    """Service-account bearers, six registered clients and three initial access tokens."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        bearers = {account: _token(http, account) for account in ("admin", "viewer", "creator")}
        rats = {}
        for n in range(6):
            body: dict[str, Any] = {"redirect_uris": [RP], "client_name": f"fuzz {n}"}
            if n % 2:
                body["token_endpoint_auth_method"] = "none"
            reply = http.post(f"/realms/{REALM}/clients-registrations/openid-connect", json=body)
            assert reply.status_code == 201, reply.text
            rats[reply.json()["client_id"]] = reply.json()["registration_access_token"]
        iats = []
        for _ in range(3):
            reply = http.post(
                f"/admin/realms/{REALM}/clients-initial-access",
                json={"count": 5},
                headers={"Authorization": f"Bearer {bearers['admin']}"},
            )
            assert reply.status_code == 201, reply.text
            iats.append(reply.json())
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return Live(server, schema, bearers, rats, [iat["id"] for iat in iats], iats[0]["token"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the whole file (a function-scoped one would start 17 times)."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    realms_dir = tmp_path / "realms"
    shutil.copytree(APP_REALMS, realms_dir)
    server = start_server(tmp_path, realms_dir, f"sqlite:///{tmp_path}/registrar.db")
    try:
        yield _populate(server)
    finally:
        server.stop()


def test_live_description_is_the_packaged_one(live: Live) -> None:
    assert httpx.get(f"{live.server.url}/openapi.json").json() == DOCUMENT


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_conforms_to_openapi(live: Live, path: str, method: str) -> None:
    operation = live.schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases, data=st.data())
    def run(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        live.aim(case, data)
        live.note(case, case.call_and_validate(checks=CHECKS, timeout=10))

    run()
