"""Realm files (docs/reference.md §2): YAML → frozen RealmConfig, FILE:LINE errors, hot reload.

A file is composed to YAML nodes, `${VAR}` is expanded on string scalar nodes (so a value
containing ": " cannot change the structure), then constructed and validated by pydantic;
every error is mapped back to the line of a YAML node. An empty file is an error, not a realm
of defaults: an editor that truncates a file before writing it must not wipe a live realm
(`{}` is the realm of all defaults). Files whose names start with "." are ignored.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.config.realm_errors import plain_message
from app.config.realm_models import REALM_NAME, RealmConfig
from app.metrics import REALM_LOADS

log = logging.getLogger("registrar.realms")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STR_TAG = "tag:yaml.org,2002:str"


class RealmFileError(Exception):
    """A realm file problem, printed as `FILE:LINE: message` (line is 1-based)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def load_realm(path: Path, environ: Mapping[str, str]) -> RealmConfig:
    """Load one realm file; raise the first RealmFileError it has."""
    realm, errors = _load(path, environ)
    if realm is None:
        raise errors[0]
    return realm


def check_realms(realms_dir: Path, environ: Mapping[str, str]) -> list[RealmFileError]:
    """Every problem of every realm file in realms_dir, sorted by file then line."""
    try:
        paths = sorted(_realm_files(realms_dir))
    except OSError as exc:
        return [RealmFileError(realms_dir, 1, f"cannot read the realms directory: {_why(exc)}")]
    errors: list[RealmFileError] = []
    first_of: dict[str, Path] = {}
    for path in paths:
        if path.stem in first_of:
            errors.append(_twin_error(path, first_of[path.stem]))
            continue
        first_of[path.stem] = path
        errors += _load(path, environ)[1]
    return errors


# a realm file is NAME.yaml or NAME.yml; files whose names start with "." are ignored
REALM_FILE_SUFFIXES = (".yaml", ".yml")


def _realm_files(realms_dir: Path) -> list[Path]:
    with os.scandir(realms_dir) as entries:
        return [
            Path(entry.path)
            for entry in entries
            if entry.name.endswith(REALM_FILE_SUFFIXES) and not entry.name.startswith(".")
        ]


def _twin_error(path: Path, first: Path) -> RealmFileError:
    """NAME.yml beside NAME.yaml: the one that sorts first (NAME.yaml) is the realm."""
    return RealmFileError(path, 1, f"realm {path.stem!r} is already defined by {first.name}")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


_Loaded = tuple[RealmConfig | None, list[RealmFileError]]


def _load(path: Path, environ: Mapping[str, str]) -> _Loaded:
    """The realm of one file, or None and every error found (at least one), sorted by line."""
    errors: list[RealmFileError] = []
    name = path.stem
    if not REALM_NAME.match(name):
        message = f"realm name {name!r} does not match {REALM_NAME.pattern}"
        errors.append(RealmFileError(path, 1, message))
        name = "placeholder"  # still check the rest of the file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [*errors, RealmFileError(path, 1, f"cannot read: {_why(exc)}")]
    key = (name, raw, _variables_named(raw, environ))
    known = _LOADED.get(key)
    if known is not None and not errors:
        return known, []
    try:
        root, data = _parse(path, raw, environ)
    except RealmFileError as err:
        return None, [*errors, err]
    if not isinstance(data, dict):
        line = root.start_mark.line + 1
        return None, [*errors, RealmFileError(path, line, "a realm file is a mapping")]
    if "name" in data:
        line = _line_of(root, ("name",))[0]
        errors.append(RealmFileError(path, line, "name: a realm is named by its file's name"))
    try:
        realm = RealmConfig.model_validate({**data, "name": name})
    except ValidationError as exc:
        for detail in exc.errors():
            line, where = _line_of(root, detail["loc"])
            message = plain_message(detail)
            errors.append(RealmFileError(path, line, f"{where}: {message}" if where else message))
    if errors:
        return None, sorted(errors, key=lambda e: e.line)
    if len(_LOADED) >= _MAX_LOADED:
        _LOADED.clear()
    _LOADED[key] = realm
    return realm, []


