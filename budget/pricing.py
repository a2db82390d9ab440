"""Pricing: from a vendor's reported usage to an exact integer cost in nanodollars.

``Usage`` is the one normalised shape; ``from_anthropic`` / ``from_openai`` build it from either
vendor's usage object (SDK object or plain dict). ``cost_nanos`` prices each part at its rate.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, fields
from typing import Any

from django.utils import timezone

from budget.models import LanguageModel, Price

log = logging.getLogger(__name__)


class PricingError(Exception):
    """Base for errors that stop a call before any request is made."""


class UnknownModel(PricingError):
    def __init__(self, model: str):
        super().__init__(f"Unknown model {model!r}: add it to the model catalog in the admin first.")
        self.model = model


class UnpricedModel(PricingError):
    def __init__(self, model: str, on: dt.date):
        super().__init__(
            f"Model {model!r} has no price effective on {on:%Y-%m-%d}: add one in the admin before using it."
        )
        self.model = model


class InputTooLong(PricingError):
    def __init__(self, model: str, bound: int, limit: int):
        super().__init__(
            f"A request to {model} could carry up to {bound:,} input tokens, more than the {limit:,} its "
            "price covers: it was not sent. Shorten the task or choose another model in the admin."
        )
        self.model = model


def _field(obj: Any, name: str) -> int:
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return int(value or 0)


def _sub(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, each priced at its own rate. ``input_tokens`` excludes cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    def __post_init__(self):
        for name, value in self.as_dict().items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"usage {name} must be a non-negative integer, got {value!r}")

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{k: v + getattr(other, k) for k, v in self.as_dict().items()})

    @property
    def total_tokens(self) -> int:
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        # Not dataclasses.asdict: it deep-copies, and this runs several times per charge.
        return {name: getattr(self, name) for name in _USAGE_FIELDS}

    @classmethod
    def from_anthropic(cls, usage: Any) -> Usage:
        """Anthropic: ``input_tokens`` already excludes cache reads and writes; writes split by TTL."""
        written = _field(usage, "cache_creation_input_tokens")
        split = _sub(usage, "cache_creation")
        write_1h = _field(split, "ephemeral_1h_input_tokens") if split is not None else 0
        write_5m = _field(split, "ephemeral_5m_input_tokens") if split is not None else written
        if split is not None and write_5m + write_1h != written:
            # An unsplit remainder is priced as the default (5-minute) TTL.
            write_5m = max(written - write_1h, 0)
        return cls(
            input_tokens=_field(usage, "input_tokens"),
            output_tokens=_field(usage, "output_tokens"),
            cache_read_tokens=_field(usage, "cache_read_input_tokens"),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
        )

    @classmethod
    def from_openai(cls, usage: Any) -> Usage:
        """OpenAI: ``prompt_tokens`` includes the cached tokens, which are billed at the cached rate."""
        prompt = _field(usage, "prompt_tokens")
        details = _sub(usage, "prompt_tokens_details")
        cached = min(_field(details, "cached_tokens") if details is not None else 0, prompt)
        return cls(
            input_tokens=prompt - cached,
            output_tokens=_field(usage, "completion_tokens"),
            cache_read_tokens=cached,
        )


# The token classes each vendor's usage can report (``Usage.from_anthropic`` / ``from_openai``):
# OpenAI's Chat Completions usage has no cache-write count, so a cache-write rate never prices an
# OpenAI call. Keep this next to the readers above: a class read there must be listed here.
REPORTED_CLASSES = {
    "anthropic": (
        "input_nanos",
        "output_nanos",
        "cache_read_nanos",
        "cache_write_5m_nanos",
        "cache_write_1h_nanos",
    ),
    "openai": ("input_nanos", "output_nanos", "cache_read_nanos"),
}


_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


class InexactBatchPrice(PricingError):
    def __init__(self, price: Price, field: str, rate: int):
        name = field.removesuffix("_nanos").replace("_", " ")
        step = billing_increment(price, field)
        per = "" if step == 1 else f" for the {step} tokens it is billed in"
        super().__init__(
            f"{price.model.name}'s {name} rate ({rate} nanodollars per token) less its "
            f"{price.batch_discount_percent}% batch discount is not a whole nanodollar{per}, so a batch "
            "call cannot be charged exactly: turn batch off for this step in the admin, or use another model."
        )
        self.model = price.model.name


# Each rate field of a price and the ``Usage`` count it prices.
_USAGE_OF = {
    "input_nanos": "input_tokens",
    "output_nanos": "output_tokens",
    "cache_read_nanos": "cache_read_tokens",
    "cache_write_5m_nanos": "cache_write_5m_tokens",
    "cache_write_1h_nanos": "cache_write_1h_tokens",
}
RATE_FIELDS = tuple(_USAGE_OF)


def billing_increment(price: Price, field: str) -> int:
    """How many tokens of this class the vendor bills at a time (every count is a multiple of it).

    Only cache reads have one above 1: OpenAI reports ``cached_tokens`` in steps of 128.
    """
    return price.cache_read_increment_tokens if field == "cache_read_nanos" else 1


def _batch_nanos_x100(price: Price, field: str, tokens: int) -> int:
    """A hundred times the batch cost of ``tokens`` of this class (whole, whatever the rate)."""
    return tokens * getattr(price, field) * (100 - price.batch_discount_percent)


def rate(price: Price, field: str, *, batch: bool = False) -> int | None:
    """One token class's rate in nanodollars per token; with ``batch``, less the batch discount,
    rounded UP to a whole nanodollar (37.5 → 38): for bounds only, never for charging.

    The discount applies to every class (cache reads and writes too: the discounts stack).
    """
    standard = getattr(price, field)
    if not batch or standard is None:
        return standard
    return -(-_batch_nanos_x100(price, field, 1) // 100)


def check_batch_price(price: Price) -> None:
    """Raise ``InexactBatchPrice`` unless every billed class's batch cost is exact.

    The rule: a class's batch rate times its billing increment must be a whole number of
    nanodollars; then every count the vendor can report (a multiple of the increment) costs a whole
    number of nanodollars at the batch price. Only the classes the model's vendor reports are
    checked (``REPORTED_CLASSES``): gpt-6-luna's cache-write rate (125, so 62.5 in a batch) can
    never price an OpenAI call, and must not refuse it.
    """
    for field in REPORTED_CLASSES.get(price.model.provider, RATE_FIELDS):
        if (
            getattr(price, field) is not None
            and _batch_nanos_x100(price, field, billing_increment(price, field)) % 100
        ):
            raise InexactBatchPrice(price, field, getattr(price, field))


def cost_nanos(price: Price, usage: Usage, *, batch: bool = False) -> int:
    """The exact cost of ``usage`` at ``price`` (at its batch rates with ``batch``).

    A batch class costs ``tokens × rate × (100 − discount) / 100``, a whole number when ``tokens``
    is a multiple of the class's billing increment and the price passed ``check_batch_price``
    (done before any request). A count off the increment is still charged: that class is rounded
    up to the next nanodollar, with a warning (a true upper bound; never a lost nanodollar).
    """
    total = 0
    for field, name in _USAGE_OF.items():
        tokens = getattr(usage, name)
        if not tokens:
            continue
        if getattr(price, field) is None:
            raise PricingError(
                f"{price.model.name} has no {field.removesuffix('_nanos').replace('_', ' ')} price, "
                f"but the vendor reported {tokens} such tokens: add the rate in the admin."
            )
        if not batch:
            total += getattr(price, field) * tokens
            continue
        cost, remainder = divmod(_batch_nanos_x100(price, field, tokens), 100)
        if remainder:
            cost += 1
            log.warning(
                "%s: %d %s at the batch price is not a whole nanodollar (billed in steps of %d): "
                "charged %d nanodollars, rounded up",
                price.model.name,
                tokens,
                name.replace("_", " "),
                billing_increment(price, field),
                cost,
            )
        total += cost
    return total


def max_input_rate(price: Price, *, batch: bool = False, hour_cache: bool = True) -> int:
    """The dearest rate an input token can be billed at (plain, cache write or cache read); batch
    rates rounded up, so ``tokens × max_input_rate`` bounds any batch charge of ``tokens``.
    ``hour_cache=False``: for a request that marks no 1-hour cache breakpoint, which cannot be
    billed a 1-hour cache write."""
    fields = ["input_nanos", "cache_write_5m_nanos", "cache_read_nanos"]
    if hour_cache:
        fields.append("cache_write_1h_nanos")
    rates = [rate(price, field, batch=batch) for field in fields]
    return max(r for r in rates if r is not None)


def check_input_bound(model: LanguageModel, max_input_tokens: int) -> None:
    """Refuse a request whose input could pass the model's ``max_input_tokens`` (where a dearer
    long-context rate starts): then the standard rates, and ``worst_case_nanos``, stay true bounds."""
    if model.max_input_tokens is not None and max_input_tokens > model.max_input_tokens:
        raise InputTooLong(model.name, max_input_tokens, model.max_input_tokens)


def worst_case_nanos(
    price: Price,
    *,
    max_input_tokens: int,
    max_output_tokens: int,
    batch: bool = False,
    hour_cache: bool = True,
) -> int:
    """A true upper bound on one call's cost, whatever the vendor's cache does (at batch rates
    with ``batch``: raises ``InexactBatchPrice`` before any request for a price it cannot charge;
    ``hour_cache``: see ``max_input_rate``)."""
    if batch:
        check_batch_price(price)
    return max_input_tokens * max_input_rate(
        price, batch=batch, hour_cache=hour_cache
    ) + max_output_tokens * rate(price, "output_nanos", batch=batch)


# A byte-level BPE token is at least one byte, so UTF-8 bytes bound the token count. Each message
# and the request framing add a few tokens of their own; these allowances are generous.
PER_MESSAGE_OVERHEAD_TOKENS = 16
PER_REQUEST_OVERHEAD_TOKENS = 64


def input_token_bound(*texts: str) -> int:
    """An upper bound on the input tokens of a request made of ``texts`` (one message each)."""
    return PER_REQUEST_OVERHEAD_TOKENS + sum(
        len(text.encode("utf-8")) + PER_MESSAGE_OVERHEAD_TOKENS for text in texts
    )


def lookup_model(name: str) -> LanguageModel:
    try:
        return LanguageModel.objects.select_related("successor").get(name=name)
    except LanguageModel.DoesNotExist:
        raise UnknownModel(name) from None


def price_for(model: str | LanguageModel, *, on: dt.date | None = None) -> Price:
    """The price in force for ``model`` on ``on`` (today in TIME_ZONE by default), or an error."""
    if isinstance(model, str):
        model = lookup_model(model)
    on = on or timezone.localdate()
    price = (
        Price.objects.select_related("model")
        .filter(model=model, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    if price is None:
        raise UnpricedModel(model.name, on)
    return price
