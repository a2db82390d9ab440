"""A fake Anthropic Messages API on 127.0.0.1 for the real ``anthropic`` SDK.

``POST /v1/messages`` answers like the API: a message with text content, ``usage`` (set
``fake.usage``) and a ``request-id`` header. ``fail_next`` scripts 429 / 529 / 500 answers; they
carry ``retry-after-ms: 1`` so the SDK's retries are real but instant.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager

from tests.fakes.server import FakeServer, Request, Response

API_KEY = "sk-ant-fake-test-key-0123456789"
PLAN = "1. Add app/health.py with a view returning {'ok': True}.\n2. Route /health/ to it in app/urls.py.\n"
FAST_RETRY = {"retry-after-ms": "1"}


class FakeAnthropic(FakeServer):
    def __init__(self):
        super().__init__()
        self.text = PLAN
        self.usage: dict = {"input_tokens": 2000, "output_tokens": 1500}
        self.ids = itertools.count(1)
        # Poll often, so stopping the fake (once per test) takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, request: Request) -> Response:
        if request.path != "/v1/messages" or request.method != "POST":
            return Response(
                404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
            )
        # This SDK sends the key as a bearer token; older ones used x-api-key.
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if given != API_KEY:
            return Response(
                401,
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
            )
        body = request.json
        n = next(self.ids)
        return Response(
            200,
            {
                "id": f"msg_fake{n:04d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": self.text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": self.usage,
            },
            headers={"request-id": f"req_fake{n:04d}"},
        )

    def fail(self, status: int, *, times: int = 1, message: str = "Overloaded"):
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        self.fail_next(
            status,
            {"type": "error", "error": {"type": kind, "message": message}},
            headers=FAST_RETRY,
            times=times,
        )

    def messages(self) -> list[dict]:
        return [r.json for r in self.requests_to("/v1/messages", "POST")]


@contextmanager
def serving_anthropic(settings, monkeypatch):
    """A started fake; the SDK reaches it through ANTHROPIC_BASE_URL, with the test key configured."""
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        settings.ANTHROPIC_API_KEY = API_KEY
        yield fake
