"""The provider interface: one request in, one completion (text + normalised usage + request id) out.

A provider is one vendor (or its simulated stand-in). ``complete`` makes exactly one billable
request (the SDK's own retries included) and raises ``ProviderError`` with a readable message when
it finally fails; a ``Completion`` is returned only when the vendor answered and reported usage, so
the caller can charge it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from budget.pricing import Usage, input_token_bound
from notifications.secrets import mask_secrets
from notifications.text import storable


@dataclass(frozen=True)
class Lookup:
    """One look-up round of a request: the model's call (its id and input) and the answer sent."""

    call_id: str
    asked: dict
    answer: str


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    system: str
    user: str
    max_tokens: int
    schema: dict | None = None  # structured output: the JSON schema the answer must follow
    temperature: float | None = None  # None: send no sampling parameter at all
    reasoning_effort: str | None = None  # None: send none (not a reasoning model, or its default)
    tool: dict | None = None  # a tool the model must call ({"name", "description", "input_schema"})
    # After ``user``, alternately the model's answer and the next user message: a second try sends
    # the first request, its answer and what was wrong with it (``steps.reflection_request``).
    turns: tuple[str, ...] = ()
    # A second tool the model may call instead of ``tool`` (the analyst's ``show``): then the model
    # chooses which, and the first user message carries a cache breakpoint, so a later round reads
    # the whole first request from the vendor's cache.
    lookup_tool: dict | None = None
    # Each look-up made so far, after ``user``: the model's call and what it was shown.
    lookups: tuple[Lookup, ...] = ()
    # The text after ``user`` (turns, look-ups) is stand-ins as long as it may be (``steps.*_at_caps``),
    # not what will be sent: a count of its tokens bounds nothing, its bytes do.
    at_caps: bool = False

    def as_json(self) -> dict:
        """The request as JSON, to be sent again later (a batched analysis's next look-up round)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CompletionRequest:
        """The request ``as_json`` gave, as it was."""
        return cls(
            **{**data, "turns": tuple(data["turns"]), "lookups": tuple(Lookup(**x) for x in data["lookups"])}
        )

    def input_token_bound(self) -> int:
        """A true upper bound on this request's input tokens (bytes of everything sent)."""
        texts = [self.system, self.user, *self.turns]
        if self.lookup_tool is not None:
            texts.append(json.dumps(self.lookup_tool))
        for lookup in self.lookups:
            texts.extend((lookup.call_id, json.dumps(lookup.asked), lookup.answer))
        if self.schema is not None:
            texts.append(json.dumps(self.schema))
        if self.tool is not None:
            texts.append(json.dumps(self.tool))
        return input_token_bound(*texts)


def conversation(request: CompletionRequest) -> list[dict[str, str]]:
    """The user message and the turns after it, as both vendors' ``messages`` take them."""
    roles = ("assistant", "user")
    return [{"role": "user", "content": request.user}] + [
        {"role": roles[i % 2], "content": text} for i, text in enumerate(request.turns)
    ]


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    request_id: str = ""
    stop_reason: str = ""
    truncated: bool = False  # the answer hit max_tokens
    refusal: str = ""  # the model declined (OpenAI's ``refusal``)
    reasoning_tokens: int = 0  # of ``usage.output_tokens``, those spent reasoning (already in it)
    tool_input: dict | None = None  # the input of the forced tool call, when the request had a tool
    tool_name: str = ""  # which tool it called (a request with a ``lookup_tool`` offers two)
    tool_call_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        # Where a vendor's answer enters the product: every text in it becomes storable here.
        for name in ("text", "request_id", "stop_reason", "refusal"):
            object.__setattr__(self, name, storable(getattr(self, name)))


@dataclass(frozen=True)
class BatchState:
    """A vendor batch as last seen: the vendor's own status word, and whether its results are final."""

    vendor_id: str
    status: str
    ended: bool
    detail: str = ""  # the vendor's reason, when the whole batch failed


@dataclass(frozen=True)
class BatchItem:
    """One request's result in an ended batch: a completion to charge, or why there is none."""

    custom_id: str
    completion: Completion | None
    failure: str = ""


def is_refusal(exc: Exception) -> bool:
    """A 4xx answer (bar 408/409, which a lost request can cause): the vendor created nothing."""
    status = getattr(exc, "status_code", None)
    return status is not None and 400 <= status < 500 and status not in (408, 409)


@dataclass(frozen=True)
class InputCount:
    """What a request's input is held at. ``tokens``: at least what the vendor will bill (its own
    count plus a margin, or the byte bound); ``bound``: the byte bound, the most it can ever be
    (``tokens <= bound``); ``how``: which of the two, and why, in words for the execution's record."""

    tokens: int
    bound: int
    how: str


def count_input(provider: Provider, request: CompletionRequest) -> InputCount:
    """``provider.count_input(request)`` where the provider counts, else its byte bound."""
    counter = getattr(provider, "count_input", None)
    if counter is None:
        bound = provider.input_token_bound(request)
        return InputCount(bound, bound, "byte bound")
    return counter(request)


class Provider(Protocol):
    vendor: str  # budget.models.Provider value: "anthropic" or "openai"
    simulated: bool

    def input_token_bound(self, request: CompletionRequest) -> int:
        """What the reservation must cover for this request's input (at least the real count)."""
        ...

    def complete(self, request: CompletionRequest) -> Completion: ...


@dataclass(frozen=True)
class Providers:
    """The pair the pipeline uses: analysis (Anthropic) and code generation (OpenAI)."""

    analysis: Provider
    codegen: Provider

    @property
    def simulated(self) -> bool:
        return self.analysis.simulated or self.codegen.simulated


def describe_failure(vendor: str, exc: Exception, *, retries: int, timeout: float, api_key: str) -> str:
    """One line for an SDK error that survived the SDK's retries (both SDKs share these shapes),
    with every configured secret (and ``api_key``) masked wherever the vendor's text quotes it."""
    return mask_secrets(_describe(vendor, exc, retries=retries, timeout=timeout), extra=[api_key])


def _describe(vendor: str, exc: Exception, *, retries: int, timeout: float) -> str:
    status = getattr(exc, "status_code", None)
    after = f"after {retries} retr{'y' if retries == 1 else 'ies'}"
    kind = type(exc).__name__
    if status is None:
        if "Timeout" in kind:
            return f"{vendor} did not answer within {timeout:g} s ({after})"
        return f"Could not reach {vendor} ({kind}, {after}): check the network and the base URL"
    detail = _error_detail(exc)
    if status == 529:
        return f"{vendor} is overloaded (529) {after}"
    if status == 429:
        return f"{vendor} rate limit (429) still hit {after}{detail}"
    if status >= 500:
        return f"{vendor} server error ({status}) {after}"
    if status == 401:
        return f"{vendor} rejected the API key (401): check {vendor.upper()}_API_KEY"
    if status == 403:
        return f"{vendor} refused the request (403){detail}: check the key's permissions"
    if status == 404:
        return f"{vendor} answered 404{detail}: check the model id in the admin"
    return f"{vendor} rejected the request ({status}){detail}"


def _error_detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message", "") if isinstance(error, dict) else str(error)
    message = mask_secrets(" ".join(str(message).split()))[:300]  # masked before it is cut
    return f": {message}" if message else ""
