"""Fill a registrar database to N clients of one realm through registrar's own code.

Run by `scripts/bench --preload N`, with the server stopped. Every row is made by
app.services.registration.Registrations.register itself, as for a POST with an initial access
token: the body is validated, the realm's authenticated policies run, and the row gets a fresh
client id, a real client secret sealed with the server's at-rest key and the digest of a real
registration access token signed with the realm's key. Only the write differs: rows go in by
Store.insert_clients_bulk, a few thousand per transaction (the realm's client counter is kept in
step), instead of one transaction per client; no initial access token is spent.

N is a target total: the clients the realm already has are counted first and only the missing ones
are added. Settings resolve as for `registrar serve` (flags > REGISTRAR_* environment >
config/registrar.yaml > defaults, relative paths from the current directory), so run it where the
server runs and it seals with the same key (REGISTRAR_SECRET_KEY, else REGISTRAR_SECRET_KEY_FILE,
else data/secret.key); a database made with another key is refused."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.auth.callers import Caller
from app.auth.hosts import CachingResolver
from app.auth.secret_box import SecretKeyError
from app.config.settings import SettingsError, load_settings
from app.container import Container
from app.errors import RegistrarError
from app.services.registration import Registrations
from app.store.queries import ClientRow, Store

# the registration body of scripts/bench and ../shared/bench (register.lua's default)
BENCH_BODY: dict[str, Any] = {
    "redirect_uris": ["https://client.example.org/cb"],
    "client_name": "bench",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
}
# what registration sees of the caller: an initial access token from the loopback address
CALLER_HOST = "127.0.0.1"
PRELOAD_IAT = Caller(
    "initial_access_token", token="bench-preload", jti="bench-preload", host=CALLER_HOST
)
MAX_TARGET = 100_000_000


class RowCollector(Store):
    """A Store whose insert_client keeps the row registration made instead of writing it;
    everything else (counts, realm keys) reads the real database."""

    def __init__(self, real: Store) -> None:
        super().__init__(real.db)
        self.rows: list[ClientRow] = []
        self.max_clients: int | None = None

    async def insert_client(
        self, row: ClientRow, spent: tuple[str, str] | None, max_clients: int | None, now: int
    ) -> None:
        self.rows.append(row)
        self.max_clients = max_clients


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_preload", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("target", type=int, help="clients the realm should hold in all")
    parser.add_argument("--realm", default=os.environ.get("BENCH_REALM") or "bench")
    parser.add_argument("--database-url", dest="database_url")
    parser.add_argument("--realms-dir", dest="realms_dir", type=Path)
    parser.add_argument("--config", type=Path, help="settings file (default config/registrar.yaml)")
    parser.add_argument("--batch", type=int, default=5000, help="rows per transaction")
    parser.add_argument("--body", help="registration body as JSON (default: the bench body)")
    args = parser.parse_args(argv)
    if not 0 <= args.target <= MAX_TARGET:
        parser.error(f"target must be 0..{MAX_TARGET}")
    if not 1 <= args.batch <= 100_000:
        parser.error("--batch must be 1..100000")
    return args


async def preload(
    svc: Container, realm_name: str, target: int, batch: int, body: dict[str, Any]
) -> int:
    """Add clients until the realm has `target`; return how many were added."""
    realm = svc.realms.get(realm_name)
    if realm is None or not realm.enabled:
        raise SystemExit(
            f"bench_preload: realm {realm_name!r} is not loaded (or disabled) from "
            f"{svc.settings.realms_dir}"
        )
    collector = RowCollector(svc.store)
    # the very registration service, writing into the collector instead of the database
    making = Registrations(collector, svc.box, svc.keyring, CachingResolver(), svc.settings.issuer)
    have = await svc.store.count_clients(realm_name)
    missing = max(0, target - have)
    print(f"preload: realm {realm_name!r} has {have} clients, target {target}: adding {missing}")
    added = 0
    started = time.monotonic()
    while added < missing:  # bounded: each pass adds at least one row
        size = min(batch, missing - added)
        collector.rows.clear()
        t0 = time.monotonic()
        for _ in range(size):
            await making.register(realm, PRELOAD_IAT, body, int(time.time()))
        if collector.max_clients is not None and target > collector.max_clients:
            raise SystemExit(
                f"preload: realm {realm_name!r} allows at most {collector.max_clients} clients "
                f"(max-clients policy); target {target} is above it"
            )
        t1 = time.monotonic()
        await svc.store.insert_clients_bulk(collector.rows)
        t2 = time.monotonic()
        added += size
        rate = added / max(t2 - started, 1e-9)
        print(
            f"preload: {have + added}/{target} clients (+{size}: made in {t1 - t0:.2f} s, "
            f"written in {t2 - t1:.2f} s; {rate:,.0f} clients/s overall)",
            flush=True,
        )
    return added


async def run(
    svc: Container, args: argparse.Namespace, body: dict[str, Any]
) -> tuple[int, float, int]:
    """(clients added, seconds taken, clients the realm holds afterwards)"""
    try:
        await svc.start()  # schema, the at-rest key checked against the database, realms
        started = time.monotonic()
        added = await preload(svc, args.realm, args.target, args.batch, body)
        elapsed = time.monotonic() - started
        return added, elapsed, await svc.store.count_clients(args.realm)
    finally:
        await svc.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    body = BENCH_BODY if args.body is None else json.loads(args.body)
    if not isinstance(body, dict):
        print("bench_preload: --body must be a JSON object", file=sys.stderr)
        return 2
    try:
        flags = {"database_url": args.database_url, "realms_dir": args.realms_dir}
        settings = load_settings(flags=flags, config_file=args.config)
        svc = Container.build(settings)
    except (SettingsError, SecretKeyError) as exc:
        print(f"bench_preload: {exc}", file=sys.stderr)
        return 2
    try:
        added, elapsed, stored = asyncio.run(run(svc, args, body))
    except SecretKeyError as exc:
        print(f"bench_preload: {exc}", file=sys.stderr)
        return 2
    except RegistrarError as exc:
        print(f"bench_preload: {exc.description}", file=sys.stderr)
        return 1
    rate = f", {added / elapsed:,.0f} clients/s" if added and elapsed > 0 else ""
    print(f"preload: done, added {added} in {elapsed:.1f} s{rate}; realm holds {stored} clients")
    if stored < args.target:
        print(f"bench_preload: only {stored} clients stored, target {args.target}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
