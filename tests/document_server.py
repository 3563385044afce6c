"""A small HTTP server on 127.0.0.1 that serves what a test tells it to: client metadata
documents and JWK Sets, with the status, content type, headers and delay of the test's choice.
It counts the requests of each path and keeps their Host headers."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.helpers import APP_REALMS
from tests.signin_flow import PEOPLE

MAX_DELAY = 3.0  # seconds: a slow answer is bounded too


def documents_section(fetch_timeout: float) -> str:
    """A realm file's section that lets clients be named by documents this server serves."""
    return (
        "\nclient_id_metadata_documents:\n  enabled: true\n  allow_loopback_http: true\n"
        f"  fetch_timeout: {fetch_timeout}\n"
    )


def document_realms(tmp_path: Path, fetch_timeout: float = 1) -> Path:
    """The test realms, with `people` taking clients named by their metadata documents."""
    target = tmp_path / "realms"
    shutil.copytree(APP_REALMS, target)
    (target / "people.yaml").write_text(PEOPLE + documents_section(fetch_timeout))
    return target


@dataclass
class Answer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class DocumentServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.port = server.server_address[1]
        self.answers: dict[str, Answer] = {}
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: Any, **options: Any) -> str:
        """Answer GET `path` with `body` (JSON unless bytes); return its URL."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = Answer(raw, **options)
        return self.url(path)


@contextmanager
def document_server() -> Iterator[DocumentServer]:
    holder: list[DocumentServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            served = holder[0]
            served.hits[self.path] += 1
            served.hosts.append(self.headers.get("Host", ""))
            answer = served.answers.get(self.path)
            if answer is None:
                self.send_error(404)
                return
            time.sleep(min(answer.delay, MAX_DELAY))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(answer.body)
            except OSError:
                pass  # the fetcher hung up (too big, too slow): what the test expects

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Silent: the standard handler would print a line per request to stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(DocumentServer(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
