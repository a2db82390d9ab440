"""Model providers: Anthropic (analysis) and OpenAI (code generation), live or simulated.

``providers_for_mode()`` picks the pair for ``ORCHESTRATOR_MODE``; the live pair refuses to be
built without its API keys, so a missing key is reported before any request or reservation.
Beside them: the vendors' usage reports (``usage_reports``, ``usage_values``) and the models
they serve (``model_check``).

May import ``context`` (the simulated coder reads excerpts), ``executions.models`` and
``executions.errors``; never the prompts' modules (``analysis``, ``changes``) or anything above.
"""

from __future__ import annotations

from django.conf import settings

from executions.providers.base import Completion, CompletionRequest, Provider, Providers
from executions.providers.simulated import simulated_providers

__all__ = ["Completion", "CompletionRequest", "Provider", "Providers", "live_providers", "providers_for_mode"]


def live_providers() -> Providers:
    # Imported here: the vendors' SDKs take a while to import, and simulated mode never needs them.
    from executions.providers.anthropic import AnthropicProvider
    from executions.providers.openai import OpenAIProvider

    return Providers(analysis=AnthropicProvider(), codegen=OpenAIProvider())


def providers_for_mode(mode: str | None = None) -> Providers:
    mode = mode or settings.ORCHESTRATOR_MODE
    if mode == "live":
        return live_providers()
    return simulated_providers()
