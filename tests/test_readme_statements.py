"""The README's software statement section works as printed: its realm file, the vendor's
signing code and the client's registrations, against a real server whose vendor JWKS is served
on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.live import running_server
from tests.test_software_statements import jwks_server

ROOT = Path(__file__).parent.parent
PRINTED_JWKS_URI = "https://vendor.example.org/jwks.json"


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Software statements and MCP clients")
    return readme[start : readme.index("\n## ", start + 1)]


def block(text: str, language: str, first_line: str) -> str:
    for found in re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL):
        if found.startswith(first_line):
            return str(found)
    raise AssertionError(f"no {language} block starting {first_line!r}")


@pytest.mark.live
def test_the_software_statement_section_runs_as_printed(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    text = section()
    realm = block(text, "yaml", "# realms/tools.yaml")
    vendor: dict[str, Any] = {}
    exec(block(text, "python", "# vendor side"), vendor)  # noqa: S102 - the README's own code
    assert PRINTED_JWKS_URI in realm
    with jwks_server(vendor["jwks"]) as url:
        (realms_dir / "tools.yaml").write_text(realm.replace(PRINTED_JWKS_URI, url))
        with running_server(tmp_path, realms_dir, sqlite_url) as server:
            client = {"statement": vendor["statement"], "BASE": server.url}
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(block(text, "python", "# client side"), client)  # noqa: S102
    assert printed.getvalue() == "Example MCP tool 1.4.0\nTrue\n"
