"""Usage reports that say what no real report holds (issue 32): each such row is refused on its
own, said once, and the rest of that report and the other vendor's are still reconciled, so that
nothing absurd is stored or announced and status, the dashboard, the admin and Discord keep working."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from budget.models import UsageReconciliation
from notifications import render
from notifications.models import Event
from tests.executions.test_reconcile_usage import NOV_14, NOV_15, admin_keys, executions_on, reconcile

pytestmark = pytest.mark.django_db

__all__ = ["admin_keys"]  # the fixture, shared with the reconciliation tests

NOV_13 = dt.date(2026, 11, 13)


def test_absurd_rows_are_refused_once_and_the_rest_of_both_reports_is_reconciled(admin_keys, admin_client):
    anthropic, openai = admin_keys
    executions_on(NOV_14)
    # The reports' own rows, on models the product did not use: a count beyond any bigint, a
    # negative one, JSON's infinity (what ``1e400`` reads as), a bucket starting in another era.
    anthropic.usage_report.count(NOV_14, "claude-haiku-4-5", {"input_tokens": 1, "output_tokens": 10**30})
    anthropic.usage_report.count(NOV_14, "claude-haiku-4-5", {"input_tokens": -5}, batch=True)
    openai.usage_report.count(NOV_14, "gpt-4.1-mini", {"prompt_tokens": 1e400, "completion_tokens": 1})
    openai.usage_report.count(
        dt.datetime(2026, 11, 13, 9, tzinfo=dt.UTC), "gpt-4o-mini", {"prompt_tokens": 7}
    )
    openai.usage_report.start_times[NOV_13] = 10**20
    # And one real difference: a call the vendor served and the ledger never recorded.
    anthropic.usage_report.count(NOV_14, "claude-sonnet-4-5", {"input_tokens": 2000, "output_tokens": 1500})

    out, code = reconcile(NOV_15)

    assert code == 1, out  # the reports could not be read whole
    record = UsageReconciliation.objects.get()
    assert record.vendors == {
        "anthropic": {
            "status": "differs",
            "detail": "2 row(s) of its report refused, a value no real report holds: 2026-11-14 "
            "claude-haiku-4-5-20251001: output_tokens 1000000000000000000000000000000 is more than "
            "100,000,000,000 tokens in a day (and 1 more)",
        },
        "openai": {
            "status": "differs",
            "detail": "2 row(s) of its report refused, a value no real report holds: a bucket: a bucket "
            "starting at 100000000000000000000 is no date (and 1 more)",
        },
    }
    # Nothing absurd stored: the one difference is the real one, and it alone is announced.
    [difference] = record.differences
    assert (difference["model"], difference["tokens"]["input"]["difference"]) == ("claude-sonnet-4-5", 2000)
    [event] = Event.objects.filter(kind=Event.Kind.USAGE_MISMATCH)
    assert "claude-sonnet-4-5" in render.discord(event)["embeds"][0]["fields"][0]["name"]
    assert out.count("row(s) of its report refused") == 2  # said once a vendor
    assert "Anthropic: differs: 2 row(s)" in out and "OpenAI: differs: 2 row(s)" in out

    # Status (text), the dashboard and the reconciliation's admin page all show it.
    text = StringIO()
    with time_machine.travel(NOV_15, tick=True):
        call_command("budget", "status", stdout=text)
        dashboard = admin_client.get("/admin/dashboard/")
        page = admin_client.get(f"/admin/budget/usagereconciliation/{record.pk}/change/")
    assert "anthropic differs: 2 row(s) of its report refused" in text.getvalue()
    assert dashboard.status_code == 200 and page.status_code == 200
    assert "2026-11-14 claude-sonnet-4-5: vendor vs ledger input 4,000 vs 2,000" in page.content.decode()


def test_a_report_that_overflows_a_date_or_an_integer_does_not_stop_the_other_vendor(admin_keys):
    # Before issue 32 both raised OverflowError out of the run: no outcome stored, Anthropic unread.
    anthropic, openai = admin_keys
    executions_on(NOV_14)
    openai.usage_report.start_times[dt.date(2026, 11, 2)] = 1e400
    openai.usage_report.count(NOV_14, "gpt-4.1-mini", {"prompt_tokens": 1e400})

    out, code = reconcile(NOV_15)

    assert code == 1, out
    record = UsageReconciliation.objects.get()
    assert record.vendors["anthropic"] == {"status": "matched", "detail": ""}
    assert record.vendors["openai"]["detail"] == (
        "2 row(s) of its report refused, a value no real report holds: a bucket: a bucket starting at inf "
        "is no time (and 1 more)"
    )
    assert record.differences == []
    assert len(anthropic.requests_to("/v1/organizations/usage_report/messages")) == 1


def test_a_negative_input_left_after_cached_tokens_is_refused_alone(admin_keys):
    # OpenAI's input_tokens includes the cached ones: fewer in all than cached is no real count
    # (before issue 32 the whole report failed as "an unexpected shape").
    _, openai = admin_keys
    executions_on(NOV_14)
    openai.usage_report.count(
        NOV_14, "gpt-4.1-mini", {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}}
    )

    out, code = reconcile(NOV_15)

    assert code == 1, out
    record = UsageReconciliation.objects.get()
    assert record.vendors["openai"]["detail"] == (
        "1 row(s) of its report refused, a value no real report holds: 2026-11-14 gpt-4.1-mini: "
        "input_tokens 10 is less than its cached and cache-write tokens"
    )
    assert record.differences == []  # the product's own gpt-4o-mini row still matched
