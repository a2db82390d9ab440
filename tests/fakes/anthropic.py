"""A fake Anthropic Messages API on 127.0.0.1 for the real ``anthropic`` SDK.

``POST /v1/messages`` answers like the API: a message with text content, ``usage`` (set
``fake.usage``) and a ``request-id`` header. A request that forces a tool (``tool_choice`` of type
``tool``) gets a ``tool_use`` block whose input is ``fake.tool_input`` and ``stop_reason``
``tool_use``; set ``fake.tool_input = None`` to have the model answer in text instead. A request
offering tools with ``tool_choice`` ``any`` (the analyst's look-up rounds) is answered from
``fake.tool_calls``, a script of ``(tool name, input)`` taken one per message (e.g. a ``show``
call, then ``submit_plan``), and with ``submit_plan`` and ``fake.tool_input`` once it is empty. The Message
Batches endpoints (create, retrieve, list, results as JSONL) answer with the same shapes; see
``handle_batches``. ``GET /v1/models`` lists ``fake.models`` in the API's shape,
``fake.page_size`` at a time (``has_more``, ``first_id``, ``last_id``, ``after_id``).
``fail_next`` scripts 429 / 529 / 500 answers; they carry ``retry-after-ms: 1`` so the SDK's retries are real but instant.

``POST /v1/messages/count_tokens`` answers ``{"input_tokens": N}``: N is ``fake.usage``'s
``input_tokens`` (what a message is billed), or ``fake.tokenizer(body)`` when set, and then a
message is billed ``fake.tokenizer(body) * fake.bill_percent // 100`` input tokens (a vendor whose
bill differs from its count); ``fake.caps_output`` bills at most the request's ``max_tokens`` out.
``fail_count_tokens(status, times=)`` scripts its failures apart
from the messages' (``fail_next`` does not touch it).

The Admin API's ``GET /v1/organizations/usage_report/messages`` (admin key ``ADMIN_KEY``) answers
from what the fake served (``fake.usage_report``, see ``tests.fakes.usage``): one-day buckets,
``group_by[]`` model / service_tier / api_key_id, ``api_key_ids[]`` and ``models[]`` filters,
``usage_report.page_size`` buckets a page with ``has_more`` / ``next_page``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from tests.fakes.server import FakeServer, Request, Response
from tests.fakes.usage import UsageLedger, days, page, snapshot

API_KEY = "sk-ant-fake-test-key-0123456789"
API_KEY_ID = "apikey_01FakeProductKey"  # the id of API_KEY, as the Console shows it
ADMIN_KEY = "sk-ant-admin01-fake-admin-key-0123456789"
PLAN = "1. Add app/health.py with a view returning {'ok': True}.\n2. Route /health/ to it in app/urls.py.\n"
PLAN_FILES = ["README.md"]
FAST_RETRY = {"retry-after-ms": "1"}


MODELS = [
    {"type": "model", "id": "claude-sonnet-5-5", "display_name": "Claude Sonnet 5.5",
     "created_at": "2026-09-30T00:00:00Z"},
    {"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5",
     "created_at": "2025-10-01T00:00:00Z"},
]  # fmt: skip


class FakeAnthropic(FakeServer):
    def __init__(self):
        super().__init__()
        self.text = PLAN
        self.tool_input: dict | None = {"plan": PLAN, "files": list(PLAN_FILES)}
        self.tool_calls: list[tuple[str, dict]] = []  # scripted calls when the model may choose
        self.tool_inputs: list[dict] = []  # the next forced tool calls' inputs, in order; then ``tool_input``
        self.usage: dict = {"input_tokens": 2000, "output_tokens": 1500}
        self.ids = itertools.count(1)
        self.tokenizer: Callable[[dict], int] | None = None
        self.bill_percent = 100
        self.count_failures: list[int] = []
        self.caps_output = False  # True: a message is billed at most its max_tokens out, as the API does
        self.sync_billed: list[tuple[str, dict]] = []  # (model, usage) of each message answered
        self.batches: dict[str, dict] = {}  # Message Batches (batch mode), see handle_batches
        self.batch_polls_before_end = 0
        self.batch_outcomes: dict[str, str] = {}
        self.expire_batches = False
        self.models: list[dict] = [dict(m) for m in MODELS]
        self.page_size = 20  # the API's default page
        self.usage_report = UsageLedger(key_id=API_KEY_ID)  # what it served, for the usage report
        # Poll often, so stopping the fake (once per test) takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def scripts(self, request: Request) -> bool:
        return request.path != "/v1/messages/count_tokens"

    def fail_count_tokens(self, status: int, *, times: int = 1) -> None:
        with self.lock:
            self.count_failures.extend([status] * times)

    def count_tokens(self, request: Request) -> Response:
        with self.lock:
            failure = self.count_failures.pop(0) if self.count_failures else None
        if failure is not None:
            kind = {429: "rate_limit_error"}.get(failure, "api_error")
            return Response(
                failure, {"type": "error", "error": {"type": kind, "message": "count failed"}}, FAST_RETRY
            )
        body = request.json
        if "max_tokens" in body:  # the endpoint takes the message body less what does not count
            return _error(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted")
        counted = self.tokenizer(body) if self.tokenizer else self.usage["input_tokens"]
        return Response(200, {"input_tokens": counted})

    def usage_for(self, body: dict) -> dict:
        """What a message with ``body`` is billed."""
        usage = dict(self.usage)
        if self.caps_output:
            usage["output_tokens"] = min(usage["output_tokens"], body["max_tokens"])
        if self.tokenizer is not None:
            usage["input_tokens"] = self.tokenizer(body) * self.bill_percent // 100
        return usage

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/v1/messages/batches"):
            return self.handle_batches(request)
        route = (request.method, request.path)
        if route == ("GET", "/v1/organizations/usage_report/messages"):
            return self.messages_usage_report(request)
        if route not in (
            ("POST", "/v1/messages"),
            ("GET", "/v1/models"),
            ("POST", "/v1/messages/count_tokens"),
        ):
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
        if route == ("GET", "/v1/models"):
            return self.list_models(request)
        if route == ("POST", "/v1/messages/count_tokens"):
            return self.count_tokens(request)
        body = request.json
        n = next(self.ids)
        content, stop = self._answer(body, n)
        usage = self.usage_for(body)
        self.usage_report.record(body["model"], usage)
        self.sync_billed.append((body["model"], dict(usage)))
        return Response(
            200,
            {
                "id": f"msg_fake{n:04d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            },
            headers={"request-id": f"req_fake{n:04d}"},
        )

    def list_models(self, request: Request) -> Response:
        ids = [m["id"] for m in self.models]
        after = request.query.get("after_id", [None])[0]
        start = ids.index(after) + 1 if after in ids else 0
        limit = int(request.query.get("limit", [self.page_size])[0])
        page = self.models[start : start + min(limit, self.page_size)]
        return Response(
            200,
            {
                "data": page,
                "has_more": start + len(page) < len(self.models),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            },
            headers={"request-id": "req_models"},
        )

    def _answer(self, params: dict, n: int) -> tuple[list[dict], str]:
        """The message's content and stop reason: a tool_use block when a tool is forced."""
        forced = params.get("tool_choice") or {}
        if forced.get("type") == "any" and (
            self.tool_calls or self.tool_inputs or self.tool_input is not None
        ):
            offered = [tool["name"] for tool in params.get("tools", [])]
            if self.tool_calls:
                name, given = self.tool_calls.pop(0)
            else:
                name, given = "submit_plan", self.tool_inputs.pop(0) if self.tool_inputs else self.tool_input
            assert name in offered, f"the fake was scripted to call {name!r}, which was not offered"
            return [
                {"type": "tool_use", "id": f"toolu_fake{n:04d}", "name": name, "input": given}
            ], "tool_use"
        if forced.get("type") == "tool" and (self.tool_inputs or self.tool_input is not None):
            tool = {
                "type": "tool_use",
                "id": f"toolu_fake{n:04d}",
                "name": forced["name"],
                "input": self.tool_inputs.pop(0) if self.tool_inputs else self.tool_input,
            }
            return [tool], "tool_use"
        return [{"type": "text", "text": self.text}], "end_turn"

    # --- Message Batches -------------------------------------------------------------------------
    # A batch ends once it has been retrieved ``batch_polls_before_end`` times (0: ended at once).
    # Each request succeeds with ``text`` and ``usage`` unless ``batch_outcomes[custom_id]`` says
    # "errored", "expired" or "canceled"; ``expire_batches`` expires every request.

    def handle_batches(self, request: Request) -> Response:
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if given != API_KEY:
            return Response(
                401,
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
            )
        parts = request.path.removeprefix("/v1/messages/batches").strip("/").split("/")
        if request.method == "POST" and parts == [""]:
            n = len(self.batches) + 1
            batch_id = f"msgbatch_fake{n:04d}"
            self.batches[batch_id] = {
                "requests": request.json["requests"],
                "created_at": time.time(),
                "polls": 0,
            }
            return Response(200, self._batch_json(batch_id))
        if request.method == "GET" and parts == [""]:
            data = [self._batch_json(b) for b in reversed(self.batches)]
            return Response(200, {"data": data, "has_more": False, "first_id": None, "last_id": None})
        batch = self.batches.get(parts[0])
        if batch is None:
            return Response(
                404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
            )
        if request.method == "GET" and len(parts) == 1:
            batch["polls"] += 1
            return Response(200, self._batch_json(parts[0]))
        if request.method == "GET" and parts[1:] == ["results"] and self._ended(batch):
            # An ended batch's results are fixed: made (and counted in the usage report) once.
            if "results" not in batch:
                batch["results"] = [json.dumps(self._result(r)) for r in batch["requests"]]
            lines = batch["results"]
            return Response(200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "application/binary"})
        return Response(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

    def _ended(self, batch: dict) -> bool:
        return batch["polls"] >= self.batch_polls_before_end

    def _outcome(self, custom_id: str) -> str:
        return "expired" if self.expire_batches else self.batch_outcomes.get(custom_id, "succeeded")

    def _batch_json(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        ended = self._ended(batch)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for r in batch["requests"]:
            counts[self._outcome(r["custom_id"]) if ended else "processing"] += 1
        created = dt.datetime.fromtimestamp(batch["created_at"], dt.UTC)
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": created.isoformat(),
            "expires_at": (created + dt.timedelta(hours=24)).isoformat(),
            "ended_at": created.isoformat() if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def _result(self, item: dict) -> dict:
        custom_id, outcome = item["custom_id"], self._outcome(item["custom_id"])
        if outcome == "succeeded":
            n = next(self.ids)
            content, stop = self._answer(item["params"], n)
            self.usage_report.record(item["params"]["model"], self.usage, batch=True)
            message = {
                "id": f"msg_batch{n:04d}",
                "type": "message",
                "role": "assistant",
                "model": item["params"]["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": self.usage,
            }
            return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}
        if outcome == "errored":
            error = {"type": "invalid_request_error", "message": "max_tokens: too large for this model"}
            return {
                "custom_id": custom_id,
                "result": {"type": "errored", "error": {"type": "error", "error": error, "request_id": None}},
            }
        return {"custom_id": custom_id, "result": {"type": outcome}}

    # --- Admin API: the messages usage report ----------------------------------------------------

    def messages_usage_report(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != ADMIN_KEY:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        q = request.query
        try:
            first = _day(q["starting_at"][0])
            limit = int(q.get("limit", ["7"])[0])
            end = _day(q["ending_at"][0]) if "ending_at" in q else first + dt.timedelta(days=limit)
            if q.get("bucket_width", ["1d"])[0] != "1d" or not 1 <= limit <= 31:
                raise ValueError("bucket_width 1d takes a limit of 1 to 31")
        except (KeyError, ValueError) as exc:
            return _error(400, "invalid_request_error", f"invalid query: {exc}")
        buckets, more, cursor = page(
            days(first, end),
            limit=limit,
            page_size=self.usage_report.page_size,
            cursor=q.get("page", [None])[0],
        )
        data = [
            {
                "starting_at": self.usage_report.start_times.get(day, f"{day.isoformat()}T00:00:00Z"),
                "ending_at": f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
                "results": self._usage_results(day, q),
            }
            for day in buckets
        ]
        return Response(200, {"data": data, "has_more": more, "next_page": cursor})

    def _usage_results(self, day: dt.date, q: dict) -> list[dict]:
        group_by, key_ids, models = q.get("group_by[]", []), q.get("api_key_ids[]"), q.get("models[]")
        groups: dict[tuple, dict] = {}
        for s in self.usage_report.in_bucket(day):
            model, tier = snapshot(s.model), "batch" if s.batch else "standard"
            if (key_ids and s.key_id not in key_ids) or (models and model not in models):
                continue
            dims = {
                "api_key_id": s.key_id,
                "workspace_id": "wrkspc_01FakeDefault",
                "model": model,
                "service_tier": tier,
                "context_window": "0-200k",
            }
            shown = {name: (value if name in group_by else None) for name, value in dims.items()}
            row = groups.setdefault(
                tuple(shown.values()),
                {
                    "uncached_input_tokens": 0,
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                    "cache_read_input_tokens": 0,
                    "output_tokens": 0,
                    "server_tool_use": {"web_search_requests": 0},
                    **shown,
                },
            )
            u = s.usage
            split = u.get("cache_creation") or {}
            written_1h = split.get("ephemeral_1h_input_tokens", 0)
            row["uncached_input_tokens"] += u.get("input_tokens", 0)
            row["cache_read_input_tokens"] += u.get("cache_read_input_tokens") or 0
            row["cache_creation"]["ephemeral_1h_input_tokens"] += written_1h
            row["cache_creation"]["ephemeral_5m_input_tokens"] += (
                u.get("cache_creation_input_tokens") or 0
            ) - written_1h
            row["output_tokens"] += u.get("output_tokens", 0)
        return list(groups.values())

    def billed(self) -> list[tuple[str, dict, bool]]:
        """What the vendor would bill: ``(model, usage, batch)`` for each message it answered and each
        request of an ended batch that succeeded (once, however often its results are read)."""
        batched = [
            (r["params"]["model"], dict(self.usage), True)
            for batch in self.batches.values()
            if self._ended(batch)
            for r in batch["requests"]
            if self._outcome(r["custom_id"]) == "succeeded"
        ]
        return [(model, usage, False) for model, usage in self.sync_billed] + batched

    def batch_requests(self) -> list[dict]:
        """Every request of every batch created, in order."""
        return [r for batch in self.batches.values() for r in batch["requests"]]

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


def user_text(message: dict, n: int = 0) -> str:
    """The text of a message request's ``n``-th message: a string, or its text blocks (the first
    user message is a block with a cache breakpoint when the analyst may look up)."""
    content = message["messages"][n]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


def _error(status: int, kind: str, message: str) -> Response:
    return Response(status, {"type": "error", "error": {"type": kind, "message": message}})


def _day(rfc3339: str) -> dt.date:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(dt.UTC).date()


@contextmanager
def serving_anthropic(settings, monkeypatch):
    """A started fake; the SDK reaches it through ANTHROPIC_BASE_URL, with the test key configured."""
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        settings.ANTHROPIC_API_KEY = API_KEY
        yield fake
