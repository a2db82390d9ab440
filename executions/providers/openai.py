"""Code generation through the official ``openai`` SDK (chat completions, structured output).

The answer is constrained by a strict JSON schema of ``{"summary", "files": [{"path", "content"}]}``;
its text is returned unparsed, so a malformed answer is still charged before validation rejects it.
The SDK reads ``OPENAI_BASE_URL`` itself and retries 408/409/429/5xx.
"""

from __future__ import annotations

import datetime as dt
import json

import openai
from django.conf import settings
from openai.types.chat import ChatCompletion

from budget.pricing import Usage
from executions.errors import BatchRefused, ConfigurationError, ProviderError
from executions.providers import tokens
from executions.providers.base import (
    BatchItem,
    BatchState,
    Completion,
    CompletionRequest,
    InputCount,
    conversation,
    describe_failure,
    is_refusal,
)
from notifications.secrets import mask_secrets

VENDOR = "OpenAI"


class OpenAIProvider:
    vendor = "openai"
    simulated = False

    def __init__(
        self, *, api_key: str | None = None, max_retries: int | None = None, timeout: float | None = None
    ):
        self.api_key = api_key if api_key is not None else settings.OPENAI_API_KEY
        if not self.api_key:
            raise ConfigurationError(
                "OPENAI_API_KEY is not set: set it for live mode, or use ORCHESTRATOR_MODE=simulated."
            )
        self.max_retries = settings.LLM_MAX_RETRIES if max_retries is None else max_retries
        self.timeout = settings.LLM_TIMEOUT_SECONDS if timeout is None else timeout

    def input_token_bound(self, request: CompletionRequest) -> int:
        return self.count_input(request).tokens

    def count_input(self, request: CompletionRequest) -> InputCount:
        """The request's input counted with its model's published tokenizer, with the allowances
        of ``tokens`` for the chat framing and the schema, never above the byte bound; the byte
        bound for a model whose tokenizer is not known (or whose encoding cannot be loaded)."""
        bound = request.input_token_bound()
        stand_ins = len(request.turns) if request.at_caps else 0
        counted = tokens.chat_input_tokens(params_for(request), stand_ins=stand_ins)
        if counted is None:
            return InputCount(bound, bound, f"byte bound: no tokenizer known for {request.model}")
        held = min(counted.tokens, bound)
        return InputCount(held, bound, f"counted with {counted.encoding}: held at {held:,} tokens")

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            with self._client() as client:
                response = client.chat.completions.create(**params_for(request))
        except openai.APIError as exc:
            raise self._error(exc) from None
        return completion_from(response)

    def _client(self, *, max_retries: int | None = None) -> openai.OpenAI:
        retries = self.max_retries if max_retries is None else max_retries
        return openai.OpenAI(api_key=self.api_key, max_retries=retries, timeout=self.timeout)

    def _error(self, exc: openai.APIError, *, retries: int | None = None) -> ProviderError:
        retries = self.max_retries if retries is None else retries
        error = BatchRefused if is_refusal(exc) else ProviderError
        return error(
            describe_failure(VENDOR, exc, retries=retries, timeout=self.timeout, api_key=self.api_key)
        )

    # --- Batch API (batch mode: executions/batches/passes.py) -------------------------------------------

    def submit_batch(self, requests: dict[str, CompletionRequest], *, marker: dict[str, str]) -> str:
        """Upload the JSONL input and create one batch carrying ``marker`` as metadata; its id.

        The upload may be retried (an orphaned file costs nothing); the batch's creation is not
        (a retry after a lost answer would create a second, paid batch): ``find_batch`` finds it.
        """
        lines = [
            json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": params_for(r)})
            for cid, r in requests.items()
        ]
        try:
            with self._client() as client:
                uploaded = client.files.create(
                    file=("batch.jsonl", ("\n".join(lines) + "\n").encode(), "application/jsonl"),
                    purpose="batch",
                )
            with self._client(max_retries=0) as client:
                batch = client.batches.create(
                    input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h", metadata=marker
                )
        except openai.APIError as exc:
            raise self._error(exc, retries=0) from None
        return batch.id

    def batch_state(self, vendor_id: str) -> BatchState:
        try:
            with self._client() as client:
                batch = client.batches.retrieve(vendor_id)
        except openai.APIError as exc:
            raise self._error(exc) from None
        errors = (batch.errors.data or []) if batch.errors else []
        detail = "; ".join(mask_secrets(" ".join(str(e.message or e.code).split()))[:200] for e in errors[:3])
        return BatchState(vendor_id, batch.status, ended=batch.status in ENDED, detail=detail)

    def batch_results(self, vendor_id: str) -> list[BatchItem]:
        """Every line of the output and error files; requests without a line fail with the batch's status."""
        items = []
        try:
            with self._client() as client:
                batch = client.batches.retrieve(vendor_id)
                for file_id in (batch.output_file_id, batch.error_file_id):
                    if file_id:
                        text = client.files.content(file_id).text
                        items += [_item(json.loads(line)) for line in text.splitlines() if line.strip()]
        except openai.APIError as exc:
            raise self._error(exc) from None
        return items

    def find_batch(
        self, *, marker: dict[str, str], custom_ids: set[str], since: dt.datetime, known: set[str]
    ) -> str | None:
        """The batch a lost submit created, found by its metadata; None when there is none."""
        try:
            with self._client() as client:
                for batch in client.batches.list(limit=100):
                    if batch.created_at < since.timestamp():
                        break  # newest first
                    if batch.id not in known and dict(batch.metadata or {}) == marker:
                        return batch.id
        except openai.APIError as exc:
            raise self._error(exc) from None
        return None


ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "expired", "failed", "cancelled"}