# Realms this process validated, by realm name, the file's exact bytes and the values of the
# variables the file names: every process loads every realm file at start and again on each
# change, and a file saved without a change (or served by a second registry in this process,
# as the tests do) becomes the same frozen RealmConfig without being parsed again. Only clean
# loads are kept, so every error is still found and reported with its file and line.
_LoadKey = tuple[str, bytes, tuple[tuple[str, str | None], ...]]
_LOADED: dict[_LoadKey, RealmConfig] = {}
_MAX_LOADED = 256  # a bound on memory: past it the memo starts over
_VAR_BYTES = re.compile(_VAR.pattern.encode())  # the same `${VAR}`, found in the raw file


def _variables_named(raw: bytes, environ: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    names = sorted({match.decode() for match in _VAR_BYTES.findall(raw)})
    return tuple((name, environ.get(name)) for name in names)


def _parse(path: Path, raw: bytes, environ: Mapping[str, str]) -> tuple[yaml.Node, object]:
    """The root node (with `${VAR}` expanded) and the plain data it constructs to."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RealmFileError(path, line, "not valid UTF-8") from None
    try:
        loader = yaml.SafeLoader(text)  # checks for control characters at once
    except yaml.reader.ReaderError as exc:
        raise RealmFileError(path, text.count("\n", 0, exc.position) + 1, exc.reason) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise RealmFileError(path, 1, "the file is empty; a realm file is a mapping")
        _check_nodes(root, environ, path, set())
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = ", ".join(str(m) for m in (exc.context, exc.problem) if m)
        raise RealmFileError(path, line, message or "not valid YAML") from None
    except yaml.YAMLError as exc:
        raise RealmFileError(path, 1, str(exc)) from None
    finally:
        loader.dispose()


def _check_nodes(node: yaml.Node, environ: Mapping[str, str], path: Path, seen: set[int]) -> None:
    """Expand `${VAR}` in string values and refuse duplicate keys, which PyYAML lets pass."""
    if id(node) in seen:  # an alias: the anchored node was expanded already
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
        node.value = _expand(node, environ, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_nodes(item, environ, path, seen)
    elif isinstance(node, yaml.MappingNode):
        keys: set[object] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in keys:
                    line = key.start_mark.line + 1
                    raise RealmFileError(path, line, f"duplicate key {key.value}")
                keys.add(key.value)
            _check_nodes(value, environ, path, seen)  # keys are names, never expanded


def _expand(node: yaml.ScalarNode, environ: Mapping[str, str], path: Path) -> str:
    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise RealmFileError(
                path, node.start_mark.line + 1, f"environment variable {name} is not set"
            )
        return environ[name]

    return _VAR.sub(value_of, str(node.value))


def _line_of(root: yaml.Node, loc: tuple[int | str, ...]) -> tuple[int, str]:
    """1-based line of the YAML node at a pydantic error location, and the location as text.

    The line is that of the key naming the deepest node found, where the offending entry
    starts. Inside a discriminated union pydantic adds the policy's `type` to the location
    (`anonymous, 1, 'max-clients', 'max-clients'`); that step is skipped, once per node.
    """
    node: yaml.Node | None = root
    line, where = root.start_mark.line + 1, ""
    tag_skippable = True
    for step in loc:
        in_sequence = isinstance(node, yaml.SequenceNode) or (
            node is None and isinstance(step, int)
        )
        if isinstance(node, yaml.MappingNode):
            entries = {str(key.value): (key, value) for key, value in node.value}
            if tag_skippable and step == _scalar(entries.get("type", (None, None))[1]):
                tag_skippable = False
                continue
            key, node = entries.get(str(step), (None, None))
            line = key.start_mark.line + 1 if key is not None else line
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if step < len(node.value) else None
            line = node.start_mark.line + 1 if node is not None else line
        else:
            node = None
        tag_skippable = True
        where += f"[{step}]" if in_sequence else (f".{step}" if where else str(step))
    return line, where


def _scalar(node: yaml.Node | None) -> object:
    return node.value if isinstance(node, yaml.ScalarNode) else None


_Signature = tuple[int, int]  # (mtime_ns, size) of a file


class RealmRegistry:
    """The realms of a directory, reloaded on demand (the scheduler polls `reload`).

    Readers never lock: `reload` builds a new dict and swaps it in with one assignment, so a
    request sees either the old realms or the new ones, never half a reload.
    """

    def __init__(self, realms_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self._dir = realms_dir
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._realms: dict[str, RealmConfig] = {}
        self._signatures: dict[str, _Signature | None] = {}  # file name -> signature last read
        self._errors: dict[str, list[RealmFileError]] = {}  # file name -> its current errors
        self._lock = threading.Lock()  # one reload at a time; readers do not take it
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def get(self, name: str) -> RealmConfig | None:
        """The realm named `name`, enabled or not."""
        return self._realms.get(name)

    def names(self) -> list[str]:
        return sorted(self._realms)

    def reload(self) -> list[RealmFileError]:
        """Rescan the directory; re-read only changed files. Returns every current error.

        A file that fails keeps its realm as last loaded (or absent). Each error is logged
        once, when found, not on every poll while the file stays the same.
        """
        with self._lock:
            try:
                errors = self._rescan()
            except OSError as exc:  # keep the realms we have: the directory may come back
                why = f"cannot read the realms directory: {_why(exc)}"
                errors = [RealmFileError(self._dir, 1, why)]
                log.error("%s", errors[0])
            self._loaded = True
            return errors

    def _rescan(self) -> list[RealmFileError]:
        current = self._stat_files()
        realms: dict[str, RealmConfig] = {}
        signatures: dict[str, _Signature | None] = {}
        file_errors: dict[str, list[RealmFileError]] = {}
        signatures_of_stem: dict[str, str] = {}  # realm name -> the file that defines it
        for file_name, signature in sorted(current.items()):
            stem = Path(file_name).stem
            if stem in signatures_of_stem:
                twin = _twin_error(self._dir / file_name, self._dir / signatures_of_stem[stem])
                if file_name not in self._errors:
                    log.error("%s", twin)
                    REALM_LOADS.labels(stem, "failed").inc()
                signatures[file_name] = signature
                file_errors[file_name] = [twin]
                continue
            signatures_of_stem[stem] = file_name
            if file_name in self._signatures and self._signatures[file_name] == signature:
                errors = self._errors.get(file_name, [])  # unchanged: nothing to read
                realm = self._realms.get(stem)
            else:
                realm, errors = self._load_file(file_name)
                for err in errors:
                    log.error("%s", err)
                if realm is None:  # a failed load keeps the realm as last loaded
                    realm = self._realms.get(stem)
                    REALM_LOADS.labels(stem, "failed").inc()
                else:
                    log.info("realm %r loaded from %s", stem, self._dir / file_name)
                    REALM_LOADS.labels(stem, "loaded").inc()
            if realm is not None:
                realms[stem] = realm
            signatures[file_name] = signature
            if errors:
                file_errors[file_name] = errors
        for gone in self._realms.keys() - realms.keys():
            log.info("realm %r removed: its file is gone from %s", gone, self._dir)
            REALM_LOADS.labels(gone, "removed").inc()
        self._realms, self._signatures, self._errors = realms, signatures, file_errors
        return [err for errs in file_errors.values() for err in errs]

    def _stat_files(self) -> dict[str, _Signature | None]:
        """Signature of every realm file; None when stat fails (read it to report why)."""
        found: dict[str, _Signature | None] = {}
        for path in _realm_files(self._dir):
            try:
                st = path.stat()
                found[path.name] = (st.st_mtime_ns, st.st_size)
            except OSError:
                found[path.name] = None
        return found

    def _load_file(self, file_name: str) -> _Loaded:
        path = self._dir / file_name
        try:
            return _load(path, self._environ)
        except Exception as exc:  # a bug in loading must not stop the other files
            return None, [RealmFileError(path, 1, f"cannot load: {exc!r}")]
