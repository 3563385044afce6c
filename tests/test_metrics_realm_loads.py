"""Realm file loads and failures in /metrics (docs/reference.md §9): each read of a changed
file counts once, by realm and outcome, and a file that stays broken is not counted again."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from app.config.realms import RealmRegistry

GOOD = "enabled: true\n"
BROKEN = "enabled: [unclosed\n"


def loads(realm: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "registrar_realm_loads_total", {"realm": realm, "outcome": outcome}
    )
    return value or 0.0


def test_loads_failures_and_removals_are_counted_once_each(tmp_path: Path) -> None:
    realm = "metrics_loads"
    path = tmp_path / f"{realm}.yaml"
    path.write_text(GOOD)
    before = {outcome: loads(realm, outcome) for outcome in ("loaded", "failed", "removed")}
    registry = RealmRegistry(tmp_path, environ={})
    assert registry.reload() == []
    assert loads(realm, "loaded") - before["loaded"] == 1

    path.write_text(BROKEN + "# a change of size, so the file is read again\n")
    assert registry.reload() != []
    assert registry.reload() != []  # unchanged and still broken: read once, counted once
    assert loads(realm, "failed") - before["failed"] == 1
    assert registry.get(realm) is not None  # the realm as last loaded stays

    path.unlink()
    registry.reload()
    assert loads(realm, "removed") - before["removed"] == 1
    assert loads(realm, "loaded") - before["loaded"] == 1
