"""``check_models``: ask each vendor which models it serves (``GET /v1/models`` through its SDK),
report configured models it no longer lists, and record the shutdown dates it publishes.

A vendor that cannot be asked (no key, unreachable, an error) is a warning for this run, never a
failure: the check runs weekly and the next run asks again. What the vendors answered is announced
once on the notification channels (per model and date, through the outbox's event keys).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import anthropic
import openai
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budget import catalog
from budget.models import LanguageModel, Provider, vendor_name
from budget.pricing import PricingError
from executions.models import StepConfig
from executions.providers.base import describe_failure
from notifications import events

log = logging.getLogger(__name__)

# A listing is one small request: do not wait the model calls' timeout for it.
LIST_TIMEOUT_SECONDS = 30.0


class VendorUnavailable(Exception):
    """The vendor's model list could not be read (the message says why, without the key)."""


@dataclass
class CheckResult:
    checked: list[str] = field(default_factory=list)  # vendors whose list was read
    unlisted: list[str] = field(default_factory=list)  # configured models no vendor list carries
    shutdowns: dict[str, dt.date] = field(default_factory=dict)  # configured model -> vendor's date
    announced: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Warning: {w}" for w in self.warnings]
        for name in self.unlisted:
            out.append(f"Not listed: {name}")
        for name, day in sorted(self.shutdowns.items()):
            out.append(f"Shutdown date: {name} on {day:%Y-%m-%d}")
        out.append(self.summary())
        return out

    def summary(self) -> str:
        return (
            f"checked: {', '.join(self.checked) or 'none'}; not listed: {', '.join(self.unlisted) or 'none'}; "
            f"shutdown dates: {len(self.shutdowns)}; newly announced: {self.announced}"
        )


def list_vendor_models(vendor: str) -> dict[str, dt.date | None]:
    """{model id: shutdown date or None} from the vendor's ``GET /v1/models``, every page.

    Raises ``VendorUnavailable`` (no key, unreachable, an error status)."""
    name = vendor_name(vendor)
    key = settings.OPENAI_API_KEY if vendor == Provider.OPENAI else settings.ANTHROPIC_API_KEY
    if not key:
        raise VendorUnavailable(f"{name.upper()}_API_KEY is not set: {name}'s models were not checked")
    retries = settings.LLM_MAX_RETRIES
    try:
        if vendor == Provider.OPENAI:
            with openai.OpenAI(api_key=key, max_retries=retries, timeout=LIST_TIMEOUT_SECONDS) as client:
                return {m.id: _date(getattr(m, "shutdown_date", None)) for m in client.models.list()}
        with anthropic.Anthropic(api_key=key, max_retries=retries, timeout=LIST_TIMEOUT_SECONDS) as client:
            # Anthropic publishes a retirement date (``retires_at``) on some models; most have none.
            return {m.id: _date(getattr(m, "retires_at", None)) for m in client.models.list()}
    except (openai.APIError, anthropic.APIError) as exc:
        message = describe_failure(name, exc, retries=retries, timeout=LIST_TIMEOUT_SECONDS, api_key=key)
        raise VendorUnavailable(f"{message}: {name}'s models were not checked") from None


def _date(value) -> dt.date | None:
    """A vendor date: ``YYYY-MM-DD`` (OpenAI), an RFC 3339 time (Anthropic), or nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        log.warning("ignoring a vendor date that is not a date: %r", value)
        return None


def check_models(*, now: dt.datetime | None = None) -> CheckResult:
    """Compare the configured models (and the successors that run in their place) with the vendors'
    lists; record each catalog model's published shutdown date; announce what is new, once."""
    today = timezone.localdate(now or timezone.now())
    result = CheckResult()
    in_use = _models_in_use(today)
    for vendor in (Provider.ANTHROPIC, Provider.OPENAI):
        names = {name: use for name, use in in_use.items() if use.vendor == vendor}
        if not names:
            continue
        try:
            listed = list_vendor_models(vendor)
        except VendorUnavailable as exc:
            result.warnings.append(str(exc))
            log.warning("check_models: %s", exc)
            continue
        result.checked.append(vendor_name(vendor))
        _record_shutdown_dates(vendor, listed)
        for name, use in sorted(names.items()):
            if name not in listed:
                result.unlisted.append(name if use.runs else f"{name} (retired: its successor runs instead)")
                # Said when it matters: a model the next execution would call.
                if use.runs and events.model_unlisted(vendor_name(vendor), name, use.steps):
                    result.announced += 1
            elif (day := listed[name]) is not None:
                result.shutdowns[name] = day
                model = LanguageModel.objects.select_related("successor").get(name=name)
                if day >= today and events.model_shutdown_published(model, day, on=today):
                    result.announced += 1
    return result


@dataclass
class InUse:
    vendor: str
    steps: list[str] = field(default_factory=list)
    runs: bool = False  # called today (not a retired model its successor replaces)


def _models_in_use(today: dt.date) -> dict[str, InUse]:
    """{model id: use} for each configured model and the successor that runs in its place."""
    found: dict[str, InUse] = {}
    for config in StepConfig.objects.order_by("step"):
        try:
            running = catalog.resolve(config.model_name, on=today).model.name
        except PricingError:
            running = None  # unknown, unpriced or retired without successor: the pipeline says so
        for name in dict.fromkeys([config.model_name, running or config.model_name]):
            vendor = LanguageModel.objects.filter(name=name).values_list("provider", flat=True).first()
            if vendor is None:
                continue
            use = found.setdefault(name, InUse(vendor))
            use.steps.append(config.step)
            use.runs = use.runs or name == running
    return found


def _record_shutdown_dates(vendor: str, listed: dict[str, dt.date | None]) -> None:
    """Each catalog model of ``vendor`` that the list carries gets the date it publishes (or none)."""
    with transaction.atomic():
        for model in LanguageModel.objects.filter(provider=vendor, name__in=list(listed)):
            if model.vendor_shutdown_on != listed[model.name]:
                model.vendor_shutdown_on = listed[model.name]
                model.save(update_fields=["vendor_shutdown_on"])
