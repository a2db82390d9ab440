"""Code generation through the official ``openai`` SDK (chat completions, structured output).

The answer is constrained by a strict JSON schema of ``{"summary", "files": [{"path", "content"}]}``;
its text is returned unparsed, so a malformed answer is still charged before validation rejects it.
The SDK reads ``OPENAI_BASE_URL`` itself and retries 408/409/429/5xx.
"""

from __future__ import annotations

import openai
from django.conf import settings

from budget.pricing import Usage
from executions.errors import ConfigurationError, ProviderError
from executions.providers.base import Completion, CompletionRequest, describe_failure

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
        return request.input_token_bound()

    def complete(self, request: CompletionRequest) -> Completion:
        options = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.schema is not None:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "code_change", "strict": True, "schema": request.schema},
            }
        try:
            with openai.OpenAI(
                api_key=self.api_key, max_retries=self.max_retries, timeout=self.timeout
            ) as client:
                response = client.chat.completions.create(
                    model=request.model,
                    max_completion_tokens=request.max_tokens,
                    messages=[
                        {"role": "system", "content": request.system},
                        {"role": "user", "content": request.user},
                    ],
                    **options,
                )
        except openai.APIError as exc:
            message = describe_failure(VENDOR, exc, retries=self.max_retries, timeout=self.timeout)
            raise ProviderError(message.replace(self.api_key, "[redacted]")) from None
        if response.usage is None:
            raise ProviderError("OpenAI answered without reporting usage: the call cannot be priced")
        choice = response.choices[0] if response.choices else None
        finish = (choice.finish_reason or "") if choice else ""
        return Completion(
            text=(choice.message.content or "") if choice else "",
            usage=Usage.from_openai(response.usage),
            request_id=response._request_id or response.id or "",
            stop_reason=finish,
            truncated=finish == "length",
            refusal=(getattr(choice.message, "refusal", None) or "") if choice else "",
        )
