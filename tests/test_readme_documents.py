"""README's "Clients with a metadata document" works as written: its realm file, its document
(served at the port the README names, here the test's document server's) and its authorization
request lead to the login page naming the client."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.document_server import document_server
from tests.helpers import APP_REALMS
from tests.inprocess import in_process, make_settings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
README_PORT = "9000"


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Clients with a metadata document")
    return readme[start : readme.index("\n## ", start + 1)]


def block(text: str, kind: str) -> str:
    found = re.search(rf"```{kind}\n(.*?)```", text, re.DOTALL)
    assert found is not None, kind
    return found.group(1)


async def test_the_readme_metadata_document_signs_in(tmp_path: Path) -> None:
    text = section()
    realm = block(text, "yaml")
    assert realm.startswith("# realms/mcp.yaml\n")
    realms = tmp_path / "realms"
    shutil.copytree(APP_REALMS, realms)
    (realms / "mcp.yaml").write_text(realm)
    assert yaml.safe_load(realm)["client_id_metadata_documents"]["enabled"] is True
    with document_server() as docs:
        port = str(docs.port)
        document = json.loads(block(text, "json").replace(f":{README_PORT}/", f":{port}/"))
        docs.serve("/client.json", document)
        [command] = [line for line in block(text, "sh").splitlines() if line.startswith("curl")]
        url = shlex.split(command)[2].replace("$BASE", "")
        url = url.replace(f"%3A{README_PORT}%2F", f"%3A{port}%2F")
        expected = re.search(r'grep -o "([^"]+)"', command)
        assert expected is not None
        settings = make_settings(tmp_path, realms, f"sqlite:///{tmp_path}/registrar.db")
        async with in_process(settings) as http:
            page = await http.get(url)
        assert page.status_code == 200, page.text
        assert expected.group(1) in page.text
        assert docs.hits["/client.json"] == 1
