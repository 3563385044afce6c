"""Realm files named NAME.yml load like NAME.yaml; a name defined twice is an error naming the
file that wins; loads and removals are logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.config.realms import RealmRegistry, check_realms

REALM = "enabled: true\nregistration:\n  anonymous: []\n  authenticated: []\n"


def test_a_yml_file_is_a_realm(tmp_path: Path) -> None:
    (tmp_path / "short.yml").write_text(REALM)
    registry = RealmRegistry(tmp_path, environ={})
    assert registry.reload() == []
    assert registry.names() == ["short"]
    assert check_realms(tmp_path, {}) == []


def test_a_realm_defined_twice_keeps_the_yaml_file_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "twice.yaml").write_text(REALM)
    (tmp_path / "twice.yml").write_text("enabled: false\n")
    registry = RealmRegistry(tmp_path, environ={})
    errors = [str(e) for e in registry.reload()]
    assert errors == [f"{tmp_path / 'twice.yml'}:1: realm 'twice' is already defined by twice.yaml"]
    realm = registry.get("twice")
    assert realm is not None and realm.enabled
    assert [str(e) for e in check_realms(tmp_path, {})] == errors


def test_loads_and_removals_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="registrar.realms")
    path = tmp_path / "noted.yaml"
    path.write_text(REALM)
    registry = RealmRegistry(tmp_path, environ={})
    registry.reload()
    assert f"realm 'noted' loaded from {path}" in caplog.messages
    registry.reload()  # unchanged: nothing new to say
    assert caplog.messages.count(f"realm 'noted' loaded from {path}") == 1
    path.unlink()
    registry.reload()
    assert f"realm 'noted' removed: its file is gone from {tmp_path}" in caplog.messages
