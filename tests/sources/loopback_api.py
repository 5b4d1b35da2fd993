"""A scripted JSON API on 127.0.0.1 (random port), served from a thread, for client tests.

Each test gives a ``respond(request) -> Reply`` function; the server records every
request (path, query pairs in order, headers) so tests can check what was sent.
Only the loopback interface is used.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def values(self, name: str) -> list[str]:
        """Every value of query parameter ``name``, in order."""
        return [v for k, v in self.query if k == name]

    def value(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


class LoopbackAPI:
    """``with LoopbackAPI(respond) as api: ... api.url ... api.requests``."""

    def __init__(self, respond: Callable[[Request], Reply]) -> None:
        self.requests: list[Request] = []
        self._respond = respond
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                request = Request(parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()})
                api.requests.append(request)
                reply = api._respond(request)
                if reply.delay_seconds:
                    time.sleep(reply.delay_seconds)
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def paged(pages: list[dict], request: Request) -> Reply:
    """Serve ``pages`` in order: page ``i`` is asked for with ``page=page_<i>`` (the first with none)."""
    token = request.value("page")
    index = 0 if token is None else int(token.removeprefix("page_"))
    page = dict(pages[index])
    more = index + 1 < len(pages)
    page.update(has_more=more, next_page=f"page_{index + 1}" if more else None)
    return Reply(body=page)
