"""A fake OpenAI chat completions API on 127.0.0.1 for the real ``openai`` SDK.

``POST /v1/chat/completions`` answers with ``fake.content`` (by default a valid change as JSON;
``fake.answers``, when set, holds the next answers in order, one per completion or batch line: an
int there makes that request fail with that status, as ``fail`` does),
``usage`` (set ``fake.usage``; with ``fake.tokenizer`` set, ``prompt_tokens`` is
``fake.tokenizer(body)``, what that request is billed) and an ``x-request-id`` header. ``GET /v1/models`` lists
``fake.models`` in the API's shape (``shutdown_date`` where OpenAI publishes one). The Files and
Batch API endpoints (upload, create, retrieve, list, file content) answer with the same shapes; see
``handle_batches``. ``fail(...)`` scripts errors that
carry ``retry-after-ms: 1`` so the SDK's retries are real but instant.

The organization Usage API's ``GET /v1/organization/usage/completions`` (admin key ``ADMIN_KEY``)
answers from what the fake served (``fake.usage_report``, see ``tests.fakes.usage``): one-day
buckets, ``group_by`` model / batch / project_id / api_key_id, ``project_ids``, ``api_key_ids``,
``models`` and ``batch`` filters, ``usage_report.page_size`` buckets a page with ``next_page``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP

from tests.fakes.server import FakeServer, Request, Response
from tests.fakes.usage import UsageLedger, days, page, snapshot

API_KEY = "sk-proj-fake-test-key-0123456789"
API_KEY_ID = "key_FakeProductKey01"  # the id of API_KEY
PROJECT_ID = "proj_FakeProduct01"  # the project API_KEY belongs to
ADMIN_KEY = "sk-admin-fake-admin-key-0123456789"
FAST_RETRY = {"retry-after-ms": "1"}
CHANGE = {
    "summary": "Adds a /health/ endpoint returning {'ok': true}.",
    "changes": [
        {
            "path": "app/health.py",
            "action": "create",
            "content": "from django.http import JsonResponse\n\n\ndef health(request):\n"
            "    return JsonResponse({'ok': True})\n",
            "edits": [],
        },
        {
            "path": "app/urls.py",
            "action": "create",
            "content": "from django.urls import path\n\nfrom app.health import health\n\n"
            "urlpatterns = [path('health/', health)]\n",
            "edits": [],
        },
    ],
}


MODELS = [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system",
     "shutdown_date": "2027-01-14"},
    {"id": "gpt-6-luna", "object": "model", "created": 1764547200, "owned_by": "system"},
    {"id": "gpt-4.1", "object": "model", "created": 1744316542, "owned_by": "system",
     "shutdown_date": "2027-01-14"},
]  # fmt: skip


def change(*changes: dict, summary: str = "A change.") -> str:
    """A coder answer as JSON: each change's missing keys filled in empty, as the strict schema has it."""
    full = [{"content": "", "edits": [], **c} for c in changes]
    return json.dumps({"summary": summary, "changes": full})


