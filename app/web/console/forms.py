"""Reading the console's client forms: every problem at once, each naming its field in words.

The checks here are only what the console bounds before calling a service (lengths, counts, a
URI's shape); the services still decide whether the metadata is acceptable (RFC 7591 §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_NAME = 200
MAX_REDIRECT_URIS = 20
MAX_URI = 2000
# RFC 3986 §4.3: absolute-URI = scheme ":" hier-part [ "?" query ]; no white space inside
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")


@dataclass
class Problems:
    """The problems found in one form, in the order of its fields."""

    found: list[str] = field(default_factory=list)

    def add(self, label: str, problem: str) -> None:
        self.found.append(f"{label}: {problem}")


def client_name(raw: str, problems: Problems) -> str:
    name = raw.strip()
    if len(name) > MAX_NAME:
        problems.add("Client name", f"longer than {MAX_NAME} characters")
    return name


def redirect_uris(raw: str, problems: Problems) -> list[str]:
    """One URI a line; blank lines are skipped but counted, so a line number is the one the
    admin sees in the text box."""
    uris: list[str] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        uri = line.strip()
        if not uri:
            continue
        if len(uri) > MAX_URI:
            problems.add("Redirect URIs", f"line {number} is longer than {MAX_URI} characters")
        elif not _ABSOLUTE_URI.fullmatch(uri):
            problems.add("Redirect URIs", f"line {number} is not an absolute URI")
        uris.append(uri)
    if len(uris) > MAX_REDIRECT_URIS:
        problems.add("Redirect URIs", f"give at most {MAX_REDIRECT_URIS} (there are {len(uris)})")
    return uris


def scopes(chosen: list[str], offered: list[str], problems: Problems) -> list[str]:
    for scope in chosen:
        if scope not in offered:
            problems.add("Scopes", f"“{scope[:100]}” is not a scope you may choose")
    return [scope for scope in offered if scope in chosen]
