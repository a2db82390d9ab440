"""Analysis through the official ``anthropic`` SDK (Messages API).

The system prompt (stable instructions + repository context) is one content block marked for
prompt caching; the user message is the task. The SDK reads ``ANTHROPIC_BASE_URL`` itself and
retries 408/409/429/5xx (529 included), honouring ``retry-after``.
"""

from __future__ import annotations

import datetime as dt
import warnings

import anthropic
from django.conf import settings

from budget.pricing import Usage
from executions.errors import BatchRefused, BatchUndecided, ConfigurationError, ProviderError
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

VENDOR = "Anthropic"
# Held beyond count_tokens' answer besides its percentage margin: a count of a tiny prompt may be
# off by a few tokens too.
COUNT_SLACK_TOKENS = 16


class AnthropicProvider:
    vendor = "anthropic"
    simulated = False

    def __init__(
        self, *, api_key: str | None = None, max_retries: int | None = None, timeout: float | None = None
    ):
        self.api_key = api_key if api_key is not None else settings.ANTHROPIC_API_KEY
        if not self.api_key:
            raise ConfigurationError(
                "ANTHROPIC_API_KEY is not set: set it for live mode, or use ORCHESTRATOR_MODE=simulated."
            )
        self.max_retries = settings.LLM_MAX_RETRIES if max_retries is None else max_retries
        self.timeout = settings.LLM_TIMEOUT_SECONDS if timeout is None else timeout

    def input_token_bound(self, request: CompletionRequest) -> int:
        return request.input_token_bound()

    def count_input(self, request: CompletionRequest) -> InputCount:
        """The request's input as Anthropic counts it (``count_tokens``: free, the same body as the
        message) plus ``COUNT_TOKENS_MARGIN_PERCENT`` (the docs call the count an estimate), never
        above the byte bound. A failed or rate-limited count (no retry: the byte bound is at hand)
        falls back to the byte bound, and says so."""
        bound = request.input_token_bound()
        try:
            with self._client(max_retries=0) as client, warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                counted = client.messages.count_tokens(**count_params_for(request)).input_tokens
        except anthropic.APIError as exc:
            failure = describe_failure(VENDOR, exc, retries=0, timeout=self.timeout, api_key=self.api_key)
            return InputCount(bound, bound, f"byte bound: count_tokens failed ({failure})"[:300])
        margin = settings.COUNT_TOKENS_MARGIN_PERCENT
        held = min(counted + -(-counted * margin // 100) + COUNT_SLACK_TOKENS, bound)
        return InputCount(
            held, bound, f"counted by {VENDOR}: {counted:,} tokens, held at {held:,} (+{margin}%)"
        )

    def complete(self, request: CompletionRequest) -> Completion:
        # No sampling parameters: this SDK no longer takes them, and Sonnet 5.x rejects them anyway.
        try:
            with self._client() as client, warnings.catch_warnings():
                # The SDK warns about deprecated models; the catalog already warns and switches.
                warnings.simplefilter("ignore", DeprecationWarning)
                message = client.messages.create(**params_for(request))
        except anthropic.APIError as exc:
            raise self._error(exc) from None
        return completion_from(message)

    def _client(self, *, max_retries: int | None = None) -> anthropic.Anthropic:
        retries = self.max_retries if max_retries is None else max_retries
        return anthropic.Anthropic(api_key=self.api_key, max_retries=retries, timeout=self.timeout)

    def _error(self, exc: anthropic.APIError, *, retries: int | None = None) -> ProviderError:
        retries = self.max_retries if retries is None else retries
        error = BatchRefused if is_refusal(exc) else ProviderError
        return error(
            describe_failure(VENDOR, exc, retries=retries, timeout=self.timeout, api_key=self.api_key)
        )

    # --- Message Batches (batch mode: executions/batches/passes.py) --------------------------------------

    def submit_batch(self, requests: dict[str, CompletionRequest], *, marker: dict[str, str]) -> str:
        """Submit one Message Batch (``custom_id`` → request); the vendor's batch id.

        No SDK retries: a retry after a lost answer would submit a second, paid batch. A failure
        the vendor clearly refused raises ``BatchRefused``; any other ``ProviderError`` leaves it
        unknown whether the batch exists (``find_batch`` settles it). Anthropic batches carry no
        metadata: ``marker`` is not sent, they are found again by their ``custom_id``s.
        """
        try:
            with self._client(max_retries=0) as client, warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                batch = client.messages.batches.create(
                    requests=[{"custom_id": cid, "params": params_for(r)} for cid, r in requests.items()]
                )
        except anthropic.APIError as exc:
            raise self._error(exc, retries=0) from None
        return batch.id

    def batch_state(self, vendor_id: str) -> BatchState:
        try:
            with self._client() as client:
                batch = client.messages.batches.retrieve(vendor_id)
        except anthropic.APIError as exc:
            raise self._error(exc) from None
        return BatchState(vendor_id, batch.processing_status, ended=batch.processing_status == "ended")

    def batch_results(self, vendor_id: str) -> list[BatchItem]:
        """Every result of an ended batch: a completion to charge, or the vendor's reason it has none."""
        items = []
        try:
            with self._client() as client:
                for line in client.messages.batches.results(vendor_id):
                    result = line.result
                    if result.type == "succeeded":
                        items.append(BatchItem(line.custom_id, completion_from(result.message)))
                    elif result.type == "errored":
                        error = result.error.error
                        reason = mask_secrets(f"Anthropic batch item errored ({error.type}): {error.message}")
                        items.append(BatchItem(line.custom_id, None, reason[:500]))
                    else:  # canceled or expired: never processed, never billed
                        items.append(BatchItem(line.custom_id, None, f"Anthropic batch item {result.type}"))
        except anthropic.APIError as exc:
            raise self._error(exc) from None
        return items

    def find_batch(
        self, *, marker: dict[str, str], custom_ids: set[str], since: dt.datetime, known: set[str]
    ) -> str | None:
        """The batch a lost submit created, found by its ``custom_id``s among the batches created
        since ``since`` that ``known`` does not hold; None when there is none.

        A candidate still in progress cannot show its ``custom_id``s yet: ``BatchUndecided`` says
        to ask again on a later pass.
        """
        undecided = False
        try:
            with self._client() as client:
                for batch in client.messages.batches.list(limit=100):
                    if batch.created_at < since:
                        break  # newest first
                    counts = batch.request_counts
                    total = (
                        counts.processing
                        + counts.succeeded
                        + counts.errored
                        + counts.canceled
                        + counts.expired
                    )
                    if batch.id in known or total != len(custom_ids):
                        continue
                    if batch.processing_status != "ended":
                        undecided = True
                        continue
                    if {line.custom_id for line in client.messages.batches.results(batch.id)} == custom_ids:
                        return batch.id
        except anthropic.APIError as exc:
            raise self._error(exc) from None
        if undecided:
            raise BatchUndecided("an Anthropic batch of the same size is still in progress")
        return None


def params_for(request: CompletionRequest) -> dict:
    """The Messages API parameters of ``request``: the synchronous call and a batch line send these.

    The system prompt is the commit-stable part, marked for prompt caching; the user message is
    the task-specific part. A request with a tool forces the model to call it."""
    params = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "system": [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}],
        "messages": conversation(request),
    }
    if request.tool is not None:
        params["tools"] = [request.tool]
        params["tool_choice"] = {"type": "tool", "name": request.tool["name"]}
    if request.lookup_tool is not None:
        # The same tools and tool choice in every round (a change would void the cached messages):
        # the model picks a tool; the look-up's answer says when no further look-up is allowed.
        params["tools"] = [request.tool, request.lookup_tool]
        params["tool_choice"] = {"type": "any"}
        first = params["messages"][0]
        first["content"] = [
            {"type": "text", "text": first["content"], "cache_control": {"type": "ephemeral"}}
        ]
        for lookup in request.lookups:
            params["messages"].append(
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": lookup.call_id,
                            "name": request.lookup_tool["name"],
                            "input": lookup.asked,
                        }
                    ],
                }
            )
            params["messages"].append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": lookup.call_id, "content": lookup.answer}
                    ],
                }
            )
    return params


def count_params_for(request: CompletionRequest) -> dict:
    """``count_tokens``' body: the message request's, without what does not count (max_tokens)."""
    params = params_for(request)
    del params["max_tokens"]
    return params


def completion_from(message: anthropic.types.Message) -> Completion:
    """The ``Completion`` of a Messages API answer (a synchronous response or a batch result)."""
    text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
    call = next((block for block in message.content if getattr(block, "type", "") == "tool_use"), None)
    tool_input = call.input if call is not None else None
    return Completion(
        text=text,
        usage=Usage.from_anthropic(message.usage),
        request_id=getattr(message, "_request_id", None) or message.id or "",
        stop_reason=message.stop_reason or "",
        truncated=message.stop_reason == "max_tokens",
        tool_input=tool_input if isinstance(tool_input, dict) else None,
        tool_name=call.name if call is not None else "",
        tool_call_id=call.id if call is not None else "",
    )
