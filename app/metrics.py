"""Prometheus metrics (GET /metrics): request durations by route and status, registrations by
realm and outcome, policy refusals by policy, tokens issued by grant, rate-limit refusals, realm
file loads and failures, and the use of the database's connections. With several workers every
process writes its counts to PROMETHEUS_MULTIPROC_DIR (set by `registrar serve`) and /metrics
adds them up; in a single process the default registry serves them."""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Histogram(
    "registrar_request_duration_seconds",
    "Time to answer a request, by route and status",
    ["route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
REGISTRATIONS = Counter(
    "registrar_client_registrations_total",
    "Registration requests (RFC 7591 and the other registration paths), by realm and outcome",
    ["realm", "outcome"],
)
POLICY_REFUSALS = Counter(
    "registrar_policy_refusals_total", "Requests a registration policy refused", ["realm", "policy"]
)
RATE_LIMITED = Counter(
    "registrar_rate_limited_total", "Requests refused by a rate limit", ["realm", "limit"]
)
TOKENS_ISSUED = Counter(
    "registrar_tokens_issued_total", "Tokens issued by the token endpoint", ["realm", "grant"]
)
# The database connections of every live worker, added up ("livesum"). Changed by inc / dec
# only, never set, so that several pools of one process (and a stopped one, back to 0) add up.
REALM_LOADS = Counter(
    "registrar_realm_loads_total",
    "Realm files read at start or on a change, by realm and outcome (loaded, failed, removed)",
    ["realm", "outcome"],
)
DB_CONNECTIONS_IN_USE = Gauge(
    "registrar_database_connections_in_use",
    "Database connections a request is using now",
    ["database"],
    multiprocess_mode="livesum",
)
DB_CONNECTIONS_OPEN = Gauge(
    "registrar_database_connections_open",
    "Database connections open (in use, idle, or being opened)",
    ["database"],
    multiprocess_mode="livesum",
)
DB_CONNECTIONS_MAX = Gauge(
    "registrar_database_connections_max",
    "Database connections the pools may open at most (REGISTRAR_DATABASE_POOL_SIZE a worker)",
    ["database"],
    multiprocess_mode="livesum",
)
DB_CONNECTION_TIMEOUTS = Counter(
    "registrar_database_connection_timeouts_total",
    "Requests answered 503 because every database connection stayed busy",
    ["database"],
)


@functools.lru_cache(maxsize=1024)
def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once: labels() takes a lock and builds its key on
    every call, and every request counts one. Label values here are bounded (realm names, routes,
    statuses, grant types, outcomes)."""
    return metric.labels(*values)


def exposition() -> bytes:
    """Every worker's metrics together in the text format (all of this process's without
    multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest(REGISTRY))


@functools.lru_cache(maxsize=4096)  # a pure function of the path, asked on every request
def route_of(path: str) -> str:
    """A route label with the ids taken out, so labels stay few (realm names stay out too)."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "realms":
        rest = "/".join(parts[3:])
        if rest.startswith("clients-registrations/openid-connect"):
            return "registration" if rest.count("/") == 1 else "registration_client"
        if rest.startswith("clients-registrations/install/"):
            return "adapter_config"
        if rest.startswith("protocol/openid-connect/"):
            return rest.removeprefix("protocol/openid-connect/").replace("/", "_")
        if rest.startswith(".well-known/"):
            return "discovery"
        if rest.startswith("console"):
            return "console"
        if rest.startswith("iam/api/client-registration"):
            return "indigo"
        return "other"
    if path.startswith("/admin/realms/"):
        return "admin_" + (parts[4] if len(parts) > 4 else "realm").replace("-", "_")
    if path.startswith("/.well-known/"):
        return "discovery"
    if path.startswith("/iam/api/client-registration"):
        return "indigo"
    return {
        "/health": "health",
        "/metrics": "metrics",
        "/openapi.json": "openapi",
        "/": "landing",
    }.get(path, "other")
