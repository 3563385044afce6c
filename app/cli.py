"""The `registrar` command (docs/reference.md §1): serve | realms check | iat create|list|delete.

Parsing and dispatch only; every subcommand resolves Settings the same way the server does, so
it works on the same data as a running server.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import ipaddress
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.auth.secret_box import SecretKeyError
from app.config.settings import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    ENV_NAMES,
    Settings,
    SettingsError,
    load_settings,
)
from app.errors import RegistrarError
from app.store.errors import DatabaseUnavailable

if TYPE_CHECKING:
    import uvicorn

    from app.container import Container


DESCRIPTION = (
    "registrar: a multi-realm OAuth 2.0 / OpenID Connect dynamic client registration server "
    "(RFC 7591, RFC 7592). Settings come from flags, then REGISTRAR_* environment variables, "
    "then the config file, then the defaults."
)
FLAG_HELP = {
    "realms_dir": "directory of realm files, one NAME.yaml per realm",
    "database_url": "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
    "host": "address to listen on",
    "port": "port to listen on",
    "public_url": "base of every issuer and URI the server hands out (needed beyond loopback)",
    "workers": "server processes sharing the database",
}


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """A settings flag whose help names its default and environment variable."""
    default = Settings.model_fields[name].default
    shown = f"default: {default}; " if default not in (None, "") else ""
    parser.add_argument(
        "--" + name.replace("_", "-"),
        dest=name,
        help=f"{FLAG_HELP[name]} ({shown}env {ENV_NAMES[name]})",
        **kwargs,
    )


def _common(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "realms_dir", type=Path, metavar="DIR")
    _flag(parser, "database_url", metavar="URL")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"settings file (default: {DEFAULT_CONFIG_FILE}; env {CONFIG_ENV})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registrar", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"registrar {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="serve the HTTP API", description="Serve the HTTP API."
    )
    _common(serve)
    _flag(serve, "host", metavar="HOST")
    _flag(serve, "port", metavar="PORT")
    _flag(serve, "public_url", metavar="URL")
    _flag(serve, "workers", metavar="N")

    realms = commands.add_parser("realms", help="realm files")
    realm_commands = realms.add_subparsers(dest="realms_command", required=True, metavar="COMMAND")
    check = realm_commands.add_parser(
        "check", help="validate every realm file", description="Validate every realm file."
    )
    _common(check)

    iat = commands.add_parser("iat", help="initial access tokens")
    iat_commands = iat.add_subparsers(dest="iat_command", required=True, metavar="COMMAND")
    create = iat_commands.add_parser("create", help="create one; prints the token alone")
    _common(create)
    create.add_argument("--realm", required=True)
    create.add_argument("--expiration", type=int, default=0, help="seconds; 0 never expires")
    create.add_argument("--count", type=int, default=1, help="registrations it allows")
    listing = iat_commands.add_parser("list", help="list a realm's tokens")
    _common(listing)
    listing.add_argument("--realm", required=True)
    remove = iat_commands.add_parser("delete", help="delete one by id")
    _common(remove)
    remove.add_argument("--realm", required=True)
    remove.add_argument("id")

    users = commands.add_parser("users", help="local users of realm files")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    user_commands.add_parser(
        "hash-password",
        help="read a password on stdin, print its argon2id hash for a realm file",
        description="Read a password on stdin (one line), print its argon2id hash "
        "(the password_hash of a user under login.users).",
    )
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("registrar")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown"


def _settings(args: argparse.Namespace) -> Settings:
    flags = {
        name: getattr(args, name, None)
        for name in ("host", "port", "realms_dir", "database_url", "public_url", "workers")
    }
    return load_settings(flags=flags, config_file=args.config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `registrar`: say what it can do
        parser.print_help()
        return 0
    if args.command == "users":
        return hash_password_command()
    try:
        settings = _settings(args)
        if args.command == "serve":
            return serve(settings)
        if args.command == "realms":
            return realms_check(settings)
        return initial_access_tokens(settings, args)
    except (SettingsError, SecretKeyError) as exc:
        print(f"registrar: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"registrar: {exc.detail or exc.description}", file=sys.stderr)
        return 1
    except RegistrarError as exc:
        print(f"registrar: {exc.description}", file=sys.stderr)
        return 1


def hash_password_command() -> int:
    """Print the argon2id hash of the password on stdin; the password is never echoed."""
    import getpass

    from app.auth.passwords import hash_password

    # at a terminal, asked for without echo; else the first line of the input
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("registrar: no password on stdin", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def serve(settings: Settings) -> int:
    # every worker writes its metrics here and /metrics adds them up: set before any module
    # that counts is imported (app.metrics), so every process inherits it
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = tempfile.mkdtemp(prefix="registrar-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        return _serve(settings)
    finally:
        if made is not None:  # the counts die with the server, as a process's would
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(made, ignore_errors=True)


def _serve(settings: Settings) -> int:

    import uvicorn

    from app.container import Container
    from app.main import configure_logging
    from app.web.connections import protocol

    _check_public_url(settings)
    _check_port_free(settings)
    configure_logging(settings)
    # Before any worker starts: create the schema once, and refuse a wrong secret key with
    # one clear line (exit 2) rather than a traceback from every worker.
    asyncio.run(_preflight(Container.build(settings)))
    _announce(settings)
    # every worker rebuilds the same Settings from these variables (uvicorn factory)
    os.environ.update(settings.to_environ())
    config = uvicorn.Config(
        "app.main:create_app_from_environ",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # uvloop + httptools: the asyncio loop with workers > 1 leaves Nagle on (uvicorn #3149);
        # httptools with a deadline on request heads (header_timeout)
        loop="uvloop",
        http=protocol(settings.header_timeout),
        log_level=settings.log_level,
        # uvicorn's own loggers propagate to the root logger configure_logging set up, so
        # every line has the same format and a timestamp
        log_config=None,
        # the access lines are the app's own (app/web/request_ids.py: with the request id, in
        # the chosen format); off by default, as in Keycloak (http-access-log-enabled)
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn restarts a worker that misses its health ping for this long (default 5 s); a
        # worker starting on a busy machine (a schema check, the realm files) may take longer,
        # and a restart only adds to the load
        timeout_worker_healthcheck=30,
        # connection limits (docs/reference.md §1 and README "Limits")
        # the app answers past max_connections requests in flight with a JSON 503; uvicorn's
        # plain-text limit sits above it as a backstop for idle connections
        limit_concurrency=settings.max_connections * 2,
        timeout_keep_alive=settings.keep_alive_timeout,
        backlog=2048,
        # Forwarded and X-Forwarded-For are read by the app itself, from REGISTRAR_TRUSTED_PROXIES
        # only (app/web/proxies.py); uvicorn would believe X-Forwarded-For from 127.0.0.1 and
        # knows nothing of Forwarded
        proxy_headers=False,
    )
    run_server(config)
    return 0


def run_server(config: uvicorn.Config) -> None:
    """What uvicorn.run does with a Config, except that with several workers each listens on a
    socket of its own (app/web/listeners.py), under uvicorn's supervisor (restarts, health
    checks, signals)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from app.web.listeners import REUSE_PORT, SharedPortSocket

    try:
        if config.workers == 1:
            server = uvicorn.Server(config)
            server.run()
            if not server.started:
                sys.exit(STARTUP_FAILURE)
        elif REUSE_PORT is None:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            with SharedPortSocket.bind_to(config.host, config.port) as hold:
                Multiprocess(config, sockets=[hold]).run()
    except KeyboardInterrupt:
        pass


