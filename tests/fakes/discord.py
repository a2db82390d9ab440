"""A fake Discord webhook on 127.0.0.1: ``POST /api/webhooks/<id>/<token>``.

It answers like Discord: 204 for an accepted message, 200 with the message when ``?wait=true``,
400 with Discord's "Invalid Form Body" error when a body breaks Discord's limits, 404 "Unknown
Webhook" for a deleted webhook. On demand: 429 with ``retry_after`` and rate-limit headers
(``rate_limit_next``), 500 (``down``), 404 (``delete``). Every request is recorded
(``requests``); ``messages`` holds the bodies Discord would have posted, in arrival order.
"""

from __future__ import annotations

import itertools
import re
import threading

from tests.fakes.server import FakeServer, Request, Response

WEBHOOK_PATH = re.compile(r"^/api/(?:v\d+/)?webhooks/(\d+)/([A-Za-z0-9_-]+)$")
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}

# Discord's documented limits, in characters.
LIMITS = {"title": 256, "description": 4096, "footer.text": 2048, "author.name": 256}
FIELD_NAME, FIELD_VALUE, FIELDS, EMBEDS, CONTENT, TOTAL = 256, 1024, 25, 10, 2000, 6000


def _too_long(most: int) -> dict:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {most} or fewer in length."}]}


def limit_errors(body) -> dict:
    """Discord's ``errors`` tree for a body, empty when Discord would accept it."""
    if not isinstance(body, dict):
        return {"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used."}]}
    errors: dict = {}
    content, embeds = body.get("content") or "", body.get("embeds") or []
    if len(content) > CONTENT:
        errors["content"] = _too_long(CONTENT)
    if len(embeds) > EMBEDS:
        errors["embeds"] = _too_long(EMBEDS)
    total = 0
    for i, embed in enumerate(embeds):
        problems = {}
        for path, most in LIMITS.items():
            outer, _, inner = path.partition(".")
            value = (embed.get(outer) or {}).get(inner) if inner else embed.get(outer)
            value = value or ""
            total += len(value)
            if len(value) > most:
                problems[path.replace(".", "_")] = _too_long(most)
        fields = embed.get("fields") or []
        if len(fields) > FIELDS:
            problems["fields"] = _too_long(FIELDS)
        for j, f in enumerate(fields):
            name, value = f.get("name") or "", f.get("value") or ""
            total += len(name) + len(value)
            if not name or not value:
                problems[f"fields.{j}"] = {
                    "_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]
                }
            if len(name) > FIELD_NAME or len(value) > FIELD_VALUE:
                problems[f"fields.{j}"] = _too_long(FIELD_VALUE if len(value) > FIELD_VALUE else FIELD_NAME)
        colour = embed.get("color")
        if colour is not None and not (isinstance(colour, int) and 0 <= colour <= 0xFFFFFF):
            problems["color"] = {
                "_errors": [{"code": "NUMBER_TYPE_MAX", "message": "Int value should be <= 16777215."}]
            }
        if problems:
            errors.setdefault("embeds", {})[str(i)] = problems
    if total > TOTAL:
        errors["embeds"] = {
            "_errors": [
                {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
            ]
        }
    return errors


class FakeDiscord(FakeServer):
    def __init__(self):
        super().__init__()
        self.messages: list[dict] = []
        self.deleted: set[str] = set()
        self.ids = itertools.count(1_300_000_000_000_000_000)
        self.success_headers = {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset-After": "2.0",
            "X-RateLimit-Bucket": "f4k3bucket",
        }
        # Poll often, so stopping the fake takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def webhook_url(
        self, webhook_id: str = "1234567890", token: str = "s3cr3t-T0ken_abcdefghijklmnop"
    ) -> str:
        return f"{self.url}/api/webhooks/{webhook_id}/{token}"

    # --- scripted trouble --------------------------------------------------------------------

    def down(self, times: int) -> None:
        """The next ``times`` requests get a 500, as during an outage."""
        self.fail_next(500, {"message": "500: Internal Server Error", "code": 0}, times=times)

    def rate_limit_next(self, retry_after: float = 1.5, times: int = 1) -> None:
        self.fail_next(
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            headers={
                "Retry-After": str(int(retry_after) + 1),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Bucket": "f4k3bucket",
                "X-RateLimit-Scope": "user",
            },
            times=times,
        )

    def delete(self, webhook_url: str) -> None:
        """The webhook is deleted in Discord: from now on it answers 404 Unknown Webhook."""
        self.deleted.add(webhook_url.removeprefix(self.url))

    # --- answering ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        match = WEBHOOK_PATH.match(request.path)
        if not match or request.path in self.deleted:
            return Response(404, UNKNOWN_WEBHOOK)
        if request.method != "POST":
            return Response(405, {"message": "405: Method Not Allowed", "code": 0})
        try:
            body = request.json
        except ValueError:
            return Response(400, {"message": "The request body contains invalid JSON.", "code": 50109})
        if isinstance(body, dict) and not (body.get("content") or body.get("embeds")):
            return Response(400, {"message": "Cannot send an empty message", "code": 50006})
        if errors := limit_errors(body):
            return Response(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
        with self.lock:
            self.messages.append(body)
        if request.query.get("wait") == ["true"]:
            message = {
                "id": str(next(self.ids)),
                "type": 0,
                "channel_id": "1100000000000000000",
                "webhook_id": match.group(1),
                "content": body.get("content", ""),
                "embeds": body.get("embeds", []),
            }
            return Response(200, message, headers=dict(self.success_headers))
        return Response(204, None, headers=dict(self.success_headers))