class FakeOpenAI(FakeServer):
    def __init__(self):
        super().__init__()
        self.content: str = json.dumps(CHANGE)
        self.answers: list[str | int] = []  # the next answers (an int: fail with it); then ``content``
        self.finish_reason = "stop"
        self.usage: dict = {"prompt_tokens": 2500, "completion_tokens": 4000, "total_tokens": 6500}
        self.tokenizer: Callable[[dict], int] | None = None  # a request body's prompt_tokens
        self.ids = itertools.count(1)
        self.billed_calls: list[tuple[str, dict, bool]] = []  # see ``billed``
        self.files: dict[str, dict] = {}  # Files and Batch API (batch mode), see handle_batches
        self.batches: dict[str, dict] = {}
        self.batch_polls_before_end = 0
        self.batch_line_errors: dict[str, tuple[int, str]] = {}  # custom_id -> (status, message)
        self.expire_batches = False
        self.batch_validation_error = ""  # set: every batch fails validation with this message
        self.models: list[dict] = [dict(m) for m in MODELS]
        self.usage_report = UsageLedger(key_id=API_KEY_ID, project_id=PROJECT_ID)  # for the Usage API
        # Poll often, so stopping the fake (once per test) takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, request: Request) -> Response:
        if request.path.startswith(("/v1/files", "/v1/batches")) and self.authorized(request):
            return self.handle_batches(request)
        route = (request.method, request.path)
        if route == ("GET", "/v1/organization/usage/completions"):
            return self.completions_usage(request)
        if route not in (("POST", "/v1/chat/completions"), ("GET", "/v1/models")):
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
        if route == ("GET", "/v1/models"):
            return Response(
                200, {"object": "list", "data": self.models}, headers={"x-request-id": "req_models"}
            )
        if self.answers and isinstance(self.answers[0], int):
            status = self.answers.pop(0)
            return Response(
                status, {"error": {"message": "The server had an error", "type": "server_error"}}, FAST_RETRY
            )
        body = request.json
        n = next(self.ids)
        usage = self.usage_for(body)
        self.usage_report.record(body["model"], usage)
        self.billed_calls.append((body["model"], dict(usage), False))
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
                        "message": {"role": "assistant", "content": self.next_answer(), "refusal": None},
                        "finish_reason": self.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            },
            headers={"x-request-id": f"req_oai{n:04d}"},
        )

    # --- Files and Batch API -----------------------------------------------------------------------
    # A batch is "validating", then "in_progress" until it has been retrieved
    # ``batch_polls_before_end`` times, then "completed" (or "expired" with ``expire_batches``):
    # its output file holds a chat completion per line, its error file the lines of
    # ``batch_line_errors`` (and, expired, every line with ``batch_expired``).

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {API_KEY}"

    def handle_batches(self, request: Request) -> Response:
        parts = request.path.removeprefix("/v1/").split("/")
        if parts == ["files"] and request.method == "POST":
            fields = _multipart(request)
            file_id = f"file-fake{len(self.files) + 1:04d}"
            self.files[file_id] = {"content": fields["file"], "purpose": fields["purpose"].decode()}
            return Response(200, self._file_json(file_id))
        if parts[0] == "files" and parts[2:] == ["content"] and parts[1] in self.files:
            return Response(
                200, self.files[parts[1]]["content"], {"Content-Type": "application/octet-stream"}
            )
        if parts == ["batches"] and request.method == "POST":
            body = request.json
            if self.files.get(body.get("input_file_id"), {}).get("purpose") != "batch":
                return Response(
                    400, {"error": {"message": "Invalid input_file_id", "type": "invalid_request_error"}}
                )
            batch_id = f"batch_fake{len(self.batches) + 1:04d}"
            self.batches[batch_id] = {**body, "created_at": int(time.time()), "polls": 0, "files": None}
            return Response(200, self._batch_json(batch_id))
        if parts == ["batches"] and request.method == "GET":
            data = [self._batch_json(b) for b in reversed(self.batches)]
            return Response(
                200, {"object": "list", "data": data, "has_more": False, "first_id": None, "last_id": None}
            )
        if parts[0] == "batches" and len(parts) == 2 and parts[1] in self.batches:
            self.batches[parts[1]]["polls"] += 1
            return Response(200, self._batch_json(parts[1]))
        return Response(404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error"}})

    def _file_json(self, file_id: str) -> dict:
        f = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(f["content"]),
            "created_at": int(time.time()),
            "filename": "batch.jsonl",
            "purpose": f["purpose"],
            "status": "processed",
        }

    def _batch_json(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        lines = [
            json.loads(line) for line in self.files[batch["input_file_id"]]["content"].splitlines() if line
        ]
        if self.batch_validation_error and batch["polls"] > 0:
            status = "failed"
        elif batch["polls"] == 0:
            status = "validating"
        elif batch["polls"] < self.batch_polls_before_end:
            status = "in_progress"
        else:
            status = "expired" if self.expire_batches else "completed"
        if status in ("completed", "expired") and batch["files"] is None:
            batch["files"] = self._write_results(lines, expired=status == "expired")
        output_id, error_id = batch["files"] or (None, None)
        failed = len(self.files[error_id]["content"].splitlines()) if error_id else 0
        return {
            "id": batch_id,
            "object": "batch",
            "endpoint": batch["endpoint"],
            "errors": {
                "object": "list",
                "data": [
                    {
                        "code": "invalid_request",
                        "line": 1,
                        "param": "body",
                        "message": self.batch_validation_error,
                    }
                ],
            }
            if status == "failed"
            else None,
            "input_file_id": batch["input_file_id"],
            "completion_window": batch["completion_window"],
            "status": status,
            "output_file_id": output_id,
            "error_file_id": error_id,
            "created_at": batch["created_at"],
            "metadata": batch.get("metadata"),
            "request_counts": {
                "total": len(lines),
                "completed": len(lines) - failed if output_id or error_id else 0,
                "failed": failed,
            },
        }

    def _write_results(self, lines: list[dict], *, expired: bool) -> tuple[str | None, str | None]:
        output, errors = [], []
        for line in lines:
            custom_id = line["custom_id"]
            if expired:
                errors.append(
                    {
                        "id": f"batch_req_{custom_id}",
                        "custom_id": custom_id,
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed "
                            "before the completion window expired.",
                        },
                    }
                )
            elif custom_id in self.batch_line_errors:
                status, message = self.batch_line_errors[custom_id]
                errors.append(
                    {
                        "id": f"batch_req_{custom_id}",
                        "custom_id": custom_id,
                        "error": None,
                        "response": {
                            "status_code": status,
                            "request_id": f"req_err_{custom_id}",
                            "body": {"error": {"message": message, "type": "invalid_request_error"}},
                        },
                    }
                )
            else:
                n = next(self.ids)
                usage = self.usage_for(line["body"])
                self.usage_report.record(line["body"]["model"], usage, batch=True)
                body = {
                    "id": f"chatcmpl-batch{n:04d}",
                    "object": "chat.completion",
                    "created": 1764000000,
                    "model": line["body"]["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self.next_answer(), "refusal": None},
                            "finish_reason": self.finish_reason,
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
                self.billed_calls.append((line["body"]["model"], dict(usage), True))
                output.append(
                    {
                        "id": f"batch_req_{custom_id}",
                        "custom_id": custom_id,
                        "error": None,
                        "response": {"status_code": 200, "request_id": f"req_batch{n:04d}", "body": body},
                    }
                )
        ids = []
        for rows in (output, errors):
            if not rows:
                ids.append(None)
                continue
            file_id = f"file-fake{len(self.files) + 1:04d}"
            content = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
            self.files[file_id] = {"content": content, "purpose": "batch_output"}
            ids.append(file_id)
        return ids[0], ids[1]

    # --- Usage API: completions --------------------------------------------------------------

    def completions_usage(self, request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if given != ADMIN_KEY:
            # Like the real API, the message echoes the key it was given.
            message = f"Incorrect API key provided: {given}. You can find your API key at https://platform.openai.com/account/api-keys."
            return Response(401, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})  # fmt: skip
        q = request.query
        try:
            first = dt.datetime.fromtimestamp(int(q["start_time"][0]), dt.UTC).date()
            limit = int(q.get("limit", ["7"])[0])
            end = (
                dt.datetime.fromtimestamp(int(q["end_time"][0]), dt.UTC).date()
                if "end_time" in q
                else first + dt.timedelta(days=limit)
            )
            if q.get("bucket_width", ["1d"])[0] != "1d" or not 1 <= limit <= 31:
                raise ValueError("bucket_width 1d takes a limit of 1 to 31")
        except (KeyError, ValueError) as exc:
            return Response(
                400, {"error": {"message": f"Invalid query: {exc}", "type": "invalid_request_error"}}
            )
        buckets, more, cursor = page(
            days(first, end),
            limit=limit,
            page_size=self.usage_report.page_size,
            cursor=q.get("page", [None])[0],
        )
        data = []
        for day in buckets:
            start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
            results = self._usage_results(day, q)
            data.append(
                {
                    "object": "bucket",
                    "start_time": self.usage_report.start_times.get(day, start),
                    "end_time": start + 86400,
                    "results": results,
                }
            )
        return Response(200, {"object": "page", "data": data, "has_more": more, "next_page": cursor})

    def _usage_results(self, day: dt.date, q: dict) -> list[dict]:
        group_by = q.get("group_by", [])
        wanted_batch = {"true": True, "false": False}.get(q.get("batch", [""])[0])
        groups: dict[tuple, dict] = {}
        for s in self.usage_report.in_bucket(day):
            model = snapshot(s.model)
            if (
                ("project_ids" in q and s.project_id not in q["project_ids"])
                or ("api_key_ids" in q and s.key_id not in q["api_key_ids"])
                or ("models" in q and model not in q["models"])
                or (wanted_batch is not None and s.batch != wanted_batch)
            ):
                continue
            dims = {"project_id": s.project_id, "user_id": None, "api_key_id": s.key_id, "model": model, "batch": s.batch, "service_tier": "default"}  # fmt: skip
            shown = {name: (value if name in group_by else None) for name, value in dims.items()}
            row = groups.setdefault(
                tuple(shown.values()),
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "input_cached_tokens": 0,
                    "input_audio_tokens": 0,
                    "output_audio_tokens": 0,
                    "num_model_requests": 0,
                    **shown,
                },
            )
            u = s.usage
            row["input_tokens"] += u.get("prompt_tokens", 0)  # cached included, as the API counts
            row["input_cached_tokens"] += (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            row["output_tokens"] += u.get("completion_tokens", 0)
            row["num_model_requests"] += 1
        return list(groups.values())

    def usage_for(self, body: dict) -> dict:
        """What a completion of ``body`` is billed: ``usage``, its prompt tokens by ``tokenizer`` when set."""
        if self.tokenizer is None:
            return self.usage
        prompt = self.tokenizer(body)
        return {
            **self.usage,
            "prompt_tokens": prompt,
            "total_tokens": prompt + self.usage["completion_tokens"],
        }

    def next_answer(self) -> str:
        return self.answers.pop(0) if self.answers else self.content

    def billed(self) -> list[tuple[str, dict, bool]]:
        """What the vendor would bill: ``(model, usage, batch)`` for each completion it answered and
        each line of a batch's output file (written once per batch, however often it is read)."""
        return list(self.billed_calls)

    def batch_lines(self) -> list[dict]:
        """Every line of every uploaded batch input file, in order."""
        return [
            json.loads(line)
            for f in self.files.values()
            if f["purpose"] == "batch"
            for line in f["content"].splitlines()
            if line
        ]

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


def _multipart(request: Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (the SDK's file upload)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }
