"""Realm file errors in words a realm author uses ("expected a list", "unknown key 'registraton'
(did you mean 'registration'?)"), not in pydantic's ("Input should be a valid tuple")."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from app.config.realm_models import (
    AllowedClientScopes,
    AllowedProtocolMappers,
    ClientDisabled,
    CompatConfig,
    ConsentRequired,
    CorsConfig,
    FullScopeDisabled,
    MaxClients,
    RealmConfig,
    RegistrationConfig,
    ScopesConfig,
    ServiceAccount,
    TrustedHosts,
    TrustedIssuer,
)

_MODELS: tuple[type[BaseModel], ...] = (
    RealmConfig,
    RegistrationConfig,
    ScopesConfig,
    ServiceAccount,
    TrustedIssuer,
    CompatConfig,
    CorsConfig,
    TrustedHosts,
    MaxClients,
    ConsentRequired,
    FullScopeDisabled,
    ClientDisabled,
    AllowedClientScopes,
    AllowedProtocolMappers,
)
_SIMPLE = {
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected a text",
    "missing": "this key is required",
    "union_tag_not_found": "a policy needs a `type` (e.g. type: trusted-hosts)",
}


def _keys(model: type[BaseModel]) -> Iterator[str]:
    for name, info in model.model_fields.items():
        yield name
        if isinstance(info.alias, str):
            yield info.alias
        generator = model.model_config.get("alias_generator")
        if callable(generator):
            yield str(generator(name))


KNOWN_KEYS = sorted({key for model in _MODELS for key in _keys(model)})


def plain_message(detail: Mapping[str, Any]) -> str:
    """One pydantic error of a realm file, said plainly."""
    kind = str(detail.get("type", ""))
    context: Mapping[str, Any] = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        return unknown_key(str(detail["loc"][-1]) if detail.get("loc") else "")
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind == "union_tag_invalid":
        expected = str(context.get("expected_tags", "")).replace("'", "")
        return f"unknown policy type '{context.get('tag')}' (one of: {expected})"
    if kind == "literal_error":
        return f"expected one of: {str(context.get('expected', '')).replace(chr(39), '')}"
    if kind == "greater_than_equal":
        return f"must be at least {context.get('ge')}"
    if kind == "string_too_short":
        return "must not be empty"
    return str(detail.get("msg", "invalid")).removeprefix("Value error, ")


def unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}'{hint}"
