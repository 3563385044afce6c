"""app/openapi.json against the app: valid OpenAPI 3.1, the same operations as the routes, the
error statuses docs/reference.md §3 gives each kind of operation, and served at GET
/openapi.json."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import Route

from app.web.routes import ROUTES

METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
ROOT = Path(__file__).parent.parent
CONSOLE = "/realms/{realm}/console"


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files("app").joinpath("openapi.json").read_text())
    return document


def route_operations() -> set[tuple[str, str]]:
    """(path, method) of every Starlette route; HEAD is what Starlette adds to GET."""
    found: set[tuple[str, str]] = set()
    for route in ROUTES:
        assert isinstance(route, Route), route
        if route.path.startswith(CONSOLE):
            continue  # the web console serves HTML pages; it is not part of the JSON API
        path = re.sub(r":\w+}", "}", route.path)  # {client_id:path} is {client_id} to OpenAPI
        for method in route.methods or ():
            if method != "HEAD":
                found.add((path, method.lower()))
    return found


def documented_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref (#/components/...) to the node it names."""
    while "$ref" in node:
        target: Any = document
        for step in node["$ref"].removeprefix("#/").split("/"):
            target = target[step]
        node = target
    return node


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_route_is_documented(document: dict[str, Any]) -> None:
    missing = route_operations() - set(documented_operations(document))
    assert not missing, f"routes missing from app/openapi.json: {sorted(missing)}"


def test_every_documented_operation_is_a_route(document: dict[str, Any]) -> None:
    extra = set(documented_operations(document)) - route_operations()
    assert not extra, f"app/openapi.json documents operations no route serves: {sorted(extra)}"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for op in documented_operations(document).values()]
    assert len(ids) == len(set(ids))


def test_operations_document_the_contract_error_statuses(document: dict[str, Any]) -> None:
    """docs/reference.md §3: unknown realm 404; tokens 401 / 403; bodies 400 / 408 / 413 / 415; any
    request head too large 414 / 431; errors are {error, error_description} (but the 503 of
    /health, which has its own shape)."""
    error_schema = {"$ref": "#/components/schemas/Error"}
    for (path, method), operation in documented_operations(document).items():
        statuses = set(operation["responses"])
        where = f"{method.upper()} {path}"
        assert {"414", "431"} <= statuses, where
        if "{realm}" in path:
            assert "404" in statuses, where
        if {"bearerAuth": []} in operation["security"]:
            assert {"401", "403"} <= statuses, where
        if "requestBody" in operation:
            # a SAML descriptor over 64 KiB is refused as hostile XML is: 400, not 413
            too_large = "400" if operation["operationId"] == "registerSamlDescriptor" else "413"
            assert {"400", "408", too_large, "415"} <= statuses, where
        for status, response in operation["responses"].items():
            if int(status) >= 400 and (path, status) != ("/health", "503"):
                schema = resolve(document, response)["content"]["application/json"]["schema"]
                assert error_schema in schema["allOf"], (where, status)


@pytest.mark.anyio
async def test_openapi_json_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == load_document()


def test_openapi_json_is_package_data() -> None:
    """The document is installed with the package, not only present in a checkout."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "openapi.json" in pyproject["tool"]["setuptools"]["package-data"]["app"]
