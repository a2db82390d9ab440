"""The vendors' own usage reports, read with their admin keys (usage reconciliation).

One small class per vendor with the same two members, ``vendor`` and ``fetch(first, end)``: the
tokens the product's key used on each UTC day in ``[first, end)``, per model and mode (standard or
batch), as ``budget.reconciliation.Counted`` rows. This module is the only code that calls the
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
from typing import Protocol

import requests
from django.conf import settings

from budget.pricing import Usage
from budget.reconciliation import Counted
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


class UsageReport(Protocol):
    vendor: str  # budget.models.Provider value
    name: str  # for messages
    admin_key: str

    def fetch(self, first: dt.date, end: dt.date) -> list[Counted]:
        """The product's usage on each UTC day in ``[first, end)``; raises ``UsageReportError``."""
        ...

    @staticmethod
    def rows(page: dict) -> Iterator[Counted]:
        """One page of the vendor's answer as rows (a malformed page raises KeyError or the like)."""
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

    def fetch(self, first: dt.date, end: dt.date) -> list[Counted]:
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
        return _collect(self, f"{base.rstrip('/')}/v1/organizations/usage_report/messages", params, headers)

    @staticmethod
    def rows(page: dict) -> Iterator[Counted]:
        for bucket in page.get("data") or []:
            day = dt.datetime.fromisoformat(bucket["starting_at"].replace("Z", "+00:00")).date()
            for result in bucket.get("results") or []:
                written = result.get("cache_creation") or {}
                usage = Usage(
                    input_tokens=int(result.get("uncached_input_tokens") or 0),
                    output_tokens=int(result.get("output_tokens") or 0),
                    cache_read_tokens=int(result.get("cache_read_input_tokens") or 0),
                    cache_write_5m_tokens=int(written.get("ephemeral_5m_input_tokens") or 0),
                    cache_write_1h_tokens=int(written.get("ephemeral_1h_input_tokens") or 0),
                )
                batch = result.get("service_tier") == "batch"
                yield Counted(day, str(result.get("model") or ""), batch, usage)


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

    def fetch(self, first: dt.date, end: dt.date) -> list[Counted]:
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
        return _collect(self, f"{base.rstrip('/')}/organization/usage/completions", params, headers)

    @staticmethod
    def rows(page: dict) -> Iterator[Counted]:
        for bucket in page.get("data") or []:
            day = dt.datetime.fromtimestamp(int(bucket["start_time"]), dt.UTC).date()
            for result in bucket.get("results") or []:
                # ``input_tokens`` includes the cached and the cache-write tokens.
                cached = int(result.get("input_cached_tokens") or 0)
                written = int(result.get("input_cache_write_tokens") or 0)
                written_12h = int(result.get("input_cache_write_12h_tokens") or 0)
                usage = Usage(
                    input_tokens=int(result.get("input_tokens") or 0) - cached - written - written_12h,
                    output_tokens=int(result.get("output_tokens") or 0),
                    cache_read_tokens=cached,
                    cache_write_5m_tokens=written,
                    cache_write_1h_tokens=written_12h,
                )
                batch = bool(result.get("batch"))
                yield Counted(day, str(result.get("model") or ""), batch, usage)


def _unix(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


# --- HTTP: every page, timeouts, rate limits --------------------------------------------------------


def _collect(report, url: str, params: dict, headers: dict) -> list[Counted]:
    """Every page of a report (``has_more`` / ``next_page``) read into rows. An answer that is not
    the report's shape is a ``UsageReportError``, like a refused one."""
    counted, page = [], None
    for _ in range(MAX_PAGES):
        body = _get(report, url, {**params, **({"page": page} if page else {})}, headers)
        try:
            counted.extend(report.rows(body))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageReportError(  # the exception quotes the vendor's own values: masked, then cut
                mask_secrets(
                    f"{report.name}'s usage report has an unexpected shape ({type(exc).__name__}: {exc})",
                    extra=[report.admin_key],
                )[:MAX_DETAIL_CHARS]
            ) from None
        if not body.get("has_more"):
            return counted
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


def _detail(report, response: requests.Response) -> str:
    """The vendor's own error message (both vendors: ``{"error": {"message": ...}}``), masked."""
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        message = response.text
    message = mask_secrets(" ".join(str(message or "").split()), extra=[report.admin_key])[:MAX_DETAIL_CHARS]
    return f": {message}" if message else ""