def params_for(request: CompletionRequest) -> dict:
    """The chat completion's parameters: the synchronous call and a batch line's ``body`` send these."""
    params = {
        "model": request.model,
        "max_completion_tokens": request.max_tokens,
        "messages": [{"role": "system", "content": request.system}, *conversation(request)],
    }
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.reasoning_effort is not None:
        params["reasoning_effort"] = request.reasoning_effort
    if request.schema is not None:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "code_change", "strict": True, "schema": request.schema},
        }
    return params


def completion_from(response: ChatCompletion, *, request_id: str = "") -> Completion:
    """The ``Completion`` of a chat completion (a synchronous response or a batch output line)."""
    if response.usage is None:
        raise ProviderError("OpenAI answered without reporting usage: the call cannot be priced")
    choice = response.choices[0] if response.choices else None
    finish = (choice.finish_reason or "") if choice else ""
    return Completion(
        text=(choice.message.content or "") if choice else "",
        usage=Usage.from_openai(response.usage),
        request_id=getattr(response, "_request_id", None) or request_id or response.id or "",
        stop_reason=finish,
        truncated=finish == "length",
        refusal=(getattr(choice.message, "refusal", None) or "") if choice else "",
        reasoning_tokens=_reasoning_tokens(response.usage),
    )


def _reasoning_tokens(usage) -> int:
    """``completion_tokens_details.reasoning_tokens``: part of ``completion_tokens``, which is what
    is charged (as output), so it is recorded, never added."""
    details = usage.completion_tokens_details
    return min(int(getattr(details, "reasoning_tokens", None) or 0), usage.completion_tokens)


def _item(line: dict) -> BatchItem:
    """One output or error file line: ``{"custom_id", "response": {"status_code", "request_id", "body"}, "error"}``."""
    custom_id = str(line.get("custom_id", ""))
    response = line.get("response") or {}
    body = response.get("body") or {}
    if response.get("status_code") == 200 and not line.get("error"):
        try:
            completion = completion_from(
                ChatCompletion.model_validate(body), request_id=response.get("request_id") or ""
            )
        except ProviderError as exc:
            return BatchItem(custom_id, None, str(exc))
        return BatchItem(custom_id, completion)
    error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
    code = error.get("code") or error.get("type") or response.get("status_code") or "error"
    message = mask_secrets(" ".join(str(error.get("message", "")).split()))[:300]  # masked, then cut
    return BatchItem(custom_id, None, f"OpenAI batch line failed ({code}){': ' + message if message else ''}")
