"""A loopback HTTP server for fakes of vendor APIs: real sockets, recorded requests, scripted answers.

A fake subclasses ``FakeServer`` and implements ``handle(request) -> Response``. A test can queue
one-off answers (``fail_next(status, ...)``) that take precedence over ``handle``, and asserts on
``requests`` afterwards.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body or b"null")


DROP = 0  # a Response with this status closes the connection without answering (a reset)


@dataclass
class Response:
    status: int = 200
    body: object = None  # dict/list -> JSON; str/bytes sent as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


@dataclass
class Hold:
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float = 60) -> None:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no held request arrived within {timeout:g} s")

    def release(self) -> None:
        self.released.set()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up on its answer (a read-timeout test) is expected: say nothing."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """Start with ``with FakeSub() as fake:`` (or ``start()``/``stop()``); ``fake.url`` is its base."""

    def __init__(self):
        self.requests: list[Request] = []
        self.scripted: list[Response] = []
        self.held: dict[str, Hold] = {}  # path suffix -> the next such request waits (``hold_next``)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake.lock:
                    fake.requests.append(request)
                    scripted = fake.scripted.pop(0) if fake.scripted and fake.scripts(request) else None
                    hold = next((fake.held.pop(k) for k in list(fake.held) if request.path.endswith(k)), None)
                if hold is not None:
                    hold.arrived.set()
                    hold.released.wait(timeout=60)
                response = scripted or fake.handle(request)
                if response.status == DROP:  # the connection is reset: no answer at all
                    self.close_connection = True
                    return
                payload, headers = response.encoded()
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def scripts(self, request: Request) -> bool:
        """Whether ``fail_next``'s scripted answers apply to ``request`` (all requests, unless a
        fake keeps some endpoint's failures apart)."""
        return True

    def handle(self, request: Request) -> Response:  # pragma: no cover - subclasses answer
        return Response(404, {"error": "not found"})

    def fail_next(
        self, status: int, body: object = None, headers: dict[str, str] | None = None, times: int = 1
    ):
        """Answer the next ``times`` requests with this response instead of ``handle``."""
        with self.lock:
            self.scripted.extend(Response(status, body, headers or {}) for _ in range(times))

    def hold_next(self, path_suffix: str) -> Hold:
        """The next request to a path ending in ``path_suffix`` waits until ``release()`` (a client
        stalled in a call); ``arrived`` is set once it is waiting."""
        hold = Hold()
        with self.lock:
            self.held[path_suffix] = hold
        return hold

    def requests_to(self, path_suffix: str, method: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path.endswith(path_suffix) and (method is None or r.method == method)
        ]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        for hold in list(self.held.values()):
            hold.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
