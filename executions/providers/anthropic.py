"""Analysis through the official ``anthropic`` SDK (Messages API).

The system prompt (stable instructions + repository context) is one content block marked for
prompt caching; the user message is the task. The SDK reads ``ANTHROPIC_BASE_URL`` itself and
retries 408/409/429/5xx (529 included), honouring ``retry-after``.
"""

from __future__ import annotations

import warnings

import anthropic
from django.conf import settings

from budget.pricing import Usage
from executions.errors import ConfigurationError, ProviderError
from executions.providers.base import Completion, CompletionRequest, describe_failure

VENDOR = "Anthropic"


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

    def complete(self, request: CompletionRequest) -> Completion:
        # No sampling parameters: this SDK no longer takes them, and Sonnet 5.x rejects them anyway.
        try:
            with (
                warnings.catch_warnings(),
                anthropic.Anthropic(
                    api_key=self.api_key, max_retries=self.max_retries, timeout=self.timeout
                ) as client,
            ):
                # The SDK warns about deprecated models; the catalog already warns and switches.
                warnings.simplefilter("ignore", DeprecationWarning)
                message = client.messages.create(
                    model=request.model,
                    max_tokens=request.max_tokens,
                    system=[{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}],
                    messages=[{"role": "user", "content": request.user}],
                )
        except anthropic.APIError as exc:
            reason = describe_failure(VENDOR, exc, retries=self.max_retries, timeout=self.timeout)
            raise ProviderError(reason.replace(self.api_key, "[redacted]")) from None
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        return Completion(
            text=text,
            usage=Usage.from_anthropic(message.usage),
            request_id=message._request_id or message.id or "",
            stop_reason=message.stop_reason or "",
            truncated=message.stop_reason == "max_tokens",
        )
