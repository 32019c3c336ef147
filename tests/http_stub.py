"""A local HTTP stand-in for the tests: a threaded server on 127.0.0.1, scripted per request.

Answers come from a queue of canned ``Answer``s (served in order), then from a handler function of the
request. Every request's path, query and headers are recorded for the tests to inspect. One server for
every remote source the workflow reads (Comtrade, ScienceBase and USGS files; BACI's archives, which
need byte ranges, have their own in baci_server.py); never a real remote host.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    method: str = "GET"


@dataclass
class Answer:
    """A canned answer; ``drop`` closes the connection without answering (a network failure),
    ``delay`` waits that many seconds first (a slow server, for timeouts), ``truncate_at`` sends only
    that many bytes of the body under the full Content-Length, then closes (a cut download);
    without ``send_length`` the body goes without Content-Length, ended by closing the connection."""

    status: int = 200
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop: bool = False
    delay: float = 0.0
    truncate_at: int | None = None
    send_length: bool = True


Handler = Callable[[Recorded], Answer]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StubServer:
    """The scripted server; use it as a context manager (or through a fixture that does)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.answers: deque[Answer] = deque()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def queue(self, *answers: Answer) -> StubServer:
        """Serve these answers, in order, before falling back on the handler."""
        with self._lock:
            self.answers.extend(answers)
        return self

    def _answer(self, request: Recorded) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self.answers:
                return self.answers.popleft()
        if self.handler is None:
            return Answer(status=500, body="no answer scripted", content_type="text/plain")
        return self.handler(request)

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _recorded(self) -> Recorded:
                parts = urlsplit(self.path)
                return Recorded(
                    path=parts.path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k: v for k, v in self.headers.items()}, method=self.command,
                )  # fmt: skip

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                """The answer's status and headers, no body (what `make update` asks of a file)."""
                answer = server._answer(self._recorded())
                body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                answer = server._answer(self._recorded())
                if answer.delay:
                    time.sleep(answer.delay)  # bounded: the tests' delays are a second or two
                if answer.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    if answer.send_length:
                        self.send_header("Content-Length", str(len(body)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if answer.truncate_at is not None:
                        self.wfile.write(body[: answer.truncate_at])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(body)
                    if not answer.send_length:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet test output)
                pass

        return _Handler

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
