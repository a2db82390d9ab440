"""The vendors' own usage reports, read with their admin keys (usage reconciliation).

One small class per vendor with the same two members, ``vendor`` and ``fetch(first, end)``: the
tokens the product's key used on each UTC day in ``[first, end)``, per model and mode (standard or
batch), as ``budget.reconciliation.Counted`` rows, and the rows refused for a value no real report
holds (``usage_values``: a negative, infinite or huge count, a bucket outside the days asked for),
each with where and why. This module is the only code that calls the
admin APIs: through ``requests``, with timeouts, every page, and a 429 (or 5xx) waited out as the
vendor's ``retry-after`` asks. Base URLs are the SDKs' own (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``).

Admin keys are secrets: every message that may quote a vendor's text is masked
(``notifications.secrets.mask_secrets``), before it is cut.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import requests
from django.conf import settings

from budget.pricing import Usage
from budget.reconciliation import Counted
from executions.providers.usage_values import Implausible, Refused, iso_day, token_count, unix_day
from notifications.secrets import mask_secrets

USER_AGENT = "pr-orchestrator-reconciliation/1.0"
TIMEOUT = (5.0, 30.0)  # seconds to connect, to read one page
MAX_ATTEMPTS = 4  # per page, when the vendor answers 429 or 5xx
MAX_WAIT_SECONDS = 60.0  # a longer retry-after gives up for this run; the next daily run asks again
MAX_PAGES = 100
BUCKETS_PER_PAGE = 31  # both APIs' maximum for one-day buckets
MAX_DETAIL_CHARS = 200
ANTHROPIC_VERSION = "2023-06-01"


class UsageReportError(Exception):
    """A vendor's usage report could not be read. The message is one line, with keys masked;
    ``configuration`` says the operator must fix a setting (a refused key, a missing key id)."""

    def __init__(self, message: str, *, configuration: bool = False):
        super().__init__(message)
        self.configuration = configuration


@dataclass
class Fetched:
    """A vendor's report as read: the rows counted, and those refused (``Refused``: where, why)."""

    counted: list[Counted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


class UsageReport(Protocol):
    vendor: str  # budget.models.Provider value
    name: str  # for messages
    admin_key: str

    def fetch(self, first: dt.date, end: dt.date) -> Fetched:
        """The product's usage on each UTC day in ``[first, end)``; raises ``UsageReportError``."""
        ...

    @staticmethod
    def rows(page: dict, first: dt.date, end: dt.date) -> Iterator[Counted | Refused]:
        """One page of the vendor's answer as rows, a row with a value no real report holds as
        ``Refused`` (a malformed page raises KeyError or the like)."""
        ...


def usage_reports() -> dict[str, UsageReport | None]:
    """Each vendor's report, or None where its admin key is not set (reconciliation off for it)."""
    return {
        "anthropic": AnthropicUsageReport.from_settings(),
        "openai": OpenAIUsageReport.from_settings(),
    }


# --- Anthropic: GET /v1/organizations/usage_report/messages ---------------------------------------


class AnthropicUsageReport:
    vendor = "anthropic"
    name = "Anthropic"

    def __init__(self, admin_key: str, api_key_id: str):
        self.admin_key, self.api_key_id = admin_key, api_key_id

    @classmethod
    def from_settings(cls) -> AnthropicUsageReport | None:
        key = settings.ANTHROPIC_ADMIN_API_KEY
        return cls(key, settings.ANTHROPIC_API_KEY_ID) if key else None

    def fetch(self, first: dt.date, end: dt.date) -> Fetched:
        if not self.api_key_id:
            raise UsageReportError(
                "ANTHROPIC_API_KEY_ID is not set: the report must be filtered to the product's own API key "
                "(its id, apikey_…, is in the Console under API keys)",
                configuration=True,
            )
        base = os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        params = {
            "starting_at": f"{first.isoformat()}T00:00:00Z",
            "ending_at": f"{end.isoformat()}T00:00:00Z",
            "bucket_width": "1d",
            "group_by[]": ["model", "service_tier"],
            "api_key_ids[]": [self.api_key_id],
            "limit": BUCKETS_PER_PAGE,
        }
        headers = {"x-api-key": self.admin_key, "anthropic-version": ANTHROPIC_VERSION}
        url = f"{base.rstrip('/')}/v1/organizations/usage_report/messages"
        return _collect(self, url, params, headers, first, end)

    @staticmethod
    def rows(page: dict, first: dt.date, end: dt.date) -> Iterator[Counted | Refused]:
        for bucket in page.get("data") or []:
            try:
                day = iso_day(bucket["starting_at"], first, end)
            except Implausible as exc:
                yield Refused("a bucket", str(exc))
                continue
            for result in bucket.get("results") or []:
                model = str(result.get("model") or "")
                written = result.get("cache_creation") or {}
                try:
                    usage = Usage(
                        input_tokens=token_count(result.get("uncached_input_tokens"), "uncached_input_tokens"),
                        output_tokens=token_count(result.get("output_tokens"), "output_tokens"),
                        cache_read_tokens=token_count(result.get("cache_read_input_tokens"), "cache_read_input_tokens"),
                        cache_write_5m_tokens=token_count(written.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens"),
                        cache_write_1h_tokens=token_count(written.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens"),
                    )  # fmt: skip
                except Implausible as exc:
                    yield Refused(f"{day} {model}", str(exc))
                    continue
                batch = result.get("service_tier") == "batch"
                yield Counted(day, model, batch, usage)


# --- OpenAI: GET /v1/organization/usage/completions -----------------------------------------------


class OpenAIUsageReport:
    vendor = "openai"
    name = "OpenAI"

    def __init__(self, admin_key: str, project_id: str = "", api_key_id: str = ""):
        self.admin_key, self.project_id, self.api_key_id = admin_key, project_id, api_key_id

    @classmethod
    def from_settings(cls) -> OpenAIUsageReport | None:
        key = settings.OPENAI_ADMIN_API_KEY
        return cls(key, settings.OPENAI_PROJECT_ID, settings.OPENAI_API_KEY_ID) if key else None

    def fetch(self, first: dt.date, end: dt.date) -> Fetched:
        if not (self.project_id or self.api_key_id):
            raise UsageReportError(
                "neither OPENAI_PROJECT_ID nor OPENAI_API_KEY_ID is set: the report must be filtered to "
                "the product's own project or key",
                configuration=True,
            )
        base = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        params = {
            "start_time": _unix(first),
            "end_time": _unix(end),
            "bucket_width": "1d",
            "group_by": ["model", "batch"],  # batch jobs apart: they are billed at the batch price
            "limit": BUCKETS_PER_PAGE,
        }
        if self.project_id:
            params["project_ids"] = [self.project_id]
        if self.api_key_id:
            params["api_key_ids"] = [self.api_key_id]
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return _collect(
            self, f"{base.rstrip('/')}/organization/usage/completions", params, headers, first, end
        )

    @staticmethod
    def rows(page: dict, first: dt.date, end: dt.date) -> Iterator[Counted | Refused]:
        for bucket in page.get("data") or []:
            try:
                day = unix_day(bucket["start_time"], first, end)
            except Implausible as exc:
                yield Refused("a bucket", str(exc))
                continue
            for result in bucket.get("results") or []:
                model = str(result.get("model") or "")
                try:
                    usage = _openai_usage(result)
                except Implausible as exc:
                    yield Refused(f"{day} {model}", str(exc))
                    continue
                yield Counted(day, model, bool(result.get("batch")), usage)


def _openai_usage(result: dict) -> Usage:
    """One result's tokens: ``input_tokens`` includes the cached and the cache-write tokens."""
    total = token_count(result.get("input_tokens"), "input_tokens")
    cached = token_count(result.get("input_cached_tokens"), "input_cached_tokens")
    written = token_count(result.get("input_cache_write_tokens"), "input_cache_write_tokens")
    written_12h = token_count(result.get("input_cache_write_12h_tokens"), "input_cache_write_12h_tokens")
    if cached + written + written_12h > total:
        raise Implausible(f"input_tokens {total:,} is less than its cached and cache-write tokens")
    return Usage(
        input_tokens=total - cached - written - written_12h,
        output_tokens=token_count(result.get("output_tokens"), "output_tokens"),
        cache_read_tokens=cached,
        cache_write_5m_tokens=written,
        cache_write_1h_tokens=written_12h,
    )


def _unix(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


# --- HTTP: every page, timeouts, rate limits --------------------------------------------------------


def _collect(report, url: str, params: dict, headers: dict, first: dt.date, end: dt.date) -> Fetched:
    """Every page of a report (``has_more`` / ``next_page``) read into rows. An answer that is not
    the report's shape is a ``UsageReportError``, like a refused one; a row holding a value no real
    report holds is refused on its own (its ``where`` and ``why`` masked and cut)."""
    fetched, page = Fetched(), None
    for _ in range(MAX_PAGES):
        body = _get(report, url, {**params, **({"page": page} if page else {})}, headers)
        try:
            for row in report.rows(body, first, end):
                if isinstance(row, Refused):
                    fetched.refused.append(Refused(_masked(report, row.where), _masked(report, row.why)))
                else:
                    fetched.counted.append(row)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageReportError(  # the exception quotes the vendor's own values: masked, then cut
                mask_secrets(
                    f"{report.name}'s usage report has an unexpected shape ({type(exc).__name__}: {exc})",
                    extra=[report.admin_key],
                )[:MAX_DETAIL_CHARS]
            ) from None
        if not body.get("has_more"):
            return fetched
        page = body.get("next_page")
        if not page:
            raise UsageReportError(
                f"{report.name}'s usage report says it has more pages but gives no next_page"
            )
    raise UsageReportError(f"{report.name}'s usage report ran past {MAX_PAGES} pages")


def _get(report, url: str, params: dict, headers: dict) -> dict:
    headers = {**headers, "User-Agent": USER_AGENT, "Accept": "application/json"}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT)
        except requests.Timeout:
            raise UsageReportError(
                f"{report.name}'s usage API did not answer within {TIMEOUT[1]:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UsageReportError(
                f"could not reach {report.name}'s usage API ({type(exc).__name__}): check the network and "
                f"{report.vendor.upper()}_BASE_URL"
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            wait = _retry_after(response)
            wait = 2.0 ** (attempt - 1) if wait is None else wait
            if attempt == MAX_ATTEMPTS or wait > MAX_WAIT_SECONDS:
                kind = "rate limit (429)" if status == 429 else f"server error ({status})"
                raise UsageReportError(f"{report.name}'s usage API {kind} after {attempt} attempts")
            time.sleep(wait)
            continue
        if status in (401, 403):
            refused = "refused the admin key" if status == 401 else "refused the request"
            raise UsageReportError(
                f"{report.name} {refused} ({status}{_detail(report, response)}): check "
                f"{report.vendor.upper()}_ADMIN_API_KEY" + (" and its permissions" if status == 403 else ""),
                configuration=True,
            )
        if status != 200:
            raise UsageReportError(f"{report.name}'s usage API answered {status}{_detail(report, response)}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UsageReportError(
                f"{report.name}'s usage API answered with something other than a JSON object"
            )
        return body
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _masked(report, text: str) -> str:
    return mask_secrets(text, extra=[report.admin_key])[:MAX_DETAIL_CHARS]


def _detail(report, response: requests.Response) -> str:
    """The vendor's own error message (both vendors: ``{"error": {"message": ...}}``), masked."""
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        message = response.text
    message = mask_secrets(" ".join(str(message or "").split()), extra=[report.admin_key])[:MAX_DETAIL_CHARS]
    return f": {message}" if message else ""
