"""Settings (docs/reference.md §1): flag > REGISTRAR_* env > config/registrar.yaml > default."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.config.realm_models import REALM_NAME

DEFAULT_CONFIG_FILE = Path("config/registrar.yaml")

# setting name -> environment variable; every setting a file or a flag may also give
ENV_NAMES = {
    "host": "REGISTRAR_HOST",
    "port": "REGISTRAR_PORT",
    "realms_dir": "REGISTRAR_REALMS_DIR",
    "database_url": "REGISTRAR_DATABASE_URL",
    "public_url": "REGISTRAR_PUBLIC_URL",
    "workers": "REGISTRAR_WORKERS",
    "sweep_interval": "REGISTRAR_SWEEP_INTERVAL",
    "secret_key": "REGISTRAR_SECRET_KEY",
    "secret_key_file": "REGISTRAR_SECRET_KEY_FILE",
    "realm_poll_interval": "REGISTRAR_REALM_POLL_INTERVAL",
    "log_level": "REGISTRAR_LOG_LEVEL",
    "max_connections": "REGISTRAR_MAX_CONNECTIONS",
    "keep_alive_timeout": "REGISTRAR_KEEP_ALIVE_TIMEOUT",
    "body_timeout": "REGISTRAR_BODY_TIMEOUT",
    "header_timeout": "REGISTRAR_HEADER_TIMEOUT",
    "max_header_bytes": "REGISTRAR_MAX_HEADER_BYTES",
    "max_url_bytes": "REGISTRAR_MAX_URL_BYTES",
    "default_realm": "REGISTRAR_DEFAULT_REALM",
    "database_pool_size": "REGISTRAR_DATABASE_POOL_SIZE",
    "trusted_proxies": "REGISTRAR_TRUSTED_PROXIES",
    "access_log": "REGISTRAR_ACCESS_LOG",
    "log_format": "REGISTRAR_LOG_FORMAT",
}
CONFIG_ENV = "REGISTRAR_CONFIG"


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    realms_dir: Path = Path("realms")
    database_url: str = "sqlite:///data/registrar.db"
    public_url: str | None = None
    workers: int = Field(default=1, ge=1, le=64)
    sweep_interval: float = Field(default=900.0, gt=0)
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path = Path("data/secret.key")
    realm_poll_interval: float = Field(default=1.0, gt=0, le=5)
    log_level: str = "info"
    # PostgreSQL connections per process, at most (requests past it queue for up to 5 s)
    database_pool_size: int = Field(default=24, ge=1, le=1000)
    # limits on what one client may hold or send
    max_connections: int = Field(default=1024, ge=1)  # per process; more get 503
    keep_alive_timeout: int = Field(default=5, ge=1)  # idle keep-alive connections close
    body_timeout: float = Field(default=10.0, gt=0)  # a body not received in time gets 408
    # a request head not received in time: the connection is closed (app/web/connections.py).
    # 10 s is ample for a few hundred bytes on the slowest real link, and makes a slowloris
    # attacker reopen every socket that often
    header_timeout: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=16384, ge=1024)  # larger request headers get 431
    max_url_bytes: int = Field(default=8192, ge=256)  # a longer request target gets 414
    # the realm the bare INDIGO IAM path /iam/api/client-registration serves
    # (app/services/indigo.py)
    default_realm: str | None = Field(default=None, pattern=REALM_NAME.pattern)
    # addresses and networks (comma-separated) whose Forwarded / X-Forwarded-For are believed;
    # from anyone else those headers are ignored, so no caller can claim another address
    trusted_proxies: str = ""
    # one line per request (uvicorn's access log); off by default, as in Keycloak
    access_log: bool = False
    # text: "TIME LEVEL LOGGER: message"; json: one JSON object per line (app/logs.py)
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> str:
        items = value if isinstance(value, list) else str(value).split(",")
        if items == [""]:
            return ""
        try:  # canonical forms: "10.0.0.1", "192.0.2.0/24", "::1"
            return ",".join(_address_or_network(str(item).strip()) for item in items)
        except ValueError as exc:
            raise ValueError("must be IP addresses or CIDR networks, comma-separated") from exc

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return value.lower()

    @property
    def base_url(self) -> str:
        """The base of every issuer, registration_client_uri and Location header."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def issuer(self, realm: str) -> str:
        """The realm's issuer identifier: tokens' `iss`, discovery's `issuer`."""
        return f"{self.base_url}/realms/{realm}"

    def to_environ(self) -> dict[str, str]:
        """The REGISTRAR_* variables that rebuild exactly these settings (for workers)."""
        env: dict[str, str] = {}
        for name, var in ENV_NAMES.items():
            value = getattr(self, name)
            if value is not None:
                env[var] = str(value)
        return env


def _address_or_network(text: str) -> str:
    if "/" in text:
        return str(ipaddress.ip_network(text, strict=False))
    return str(ipaddress.ip_address(text))


def _read_config_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise SettingsError(f"config: file {path} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"config: cannot read {path}: {exc}".splitlines()[0]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config: {path} must be a mapping of settings")
    unknown = sorted(str(key) for key in data if key not in ENV_NAMES)
    if unknown:
        raise SettingsError(f"config: unknown setting {unknown[0]!r} in {path}")
    return {str(key): value for key, value in data.items()}


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge default < config file < environment < flags; raise SettingsError naming the setting."""
    environ = os.environ if environ is None else environ
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    required = config_file is not None or CONFIG_ENV in environ
    path = config_file or Path(environ.get(CONFIG_ENV, str(DEFAULT_CONFIG_FILE)))
    from_file = _read_config_file(path, required)
    from_env = {name: environ[var] for name, var in ENV_NAMES.items() if environ.get(var)}
    merged: dict[str, Any] = {**from_file, **from_env, **flags}
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        # name the very place the bad value came from: the flag, the variable or the file
        if name in flags:
            source = "--" + name.replace("_", "-")
        elif name in from_env:
            source = ENV_NAMES[name]
        else:
            source = f"{path}: {name}"
        raise SettingsError(f"{source}: {error['msg']}{_shown(name, error.get('input'))}") from exc


def _shown(name: str, value: object) -> str:
    """The rejected value, as an error may echo it: never a secret, never a password."""
    if name == "secret_key":
        return ""
    text = _PASSWORD_IN_URL.sub(r"\1***@", value) if isinstance(value, str) else value
    return f" (got {text!r})"


# scheme://user:password@host -> the password part
_PASSWORD_IN_URL = re.compile(r"(://[^/:@]*:)[^/@]*@")
