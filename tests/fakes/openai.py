"""A fake OpenAI chat completions API on 127.0.0.1 for the real ``openai`` SDK.

``POST /v1/chat/completions`` answers with ``fake.content`` (by default a valid change as JSON),
``usage`` (set ``fake.usage``) and an ``x-request-id`` header. ``fail(...)`` scripts errors that
carry ``retry-after-ms: 1`` so the SDK's retries are real but instant.
"""

from __future__ import annotations

import itertools
import json
import threading
from contextlib import contextmanager

from tests.fakes.server import FakeServer, Request, Response

API_KEY = "sk-proj-fake-test-key-0123456789"
FAST_RETRY = {"retry-after-ms": "1"}
CHANGE = {
    "summary": "Adds a /health/ endpoint returning {'ok': true}.",
    "files": [
        {
            "path": "app/health.py",
            "content": "from django.http import JsonResponse\n\n\ndef health(request):\n"
            "    return JsonResponse({'ok': True})\n",
        },
        {
            "path": "app/urls.py",
            "content": "from django.urls import path\n\nfrom app.health import health\n\n"
            "urlpatterns = [path('health/', health)]\n",
        },
    ],
}


class FakeOpenAI(FakeServer):
    def __init__(self):
        super().__init__()
        self.content: str = json.dumps(CHANGE)
        self.finish_reason = "stop"
        self.usage: dict = {"prompt_tokens": 2500, "completion_tokens": 4000, "total_tokens": 6500}
        self.ids = itertools.count(1)
        # Poll often, so stopping the fake (once per test) takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, request: Request) -> Response:
        if request.path != "/v1/chat/completions" or request.method != "POST":
            return Response(
                404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error"}}
            )
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            got = request.headers.get("authorization", "").removeprefix("Bearer ")
            # Like the real API, the 401 message echoes (part of) the key it was given.
            return Response(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {got}.",
                        "type": "invalid_request_error",
                    }
                },
            )
        body = request.json
        n = next(self.ids)
        return Response(
            200,
            {
                "id": f"chatcmpl-fake{n:04d}",
                "object": "chat.completion",
                "created": 1764000000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.content, "refusal": None},
                        "finish_reason": self.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": self.usage,
            },
            headers={"x-request-id": f"req_oai{n:04d}"},
        )

    def fail(self, status: int, *, times: int = 1, message: str = "The server had an error"):
        self.fail_next(
            status, {"error": {"message": message, "type": "server_error"}}, headers=FAST_RETRY, times=times
        )

    def completions(self) -> list[dict]:
        return [r.json for r in self.requests_to("/v1/chat/completions", "POST")]


@contextmanager
def serving_openai(settings, monkeypatch):
    """A started fake; the SDK reaches it through OPENAI_BASE_URL, with the test key configured."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        settings.OPENAI_API_KEY = API_KEY
        yield fake