LOOPBACK_NAMES = frozenset({"localhost"})
log = logging.getLogger("registrar")


def _check_port_free(settings: Settings) -> None:
    """A port in use is one clear line before anything starts (uvicorn would first run the
    application's start-up, say it is complete, and only then fail to bind)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host.strip("[]"), settings.port))
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise SettingsError(f"cannot listen on {settings.host}:{settings.port}: {why}") from exc


def _announce(settings: Settings) -> None:
    """What an operator needs to know once the server is about to listen."""
    from app.config.realms import RealmRegistry
    from app.store.pg_pool import shown_url

    registry = RealmRegistry(settings.realms_dir)
    registry.reload()  # its errors were logged by the registry, FILE:LINE each
    names = [name for name in registry.names() if (r := registry.get(name)) and r.enabled]
    base = settings.base_url
    log.info("registrar %s, database %s", _version(), shown_url(settings.database_url))
    log.info("realms from %s: %s", settings.realms_dir.resolve(), ", ".join(names) or "none")
    log.info("listening on %s (%s worker%s)", base, settings.workers, "s" * (settings.workers > 1))
    log.info("overview %s/ ; consoles at %s/realms/REALM/console/", base, base)


def _check_public_url(settings: Settings) -> None:
    """Beyond loopback the default public URL (http://HOST:PORT, say http://0.0.0.0:8080) is
    no address clients can use, yet it would be every issuer and registration_client_uri."""
    if settings.public_url is not None or _is_loopback(settings.host):
        return
    raise SettingsError(
        f"--public-url / REGISTRAR_PUBLIC_URL is required when serving on {settings.host} "
        "(not a loopback address): it is the issuer and the base of every client's URI"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def realms_check(settings: Settings) -> int:
    from app.config.realms import check_realms

    problems = check_realms(settings.realms_dir, os.environ)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


async def _preflight(container: Container) -> None:
    try:
        container.store.create_schema()
        await container.store.start()
        await container.check_secret_key()
    finally:
        await container.stop()


def initial_access_tokens(settings: Settings, args: argparse.Namespace) -> int:
    """`registrar iat create|list|delete`, through the admin service, as the operator."""
    from app.container import Container

    # only `create` may make the database and key file; list and delete read what is there
    container = Container.build(settings, create=args.iat_command == "create")
    return asyncio.run(_initial_access_tokens(container, args))


async def _initial_access_tokens(container: Container, args: argparse.Namespace) -> int:
    from app.auth.roles import OPERATOR
    from app.store.pg_pool import shown_url

    admin = container.admin
    try:
        await container.start()  # inside: a refused start still closes what it opened
        realm = container.realms.get(args.realm)
        if realm is None:
            settings = container.settings
            key = (
                "REGISTRAR_SECRET_KEY"
                if settings.secret_key
                else settings.secret_key_file.resolve()
            )
            print(
                f"registrar: realm '{args.realm}' is not loaded from "
                f"{settings.realms_dir.resolve()} (database {shown_url(settings.database_url)}, "
                f"secret key {key})",
                file=sys.stderr,
            )
            return 1
        if args.iat_command == "create":
            body = {"expiration": args.expiration, "count": args.count}
            now = int(time.time())
            created = await admin.create_initial_access_token(realm, OPERATOR, body, now)
            print(created["token"])
            if not args.expiration:
                print(
                    "registrar: note: this token never expires; "
                    "give --expiration SECONDS to bound it",
                    file=sys.stderr,
                )
        elif args.iat_command == "list":
            listed = await admin.list_initial_access_tokens(realm, OPERATOR)
            _print_table(listed, int(time.time()))
        else:
            await admin.delete_initial_access_token(realm, OPERATOR, args.id)
        return 0
    finally:
        await container.stop()


def _print_table(rows: list[dict[str, Any]], now: int) -> None:
    print(f"{'ID':36}  {'CREATED':20}  {'EXPIRES':20}  {'COUNT':>10}  {'REMAINING':>10}  STATE")
    for row in rows:
        created = _when(row["timestamp"])
        ends = row["timestamp"] + row["expiration"] if row["expiration"] else None
        expires = _when(ends) if ends is not None else "never"
        # the scheduler removes dead tokens every sweep interval; until then they are listed
        if ends is not None and ends <= now:
            state = "expired"
        elif row["remainingCount"] <= 0:
            state = "used-up"
        else:
            state = "live"
        print(
            f"{row['id']:36}  {created:20}  {expires:20}  {row['count']:>10}  "
            f"{row['remainingCount']:>10}  {state}"
        )


def _when(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
