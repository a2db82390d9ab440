"""Usage reconciliation over the vendor fakes: their admin usage reports count what they served,
and ``reconcile_usage`` compares that with the calls the ledger recorded, day by day (UTC)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.models import UsageReconciliation
from executions.backlog.services import create_task
from executions.jobs import reconcile_vendor_usage
from executions.models import ModelCall
from executions.pipeline.runner import run_execution
from executions.providers import CompletionRequest, live_providers
from notifications.messages import compose
from notifications.models import Event
from tests.fakes import anthropic as fake_anthropic
from tests.fakes import openai as fake_openai

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOV_14 = dt.datetime(2026, 11, 14, 10, 0, tzinfo=UTC)  # a closed day by the 15th
NOV_15 = dt.datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # "today": provisional


@pytest.fixture
def admin_keys(settings, live):
    """Both vendors' admin keys and the product's key ids, as an operator configures them."""
    settings.ANTHROPIC_ADMIN_API_KEY = fake_anthropic.ADMIN_KEY
    settings.ANTHROPIC_API_KEY_ID = fake_anthropic.API_KEY_ID
    settings.OPENAI_ADMIN_API_KEY = fake_openai.ADMIN_KEY
    settings.OPENAI_PROJECT_ID = fake_openai.PROJECT_ID
    return live


def executions_on(when: dt.datetime, n: int = 1) -> None:
    with time_machine.travel(when, tick=True):
        for i in range(n):
            execution = run_execution(create_task(title=f"Task {when:%d} {i}"))
            assert execution.status == "succeeded", execution.error


def reconcile(when: dt.datetime = NOV_15, *args) -> tuple[str, int]:
    out = StringIO()
    with time_machine.travel(when, tick=True):
        try:
            call_command("reconcile_usage", *args, stdout=out)
        except CommandError as exc:
            return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def mismatches() -> list[Event]:
    return list(Event.objects.filter(kind=Event.Kind.USAGE_MISMATCH).order_by("pk"))


def test_a_matched_month_asks_each_vendor_for_the_products_own_usage(admin_keys):
    anthropic, openai = admin_keys
    executions_on(NOV_14, 2)
    executions_on(NOV_15)
    # Another application of the organisation, under another key and project: not ours to count.
    anthropic.usage_report.count(NOV_14, "claude-sonnet-4-5", {"input_tokens": 999, "output_tokens": 9}, key_id="apikey_other")  # fmt: skip
    openai.usage_report.count(NOV_14, "gpt-4o-mini", {"prompt_tokens": 999, "completion_tokens": 9}, project_id="proj_other")  # fmt: skip

    out, code = reconcile()

    assert code == 0, out
    record = UsageReconciliation.objects.get()
    assert record.matched and record.differences == []
    assert record.vendors == {
        "anthropic": {"status": "matched", "detail": ""},
        "openai": {"status": "matched", "detail": ""},
    }
    assert "Anthropic: matched" in out and "OpenAI: matched" in out
    [asked] = anthropic.requests_to("/v1/organizations/usage_report/messages")
    assert asked.headers["x-api-key"] == fake_anthropic.ADMIN_KEY and asked.headers["anthropic-version"]
    assert asked.query["starting_at"] == ["2026-11-01T00:00:00Z"]
    assert asked.query["ending_at"] == ["2026-11-16T00:00:00Z"]  # up to and including today
    assert asked.query["bucket_width"] == ["1d"]
    assert asked.query["group_by[]"] == ["model", "service_tier"]
    assert asked.query["api_key_ids[]"] == [fake_anthropic.API_KEY_ID]
    [asked] = openai.requests_to("/v1/organization/usage/completions")
    assert asked.headers["authorization"] == f"Bearer {fake_openai.ADMIN_KEY}"
    assert asked.query["start_time"] == [str(int(dt.datetime(2026, 11, 1, tzinfo=UTC).timestamp()))]
    assert asked.query["group_by"] == ["model", "batch"] and asked.query["project_ids"] == [
        fake_openai.PROJECT_ID
    ]
    assert mismatches() == []


def test_a_call_the_vendor_counted_and_the_ledger_lacks_is_announced_once(admin_keys):
    executions_on(NOV_14)
    with time_machine.travel(NOV_14 + dt.timedelta(hours=3), tick=True):
        # A call that reached the vendor and was never recorded (a crash at the wrong moment).
        request = CompletionRequest(model="claude-sonnet-4-5", system="s", user="u", max_tokens=64)
        live_providers().analysis.complete(request)  # billed as the fake's usage: 2,000 in, 1,500 out

    out, code = reconcile()

    assert code == 0, out  # a difference is a finding, not a failure
    record = UsageReconciliation.objects.get()
    assert not record.matched and record.vendors["anthropic"]["status"] == "differs"
    [difference] = record.differences
    assert difference["day"] == "2026-11-14" and difference["model"] == "claude-sonnet-4-5"
    assert difference["tokens"]["input"] == {"vendor": 4000, "ledger": 2000, "difference": 2000}
    assert difference["tokens"]["output"] == {"vendor": 3000, "ledger": 1500, "difference": 1500}
    assert difference["value"] == "0.0285"  # 2,000 × $3 + 1,500 × $15 per 1M: money the ledger lacks
    assert difference["over_tolerance"] and not difference["provisional"]
    assert "2026-11-14 claude-sonnet-4-5: vendor vs ledger input 4,000 vs 2,000 (+2,000)" in out
    [event] = mismatches()
    assert event.key == "usage-mismatch:anthropic:2026-11-14"
    message = compose(event)
    assert message.title == "Usage differs from Anthropic's count on 2026-11-14"
    assert [f.name for f in message.fields] == ["claude-sonnet-4-5"]
    assert "input: 4,000 vs 2,000" in message.fields[0].value and "worth +$0.0285" in message.fields[0].value

    # The daily run the next day, and a rerun: stored again, announced no more.
    reconcile(NOV_15 + dt.timedelta(hours=6))
    with time_machine.travel(NOV_15 + dt.timedelta(days=1), tick=True):
        assert reconcile_vendor_usage() == "usage 2026-11: differs; newly announced days: 0"
    assert len(mismatches()) == 1 and UsageReconciliation.objects.count() == 3


def test_tokens_the_vendor_counted_as_cache_reads_are_a_difference(admin_keys):
    _, openai = admin_keys
    executions_on(NOV_14)
    # The vendor's report counts 1,024 of the prompt as cached, where the answer said none were.
    [served] = openai.usage_report.served
    served.usage = {**served.usage, "prompt_tokens_details": {"cached_tokens": 1024}}

    reconcile()

    [difference] = UsageReconciliation.objects.get().differences
    assert difference["vendor"] == "openai" and difference["model"] == "gpt-4o-mini"
    assert difference["tokens"]["cached"] == {"vendor": 1024, "ledger": 0, "difference": 1024}
    assert difference["tokens"]["input"] == {"vendor": 1476, "ledger": 2500, "difference": -1024}
    assert difference["value"] == "-0.0000768"  # 1,024 × ($0.075 − $0.15) per 1M: billed less
    assert difference["over_tolerance"] and not difference["unrecorded"]
    assert [e.key for e in mismatches()] == ["usage-mismatch:openai:2026-11-14"]


def test_every_page_of_both_reports_is_read(admin_keys):
    anthropic, openai = admin_keys
    anthropic.usage_report.page_size = openai.usage_report.page_size = 2
    executions_on(NOV_14)
    executions_on(NOV_15)

    reconcile()

    assert UsageReconciliation.objects.get().matched  # Nov 14 and 15 are on the last two pages
    for fake, path in ((anthropic, "/v1/organizations/usage_report/messages"), (openai, "/v1/organization/usage/completions")):  # fmt: skip
        asked = fake.requests_to(path)
        assert len(asked) == 8  # 15 one-day buckets, two a page
        assert "page" not in asked[0].query and all(r.query["page"][0].startswith("page_") for r in asked[1:])
        assert len({r.query["page"][0] for r in asked[1:]}) == 7


def test_a_vendor_refusing_its_admin_key_is_reported_masked_and_the_other_still_reconciles(
    admin_keys, settings
):
    _, openai = admin_keys
    wrong = "sk-admin-wrong-admin-key-abcdef0123456789"
    settings.OPENAI_ADMIN_API_KEY = wrong
    executions_on(NOV_14)

    out, code = reconcile()

    assert code == 2  # a configuration to fix
    record = UsageReconciliation.objects.get()
    assert record.vendors["anthropic"] == {"status": "matched", "detail": ""}
    detail = record.vendors["openai"]["detail"]
    assert record.vendors["openai"]["status"] == "failed" and not record.matched
    assert detail.startswith("OpenAI refused the admin key (401: Incorrect API key provided: [redacted]")
    assert detail.endswith("check OPENAI_ADMIN_API_KEY")
    assert wrong not in out and wrong not in json.dumps(record.vendors)
    assert "admin-key-abcdef" not in out
    assert len(openai.requests_to("/v1/organization/usage/completions")) == 1  # a 401 is not retried


def test_the_current_day_is_provisional_and_announced_only_once_it_is_closed(admin_keys):
    anthropic, _ = admin_keys
    executions_on(NOV_15)
    anthropic.usage_report.count(NOV_15, "claude-sonnet-4-5", {"input_tokens": 500, "output_tokens": 50})

    out, _ = reconcile(NOV_15)

    [difference] = UsageReconciliation.objects.get().differences
    assert difference["provisional"] and difference["over_tolerance"]
    assert "[provisional]" in out and mismatches() == []

    reconcile(NOV_15 + dt.timedelta(days=1, hours=3))  # the 15th is closed now
    assert [e.key for e in mismatches()] == ["usage-mismatch:anthropic:2026-11-15"]


def test_a_rate_limit_is_waited_out_as_the_vendor_asks(admin_keys):
    anthropic, _ = admin_keys
    executions_on(NOV_14)
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}
    anthropic.fail_next(429, limited, headers={"retry-after": "0"})

    out, code = reconcile()

    assert code == 0, out
    assert len(anthropic.requests_to("/v1/organizations/usage_report/messages")) == 2
    assert UsageReconciliation.objects.get().matched


def test_a_vendor_without_its_key_id_is_not_asked(admin_keys, settings):
    anthropic, _ = admin_keys
    settings.ANTHROPIC_API_KEY_ID = ""
    executions_on(NOV_14)

    out, code = reconcile()

    assert code == 2
    vendors = UsageReconciliation.objects.get().vendors
    assert vendors["anthropic"]["status"] == "failed" and "ANTHROPIC_API_KEY_ID is not set" in out
    assert vendors["openai"]["status"] == "matched"
    assert anthropic.requests_to("/v1/organizations/usage_report/messages") == []


def test_without_admin_keys_it_says_it_is_off(admin_keys, settings):
    settings.ANTHROPIC_ADMIN_API_KEY = settings.OPENAI_ADMIN_API_KEY = ""

    out, code = reconcile()

    assert code == 0 and out.startswith("Usage reconciliation is off: set ANTHROPIC_ADMIN_API_KEY")
    assert not UsageReconciliation.objects.exists()
    with time_machine.travel(NOV_15, tick=True):
        assert reconcile_vendor_usage().startswith("Usage reconciliation is off")


def test_a_malformed_or_future_month_is_bad_usage(admin_keys):
    assert reconcile(NOV_15, "--month", "2026-13")[1] == 2
    out, code = reconcile(NOV_15, "--month", "2026-12")
    assert code == 2 and "2026-12 has not started yet" in out


def test_a_month_far_ahead_is_bad_usage_whether_reconciliation_is_on_or_off(admin_keys, settings):
    # Found by issue 32: off, it said so and exited 0; on, the month after 9999-12 overflowed.
    out, code = reconcile(NOV_15, "--month", "9999-12")
    assert code == 2 and "9999-12 has not started yet" in out

    settings.ANTHROPIC_ADMIN_API_KEY = settings.OPENAI_ADMIN_API_KEY = ""
    out, code = reconcile(NOV_15, "--month", "9999-12")

    assert code == 2
    assert out.startswith("Usage reconciliation is off: set ANTHROPIC_ADMIN_API_KEY")
    assert "9999-12 has not started yet" in out
    assert not UsageReconciliation.objects.exists()


def test_the_last_reconciliation_shows_in_status(admin_keys):
    executions_on(NOV_14)
    with time_machine.travel(NOV_14 + dt.timedelta(hours=1), tick=True):
        live_providers().codegen.complete(
            CompletionRequest(model="gpt-4o-mini", system="s", user="u", max_tokens=64)
        )
    reconcile()
    assert ModelCall.objects.count() == 2

    out = StringIO()
    with time_machine.travel(NOV_15, tick=True):
        call_command("budget", "status", "--json", stdout=out)
        status = json.loads(out.getvalue())
        text = StringIO()
        call_command("budget", "status", stdout=text)
    reconciled = status["reconciliation"]
    assert reconciled["month"] == "2026-11" and reconciled["matched"] is False
    assert [(d["vendor"], d["day"], d["unrecorded"]) for d in reconciled["differences"]] == [
        ("openai", "2026-11-14", False)
    ]
    assert "Reconciled  2026-11: differs" in text.getvalue()
    assert "2026-11-14 gpt-4o-mini: vendor vs ledger input 5,000 vs 2,500 (+2,500)" in text.getvalue()


def test_a_report_of_an_unexpected_shape_is_stored_with_every_secret_masked(admin_keys, settings):
    # Found in review: the parser's own error quotes the vendor's value, which may be any secret.
    anthropic, _ = admin_keys
    settings.GITHUB_TOKEN = "ghp_" + "q" * 36
    quoted = f"{settings.GITHUB_TOKEN} {settings.ANTHROPIC_ADMIN_API_KEY}"
    anthropic.fail_next(200, {"data": [{"starting_at": quoted, "results": []}], "has_more": False})

    out, code = reconcile(NOV_15)

    assert code == 1
    detail = UsageReconciliation.objects.get().vendors["anthropic"]["detail"]
    assert detail.startswith("Anthropic's usage report has an unexpected shape (ValueError: ")
    assert "[redacted]" in detail
    for secret in (settings.GITHUB_TOKEN, settings.ANTHROPIC_ADMIN_API_KEY):
        assert secret not in detail and secret not in out
